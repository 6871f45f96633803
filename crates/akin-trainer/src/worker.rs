//! The trainer thread: one named thread owns every libtorch object for the life of the
//! process and runs [`TrainJob`]s and [`EvalJob`]s one at a time; [`TrainerHandle`] queues
//! them from async code.

use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, mpsc};
use std::time::Instant;

use akin_core::Embeddings;
use tch::Device;
use tokio::sync::{oneshot, watch};

use crate::config::{device_label, pick_device};
use crate::eval::{self, EvalJob, EvalOutcome};
use crate::{ImageSet, Progress, Session, TrainConfig, TrainError, TrainerSettings};

/// One training job: train from `warm_start` (or from scratch) on `images` and `positives`,
/// save to `checkpoint_out`, and embed every image.
#[derive(Debug)]
pub struct TrainJob {
    /// Every item's pixels; item `i` is image `i`.
    pub images: Arc<ImageSet>,
    /// "Same" components of at least two item indices.
    pub positives: Vec<Vec<usize>>,
    /// Hyper-parameters, including the number of steps.
    pub config: TrainConfig,
    /// The previous checkpoint, if any; it must fit `config`'s dimensions.
    pub warm_start: Option<PathBuf>,
    /// Where the new checkpoint goes (written to a temporary file, then renamed).
    pub checkpoint_out: PathBuf,
    /// Set it to stop the job before its next batch; the job then returns `Cancelled`.
    pub cancel: Arc<AtomicBool>,
    /// Receives the progress after every step, when given.
    pub progress: Option<watch::Sender<Progress>>,
}

/// What a finished job produced.
#[derive(Clone, Debug)]
pub struct TrainOutcome {
    /// Backbone embeddings of every image, row `i` for item `i`.
    pub embeddings: Embeddings,
    /// Mean loss of the last ten steps.
    pub final_loss: f64,
    /// Steps run.
    pub steps: usize,
    /// Device the job ran on, e.g. "cpu" or "cuda:0".
    pub device: String,
    /// Seed of the job's batches and augmentations: with the same warm start, graph and
    /// thread count, the same seed trains the same model on one machine.
    pub seed: u64,
}

type Reply<T> = oneshot::Sender<Result<T, TrainError>>;

/// What the thread is asked to do, with where its outcome goes.
enum Queued {
    /// A training job with the "different" answers it learns from.
    Train(TrainJob, Vec<(usize, usize)>, Reply<TrainOutcome>),
    /// Measures of embeddings that a model produced.
    Evaluate(EvalJob, Reply<EvalOutcome>),
}

/// Handle to the trainer thread; cheap to clone. The thread ends once every handle is dropped
/// and the queued jobs are done.
#[derive(Clone, Debug)]
pub struct TrainerHandle {
    jobs: mpsc::Sender<Queued>,
    device_name: Arc<str>,
}

impl TrainerHandle {
    /// Picks the device (logging it), starts the "akin-trainer" thread and caps libtorch at
    /// `settings.threads` threads. If the thread cannot start, every job fails with `Stopped`.
    pub fn spawn(settings: TrainerSettings) -> TrainerHandle {
        let device = pick_device(settings.device);
        let device_name: Arc<str> = device_label(device).into();
        tracing::info!(
            device = %device_name, choice = %settings.device, threads = settings.threads,
            "trainer device chosen: {device_name}"
        );
        if device.is_cuda() && !tch::Cuda::is_available() {
            tracing::warn!("CUDA was asked for but libtorch sees no GPU: every job will fail");
        }
        let (jobs, queue) = mpsc::channel();
        let started = std::thread::Builder::new()
            .name("akin-trainer".to_string())
            .spawn(move || serve_jobs(&queue, device, settings.threads));
        if let Err(error) = started {
            tracing::error!(%error, "could not start the trainer thread; training is disabled");
        }
        TrainerHandle { jobs, device_name }
    }

    /// Queues `job` behind any running one and waits for its outcome without blocking the
    /// executor. Dropping the future does not stop the job: set its cancel flag for that.
    ///
    /// The job learns from no "different" answers; see [`TrainerHandle::run_with_negatives`].
    pub async fn run(&self, job: TrainJob) -> Result<TrainOutcome, TrainError> {
        self.run_with_negatives(job, Vec::new()).await
    }

    /// [`TrainerHandle::run`], with the "different" answers as pairs of items: each marks
    /// the two items' whole components as different, which the losses use as known
    /// negatives. Pairs not listed stay unknown, never different.
    //
    // The negatives travel beside the job rather than in it so that `TrainJob` literals
    // written before they existed still compile; they belong in `TrainJob` once its callers
    // can move.
    pub async fn run_with_negatives(
        &self,
        job: TrainJob,
        negatives: Vec<(usize, usize)>,
    ) -> Result<TrainOutcome, TrainError> {
        let (reply, outcome) = oneshot::channel();
        self.jobs
            .send(Queued::Train(job, negatives, reply))
            .map_err(|_| TrainError::Stopped)?;
        outcome.await.map_err(|_| TrainError::Stopped)?
    }

    /// Measures embeddings on the trainer thread ([`eval::evaluate`]: RankMe and a linear
    /// probe), behind any queued job, without blocking the executor.
    pub async fn evaluate(&self, job: EvalJob) -> Result<EvalOutcome, TrainError> {
        let (reply, outcome) = oneshot::channel();
        self.jobs
            .send(Queued::Evaluate(job, reply))
            .map_err(|_| TrainError::Stopped)?;
        outcome.await.map_err(|_| TrainError::Stopped)?
    }

    /// The device the thread trains on, e.g. "cpu" or "cuda:0".
    pub fn device_name(&self) -> String {
        self.device_name.to_string()
    }
}

/// The thread's body: run queued jobs until every handle is gone.
fn serve_jobs(queue: &mpsc::Receiver<Queued>, device: Device, threads: usize) {
    if threads > 0 {
        tch::set_num_threads(i32::try_from(threads).unwrap_or(i32::MAX));
    }
    // The caller may have stopped waiting; an outcome is then simply dropped.
    while let Ok(queued) = queue.recv() {
        match queued {
            Queued::Train(job, negatives, reply) => {
                let _ = reply.send(run_guarded(&job, &negatives, device));
            }
            Queued::Evaluate(job, reply) => {
                let _ = reply.send(evaluate_guarded(&job));
            }
        }
    }
    tracing::debug!("trainer thread stopping: no handles left");
}

/// Runs one job inside a span, turning a panic into `Panicked`.
fn run_guarded(
    job: &TrainJob,
    negatives: &[(usize, usize)],
    device: Device,
) -> Result<TrainOutcome, TrainError> {
    let span = tracing::info_span!(
        "train_job", items = job.images.len(), steps = job.config.steps,
        loss = %job.config.loss, negatives = negatives.len(),
        checkpoint = %job.checkpoint_out.display()
    );
    let _entered = span.enter();
    let started = Instant::now();

    let outcome = panic::catch_unwind(AssertUnwindSafe(|| run_job(job, negatives, device)))
        .unwrap_or_else(|payload| Err(TrainError::Panicked(panic_message(payload.as_ref()))));

    let elapsed_ms = started.elapsed().as_millis() as u64;
    match &outcome {
        Ok(done) => tracing::info!(
            elapsed_ms,
            final_loss = done.final_loss,
            "training job done"
        ),
        Err(TrainError::Cancelled) => tracing::info!(elapsed_ms, "training job cancelled"),
        Err(error) => tracing::warn!(elapsed_ms, %error, "training job failed"),
    }
    outcome
}

/// Runs one evaluation inside a span, turning a panic into `Panicked`.
fn evaluate_guarded(job: &EvalJob) -> Result<EvalOutcome, TrainError> {
    let probe_rows = job
        .probe
        .as_ref()
        .map_or(0, |sets| sets.train.len() + sets.test.len());
    let span = tracing::info_span!("eval_job", rows = job.embeddings.len(), probe_rows);
    let _entered = span.enter();
    let started = Instant::now();

    let outcome = panic::catch_unwind(AssertUnwindSafe(|| eval::evaluate(job)))
        .unwrap_or_else(|payload| Err(TrainError::Panicked(panic_message(payload.as_ref()))));

    let elapsed_ms = started.elapsed().as_millis() as u64;
    match &outcome {
        Ok(done) => tracing::debug!(elapsed_ms, rank_me = done.rank_me, "evaluation done"),
        Err(error) => tracing::warn!(elapsed_ms, %error, "evaluation failed"),
    }
    outcome
}

fn run_job(
    job: &TrainJob,
    negatives: &[(usize, usize)],
    device: Device,
) -> Result<TrainOutcome, TrainError> {
    let mut session = Session::new(job.images.shape(), &job.config, device)?;
    if let Some(warm_start) = &job.warm_start {
        session.load(warm_start)?;
        tracing::debug!(warm_start = %warm_start.display(), "warm start loaded");
    }

    let mut report = |progress: Progress| {
        if let Some(sender) = &job.progress {
            sender.send_replace(progress);
        }
    };
    let steps = job.config.steps;
    let final_loss = session.fit(
        &job.images,
        &job.positives,
        negatives,
        steps,
        &job.cancel,
        &mut report,
    )?;

    session.save(&job.checkpoint_out)?;
    tracing::info!(checkpoint = %job.checkpoint_out.display(), "model saved");
    let embeddings = session.embed(&job.images)?;
    Ok(TrainOutcome {
        embeddings,
        final_loss,
        steps,
        device: device_label(device),
        seed: job.config.seed,
    })
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|text| text.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_string())
}

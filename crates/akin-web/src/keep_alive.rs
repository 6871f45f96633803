//! Heartbeats: while a process works on a claimed round, a background task refreshes the
//! round's `heartbeat_at`, and notices when the claim lapsed (the round was taken away).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use akin_store::claims::{self, Claim};
use sqlx::PgPool;
use tokio::task::JoinHandle;

/// Refreshes a claim's heartbeat in the background until dropped. When the claim lapses it
/// stops, remembers it, and sets the cancel flag it guards, if any.
pub(crate) struct KeepAlive {
    task: JoinHandle<()>,
    lost: Arc<AtomicBool>,
}

impl KeepAlive {
    /// Heartbeats for `claim` every `every`.
    pub fn start(db: PgPool, claim: Claim, every: Duration) -> Self {
        Self::spawn(db, claim, every, None)
    }

    /// Heartbeats for `claim` every `every`, setting `cancel` when the claim lapses.
    pub fn guarding(db: PgPool, claim: Claim, every: Duration, cancel: Arc<AtomicBool>) -> Self {
        Self::spawn(db, claim, every, Some(cancel))
    }

    fn spawn(db: PgPool, claim: Claim, every: Duration, cancel: Option<Arc<AtomicBool>>) -> Self {
        let lost = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&lost);
        let task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                match claims::heartbeat(&db, &claim).await {
                    Ok(true) => {}
                    Ok(false) => {
                        flag.store(true, Ordering::Relaxed);
                        if let Some(cancel) = &cancel {
                            cancel.store(true, Ordering::Relaxed);
                        }
                        return;
                    }
                    Err(e) => tracing::warn!(error = %e,
                        "cannot refresh the heartbeat of round {}: {e}", claim.round_id),
                }
            }
        });
        Self { task, lost }
    }

    /// Whether the claim was found lapsed.
    pub fn lost(&self) -> bool {
        self.lost.load(Ordering::Relaxed)
    }
}

impl Drop for KeepAlive {
    fn drop(&mut self) {
        self.task.abort();
    }
}

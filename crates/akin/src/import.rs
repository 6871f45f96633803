//! `akin import`: Fashion-MNIST from its IDX files, or a folder of JPEG/PNG images.

use std::path::{Path, PathBuf};

use akin_store::blobs::{BlobStore, PreparedImage};
use akin_store::items::NewItem;
use akin_store::projects::{self, Project};
use akin_web::Settings;
use anyhow::{Context, bail};
use clap::Subcommand;
use sqlx::PgPool;

use crate::fashion_mnist::{self, SplitName};

/// Items inserted per statement.
const BATCH: usize = 1000;

#[derive(Subcommand)]
pub enum ImportCommand {
    /// Fashion-MNIST, with its labels kept as hidden ground truth.
    FashionMnist {
        #[arg(long)]
        project: String,
        /// Import only the first N images of the split.
        #[arg(long)]
        limit: Option<usize>,
        #[arg(long, value_enum, default_value = "train")]
        split: SplitName,
        #[arg(long, default_value = fashion_mnist::DEFAULT_DIR)]
        dataset_dir: PathBuf,
    },
    /// Every JPEG and PNG under a folder, recursively. Undecodable files are reported and skipped.
    Dir {
        path: PathBuf,
        #[arg(long)]
        project: String,
        /// Side of the square training copy, in pixels (8 to 64).
        #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(i32).range(8..=64))]
        image_size: i32,
    },
}

pub async fn run(settings: &Settings, command: ImportCommand) -> anyhow::Result<()> {
    let db = akin_store::connect(&settings.database_url, 4).await?;
    let blobs = BlobStore::new(settings.data_dir.join("images"));
    let project = match command {
        ImportCommand::FashionMnist {
            project,
            limit,
            split,
            dataset_dir,
        } => import_fashion_mnist(&db, &blobs, &project, limit, split, &dataset_dir).await?,
        ImportCommand::Dir {
            path,
            project,
            image_size,
        } => import_dir(&db, &blobs, &project, &path, image_size).await?,
    };

    let first = akin_web::orchestrator::open_first_round(&db, &project, settings.queries_per_round)
        .await
        .context("while choosing the first pairs")?;
    if let Some(round) = first {
        let pairs = round
            .metrics
            .get("queries_written")
            .cloned()
            .unwrap_or_default();
        println!(
            "round {} is open with {pairs} pairs chosen on raw pixels",
            round.number
        );
    }
    Ok(())
}

async fn project_with_shape(
    db: &PgPool,
    name: &str,
    channels: i32,
    image_size: i32,
) -> anyhow::Result<Project> {
    let project = projects::get_or_create(db, name, channels, image_size)
        .await
        .with_context(|| {
            format!("cannot create project {name:?} (names are 1-63 letters, digits, '-' or '_')")
        })?;
    if (project.channels, project.image_size) != (channels, image_size) {
        bail!(
            "project {name:?} holds {}-channel {}px images; this import makes {channels}-channel {image_size}px ones",
            project.channels,
            project.image_size
        );
    }
    Ok(project)
}

async fn import_fashion_mnist(
    db: &PgPool,
    blobs: &BlobStore,
    name: &str,
    limit: Option<usize>,
    split: SplitName,
    dataset_dir: &Path,
) -> anyhow::Result<Project> {
    let data = fashion_mnist::load(dataset_dir, split)?;
    let project = project_with_shape(db, name, 1, 28).await?;
    let count = limit.unwrap_or(data.labels.len()).min(data.labels.len());

    let mut added = 0;
    for start in (0..count).step_by(BATCH) {
        let batch = (start..(start + BATCH).min(count))
            .map(|i| {
                let prepared = blobs.put_gray(28, 28, data.image(i).to_vec())?;
                let name = format!("fashion-mnist/{}/{i:05}", split.as_str());
                Ok(new_item(name, prepared, Some(i32::from(data.labels[i]))))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        added += akin_store::items::insert_many(db, project.id, &batch).await?;
    }
    println!(
        "project {}: {added} new items ({} already there)",
        project.name,
        count as u64 - added
    );
    Ok(project)
}

async fn import_dir(
    db: &PgPool,
    blobs: &BlobStore,
    name: &str,
    root: &Path,
    image_size: i32,
) -> anyhow::Result<Project> {
    if !root.is_dir() {
        bail!("{} is not a folder", root.display());
    }
    let project = project_with_shape(db, name, 3, image_size).await?;
    let files = image_files(root);

    let (mut added, mut skipped) = (0, 0);
    for chunk in files.chunks(BATCH) {
        let mut batch = Vec::with_capacity(chunk.len());
        for path in chunk {
            let relative = path
                .strip_prefix(root)
                .unwrap_or(path)
                .to_string_lossy()
                .into_owned();
            match prepare_file(blobs, path, image_size) {
                Ok(prepared) => batch.push(new_item(relative, prepared, None)),
                Err(e) => {
                    eprintln!("skipped {relative}: {e:#}");
                    skipped += 1;
                }
            }
        }
        added += akin_store::items::insert_many(db, project.id, &batch).await?;
    }
    println!(
        "project {}: {added} new items, {skipped} files skipped, {} already there",
        project.name,
        files.len() as u64 - added - skipped
    );
    Ok(project)
}

/// JPEG and PNG files under `root`, sorted so that imports are reproducible.
fn image_files(root: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = walkdir::WalkDir::new(root)
        .follow_links(false)
        .into_iter()
        .filter_map(|entry| match entry {
            Ok(entry) => Some(entry),
            Err(e) => {
                eprintln!("skipped an unreadable entry: {e}");
                None
            }
        })
        .filter(|e| e.file_type().is_file())
        .map(walkdir::DirEntry::into_path)
        .filter(|p| {
            let ext = p
                .extension()
                .and_then(|e| e.to_str())
                .map(str::to_ascii_lowercase);
            matches!(ext.as_deref(), Some("jpg" | "jpeg" | "png"))
        })
        .collect();
    files.sort();
    files
}

fn prepare_file(blobs: &BlobStore, path: &Path, image_size: i32) -> anyhow::Result<PreparedImage> {
    let bytes = std::fs::read(path).context("cannot read the file")?;
    let size = u32::try_from(image_size).context("image size")?;
    Ok(blobs.put_encoded(&bytes, 3, size)?)
}

fn new_item(name: String, prepared: PreparedImage, label: Option<i32>) -> NewItem {
    NewItem {
        name,
        content_hash: prepared.content_hash,
        width: i32::try_from(prepared.width).unwrap_or(i32::MAX),
        height: i32::try_from(prepared.height).unwrap_or(i32::MAX),
        label,
        pixels: prepared.pixels,
    }
}

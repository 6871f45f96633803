//! `akin export embeddings`: the offline twin of the export route.

use std::path::PathBuf;

use akin_web::Settings;
use akin_web::export::{self, ExportFormat};
use anyhow::Context;
use clap::Subcommand;

#[derive(Subcommand)]
pub enum ExportCommand {
    /// The latest model's embedding of every item, with item ids.
    Embeddings {
        #[arg(long)]
        project: String,
        /// npy, json or csv.
        #[arg(long, default_value = "npy")]
        format: ExportFormat,
        #[arg(long)]
        out: PathBuf,
    },
}

pub async fn run(settings: &Settings, command: ExportCommand) -> anyhow::Result<()> {
    let ExportCommand::Embeddings {
        project,
        format,
        out,
    } = command;
    let db = akin_store::connect(&settings.database_url, 2).await?;
    let project = akin_store::projects::by_name(&db, &project)
        .await?
        .with_context(|| format!("there is no project {project:?}"))?;
    let model = akin_store::models::latest(&db, project.id)
        .await?
        .with_context(|| format!("project {:?} has no trained model yet", project.name))?;
    let embeddings = akin_store::models::embeddings(&db, &model).await?;

    let bytes = export::encode(format, model.id, &embeddings);
    std::fs::write(&out, bytes).with_context(|| format!("while writing {}", out.display()))?;
    println!(
        "wrote {} embeddings of dimension {} from model {} to {}",
        embeddings.item_ids.len(),
        embeddings.dim,
        model.id,
        out.display()
    );
    Ok(())
}

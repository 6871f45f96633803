//! `akin`: serve the annotator and the API, import images, simulate rounds, export
//! embeddings.

mod bench;
mod export;
mod fashion_mnist;
mod import;
mod serve;
mod simulate;
mod worker;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "akin",
    version,
    about = "Learn image embeddings from same-or-different answers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the annotator page, the admin API and (unless AKIN_WORKER=off) a round worker.
    Serve,
    /// Claim queued rounds from the database and train them on this machine.
    Worker,
    /// Import images into a project (created when missing).
    #[command(subcommand)]
    Import(import::ImportCommand),
    /// Export what a project learned.
    #[command(subcommand)]
    Export(export::ExportCommand),
    /// Run active-learning rounds in memory with an oracle that answers from the labels.
    Simulate(simulate::SimulateArgs),
    /// Time the core (selection, graph, consensus) on synthetic data.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_tracing();
    match cli.command {
        Command::Simulate(args) => simulate::run(&args),
        Command::Bench(bench) => bench::run(&bench),
        command => tokio::runtime::Runtime::new()?.block_on(run_async(command)),
    }
}

async fn run_async(command: Command) -> anyhow::Result<()> {
    let settings = akin_web::Settings::from_env()?;
    match command {
        Command::Serve => serve::run(settings).await,
        Command::Worker => worker::run(settings).await,
        Command::Import(import) => import::run(&settings, import).await,
        Command::Export(export) => export::run(&settings, export).await,
        Command::Simulate(_) => unreachable!("simulate runs without tokio"),
        Command::Bench(_) => unreachable!("bench runs without tokio"),
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,tower_http=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

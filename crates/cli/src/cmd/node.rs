//! `synod node`: run one node in the foreground.

use anyhow::Context;
use clap::Args as ClapArgs;
use std::path::PathBuf;
use std::process::ExitCode;
use synod_apps::Services;
use synod_node::ClusterFile;

#[derive(ClapArgs)]
pub struct Args {
    /// The cluster file (see `synod config example`).
    #[arg(long)]
    config: PathBuf,
    /// This node's id in the cluster file.
    #[arg(long)]
    id: u32,
    /// Create a fresh data directory if there is none (never implied: a
    /// node that lost its data must not silently start empty).
    #[arg(long, conflicts_with = "rejoin")]
    init: bool,
    /// This node lost its disk and the cluster runs on: start empty and
    /// rejoin as a learner that never votes (voting with forgotten promises
    /// could break agreement).
    #[arg(long)]
    rejoin: bool,
    /// Override the cluster file's data_dir.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Override the cluster file's runtime.threads.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=256))]
    threads: Option<u16>,
}

pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour only on a terminal: `cluster up` writes logs to files.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    init_logging();
    let mut cluster = ClusterFile::load(&args.config)?;
    if let Some(dir) = args.data_dir {
        cluster.data_dir = dir;
    }
    let threads = args.threads.map_or(cluster.runtime.threads, usize::from);
    // One thread runs the sockets and the replica together (see
    // synod_node::server): where nodes share cores, a wake-up between
    // threads costs more than the work it hands over.
    let runtime = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    }
    .context("starting the runtime")?;
    runtime.block_on(async move {
        let shutdown = async {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = async { match &mut term { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
            }
        };
        use synod_node::server::Start;
        let start = match (args.init, args.rejoin) {
            (_, true) => Start::Rejoin,
            (true, false) => Start::Init,
            (false, false) => Start::Existing,
        };
        synod_node::server::run(cluster, args.id, start, Services::default(), shutdown).await
    })?;
    Ok(ExitCode::SUCCESS)
}

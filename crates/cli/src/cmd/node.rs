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
    /// Initialise this node's data directory for a new cluster, once, and
    /// exit (an existing log is refused, never wiped). Without --init or
    /// --rejoin the node runs, and only from a data directory made by one of
    /// them: a node that lost its data never silently starts empty.
    #[arg(long, conflicts_with = "rejoin")]
    init: bool,
    /// This node lost its disk while the cluster ran on: prepare an empty
    /// data directory in which it rejoins as a learner that never votes
    /// (voting with forgotten promises could break agreement), and exit;
    /// then run it without --rejoin.
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
    if let Some(dir) = &args.data_dir {
        cluster.data_dir = dir.clone();
    }
    if args.init || args.rejoin {
        use synod_node::server::{Prepare, prepare};
        let how = if args.init {
            Prepare::Init
        } else {
            Prepare::Rejoin
        };
        let dir = prepare(&cluster, args.id, how)?;
        let made = match how {
            Prepare::Init => "initialised for a new cluster",
            Prepare::Rejoin => "prepared to rejoin as a learner that never votes",
        };
        let data_dir = match &args.data_dir {
            Some(d) => format!(" --data-dir {}", d.display()),
            None => String::new(),
        };
        println!(
            "n{}: {} {made}; run the node with `synod node --config {} --id {}{data_dir}`",
            args.id,
            dir.display(),
            args.config.display(),
            args.id
        );
        return Ok(ExitCode::SUCCESS);
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
        use synod_node::config::Application;
        use synod_node::server::Start;
        match cluster.application {
            Application::Services => {
                synod_node::server::run(cluster, args.id, Start::Existing, Services::default(), shutdown).await
            }
            Application::Etcd => synod_etcd::on_node::run(cluster, args.id, shutdown).await,
        }
    })?;
    Ok(ExitCode::SUCCESS)
}

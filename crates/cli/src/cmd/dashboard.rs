//! `synod dashboard`: a live web view of a cluster (synod_dashboard), with
//! fault-injection controls where the cluster file enables them. Also
//! started by `synod cluster up --dashboard` and `synod demo --dashboard`.

use crate::cmd::cluster::binary;
use clap::Args as ClapArgs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use synod_dashboard::{DEFAULT_POLL, Dashboard, DashboardOptions};

/// Where the dashboard listens unless told otherwise: loopback only.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

#[derive(ClapArgs)]
pub struct Args {
    /// The cluster file.
    #[arg(long)]
    cluster: PathBuf,
    /// Address to serve the page on (port 0: any free port). Loopback by
    /// default; anyone who can reach it sees the cluster's data.
    #[arg(long, default_value = DEFAULT_LISTEN)]
    listen: SocketAddr,
    /// Milliseconds between two rounds of admin queries.
    #[arg(long, default_value_t = DEFAULT_POLL.as_millis() as u64, value_parser = clap::value_parser!(u64).range(50..=5000))]
    poll_ms: u64,
}

/// Starts a dashboard for `cluster` and prints where it is.
pub async fn start(cluster: &Path, listen: SocketAddr, poll_ms: u64) -> anyhow::Result<Dashboard> {
    let dashboard = Dashboard::start(DashboardOptions {
        cluster: cluster.to_path_buf(),
        listen,
        binary: binary()?,
        poll: std::time::Duration::from_millis(poll_ms),
    })
    .await?;
    if !listen.ip().is_loopback() {
        eprintln!(
            "warning: the dashboard listens on {listen}, beyond this machine: anyone who reaches it sees the cluster's data"
        );
    }
    // The first line is the address (tests and scripts read it); with the
    // token only where the token opens something.
    if dashboard.fault_injection() {
        println!("dashboard: {}", dashboard.url());
        println!(
            "  the address carries the token the controls need (kill, pause, resume, restart, partition, load); keep it to yourself"
        );
    } else {
        println!("dashboard: {}", dashboard.view_url());
        println!(
            "  view only: the cluster file does not enable fault injection ([testing] fault_injection = true)"
        );
    }
    Ok(dashboard)
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let dashboard = start(&args.cluster, args.listen, args.poll_ms).await?;
        println!("  Ctrl-C stops the dashboard (not the cluster)");
        tokio::signal::ctrl_c().await?;
        dashboard.stop().await;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

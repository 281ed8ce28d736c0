//! `synod demo`: a 5-node cluster on this machine survives the loss of its
//! leader under load (synod_tools::demo); this prints its account.

use crate::cmd::cluster::binary;
use clap::Args as ClapArgs;
use std::process::ExitCode;
use std::time::Duration;
use synod_tools::demo::{DemoEvent, DemoOptions, DemoVerdict};

#[derive(ClapArgs)]
pub struct Args {
    /// Nodes in the cluster.
    #[arg(long, default_value_t = 5)]
    nodes: usize,
    /// Seconds of load before the leader is killed (and again after).
    #[arg(long, default_value_t = 3)]
    phase_seconds: u64,
    /// Keep the cluster's directory (logs, data) instead of deleting it.
    #[arg(long)]
    keep: bool,
    /// Also serve the dashboard of the demo's cluster on this address
    /// (default 127.0.0.1:8080) while the demo runs (view only; a longer
    /// --phase-seconds leaves time to watch).
    #[arg(long, num_args = 0..=1, default_missing_value = crate::cmd::dashboard::DEFAULT_LISTEN, value_name = "ADDR")]
    dashboard: Option<std::net::SocketAddr>,
}

fn say(at: Duration, text: impl std::fmt::Display) {
    println!("[{:>5.1}s] {text}", at.as_secs_f64());
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let options = DemoOptions {
        binary: binary()?,
        nodes: args.nodes,
        phase: Duration::from_secs(args.phase_seconds),
        keep: args.keep,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mut dashboard = None;
    let mut dir: Option<std::path::PathBuf> = None;
    let verdict = rt.block_on(synod_tools::demo::run(
        &options,
        &mut |at, event| match event {
            DemoEvent::Balances(table) => println!("\n{table}"),
            DemoEvent::Anomaly(_) => println!("{event}"),
            DemoEvent::Leader(_) => {
                // The cluster is up: its file and processes exist.
                if dashboard.is_none()
                    && let (Some(listen), Some(d)) = (args.dashboard, dir.clone())
                {
                    let file = synod_tools::local::LocalCluster::cluster_file(&d);
                    dashboard = Some(tokio::spawn(async move {
                        crate::cmd::dashboard::start(
                            &file,
                            listen,
                            synod_dashboard::DEFAULT_POLL.as_millis() as u64,
                        )
                        .await
                    }));
                }
                say(at, event)
            }
            DemoEvent::Starting { dir: ref d, .. } => {
                dir = Some(d.clone());
                say(at, event)
            }
            _ => say(at, event),
        },
    ))?;
    if let Some(started) = dashboard {
        match rt.block_on(started) {
            Ok(Ok(d)) => rt.block_on(d.stop()),
            Ok(Err(e)) => eprintln!("the dashboard did not start: {e:#}"),
            Err(e) => eprintln!("the dashboard did not start: {e}"),
        }
    }
    match verdict {
        DemoVerdict::Passed => Ok(ExitCode::SUCCESS),
        DemoVerdict::Failed(e) => {
            println!("demo FAILED: {e:#}");
            Ok(ExitCode::FAILURE)
        }
    }
}

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
    let verdict = rt.block_on(synod_tools::demo::run(
        &options,
        &mut |at, event| match event {
            DemoEvent::Balances(table) => println!("\n{table}"),
            DemoEvent::Anomaly(_) => println!("{event}"),
            _ => say(at, event),
        },
    ))?;
    match verdict {
        DemoVerdict::Passed => Ok(ExitCode::SUCCESS),
        DemoVerdict::Failed(e) => {
            println!("demo FAILED: {e:#}");
            Ok(ExitCode::FAILURE)
        }
    }
}

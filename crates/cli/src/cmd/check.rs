//! `synod check FILE`: re-checks a history saved by `synod nemesis --history`.

use anyhow::Context;
use clap::Args as ClapArgs;
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(ClapArgs)]
pub struct Args {
    /// A history written by `synod nemesis --history FILE`.
    file: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("reading {}", args.file.display()))?;
    let history: synod_check::History = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a synod history", args.file.display()))?;
    let anomalies = synod_check::check(&history);
    for a in &anomalies {
        println!("ANOMALY: {a}");
    }
    println!(
        "{}",
        json!({"ops": history.ops.len(), "anomalies": anomalies.len(),
               "linearizable": !anomalies.iter().any(|a| a.checker == "linearizability")})
    );
    Ok(if anomalies.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

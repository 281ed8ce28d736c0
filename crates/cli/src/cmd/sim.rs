//! `synod sim`: many seeds of the default scenario, or one seed traced.

use anyhow::{Context, bail};
use clap::Args as ClapArgs;
use std::io::Write;
use std::process::ExitCode;
use synod_core::MS;
use synod_sim::{FaultKind, SimOptions, run_seeds};

#[derive(ClapArgs)]
pub struct Args {
    /// How many seeds to run (seeds FIRST..FIRST+N).
    #[arg(long, default_value_t = 100)]
    seeds: u64,
    /// The first seed of a range.
    #[arg(long, default_value_t = 0)]
    first: u64,
    /// Run only this seed (replays a reported failure).
    #[arg(long)]
    seed: Option<u64>,
    /// Print the run's event trace (with --seed).
    #[arg(long, requires = "seed")]
    trace: bool,
    /// Nodes in the cluster.
    #[arg(long, default_value_t = 5)]
    nodes: usize,
    /// Fault kinds to draw from, comma separated, or "all" or "none".
    #[arg(long, default_value = "all")]
    faults: String,
    /// Virtual milliseconds of faults before healing.
    #[arg(long, default_value_t = 3000)]
    fault_ms: u64,
    /// Worker threads (each seed runs in one thread).
    #[arg(long)]
    threads: Option<usize>,
    /// Keep going after a failing seed.
    #[arg(long)]
    keep_going: bool,
    /// The failover scenario of docs/liveness.md instead: calm links, the
    /// leader crashing every 2.5 s (with --client-timeout-ms to vary).
    #[arg(long)]
    failover: bool,
    /// The simulated clients' retry timeout.
    #[arg(long, default_value_t = 200)]
    client_timeout_ms: u64,
}

fn parse_faults(list: &str) -> anyhow::Result<Vec<FaultKind>> {
    match list {
        "all" => Ok(FaultKind::ALL.to_vec()),
        "none" => Ok(Vec::new()),
        _ => list
            .split(',')
            .map(|name| {
                let name = name.trim();
                FaultKind::parse(name).with_context(|| {
                    let known: Vec<&str> = FaultKind::ALL.iter().map(|k| k.name()).collect();
                    format!("unknown fault kind {name:?}; known: {}", known.join(", "))
                })
            })
            .collect(),
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.nodes == 0 || args.nodes > 64 {
        bail!("--nodes must be between 1 and 64, got {}", args.nodes);
    }
    let base = if args.failover {
        SimOptions::failover()
    } else {
        SimOptions::default()
    };
    let options = SimOptions {
        nodes: args.nodes,
        faults: if args.failover {
            base.faults.clone()
        } else {
            parse_faults(&args.faults)?
        },
        fault_time: if args.failover {
            base.fault_time
        } else {
            args.fault_ms * MS
        },
        client_timeout: args.client_timeout_ms * MS,
        trace: args.trace,
        ..base
    };
    let mut out = std::io::stdout().lock();
    if let Some(seed) = args.seed {
        let report = synod_sim::run(seed, &options);
        if args.trace {
            out.write_all(report.trace.as_bytes())?;
        }
        for v in &report.violations {
            writeln!(
                out,
                "seed {seed}: VIOLATION {}: {} (at {} ms)",
                v.invariant,
                v.detail,
                v.at / MS
            )?;
        }
        let json = serde_json::json!({
            "seed": seed,
            "violations": report.violations.len(),
            "committed": report.committed,
            "slots": report.slots,
            "sim_events": report.events,
            "virtual_ms": report.virtual_time / MS,
            "faults": report.enabled.iter().map(|k| k.name()).collect::<Vec<_>>(),
        });
        writeln!(out, "{json}")?;
        return Ok(if report.violations.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let seeds = args.first..args.first + args.seeds;
    let summary = run_seeds(seeds, &options, threads, !args.keep_going, |report| {
        for v in &report.violations {
            let _ = writeln!(
                out,
                "seed {}: VIOLATION {}: {} (at {} ms); replay with: synod sim --seed {} --trace",
                report.seed,
                v.invariant,
                v.detail,
                v.at / MS,
                report.seed
            );
        }
    });
    let json = serde_json::to_string(&summary)?;
    writeln!(out, "{json}")?;
    Ok(if summary.violations == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

//! `synod sim`: many seeds of the default scenario, or one seed traced.

use anyhow::{Context, bail};
use clap::Args as ClapArgs;
use std::io::Write;
use std::process::ExitCode;
use synod_core::MS;
use synod_sim::{SimOptions, run_seeds};

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
    /// Sweep fault subsets: every kind of --faults alone and every pair,
    /// --seeds seeds each, on each cluster size of --sweep-nodes; prints a
    /// JSON line per subset and a table at the end.
    #[arg(long, conflicts_with_all = ["seed", "failover"])]
    sweep: bool,
    /// Cluster sizes for --sweep, comma separated.
    #[arg(long, default_value = "3,5", requires = "sweep")]
    sweep_nodes: String,
}

/// Prints a failing seed's violations, each with the command that replays it.
fn report_violations(out: &mut impl Write, options: &SimOptions, report: &synod_sim::SimReport) {
    for v in &report.violations {
        let _ = writeln!(
            out,
            "seed {}: VIOLATION {}: {} (at {} ms); replay with: synod sim {} --trace",
            report.seed,
            v.invariant,
            v.detail,
            v.at / MS,
            synod_sim::replay::replay_args(options, report.seed)
        );
    }
}

/// `--sweep`: each fault kind alone and in pairs, on each cluster size.
fn sweep(
    args: &Args,
    base: SimOptions,
    threads: usize,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    let sizes: Vec<usize> = args
        .sweep_nodes
        .split(',')
        .map(|n| {
            n.trim()
                .parse()
                .ok()
                .filter(|n| (1..=64).contains(n))
                .with_context(|| format!("--sweep-nodes: {n:?} is not a cluster size (1..=64)"))
        })
        .collect::<anyhow::Result<_>>()?;
    let subsets = synod_sim::faults::singles_and_pairs(&base.faults);
    let mut rows = Vec::new();
    for &nodes in &sizes {
        for faults in &subsets {
            let options = SimOptions {
                nodes,
                faults: faults.clone(),
                ..base.clone()
            };
            let seeds = args.first..args.first + args.seeds;
            let summary = run_seeds(seeds, &options, threads, false, |report| {
                report_violations(&mut *out, &options, report);
            });
            let names: Vec<&str> = faults.iter().map(|k| k.name()).collect();
            let row = serde_json::json!({
                "nodes": nodes,
                "faults": names.join(","),
                "seeds": summary.seeds,
                "violations": summary.violations,
                "failed_seeds": summary.failed_seeds,
                "seeds_per_s": summary.seeds_per_s,
            });
            writeln!(out, "{row}")?;
            out.flush()?;
            rows.push((nodes, names.join(" + "), summary));
        }
    }
    writeln!(out, "\n| nodes | faults | seeds | failing seeds |")?;
    writeln!(out, "|---|---|---|---|")?;
    for (nodes, faults, s) in &rows {
        let failing = if s.failed_seeds.is_empty() {
            "0".to_string()
        } else {
            let shown: Vec<String> = s.failed_seeds.iter().take(5).map(u64::to_string).collect();
            format!(
                "{} ({}{})",
                s.failed_seeds.len(),
                shown.join(", "),
                if s.failed_seeds.len() > 5 {
                    ", ..."
                } else {
                    ""
                }
            )
        };
        writeln!(out, "| {nodes} | {faults} | {} | {failing} |", s.seeds)?;
    }
    let failed = rows.iter().any(|(_, _, s)| s.violations > 0);
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
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
            synod_sim::replay::parse_fault_list(&args.faults).map_err(anyhow::Error::msg)?
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
    if args.sweep {
        return sweep(&args, options, threads, &mut out);
    }
    let seeds = args.first..args.first + args.seeds;
    let summary = run_seeds(seeds, &options, threads, !args.keep_going, |report| {
        report_violations(&mut out, &options, report);
    });
    let json = serde_json::to_string(&summary)?;
    writeln!(out, "{json}")?;
    Ok(if summary.violations == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

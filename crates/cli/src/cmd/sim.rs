//! `synod sim`: many seeds of the swarm (or the fixed mix), for a count or
//! a time, or one seed traced.

use anyhow::{Context, bail};
use clap::Args as ClapArgs;
use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use synod_core::MS;
use synod_sim::{Mix, SimOptions, run_seeds, run_seeds_until};

#[derive(ClapArgs)]
pub struct Args {
    /// How many seeds to run (seeds FIRST..FIRST+N; with --minutes, at
    /// most this many).
    #[arg(long)]
    seeds: Option<u64>,
    /// The first seed of a range.
    #[arg(long, default_value_t = 0)]
    first: u64,
    /// Run only this seed (replays a reported failure).
    #[arg(long)]
    seed: Option<u64>,
    /// Print the run's event trace (with --seed).
    #[arg(long, requires = "seed")]
    trace: bool,
    /// Nodes in the cluster (fixed mix; default 5), or the sizes the swarm
    /// draws from, comma separated (default 3,5).
    #[arg(long)]
    nodes: Option<String>,
    /// `swarm`: each seed draws which faults strike, how often and how hard,
    /// or a scenario family (docs/simulator.md); `fixed`: every kind of
    /// --faults at one rate, as before the swarm.
    #[arg(long, default_value = "swarm")]
    mix: String,
    /// With the swarm: run only this family (classic, random,
    /// checkpoint-race, wipe-rejoin, restart-storm,
    /// isolate-after-checkpoint, laggard-elected, deposed-leader, reconfig).
    #[arg(long)]
    family: Option<String>,
    /// Run seeds until this many minutes have passed (implies --keep-going).
    #[arg(long, conflicts_with_all = ["seed", "sweep"])]
    minutes: Option<f64>,
    /// Append every failing seed to this file, with its replay command
    /// (implies --keep-going).
    #[arg(long)]
    failures: Option<std::path::PathBuf>,
    /// Seconds between progress lines on stderr (0: none).
    #[arg(long, default_value_t = 10.0)]
    progress_s: f64,
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
    /// A partial-connectivity scenario instead of drawn faults:
    /// quorum-loss, constrained-election, chained or bridge
    /// (docs/liveness.md), held around the leader from 1 s to the heal;
    /// the summary adds the recovery times and their bound.
    #[arg(long, conflicts_with_all = ["failover", "sweep", "family"])]
    partial: Option<String>,
    /// Print the N slowest failovers at the end, each with its seed and
    /// what went on during it (docs/liveness.md, "The compound-fault
    /// tail").
    #[arg(long, value_name = "N")]
    tail: Option<usize>,
    /// The percentage of kv gets sent as reads without a log write: three
    /// in four linearizable (read index, checked with every other kv
    /// operation), one in four serializable (answered from one node's
    /// state; only checked to return a value that was written). 0: every
    /// get through the log, as the seeds of earlier runs did.
    #[arg(long, default_value_t = 0, value_parser = synod_sim::replay::parse_reads)]
    reads: u32,
    /// The simulated clients' retry timeout.
    #[arg(long, default_value_t = 200)]
    client_timeout_ms: u64,
    /// A crashed node refuses its clients at once, as a killed process's
    /// host does: a client that sent to it alone broadcasts without waiting
    /// for its timer.
    #[arg(long)]
    refused_when_down: bool,
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
                mix: Mix::Fixed,
                faults: faults.clone(),
                ..base.clone()
            };
            let seeds = args.first..args.first + args.seeds.unwrap_or(100);
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
    let partial = match &args.partial {
        Some(name) => Some(synod_core::Scenario::parse(name).map_err(anyhow::Error::msg)?),
        None => None,
    };
    let mix = match partial {
        Some(_) => Mix::Fixed,
        None => Mix::parse(&args.mix)
            .with_context(|| format!("--mix: {:?} is not fixed or swarm", args.mix))?,
    };
    let sizes = match &args.nodes {
        Some(list) => synod_sim::replay::parse_sizes(list).map_err(anyhow::Error::msg)?,
        None if mix == Mix::Swarm => vec![3, 5],
        None => vec![5],
    };
    if mix == Mix::Fixed && sizes.len() != 1 {
        bail!("the fixed mix runs one cluster size, not {sizes:?}");
    }
    let family = match &args.family {
        Some(name) if mix == Mix::Swarm => {
            Some(synod_sim::replay::parse_family(name).map_err(anyhow::Error::msg)?)
        }
        Some(_) => bail!("--family picks a member of the swarm (--mix swarm)"),
        None => None,
    };
    if partial.is_some() && args.faults != "all" {
        bail!("--partial holds its scenario alone: no --faults with it");
    }
    let base = if let Some(scenario) = partial {
        SimOptions::partial(scenario)
    } else if args.failover {
        SimOptions::failover()
    } else {
        SimOptions::default()
    };
    let options = SimOptions {
        nodes: sizes[0],
        sizes,
        family,
        mix,
        faults: if args.failover || partial.is_some() {
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
        reads: args.reads,
        refused_when_down: args.refused_when_down,
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
            "family": report.family.map(|f| f.name()),
            "nodes": report.nodes,
            "reads": report.reads,
            "local_reads": report.local_reads,
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
    let keep_going = args.keep_going || args.minutes.is_some() || args.failures.is_some();
    let count = match (args.seeds, args.minutes) {
        (Some(n), _) => n,
        (None, Some(_)) => u64::MAX - args.first,
        (None, None) => 100,
    };
    let seeds = args.first..args.first.saturating_add(count);
    let start = Instant::now();
    let deadline = args
        .minutes
        .map(|m| start + Duration::from_secs_f64((m * 60.0).max(0.0)));
    let mut failures = match &args.failures {
        Some(path) => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("opening {}", path.display()))?,
        ),
        None => None,
    };
    let (mut done, mut violations, mut last_progress) = (0u64, 0u64, Instant::now());
    // Partial scenarios: the slowest recovery and its seed; seeds whose
    // scenario never struck (no leader at the time) or never recovered.
    let (mut slowest, mut unmeasured) = ((0, 0), Vec::new());
    let crash_bound = options.failover_bound(MS).total;
    let mut tail: Vec<(u64, u64, String)> = Vec::new();
    let summary = run_seeds_until(seeds, &options, threads, !keep_going, deadline, |report| {
        report_violations(&mut out, &options, report);
        done += 1;
        if let Some(n) = args.tail {
            for (gap, cause) in report.failovers.iter().zip(&report.failover_causes) {
                if tail.len() >= n && tail.last().is_some_and(|(g, ..)| g >= gap) {
                    continue;
                }
                let line = format!(
                    "{:>8.1} ms  seed {:<8} {:<13} no quorum {:>6.1} ms, struck [{}]{}, {} nodes, family {}",
                    *gap as f64 / 1000.0,
                    report.seed,
                    cause.label(*gap, crash_bound),
                    cause.no_quorum as f64 / 1000.0,
                    cause.struck.iter().copied().collect::<Vec<_>>().join(","),
                    if cause.lossy { ", lossy" } else { "" },
                    report.nodes,
                    report.family.map_or("-", |f| f.name()),
                );
                tail.push((*gap, report.seed, line));
                tail.sort_by_key(|t| std::cmp::Reverse(t.0));
                tail.truncate(n);
            }
        }
        match report.failovers.iter().max() {
            Some(&t) if t >= slowest.0 => slowest = (t, report.seed),
            Some(_) => {}
            None => unmeasured.push(report.seed),
        }
        if !report.violations.is_empty() {
            violations += report.violations.len() as u64;
            if let Some(file) = &mut failures {
                let first = &report.violations[0];
                let _ = writeln!(
                    file,
                    "synod sim {}  # {}: {}",
                    synod_sim::replay::replay_args(&options, report.seed),
                    first.invariant,
                    first.detail
                );
                let _ = file.flush();
            }
        }
        if args.progress_s > 0.0 && last_progress.elapsed().as_secs_f64() >= args.progress_s {
            last_progress = Instant::now();
            let elapsed = start.elapsed().as_secs_f64();
            eprintln!(
                "sim: {done} seeds in {elapsed:.0} s ({:.1} seeds/s), last seed {}, {violations} violation(s)",
                done as f64 / elapsed,
                report.seed
            );
        }
    });
    if args.tail.is_some() {
        writeln!(
            out,
            "the slowest failovers (clean-crash bound {:.1} ms):",
            crash_bound as f64 / 1000.0
        )?;
        for (_, _, line) in &tail {
            writeln!(out, "{line}")?;
        }
    }
    if let Some(scenario) = options.partial {
        let bound = synod_core::partial::recovery_bound(
            scenario,
            &options.config(1),
            &options.partial_environment(),
        );
        let ms = |t: u64| t as f64 / 1000.0;
        let within = ms(slowest.0) <= ms(bound.total) && unmeasured.is_empty();
        let json = serde_json::json!({
            "scenario": scenario.name(),
            "nodes": options.nodes,
            "seeds": summary.seeds,
            "violations": summary.violations,
            "failed_seeds": summary.failed_seeds,
            "max_recovery_ms": summary.max_failover_ms,
            "median_recovery_ms": summary.median_failover_ms,
            "slowest_seed": slowest.1,
            "unmeasured_seeds": unmeasured,
            "bound_ms": ms(bound.total),
            "within_bound": within,
            "committed_per_seed": summary.committed_per_seed,
            "wall_s": summary.wall_s,
        });
        writeln!(out, "{json}")?;
        return Ok(if summary.violations == 0 && within {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    let json = serde_json::to_string(&summary)?;
    writeln!(out, "{json}")?;
    Ok(if summary.violations == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

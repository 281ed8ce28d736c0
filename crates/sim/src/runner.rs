//! Runs many seeds and sums them up. Each seed is one deterministic,
//! single-threaded run; seeds are spread over worker threads, and reports
//! are handed on in seed order whatever order they finish in.

use crate::world::{SimOptions, SimReport, run};
use serde::Serialize;
use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Instant;
use synod_core::Time;

#[derive(Clone, Debug, Default, Serialize)]
pub struct Summary {
    pub seeds: u64,
    pub violations: u64,
    /// Client commands executed, summed over seeds.
    pub committed: u64,
    pub sim_events: u64,
    pub wall_s: f64,
    pub seeds_per_s: f64,
    pub events_per_s: f64,
    pub committed_per_seed: f64,
    pub ok: u64,
    pub unknown: u64,
    /// Client reads answered without a log write: linearizable (read
    /// index) and serializable, over all seeds (counted in `ok` too).
    pub reads: u64,
    pub local_reads: u64,
    pub leader_failovers: u64,
    /// The longest virtual time from a leader crash, pause or isolation to
    /// the execution of a slot proposed after it, in milliseconds.
    pub max_failover_ms: f64,
    pub median_failover_ms: f64,
    /// The failovers grouped by what went on during them
    /// (`FailoverCause::label`, against the clean-crash bound).
    pub failover_causes: BTreeMap<&'static str, CauseStats>,
    /// Log truncations and snapshot installs, over all seeds and nodes.
    pub truncations: u64,
    pub snapshots_installed: u64,
    /// Membership changes executed (fault kind `reconfig`), over all seeds,
    /// and the seeds that made at least one.
    pub reconfigurations: u64,
    pub reconfigured_seeds: u64,
    /// Seeds that broke an invariant.
    pub failed_seeds: Vec<u64>,
}

/// Runs `seeds` on `threads` workers, calling `each` with every report in
/// seed order. With `stop_on_violation`, no seed after the first failing
/// one is started or reported.
pub fn run_seeds(
    seeds: Range<u64>,
    options: &SimOptions,
    threads: usize,
    stop_on_violation: bool,
    each: impl FnMut(&SimReport),
) -> Summary {
    run_seeds_until(seeds, options, threads, stop_on_violation, None, each)
}

/// [`run_seeds`], starting no seed after `deadline` (the seeds run are
/// then a prefix of `seeds`, each reported whole).
pub fn run_seeds_until(
    seeds: Range<u64>,
    options: &SimOptions,
    threads: usize,
    stop_on_violation: bool,
    deadline: Option<Instant>,
    mut each: impl FnMut(&SimReport),
) -> Summary {
    let count = seeds.end.saturating_sub(seeds.start);
    let count = usize::try_from(count).unwrap_or(usize::MAX);
    let first = seeds.start;
    let start = Instant::now();
    let next = AtomicUsize::new(0);
    let first_failure = AtomicUsize::new(usize::MAX);
    let (tx, rx) = mpsc::channel::<(usize, SimReport)>();
    let mut summary = Summary::default();
    let mut failovers: Vec<Time> = Vec::new();
    let bound = options.failover_bound(synod_core::MS).total;
    let mut by_cause: BTreeMap<&'static str, Vec<Time>> = BTreeMap::new();
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            let tx = tx.clone();
            let (next, first_failure) = (&next, &first_failure);
            scope.spawn(move || {
                loop {
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        break;
                    }
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= count || i > first_failure.load(Ordering::Relaxed) {
                        break;
                    }
                    let report = run(first + i as u64, options);
                    if stop_on_violation && !report.violations.is_empty() {
                        first_failure.fetch_min(i, Ordering::Relaxed);
                    }
                    if tx.send((i, report)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let mut waiting: BTreeMap<usize, SimReport> = BTreeMap::new();
        let mut emitted = 0;
        for (i, report) in rx {
            waiting.insert(i, report);
            while let Some(report) = waiting.remove(&emitted) {
                if emitted <= first_failure.load(Ordering::Relaxed) {
                    summary.seeds += 1;
                    summary.committed += report.committed;
                    summary.sim_events += report.events;
                    summary.ok += report.ok;
                    summary.unknown += report.unknown;
                    summary.reads += report.reads;
                    summary.local_reads += report.local_reads;
                    failovers.extend(&report.failovers);
                    for (gap, cause) in report.failovers.iter().zip(&report.failover_causes) {
                        by_cause
                            .entry(cause.label(*gap, bound))
                            .or_default()
                            .push(*gap);
                    }
                    summary.truncations += report.truncations;
                    summary.snapshots_installed += report.snapshots_installed;
                    summary.reconfigurations += report.reconfigurations;
                    summary.reconfigured_seeds += u64::from(report.reconfigurations > 0);
                    if !report.violations.is_empty() {
                        summary.violations += report.violations.len() as u64;
                        summary.failed_seeds.push(report.seed);
                    }
                    each(&report);
                }
                emitted += 1;
            }
        }
    });
    let wall = start.elapsed().as_secs_f64();
    summary.wall_s = (wall * 1000.0).round() / 1000.0;
    summary.seeds_per_s = round1(summary.seeds as f64 / wall);
    summary.events_per_s = round1(summary.sim_events as f64 / wall);
    summary.committed_per_seed = round1(summary.committed as f64 / summary.seeds.max(1) as f64);
    for (label, mut gaps) in by_cause {
        gaps.sort();
        summary.failover_causes.insert(
            label,
            CauseStats {
                count: gaps.len() as u64,
                median_ms: gaps[gaps.len() / 2] as f64 / 1000.0,
                max_ms: gaps[gaps.len() - 1] as f64 / 1000.0,
            },
        );
    }
    failovers.sort();
    summary.leader_failovers = failovers.len() as u64;
    summary.max_failover_ms = failovers.last().map_or(0.0, |&t| t as f64 / 1000.0);
    summary.median_failover_ms = failovers
        .get(failovers.len() / 2)
        .map_or(0.0, |&t| t as f64 / 1000.0);
    summary
}

/// The failovers of one cause.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CauseStats {
    pub count: u64,
    pub median_ms: f64,
    pub max_ms: f64,
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

//! Seeds to detection: for each planted bug, how many seeds the fixed mix
//! and the swarm run before one breaks an invariant, from several starting
//! points (the median is what docs/simulator.md reports).
//!
//! `cargo run --release -p synod-sim --example detect -- [STARTS] [CAP] [THREADS]`
//! (defaults: 5 starting points, a cap of 600 seeds, 2 threads). Starting
//! point k is seed k * 1,000,003; a bug not caught within CAP seeds counts
//! as CAP and is marked `>`. The two reconfiguration bugs need membership
//! changes: for them the fixed mix draws from every kind and `reconfig`
//! (`--faults` naming all thirteen), and the swarm runs its `reconfig`
//! member (`--family reconfig`); `detect reconfig [STARTS] [CAP] [THREADS]`
//! prints their rows alone.

use std::sync::Arc;
use synod_core::PlantedBug;
use synod_sim::{Mix, SimOptions, run_seeds};

/// The planted bugs every seed can reach. `UnconfirmedRead` needs reads
/// without a log write: its runs, and only its, have a read share
/// ([`read_share`]).
const BUGS: [PlantedBug; 8] = [
    PlantedBug::AcceptLowerBallot,
    PlantedBug::NewViewIgnoresPromises,
    PlantedBug::CommitOnF,
    PlantedBug::LocalReplyCache,
    PlantedBug::IgnoreTruncation,
    PlantedBug::WipedNodeVotes,
    PlantedBug::CompactionDropsRecord,
    PlantedBug::UnconfirmedRead,
];

/// The percentage of kv gets sent as reads for `bug`'s runs: 60 for the
/// read bug, 0 (every get through the log, so the other rows replay as
/// measured before reads existed) for the rest.
fn read_share(bug: PlantedBug) -> u32 {
    if bug == PlantedBug::UnconfirmedRead {
        60
    } else {
        0
    }
}

/// The planted bugs only a membership change can reach.
const RECONFIG_BUGS: [PlantedBug; 4] = [
    PlantedBug::ReconfigureEarly,
    PlantedBug::RemovedNodeCounted,
    PlantedBug::ReconfigurationNotDurable,
    PlantedBug::CatchUpHintSticks,
];

/// Seeds run from `start` until the first violation (1 = the first seed).
fn seeds_to_detect(bug: PlantedBug, mix: Mix, start: u64, cap: u64, threads: usize) -> Option<u64> {
    let reconfig = RECONFIG_BUGS.contains(&bug);
    let options = SimOptions {
        mix,
        faults: if reconfig {
            synod_sim::FaultKind::KNOWN.to_vec()
        } else {
            synod_sim::FaultKind::ALL.to_vec()
        },
        family: (reconfig && mix == Mix::Swarm).then_some(synod_sim::Family::Reconfig),
        configure: Some(Arc::new(move |c| c.planted_bug = Some(bug))),
        reads: read_share(bug),
        ..SimOptions::default()
    };
    let summary = run_seeds(start..start + cap, &options, threads, true, |_| {});
    summary.failed_seeds.first().map(|seed| seed - start + 1)
}

fn median(mut xs: Vec<(u64, bool)>) -> (u64, bool) {
    xs.sort();
    xs[xs.len() / 2]
}

/// `detect families N`: per family of the swarm, how many of N seeds
/// each bug breaks (to tune the swarm's weights).
fn families(n: u64, threads: usize, sizes: Vec<usize>, only: Option<String>) {
    use synod_sim::Family;
    let bugs: Vec<PlantedBug> = BUGS
        .into_iter()
        .chain(RECONFIG_BUGS)
        .filter(|b| only.as_ref().is_none_or(|o| format!("{b:?}") == *o))
        .collect();
    print!("| family |");
    for &bug in &bugs {
        print!(" {bug:?} |");
    }
    println!();
    print!("| (fixed mix) |");
    for &bug in &bugs {
        let options = SimOptions {
            configure: Some(Arc::new(move |c| c.planted_bug = Some(bug))),
            reads: read_share(bug),
            ..SimOptions::default()
        };
        let summary = run_seeds(0..n, &options, threads, false, |_| {});
        print!(" {} |", summary.failed_seeds.len());
    }
    println!();
    for family in Family::ALL {
        print!("| {} |", family.name());
        for &bug in &bugs {
            let options = SimOptions {
                family: Some(family),
                sizes: sizes.clone(),
                configure: Some(Arc::new(move |c| c.planted_bug = Some(bug))),
                reads: read_share(bug),
                ..SimOptions::swarm()
            };
            let summary = run_seeds(0..n, &options, threads, false, |_| {});
            print!(" {} |", summary.failed_seeds.len());
        }
        println!();
    }
}

fn main() {
    if std::env::args().nth(1).as_deref() == Some("families") {
        // detect families N [SIZES [BUG]]
        let n = std::env::args()
            .nth(2)
            .map_or(50, |a| a.parse().expect("N"));
        let sizes = std::env::args().nth(3).map_or(vec![3, 5], |a| {
            a.split(',').map(|x| x.parse().expect("SIZES")).collect()
        });
        return families(n, 2, sizes, std::env::args().nth(4));
    }
    let only_reconfig = std::env::args().nth(1).as_deref() == Some("reconfig");
    let args: Vec<u64> = std::env::args()
        .skip(1 + usize::from(only_reconfig))
        .map(|a| a.parse().expect("STARTS CAP THREADS are numbers"))
        .collect();
    let starts = args.first().copied().unwrap_or(5);
    let cap = args.get(1).copied().unwrap_or(600);
    let threads = args.get(2).copied().unwrap_or(2) as usize;
    let started = std::time::Instant::now();
    println!(
        "| planted bug | fixed mix: seeds to detection (median; each start) | swarm: seeds to detection (median; each start) |"
    );
    println!("|---|---|---|");
    let mut totals = [0u64; 2];
    let bugs: Vec<PlantedBug> = if only_reconfig {
        RECONFIG_BUGS.to_vec()
    } else {
        BUGS.into_iter().chain(RECONFIG_BUGS).collect()
    };
    for bug in bugs {
        let mut cells = Vec::new();
        for (m, mix) in [Mix::Fixed, Mix::Swarm].into_iter().enumerate() {
            let runs: Vec<(u64, bool)> = (0..starts)
                .map(|k| {
                    let start = k * 1_000_003;
                    match seeds_to_detect(bug, mix, start, cap, threads) {
                        Some(n) => (n, false),
                        None => (cap, true),
                    }
                })
                .collect();
            let show = |(n, capped): (u64, bool)| format!("{}{n}", if capped { ">" } else { "" });
            let (med, capped) = median(runs.clone());
            totals[m] += med;
            let each: Vec<String> = runs.iter().copied().map(show).collect();
            cells.push(format!("**{}** ({})", show((med, capped)), each.join(", ")));
        }
        println!("| {bug:?} | {} | {} |", cells[0], cells[1]);
    }
    println!("| sum of medians | {} | {} |", totals[0], totals[1]);
    eprintln!(
        "{starts} starting points, cap {cap} seeds, {threads} threads: {:.0} s",
        started.elapsed().as_secs_f64()
    );
}

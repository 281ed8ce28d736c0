//! Checkpoints, truncation and state transfer under the simulator's faults.

use std::sync::Arc;
use synod_core::PlantedBug;
use synod_sim::{SimOptions, run, run_seeds};

fn threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

#[test]
fn logs_are_truncated_lagging_nodes_take_snapshots_and_memory_stays_bounded() {
    // Every seed ends with the "memory bound" check: each node's retained
    // log is what came after a checkpoint that all of them truncated through.
    let summary = run_seeds(1000..1150, &SimOptions::default(), threads(), false, |r| {
        for v in &r.violations {
            eprintln!("seed {}: {v:?}", r.seed);
        }
    });
    assert_eq!(summary.failed_seeds, Vec::<u64>::new());
    assert!(summary.truncations > 1000, "{summary:?}");
    assert!(summary.snapshots_installed > 50, "{summary:?}");
}

#[test]
fn catches_a_candidate_that_ignores_a_peers_truncation() {
    let options = SimOptions {
        configure: Some(Arc::new(|c| {
            c.planted_bug = Some(PlantedBug::IgnoreTruncation)
        })),
        ..SimOptions::default()
    };
    let summary = run_seeds(0..600, &options, threads(), true, |_| {});
    let Some(&seed) = summary.failed_seeds.first() else {
        panic!("a NEW-VIEW over truncated slots went unnoticed over 600 seeds");
    };
    let report = run(seed, &options);
    let mut invariants: Vec<&str> = report.violations.iter().map(|v| v.invariant).collect();
    invariants.sort();
    invariants.dedup();
    eprintln!("caught at seed {seed}: {invariants:?}");
    assert!(!invariants.is_empty());
}

#[test]
fn catches_a_wiped_node_that_votes_with_forgotten_promises() {
    // Only disk losses, so that the planted bug is what the seeds exercise.
    let options = SimOptions {
        faults: vec![synod_sim::FaultKind::Wipe, synod_sim::FaultKind::Loss],
        configure: Some(Arc::new(|c| {
            c.planted_bug = Some(PlantedBug::WipedNodeVotes)
        })),
        ..SimOptions::default()
    };
    let summary = run_seeds(0..1000, &options, threads(), true, |_| {});
    let Some(&seed) = summary.failed_seeds.first() else {
        panic!("a wiped node voting again went unnoticed over 1000 seeds");
    };
    let report = run(seed, &options);
    let mut invariants: Vec<&str> = report.violations.iter().map(|v| v.invariant).collect();
    invariants.sort();
    invariants.dedup();
    eprintln!("caught at seed {seed}: {invariants:?}");
}

#[test]
fn wiped_nodes_rejoin_as_learners_without_breaking_anything() {
    let options = SimOptions {
        faults: vec![synod_sim::FaultKind::Wipe, synod_sim::FaultKind::Loss],
        ..SimOptions::default()
    };
    let summary = run_seeds(0..300, &options, threads(), false, |_| {});
    assert_eq!(summary.failed_seeds, Vec::<u64>::new());
    assert!(summary.snapshots_installed > 0, "{summary:?}");
}

#[test]
fn catches_a_compaction_that_drops_an_acknowledged_acceptance() {
    let options = SimOptions {
        configure: Some(Arc::new(|c| {
            c.planted_bug = Some(PlantedBug::CompactionDropsRecord)
        })),
        ..SimOptions::default()
    };
    let summary = run_seeds(0..1000, &options, threads(), true, |_| {});
    let Some(&seed) = summary.failed_seeds.first() else {
        panic!("a compaction that forgets an acceptance went unnoticed over 1000 seeds");
    };
    let report = run(seed, &options);
    let invariants: Vec<&str> = report.violations.iter().map(|v| v.invariant).collect();
    eprintln!("caught at seed {seed}: {invariants:?}");
    assert!(
        invariants.contains(&"recovered state"),
        "the recovered-state invariant names it: {invariants:?}"
    );
}

/// Seed 2002517 (3 nodes, crash-restart, wipe and loss): a leader accepted
/// a slot and compacted its log in the same turn; the compaction's live set
/// was built before the acceptance and replaced it away on disk. After a
/// crash the leader denied the acceptance and a new leader filled the slot
/// with a no-op that some replicas executed instead of the chosen value.
#[test]
fn regression_seed_2002517_a_compaction_keeps_the_same_turns_acceptance() {
    use synod_sim::FaultKind::{CrashRestart, Loss, Wipe};
    let options = SimOptions {
        nodes: 3,
        faults: vec![CrashRestart, Wipe, Loss],
        ..SimOptions::default()
    };
    let report = run(2002517, &options);
    assert!(report.committed > 100, "the run did real work");
    assert_eq!(report.violations, Vec::new());
}

/// A compaction can come on a turn with nothing else to write (a peer's
/// CHECKPOINT completes the quorum that lets this node truncate). The
/// simulator's host once applied compactions only on turns that also
/// appended records, unlike the node's; now both carry out writes through
/// the same driver, and the end-of-run check that a node's disk holds the
/// truncation it made in memory would catch the old host at once (seed 0
/// on 3 nodes: n1 truncated through slot 210, its disk held no checkpoint).
#[test]
fn a_compaction_with_nothing_else_to_write_reaches_the_disk() {
    for nodes in [3, 5] {
        let options = SimOptions {
            nodes,
            ..SimOptions::default()
        };
        for seed in 0..3 {
            let report = run(seed, &options);
            assert!(report.truncations > 0, "seed {seed} truncates");
            let behind: Vec<_> = report
                .violations
                .iter()
                .filter(|v| v.invariant == "disk behind memory")
                .collect();
            assert!(behind.is_empty(), "seed {seed}, {nodes} nodes: {behind:?}");
        }
    }
}

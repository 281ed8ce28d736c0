//! Reads without a log write in the simulator: with a read share the kv
//! clients send gets as linearizable reads (read index) and serializable
//! reads; under every fault the linearizable ones go into the history the
//! linearizability checker reads, and a leader that answers without
//! confirming it still leads is caught.

use std::sync::Arc;
use synod_core::PlantedBug;
use synod_sim::{Mix, SimOptions, run, run_seeds};

fn threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

fn with_reads(mix: Mix) -> SimOptions {
    SimOptions {
        mix,
        reads: 60,
        ..SimOptions::default()
    }
}

#[test]
fn reads_are_answered_without_the_log_and_the_runs_stay_clean() {
    for mix in [Mix::Fixed, Mix::Swarm] {
        let summary = run_seeds(0..150, &with_reads(mix), threads(), false, |r| {
            for v in &r.violations {
                eprintln!("seed {}: {v:?}", r.seed);
            }
        });
        assert_eq!(summary.failed_seeds, Vec::<u64>::new(), "{mix:?}");
        // Both kinds were answered, many times a seed.
        assert!(summary.reads > 150 * 10, "{summary:?}");
        assert!(summary.local_reads > 150 * 2, "{summary:?}");
    }
}

#[test]
fn a_seed_with_reads_replays_byte_for_byte() {
    let options = SimOptions {
        trace: true,
        ..with_reads(Mix::Swarm)
    };
    for seed in [5, 41] {
        let a = run(seed, &options);
        let b = run(seed, &options);
        assert!(a.trace.contains("client Read "), "no read in seed {seed}");
        assert!(a.trace.contains("client LocalRead "));
        assert_eq!(a.trace, b.trace, "seed {seed} diverged");
        assert_eq!((a.reads, a.local_reads), (b.reads, b.local_reads));
    }
}

#[test]
fn without_a_read_share_no_get_skips_the_log() {
    let options = SimOptions {
        trace: true,
        ..SimOptions::swarm()
    };
    let report = run(5, &options);
    assert_eq!((report.reads, report.local_reads), (0, 0));
    assert!(!report.trace.contains("client Read "));
    assert!(!report.trace.contains("client LocalRead "));
}

/// A leader that answers linearizable reads from its state at once, without
/// a quorum confirming it still leads: a deposed leader answers stale reads,
/// which the linearizability check of the history catches.
#[test]
fn catches_a_leader_that_answers_reads_unconfirmed() {
    for mix in [Mix::Fixed, Mix::Swarm] {
        let options = SimOptions {
            configure: Some(Arc::new(|c| {
                c.planted_bug = Some(PlantedBug::UnconfirmedRead)
            })),
            ..with_reads(mix)
        };
        let summary = run_seeds(0..2000, &options, threads(), true, |_| {});
        let Some(&seed) = summary.failed_seeds.first() else {
            panic!("UnconfirmedRead went unnoticed over 2000 seeds ({mix:?})");
        };
        let report = run(seed, &options);
        eprintln!("{mix:?}: caught at seed {seed}: {:?}", report.violations);
        assert!(
            report
                .violations
                .iter()
                .any(|v| v.invariant == "history" && v.detail.contains("linearizability")),
            "{:?}",
            report.violations
        );
        // The same seed without the bug is clean.
        let clean = run(seed, &with_reads(mix));
        assert!(clean.violations.is_empty(), "{:?}", clean.violations);
    }
}

/// A follower of three that counts acceptances learns a write chosen, and
/// answers it, before its leader knows: a read at the leader that took the
/// leader's commit point as its index missed that write (the swarm with
/// reads, seeds 509, 1624, 3624, 4428, 7351, 9875, 13941 and 14652 of
/// 20,000, 2026-12-06). The index is now at least the last slot the leader
/// proposed.
#[test]
fn a_read_sees_a_write_a_follower_answered_before_its_leader_knew() {
    let options = SimOptions {
        mix: Mix::Swarm,
        sizes: vec![3, 5],
        reads: 30,
        ..SimOptions::default()
    };
    for seed in [509, 1624, 3624, 4428, 7351, 9875, 13941, 14652] {
        let report = run(seed, &options);
        assert!(
            report.violations.is_empty(),
            "seed {seed}: {:?}",
            report.violations
        );
    }
}

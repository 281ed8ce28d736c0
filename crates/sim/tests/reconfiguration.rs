//! Membership changes under faults (fault kind `reconfig`, the swarm's
//! `reconfig` member): they run clean, replay byte for byte, and the
//! planted reconfiguration bugs are caught.

use std::sync::Arc;
use synod_core::PlantedBug;
use synod_sim::{Family, FaultKind, Mix, SimOptions, run, run_seeds};

fn threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

fn reconfig(sizes: &[usize]) -> SimOptions {
    SimOptions {
        family: Some(Family::Reconfig),
        sizes: sizes.to_vec(),
        ..SimOptions::swarm()
    }
}

#[test]
fn membership_changes_under_faults_run_clean_on_3_and_5_nodes() {
    for sizes in [[3], [5]] {
        let summary = run_seeds(0..40, &reconfig(&sizes), threads(), false, |r| {
            for v in &r.violations {
                eprintln!("seed {} on {sizes:?}: {v:?}", r.seed);
            }
        });
        assert_eq!(summary.failed_seeds, Vec::<u64>::new(), "{sizes:?}");
        // The runs did change their membership, and did real work.
        assert!(summary.reconfigured_seeds >= 30, "{summary:?}");
        assert!(summary.reconfigurations >= 3 * 40, "{summary:?}");
        assert!(summary.committed > 40 * 50, "{summary:?}");
    }
}

#[test]
fn a_seed_with_membership_changes_replays_byte_for_byte() {
    let options = SimOptions {
        trace: true,
        ..reconfig(&[3, 5])
    };
    for seed in [5, 6] {
        let a = run(seed, &options);
        let b = run(seed, &options);
        assert!(a.reconfigurations > 0, "seed {seed} changed nothing");
        assert!(a.trace.contains("admin: asks"), "seed {seed}");
        assert_eq!(a.trace, b.trace, "seed {seed} diverged");
        assert_eq!(
            (a.committed, a.events, a.reconfigurations, a.members),
            (b.committed, b.events, b.reconfigurations, b.members)
        );
    }
}

/// The fixed mix takes `reconfig` among its kinds when `--faults` names it.
#[test]
fn the_fixed_mix_changes_the_membership_when_asked_to() {
    let options = SimOptions {
        mix: Mix::Fixed,
        nodes: 3,
        faults: vec![FaultKind::CrashRestart, FaultKind::Reconfig],
        ..SimOptions::default()
    };
    let summary = run_seeds(0..20, &options, threads(), false, |r| {
        for v in &r.violations {
            eprintln!("seed {}: {v:?}", r.seed);
        }
    });
    assert_eq!(summary.failed_seeds, Vec::<u64>::new());
    assert!(summary.reconfigured_seeds > 0, "{summary:?}");
}

/// A seed that does not draw `reconfig` draws the member it drew before
/// `reconfig` existed: the draw for it comes after every other one.
#[test]
fn seeds_without_reconfig_keep_their_swarm_member() {
    use synod_sim::swarm::draw_profile;
    let mut reconfigs = 0;
    for seed in 0..2000 {
        let p = draw_profile(seed, None, &[3, 5]);
        if p.family == Family::Reconfig {
            reconfigs += 1;
            continue;
        }
        assert_eq!(
            p,
            draw_profile(seed, Some(p.family), &[3, 5]),
            "seed {seed}"
        );
    }
    // About 15% of the swarm's seeds.
    assert!((200..400).contains(&reconfigs), "{reconfigs}");
}

/// Runs the `reconfig` member with `bug` planted over `seeds`; returns the
/// first failing seed and the invariants it broke.
fn first_violation(bug: PlantedBug, seeds: u64) -> Option<(u64, Vec<&'static str>)> {
    let options = SimOptions {
        configure: Some(Arc::new(move |c| c.planted_bug = Some(bug))),
        ..reconfig(&[3, 5])
    };
    let summary = run_seeds(0..seeds, &options, threads(), true, |_| {});
    let seed = *summary.failed_seeds.first()?;
    let mut invariants: Vec<&'static str> = run(seed, &options)
        .violations
        .iter()
        .map(|v| v.invariant)
        .collect();
    invariants.sort();
    invariants.dedup();
    // Without the bug the same seed passes: the bug broke it.
    assert_eq!(run(seed, &reconfig(&[3, 5])).violations, Vec::new());
    Some((seed, invariants))
}

#[test]
fn catches_a_reconfiguration_that_takes_effect_when_proposed() {
    let (seed, invariants) = first_violation(PlantedBug::ReconfigureEarly, 300)
        .expect("ReconfigureEarly went unnoticed over 300 seeds");
    eprintln!("ReconfigureEarly caught at seed {seed}: {invariants:?}");
}

#[test]
fn catches_a_removed_node_counted_in_a_quorum() {
    let (seed, invariants) = first_violation(PlantedBug::RemovedNodeCounted, 300)
        .expect("RemovedNodeCounted went unnoticed over 300 seeds");
    eprintln!("RemovedNodeCounted caught at seed {seed}: {invariants:?}");
}

/// `--mix fixed --nodes 3 --faults crash-restart,reconfig`: where the two
/// liveness bugs below were found.
fn crash_restart_with_reconfig() -> SimOptions {
    SimOptions {
        mix: Mix::Fixed,
        nodes: 3,
        faults: vec![FaultKind::CrashRestart, FaultKind::Reconfig],
        ..SimOptions::default()
    }
}

/// The seeds below were found with the liveness rules of before
/// 2026-12-02 (`Config::replay_old_rules`) and with no batching delay
/// (the default until 2026-12-04): they replay those runs.
fn with_the_old_rules(c: &mut synod_core::Config) {
    c.replay_old_rules = true;
    c.max_batch_delay = 0;
}

/// Runs `seed` of `options` with `bug` planted and without: the invariants
/// broken with it (without it, none may be).
fn with_and_without(bug: PlantedBug, seed: u64, options: &SimOptions) -> Vec<&'static str> {
    let options = SimOptions {
        configure: Some(Arc::new(with_the_old_rules)),
        ..options.clone()
    };
    let planted = SimOptions {
        configure: Some(Arc::new(move |c| {
            with_the_old_rules(c);
            c.planted_bug = Some(bug);
        })),
        ..options.clone()
    };
    assert_eq!(run(seed, &options).violations, Vec::new(), "seed {seed}");
    run(seed, &planted)
        .violations
        .iter()
        .map(|v| v.invariant)
        .collect()
}

/// The remaining voters all restart from a checkpoint older than several
/// reconfigurations: without the checkpoint written when a reconfiguration
/// executes, each knows only voters that were removed and stopped, and
/// nothing executes again. (Seeds 743 and 1420 broke the same way before
/// the operator waited for a quorum of the new voters before stopping a
/// removed node; of seeds 0-3999 only 567 still does, with the liveness
/// rules of then.)
#[test]
fn a_restart_knows_the_reconfigurations_it_executed() {
    let options = crash_restart_with_reconfig();
    let broken = with_and_without(PlantedBug::ReconfigurationNotDurable, 567, &options);
    assert!(broken.contains(&"liveness"), "{broken:?}");
}

/// A node whose membership is behind must not keep asking a stopped
/// non-member for the slots it missed.
#[test]
fn a_node_behind_asks_a_stopped_peer_only_once() {
    let options = crash_restart_with_reconfig();
    let broken = with_and_without(PlantedBug::CatchUpHintSticks, 6759, &options);
    assert!(broken.contains(&"liveness"), "{broken:?}");
}

//! The partial-connectivity scenarios of docs/liveness.md against their
//! bounds: every scenario, on 3 and 5 nodes, recovers within
//! `synod_core::partial::recovery_bound`, and each election rule added for
//! them is shown to matter: with it planted away, the scenario it serves
//! recovers later than the bound. (Model checks in virtual time, not
//! timing tests.)

use std::sync::Arc;
use synod_core::{PlantedBug, Scenario, Time};
use synod_sim::{SimOptions, run_seeds};

/// Per seed: the slowest recovery, and the bound.
fn recoveries(options: &SimOptions, seeds: std::ops::Range<u64>) -> (Vec<(u64, Time)>, Time) {
    let scenario = options.partial.expect("a partial scenario");
    let bound = synod_core::partial::recovery_bound(
        scenario,
        &options.config(1),
        &options.partial_environment(),
    );
    assert!(bound.assumptions_hold, "{scenario}: no bound");
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut slowest = Vec::new();
    let summary = run_seeds(seeds, options, threads, false, |r| {
        slowest.push((
            r.seed,
            r.failovers.iter().copied().max().unwrap_or(Time::MAX),
        ));
    });
    assert_eq!(summary.failed_seeds, Vec::<u64>::new(), "{scenario}");
    (slowest, bound.total)
}

fn scenario(s: Scenario, nodes: usize) -> SimOptions {
    SimOptions {
        nodes,
        ..SimOptions::partial(s)
    }
}

fn planted(options: SimOptions, bug: PlantedBug) -> SimOptions {
    SimOptions {
        configure: Some(Arc::new(move |c| c.planted_bug = Some(bug))),
        ..options
    }
}

#[test]
fn every_scenario_recovers_within_its_bound_on_3_and_5_nodes() {
    for s in Scenario::ALL {
        for nodes in [3, 5] {
            let (slowest, bound) = recoveries(&scenario(s, nodes), 0..40);
            let over: Vec<_> = slowest.iter().filter(|(_, t)| *t > bound).collect();
            assert!(
                over.is_empty(),
                "{s} on {nodes} nodes, bound {bound} µs: (seed, µs) {over:?}"
            );
        }
    }
}

/// Quorum-loss: the hub still hears the leader, which can no longer
/// commit. Without the leader's STEP-DOWN the hub learns of the loss only
/// when its own timer expires, an election timeout later.
#[test]
fn a_leader_without_a_quorum_says_so_and_the_hub_stands_sooner() {
    let options = scenario(Scenario::QuorumLoss, 5);
    let (fixed, bound) = recoveries(&options, 0..20);
    assert!(
        fixed.iter().all(|(_, t)| *t <= bound),
        "{fixed:?} over {bound}"
    );
    let (broken, _) = recoveries(&planted(options, PlantedBug::SilentStepDown), 0..20);
    assert!(
        broken.iter().any(|(_, t)| *t > bound),
        "{broken:?} within {bound}"
    );
}

/// Constrained-election: the only node that can win was cut off alone
/// first, and its unanswered candidacies meanwhile must not leave it with
/// the longest backoff when it can finally win.
#[test]
fn a_node_cut_off_alone_stands_again_without_a_long_backoff() {
    let options = scenario(Scenario::ConstrainedElection, 5);
    let (fixed, bound) = recoveries(&options, 0..20);
    assert!(
        fixed.iter().all(|(_, t)| *t <= bound),
        "{fixed:?} over {bound}"
    );
    let (broken, _) = recoveries(
        &planted(options, PlantedBug::UnansweredCandidacyBacksOff),
        0..20,
    );
    assert!(
        broken.iter().any(|(_, t)| *t > bound),
        "{broken:?} within {bound}"
    );
}

//! The partial-connectivity scenarios on real processes (`nemesis
//! --partial SCENARIO`): instead of the drawn faults, rounds of one
//! scenario of `synod_core::partial`. Each round finds the leader (one a
//! majority follows), for constrained-election first cuts the lagging node
//! off alone for `LAG`, then cuts the scenario's links around that leader
//! with the nodes' fault switch, holds them, heals, and lets the cluster
//! settle before the next.
//!
//! The recovery of a round is the time from the moment every cut is in
//! place to the completion of the first client command sent after that
//! moment, read off the recorded history; the bound it is set against is
//! `synod_core::partial::recovery_bound` for the cluster's own timers, with
//! the environment of `synod config bound` (δ = 1 ms, π = 2 ms) and the
//! nemesis clients' retry timeout as T_c.

use super::NemesisEvent;
use super::clients::{CLIENT_TIMEOUT, Recorder};
use super::schedule::Striker;
use crate::queries::Cut;
use serde::Serialize;
use std::time::Duration;
use synod_check::{FINAL_READ_CLIENT, Op};
use synod_core::partial::{Scenario, recovery_bound};
use synod_core::{Environment, FailoverBound, NodeId};
use synod_node::ClusterFile;

/// δ and π assumed for real processes on one machine, as `synod config
/// bound` does by default.
pub const DELAY: Duration = Duration::from_millis(1);
pub const PROCESSING: Duration = Duration::from_millis(2);
/// How long a scenario is held at least (longer if twice its bound is).
pub const HOLD: Duration = Duration::from_secs(3);
/// How long the cluster is given after a heal to bring every node to the
/// same slot (under load it may not get there; then the round goes on).
const SETTLE: Duration = Duration::from_secs(2);
/// A calm pause after settling, before the next round looks for a leader.
const CALM: Duration = Duration::from_millis(500);

/// Every node's cut for the directed `links` (from, to) to cut: the
/// sender stops sending on the link and the receiver stops hearing it, so
/// either alone would cut it. Nodes with nothing cut get `Cut::none()`
/// (which also heals what a previous cut left), all still serving clients.
pub fn node_cuts(nodes: &[u32], links: &[(NodeId, NodeId)]) -> Vec<(u32, Cut)> {
    nodes
        .iter()
        .map(|&x| {
            let mut drop_to: Vec<u32> = links
                .iter()
                .filter(|(from, to)| from.0 == x && to.0 != x)
                .map(|(_, to)| to.0)
                .collect();
            let mut drop_from: Vec<u32> = links
                .iter()
                .filter(|(from, to)| to.0 == x && from.0 != x)
                .map(|(from, _)| from.0)
                .collect();
            drop_to.sort_unstable();
            drop_to.dedup();
            drop_from.sort_unstable();
            drop_from.dedup();
            let cut = Cut {
                drop_from,
                drop_to,
                serve_clients: true,
            };
            (x, cut)
        })
        .collect()
}

/// The links that cut `alone` off from every other node, both ways.
fn isolate(nodes: &[NodeId], alone: NodeId) -> Vec<(NodeId, NodeId)> {
    nodes
        .iter()
        .filter(|&&x| x != alone)
        .flat_map(|&x| [(x, alone), (alone, x)])
        .collect()
}

/// The environment the bound assumes on real processes: the cluster's
/// tick, [`DELAY`], [`PROCESSING`], the nemesis clients' retry timeout as
/// T_c, no think time.
pub fn environment(file: &ClusterFile) -> Environment {
    Environment {
        tick: file.timers.tick_ms * 1000,
        delay: DELAY.as_micros() as u64,
        processing: PROCESSING.as_micros() as u64,
        client_timeout: CLIENT_TIMEOUT.as_micros() as u64,
        think: 0,
        dead_successors: 0,
    }
}

/// The bound on a round's recovery for the cluster of `file`.
pub fn bound(scenario: Scenario, file: &ClusterFile) -> FailoverBound {
    let first = file.nodes.first().map(|n| n.id).unwrap_or(1);
    recovery_bound(scenario, &file.core_config(first), &environment(file))
}

/// One round as it struck: history clock, microseconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Round {
    pub leader: u32,
    /// Every cut in place.
    pub struck: u64,
    /// The heal began.
    pub healed: u64,
}

/// The figures of the rounds; part of the nemesis's JSON line.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PartialSummary {
    pub scenario: &'static str,
    /// Rounds whose cuts were all in place.
    pub rounds: usize,
    /// Rounds given up because a node did not take its cut (healed at once).
    pub failed_rounds: usize,
    /// The leader each round was placed around.
    pub leaders: Vec<u32>,
    pub hold_ms: f64,
    /// Per round: from the cuts in place to the first command sent after
    /// them completing (rounds with none completed at all are left out and
    /// counted in `unrecovered`).
    pub recovery_ms: Vec<f64>,
    pub median_recovery_ms: f64,
    pub max_recovery_ms: f64,
    /// Rounds in which no command sent after the cuts completed before the
    /// heal (their recovery, if any, counts the heal in).
    pub not_recovered_under_cut: usize,
    pub unrecovered: usize,
    /// `recovery_bound` for the cluster's timers, and what it assumes.
    pub bound_ms: f64,
    pub bound_terms_ms: Vec<(&'static str, f64)>,
    pub delay_ms: f64,
    pub processing_ms: f64,
    pub client_timeout_ms: f64,
    pub tick_ms: f64,
    /// Every round recovered under the cut, the slowest within the bound.
    pub within_bound: bool,
}

/// Runs rounds of `scenario` until `end` (since the clients started) has
/// passed; returns the rounds whose cuts were all in place, and how many
/// were given up.
pub async fn rounds(
    striker: &mut Striker<'_>,
    scenario: Scenario,
    end: Duration,
    recorder: &Recorder,
) -> (Vec<Round>, usize) {
    let hold = hold(scenario, &striker.cluster.file);
    let mut done: Vec<Round> = Vec::new();
    let mut failed = 0;
    while striker.start.elapsed() < end {
        let limit = end.saturating_sub(striker.start.elapsed()).max(SETTLE);
        let Ok(leader) = striker.cluster.wait_leader(limit, None).await else {
            continue;
        };
        if striker.start.elapsed() >= end {
            break;
        }
        let ids = striker.cluster.ids();
        let nodes: Vec<NodeId> = ids.iter().copied().map(NodeId).collect();
        let round = done.len() + failed + 1;
        if let Some((lagging, lag)) = scenario.lagging(&nodes, NodeId(leader)) {
            if !apply(striker, &ids, &isolate(&nodes, lagging)).await {
                failed += 1;
                heal(striker, round, None).await;
                continue;
            }
            striker.say(NemesisEvent::Lagging {
                node: lagging.0,
                leader,
                ms: lag / 1000,
            });
            tokio::time::sleep(Duration::from_micros(lag)).await;
        }
        let links = scenario.links(&nodes, NodeId(leader));
        if links.is_empty() || !apply(striker, &ids, &links).await {
            failed += 1;
            heal(striker, round, None).await;
            continue;
        }
        let struck = striker.start.elapsed().as_micros() as u64;
        if !scenario.reach(ids.len()).leader_keeps_quorum {
            striker.leader_losses.push(struck);
        }
        striker.say(NemesisEvent::Scenario {
            round,
            scenario,
            leader,
            picture: scenario.picture(&nodes, NodeId(leader)),
        });
        tokio::time::sleep(hold).await;
        let healed = striker.start.elapsed().as_micros() as u64;
        let recovered = recorder
            .ops()
            .iter()
            .filter_map(|o| recovery(o, struck))
            .min();
        heal(striker, round, Some(recovered)).await;
        done.push(Round {
            leader,
            struck,
            healed,
        });
        let _ = striker.cluster.wait_converged(&ids, SETTLE).await;
        tokio::time::sleep(CALM).await;
    }
    (done, failed)
}

/// How long each round is held: [`HOLD`], or twice the bound if longer.
pub fn hold(scenario: Scenario, file: &ClusterFile) -> Duration {
    HOLD.max(Duration::from_micros(2 * bound(scenario, file).total))
}

/// Sets every node's cut for `links`; whether all of them took it.
async fn apply(striker: &Striker<'_>, ids: &[u32], links: &[(NodeId, NodeId)]) -> bool {
    let mut all = true;
    for (node, cut) in node_cuts(ids, links) {
        // One retry: an admin answer can be slow on a busy machine.
        let mut ok = false;
        for _ in 0..2 {
            let timeout = Duration::from_secs(1);
            if striker
                .cluster
                .cut(node, cut.clone(), timeout)
                .await
                .is_ok()
            {
                ok = true;
                break;
            }
        }
        all &= ok;
    }
    all
}

async fn heal(striker: &mut Striker<'_>, round: usize, recovery_us: Option<Option<u64>>) {
    striker.heal_partitions().await;
    striker.say(NemesisEvent::ScenarioHealed { round, recovery_us });
}

/// For an operation of a client sent at or after `struck` (µs) that
/// completed: how long after `struck` it completed.
fn recovery(op: &Op, struck: u64) -> Option<u64> {
    if op.client == FINAL_READ_CLIENT || op.invoke < struck {
        return None;
    }
    op.complete.map(|c| c - struck)
}

/// The figures of `rounds` over the whole history `ops`.
pub fn summarise(
    scenario: Scenario,
    file: &ClusterFile,
    rounds: &[Round],
    failed_rounds: usize,
    ops: &[Op],
) -> PartialSummary {
    let ms = |t: u64| t as f64 / 1000.0;
    let mut recoveries: Vec<(u64, bool)> = Vec::new();
    for r in rounds {
        let first = ops.iter().filter_map(|o| recovery(o, r.struck)).min();
        if let Some(t) = first {
            recoveries.push((t, r.struck + t <= r.healed));
        }
    }
    let recovery_ms: Vec<f64> = recoveries.iter().map(|&(t, _)| ms(t)).collect();
    let mut sorted: Vec<u64> = recoveries.iter().map(|&(t, _)| t).collect();
    sorted.sort_unstable();
    let median = match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => ms(sorted[n / 2]),
        n => (ms(sorted[n / 2 - 1]) + ms(sorted[n / 2])) / 2.0,
    };
    let max = sorted.last().copied().unwrap_or(0);
    let not_recovered_under_cut =
        recoveries.iter().filter(|(_, under)| !under).count() + (rounds.len() - recoveries.len());
    let b = bound(scenario, file);
    let env = environment(file);
    PartialSummary {
        scenario: scenario.name(),
        rounds: rounds.len(),
        failed_rounds,
        leaders: rounds.iter().map(|r| r.leader).collect(),
        hold_ms: hold(scenario, file).as_secs_f64() * 1000.0,
        recovery_ms,
        median_recovery_ms: median,
        max_recovery_ms: ms(max),
        not_recovered_under_cut,
        unrecovered: rounds.len() - recoveries.len(),
        bound_ms: ms(b.total),
        bound_terms_ms: b.terms.iter().map(|&(n, t)| (n, ms(t))).collect(),
        delay_ms: ms(env.delay),
        processing_ms: ms(env.processing),
        client_timeout_ms: ms(env.client_timeout),
        tick_ms: ms(env.tick),
        within_bound: !rounds.is_empty() && not_recovered_under_cut == 0 && max <= b.total,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// Who hears whom under `cuts`: each node's
    /// sorted list of the nodes whose messages reach it.
    fn hearing(nodes: &[u32], cuts: &[(u32, Cut)]) -> BTreeMap<u32, Vec<u32>> {
        let cut_of = |x: u32| cuts.iter().find(|(n, _)| *n == x).map(|(_, c)| c);
        nodes
            .iter()
            .map(|&a| {
                let hears = nodes
                    .iter()
                    .copied()
                    .filter(|&b| b != a)
                    .filter(|&b| {
                        let sender_drops = cut_of(b).is_some_and(|c| c.drop_to.contains(&a));
                        let receiver_drops = cut_of(a).is_some_and(|c| c.drop_from.contains(&b));
                        !sender_drops && !receiver_drops
                    })
                    .collect();
                (a, hears)
            })
            .collect()
    }

    fn ids(n: u32) -> Vec<u32> {
        (1..=n).collect()
    }

    fn nodes(n: u32) -> Vec<NodeId> {
        ids(n).into_iter().map(NodeId).collect()
    }

    #[test]
    fn a_one_way_link_is_cut_at_both_ends_and_only_that_way() {
        let cuts = node_cuts(&ids(3), &[(NodeId(1), NodeId(2))]);
        assert_eq!(
            cuts,
            vec![
                (
                    1,
                    Cut {
                        drop_from: vec![],
                        drop_to: vec![2],
                        serve_clients: true
                    }
                ),
                (
                    2,
                    Cut {
                        drop_from: vec![1],
                        drop_to: vec![],
                        serve_clients: true
                    }
                ),
                (3, Cut::none()),
            ]
        );
        let h = hearing(&ids(3), &cuts);
        assert_eq!(h[&2], vec![3]);
        assert_eq!(h[&1], vec![2, 3]);
    }

    #[test]
    fn every_scenario_maps_to_cuts_that_hear_as_the_scenario_says() {
        for scenario in Scenario::ALL {
            for n in [3u32, 5] {
                for leader in 1..=n {
                    let links = scenario.links(&nodes(n), NodeId(leader));
                    let cuts = node_cuts(&ids(n), &links);
                    assert_eq!(cuts.len(), n as usize);
                    // Each node's lists name neither itself nor a peer twice.
                    for (x, c) in &cuts {
                        assert!(!c.drop_to.contains(x) && !c.drop_from.contains(x));
                        assert!(c.drop_to.windows(2).all(|w| w[0] < w[1]));
                        assert!(c.drop_from.windows(2).all(|w| w[0] < w[1]));
                        assert!(c.serve_clients);
                    }
                    let expected: BTreeMap<u32, Vec<u32>> = ids(n)
                        .into_iter()
                        .map(|a| {
                            let hears = ids(n)
                                .into_iter()
                                .filter(|&b| b != a && !links.contains(&(NodeId(b), NodeId(a))))
                                .collect();
                            (a, hears)
                        })
                        .collect();
                    assert_eq!(hearing(&ids(n), &cuts), expected, "{scenario} n={n}");
                }
            }
        }
    }

    #[test]
    fn chained_around_n1_cuts_each_node_from_all_but_its_neighbours() {
        // 1 - 5 - 4 - 3 - 2.
        let cuts = node_cuts(&ids(5), &Scenario::Chained.links(&nodes(5), NodeId(1)));
        let both = |peers: Vec<u32>| Cut::both_ways(peers);
        assert_eq!(
            cuts,
            vec![
                (1, both(vec![2, 3, 4])),
                (2, both(vec![1, 4, 5])),
                (3, both(vec![1, 5])),
                (4, both(vec![1, 2])),
                (5, both(vec![2, 3])),
            ]
        );
    }

    #[test]
    fn the_lagging_node_is_cut_off_alone() {
        let cuts = node_cuts(&ids(5), &isolate(&nodes(5), NodeId(5)));
        let h = hearing(&ids(5), &cuts);
        assert_eq!(h[&5], Vec::<u32>::new());
        assert_eq!(h[&1], vec![2, 3, 4]);
        assert_eq!(cuts[4].1, Cut::both_ways(vec![1, 2, 3, 4]));
    }

    #[test]
    fn no_cut_heals_everyone() {
        assert!(
            node_cuts(&ids(5), &[])
                .iter()
                .all(|(_, c)| *c == Cut::none())
        );
    }

    fn op(client: u64, invoke: u64, complete: Option<u64>) -> Op {
        Op {
            client,
            invoke,
            complete,
            command: synod_apps::Command::Kv(synod_apps::KvOp::Get { key: "k".into() }),
            outcome: None,
        }
    }

    #[test]
    fn recovery_counts_only_commands_sent_after_the_strike() {
        let ops = [
            op(1, 900, Some(1_050)),                   // sent before: not counted
            op(2, 1_000, Some(1_400)),                 // the first sent after, done later
            op(3, 1_100, Some(1_300)),                 // sent later, done first: 300 µs
            op(4, 1_200, None),                        // never completed
            op(FINAL_READ_CLIENT, 1_000, Some(1_001)), // the final read
        ];
        let first = ops.iter().filter_map(|o| recovery(o, 1_000)).min();
        assert_eq!(first, Some(300));
    }
}

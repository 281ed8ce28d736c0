//! Partial connectivity: four named scenarios in which some nodes hear
//! each other and others do not (docs/liveness.md, "Partial
//! connectivity"), as the links they cut. The simulator and the nemesis
//! build them from here, so both hold the same shapes.
//!
//! Each shape is placed relative to the leader L at the moment it strikes,
//! where it hurts most: the nodes that cannot form a quorum come first in
//! the candidate order after L (they stand, and fail, before anyone who
//! could win), and the node that can win comes last. With `a(k)` the k-th
//! node after L in that order (`a(1)` stands first):
//!
//! - **quorum-loss**: only the hub `a(n-1)` keeps its links; every other
//!   pair is cut. L hears no quorum (with 5 nodes), and the hub is the only
//!   node that can gather one.
//! - **constrained-election**: first `a(n-1)` is cut off alone, for
//!   [`LAG`], so that it falls behind; then L is cut off from everyone, and
//!   among the rest only the links to `a(n-1)` stay up. The one node that
//!   can gather a quorum is the one that lags.
//! - **chained**: the nodes in a line L – a(n-1) – a(n-2) – … – a(1), only
//!   neighbours connected (with 3 nodes the OmniPaxos chain: the first
//!   candidate a(1) cannot hear L, a(2) hears both).
//! - **bridge**: two halves that talk only through the bridge `a(n-1)`:
//!   L with the nodes after the bridge in its half, `a(1)..` in the other.
//!   L keeps a quorum through the bridge; the far half must not depose it.

use crate::config::Config;
use crate::liveness::Environment;
use crate::types::{NodeId, Time};
use std::fmt;

/// How long constrained-election cuts the lagging node off before the
/// scenario proper begins.
pub const LAG: Time = 500 * crate::types::MS;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scenario {
    QuorumLoss,
    ConstrainedElection,
    Chained,
    Bridge,
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Scenario {
    pub const ALL: [Scenario; 4] = [
        Scenario::QuorumLoss,
        Scenario::ConstrainedElection,
        Scenario::Chained,
        Scenario::Bridge,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::QuorumLoss => "quorum-loss",
            Scenario::ConstrainedElection => "constrained-election",
            Scenario::Chained => "chained",
            Scenario::Bridge => "bridge",
        }
    }

    pub fn parse(name: &str) -> Result<Scenario, String> {
        Scenario::ALL
            .into_iter()
            .find(|s| s.name() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = Scenario::ALL.iter().map(|s| s.name()).collect();
                format!(
                    "{name:?} is not a partial-connectivity scenario (one of {})",
                    names.join(", ")
                )
            })
    }

    /// The node cut off alone before the scenario proper, and for how
    /// long (constrained-election only).
    pub fn lagging(self, nodes: &[NodeId], leader: NodeId) -> Option<(NodeId, Time)> {
        match self {
            Scenario::ConstrainedElection => Some((winner(nodes, leader)?, LAG)),
            _ => None,
        }
    }

    /// The directed links the scenario cuts, with `leader` leading when it
    /// strikes. Empty if `leader` is not one of `nodes` or there are fewer
    /// than three nodes (no partial connectivity to speak of).
    pub fn links(self, nodes: &[NodeId], leader: NodeId) -> Vec<(NodeId, NodeId)> {
        let Some(order) = order_after(nodes, leader) else {
            return Vec::new();
        };
        let n = order.len() + 1;
        if n < 3 {
            return Vec::new();
        }
        let hub = order[n - 2];
        let connected: Vec<(NodeId, NodeId)> = match self {
            Scenario::QuorumLoss => pairs(nodes)
                .filter(|&(a, b)| a == hub || b == hub)
                .collect(),
            Scenario::ConstrainedElection => pairs(nodes)
                .filter(|&(a, b)| a != leader && b != leader && (a == hub || b == hub))
                .collect(),
            Scenario::Chained => {
                // L, a(n-1), a(n-2), ..., a(1).
                let line: Vec<NodeId> = std::iter::once(leader)
                    .chain(order.iter().rev().copied())
                    .collect();
                line.windows(2).map(|w| (w[0], w[1])).collect()
            }
            Scenario::Bridge => {
                // The far half: a(1).. up to half of the others; the
                // leader's half: the rest but the bridge.
                let far: Vec<NodeId> = order[..(n - 1) / 2].to_vec();
                let near = |x: NodeId| x != hub && !far.contains(&x);
                pairs(nodes)
                    .filter(|&(a, b)| {
                        a == hub
                            || b == hub
                            || (far.contains(&a) && far.contains(&b))
                            || (near(a) && near(b))
                    })
                    .collect()
            }
        };
        let up = |a: NodeId, b: NodeId| connected.contains(&(a, b)) || connected.contains(&(b, a));
        let mut cut = Vec::new();
        for (a, b) in pairs(nodes) {
            if !up(a, b) {
                cut.push((a, b));
                cut.push((b, a));
            }
        }
        cut
    }

    /// The lines of a picture of the scenario's links on `nodes`, `leader`
    /// leading: which nodes each node hears.
    pub fn picture(self, nodes: &[NodeId], leader: NodeId) -> Vec<String> {
        let cut = self.links(nodes, leader);
        nodes
            .iter()
            .map(|&a| {
                let hears: Vec<String> = nodes
                    .iter()
                    .filter(|&&b| b != a && !cut.contains(&(b, a)))
                    .map(|b| b.to_string())
                    .collect();
                let role = if a == leader { " (leader)" } else { "" };
                format!("{a}{role} hears {}", hears.join(", "))
            })
            .collect()
    }
}

/// Who hears whom while `scenario` holds on `n` nodes led by n1, and who
/// can recover: the facts the bound is made of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reach {
    /// The leader still hears a quorum (itself included): it keeps
    /// leading, and nothing needs electing.
    pub leader_keeps_quorum: bool,
    /// The first node in the candidate order after the leader that hears a
    /// quorum, as its rank (0 stands first); `None` if no node does (no
    /// election can succeed while the scenario holds).
    pub winner_rank: Option<u64>,
    /// The winner still hears the old leader (it learns of the loss from
    /// the leader's STEP-DOWN, not from its own timer).
    pub winner_hears_leader: bool,
    /// The winner was cut off alone before (constrained-election): it may
    /// be in the middle of a candidacy nobody heard when the scenario
    /// strikes.
    pub winner_lagged: bool,
}

impl Scenario {
    pub fn reach(self, n: usize) -> Reach {
        let nodes: Vec<NodeId> = (1..=n as u32).map(NodeId).collect();
        let leader = nodes[0];
        let cut = self.links(&nodes, leader);
        let hears = |a: NodeId, b: NodeId| !cut.contains(&(a, b)) && !cut.contains(&(b, a));
        let quorum = n / 2 + 1;
        let heard = |a: NodeId| nodes.iter().filter(|&&b| hears(a, b)).count();
        let order = order_after(&nodes, leader).unwrap_or_default();
        let winner = order.iter().position(|&a| heard(a) >= quorum);
        Reach {
            leader_keeps_quorum: heard(leader) >= quorum,
            winner_rank: winner.map(|r| r as u64),
            winner_hears_leader: winner.is_some_and(|r| hears(order[r], leader)),
            winner_lagged: winner
                .is_some_and(|r| self.lagging(&nodes, leader).map(|(x, _)| x) == Some(order[r])),
        }
    }
}

/// The longest time from the moment `scenario` strikes to the execution
/// of a client command proposed after it, for `config` (its voters) in
/// `env` (the failover bound's assumptions; `dead_successors` is
/// ignored). docs/liveness.md derives it term by term. If no node can
/// gather a quorum while the scenario holds there is no bound:
/// `assumptions_hold` is false and the total is `Time::MAX`.
///
/// If the leader keeps a quorum it keeps leading, and the bound is a
/// client's next command. Otherwise, with the winner of rank r:
///
/// ```text
/// loss noticed  = δ + E + τ          the winner's timer (it hears nothing of
///                                    the leader)
///               or 2δ + E + τ        the leader's check-quorum, then its
///                                    STEP-DOWN reaches the winner
///               + 2δ                 if the winner lagged: it may have stood
///                                    before the others suspected, and the
///                                    answers to its PREPARE (kept until
///                                    then) come just after its candidacy
///                                    ran out; unanswered, it stands again
///                                    in turn, without a longer backoff
/// order         = r·S + τ            the nodes ranked before it stand first
/// throttle      = tp  (r > 0)        their PREPAREs hold it back once
/// catch-up      = phase 1 + tp       if the winner lagged behind the others'
///                                    checkpoint: its first phase 1 shows it,
///                                    the snapshot comes back within the
///                                    throttle, and it stands again at once
/// phase 1, new view, commit, client retry, next command: as for a crash
/// ```
pub fn recovery_bound(
    scenario: Scenario,
    config: &Config,
    env: &Environment,
) -> crate::liveness::FailoverBound {
    use crate::liveness::FailoverBound;
    let (d, p, t) = (env.delay, env.processing, env.tick);
    let reach = scenario.reach(config.nodes.len());
    let commit = 2 * d + 3 * p;
    let next = p + 2 * d + env.think;
    if reach.leader_keeps_quorum {
        return FailoverBound {
            terms: vec![
                ("next command (π + 2δ + think)", next),
                ("commit (2δ + 3π)", commit),
            ],
            elected: 0,
            total: next + commit,
            assumptions_hold: true,
        };
    }
    let Some(rank) = reach.winner_rank else {
        return FailoverBound {
            terms: Vec::new(),
            elected: Time::MAX,
            total: Time::MAX,
            assumptions_hold: false,
        };
    };
    let (noticed_name, mut noticed) = if reach.winner_hears_leader {
        (
            "loss noticed (2δ + E + τ)",
            2 * d + config.election_timeout + t,
        )
    } else {
        ("loss noticed (δ + E + τ)", d + config.election_timeout + t)
    };
    let phase1 = t + 2 * d + 2 * p;
    let catch_up = if reach.winner_lagged {
        noticed += 2 * d;
        // Its first phase 1 shows it is behind the others' checkpoint; the
        // snapshot comes back within the throttle on its own PREPARE, and
        // it stands again without waiting for its rank.
        phase1 + config.prepare_throttle
    } else {
        0
    };
    let order = rank * config.candidate_stagger + t;
    let throttle = if rank > 0 { config.prepare_throttle } else { 0 };
    let new_view = 2 * p;
    let elected = noticed + order + throttle + catch_up + phase1 + new_view;
    let request = env.client_timeout + d;
    let total = (elected + commit).max(request) + next + commit;
    FailoverBound {
        terms: vec![
            (noticed_name, noticed),
            ("candidate order (r·S + τ)", order),
            ("throttle (tp)", throttle),
            ("catch-up (phase 1 + tp)", catch_up),
            ("phase 1 (τ + 2δ + 2π)", phase1),
            ("new view (2π)", new_view),
            ("commit (2δ + 3π)", commit),
            ("client retry (T_c + δ)", request),
            ("next command (π + 2δ + think)", next),
        ],
        elected,
        total,
        assumptions_hold: config.candidacy_timeout >= phase1 + t,
    }
}

/// The node that, in every scenario, is the last to stand after `leader`:
/// `a(n-1)`.
fn winner(nodes: &[NodeId], leader: NodeId) -> Option<NodeId> {
    order_after(nodes, leader)?.last().copied()
}

/// The other nodes in the candidate order after `leader` (by id,
/// cyclically, as `Election::rank` orders them).
fn order_after(nodes: &[NodeId], leader: NodeId) -> Option<Vec<NodeId>> {
    let mut sorted = nodes.to_vec();
    sorted.sort();
    sorted.dedup();
    let at = sorted.iter().position(|&x| x == leader)?;
    Some(
        (1..sorted.len())
            .map(|k| sorted[(at + k) % sorted.len()])
            .collect(),
    )
}

/// Every unordered pair of distinct nodes.
fn pairs(nodes: &[NodeId]) -> impl Iterator<Item = (NodeId, NodeId)> + '_ {
    nodes
        .iter()
        .enumerate()
        .flat_map(move |(i, &a)| nodes[i + 1..].iter().map(move |&b| (a, b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: u32) -> Vec<NodeId> {
        (1..=n).map(NodeId).collect()
    }

    /// Who hears whom, as sorted neighbour lists per node.
    fn hears(s: Scenario, n: u32, leader: u32) -> Vec<Vec<u32>> {
        let nodes = ids(n);
        let cut = s.links(&nodes, NodeId(leader));
        nodes
            .iter()
            .map(|&a| {
                nodes
                    .iter()
                    .filter(|&&b| b != a && !cut.contains(&(b, a)))
                    .map(|b| b.0)
                    .collect()
            })
            .collect()
    }

    #[test]
    fn quorum_loss_leaves_the_last_candidate_as_the_only_hub() {
        // Leader n2: the order after it is n3, n4, n5, n1; the hub is n1.
        assert_eq!(
            hears(Scenario::QuorumLoss, 5, 2),
            vec![vec![2, 3, 4, 5], vec![1], vec![1], vec![1], vec![1]]
        );
    }

    #[test]
    fn constrained_election_isolates_the_leader_and_lags_the_hub() {
        assert_eq!(
            hears(Scenario::ConstrainedElection, 5, 1),
            vec![vec![], vec![5], vec![5], vec![5], vec![2, 3, 4]]
        );
        assert_eq!(
            Scenario::ConstrainedElection.lagging(&ids(5), NodeId(1)),
            Some((NodeId(5), LAG))
        );
        assert_eq!(Scenario::Chained.lagging(&ids(5), NodeId(1)), None);
    }

    #[test]
    fn chained_puts_the_first_candidate_at_the_far_end() {
        // The OmniPaxos chain: n1 leads, n2 (first to stand) cannot hear it.
        assert_eq!(
            hears(Scenario::Chained, 3, 1),
            vec![vec![3], vec![3], vec![1, 2]]
        );
        // 1 - 5 - 4 - 3 - 2.
        assert_eq!(
            hears(Scenario::Chained, 5, 1),
            vec![vec![5], vec![3], vec![2, 4], vec![3, 5], vec![1, 4]]
        );
    }

    #[test]
    fn bridge_leaves_the_leader_a_quorum_through_the_bridge() {
        // Far half n2, n3; bridge n5; the leader's half n1, n4.
        assert_eq!(
            hears(Scenario::Bridge, 5, 1),
            vec![
                vec![4, 5],
                vec![3, 5],
                vec![2, 5],
                vec![1, 5],
                vec![1, 2, 3, 4]
            ]
        );
        assert_eq!(
            hears(Scenario::Bridge, 3, 3),
            vec![vec![2], vec![1, 3], vec![2]]
        );
    }

    #[test]
    fn reach_names_who_can_win() {
        let r = Scenario::QuorumLoss.reach(5);
        assert!(!r.leader_keeps_quorum);
        assert_eq!(r.winner_rank, Some(3));
        assert!(r.winner_hears_leader && !r.winner_lagged);
        let r = Scenario::ConstrainedElection.reach(5);
        assert_eq!(r.winner_rank, Some(3));
        assert!(!r.winner_hears_leader && r.winner_lagged);
        // With 3 nodes the first candidate and the lagging one suffice.
        assert_eq!(Scenario::ConstrainedElection.reach(3).winner_rank, Some(0));
        assert_eq!(Scenario::Chained.reach(5).winner_rank, Some(1));
        for s in [Scenario::QuorumLoss, Scenario::Chained, Scenario::Bridge] {
            assert!(s.reach(3).leader_keeps_quorum, "{s}");
        }
        assert!(Scenario::Bridge.reach(5).leader_keeps_quorum);
        // A chain of 7: nobody hears 4 nodes.
        assert_eq!(Scenario::Chained.reach(7).winner_rank, None);
    }

    #[test]
    fn the_bound_adds_the_winners_wait_to_a_crash_failover() {
        let env = Environment {
            tick: 5 * crate::types::MS,
            delay: 3 * crate::types::MS,
            processing: crate::types::MS,
            client_timeout: 200 * crate::types::MS,
            think: 20 * crate::types::MS,
            dead_successors: 0,
        };
        let ms = crate::types::MS;
        let c5 = Config::cluster(1, 5);
        // Step-down noticed at 161, rank 3 waits 125, throttle 60,
        // phase 1 13, new view 2: elected at 361 ms.
        let q = recovery_bound(Scenario::QuorumLoss, &c5, &env);
        assert_eq!(q.elected, 361 * ms);
        assert_eq!(q.total, (361 + 9 + 27 + 9) * ms);
        let bridge = recovery_bound(Scenario::Bridge, &c5, &env);
        assert_eq!(bridge.total, 36 * ms);
        let chain7 = recovery_bound(Scenario::Chained, &Config::cluster(1, 7), &env);
        assert!(!chain7.assumptions_hold);
    }

    #[test]
    fn names_parse_back_and_strangers_are_refused() {
        for s in Scenario::ALL {
            assert_eq!(Scenario::parse(s.name()), Ok(s));
        }
        assert!(Scenario::parse("split-brain").is_err());
        assert!(Scenario::QuorumLoss.links(&ids(5), NodeId(9)).is_empty());
        assert!(Scenario::QuorumLoss.links(&ids(2), NodeId(1)).is_empty());
    }
}

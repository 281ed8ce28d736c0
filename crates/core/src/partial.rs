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

/// Whether the leader keeps a quorum of voters it hears, on `n` nodes:
/// then nothing needs electing and the scenario must not depose it.
pub fn leader_keeps_quorum(scenario: Scenario, n: usize) -> bool {
    let nodes: Vec<NodeId> = (1..=n as u32).map(NodeId).collect();
    let cut = scenario.links(&nodes, nodes[0]);
    let heard = nodes
        .iter()
        .filter(|&&b| !cut.contains(&(b, nodes[0])) && !cut.contains(&(nodes[0], b)))
        .count();
    heard > n / 2
}

/// The longest time from the moment `scenario` strikes to the execution
/// of a client command proposed after it, for `config` (its voters) in
/// `env` (the failover bound's assumptions; `dead_successors` is
/// ignored). docs/liveness.md derives it term by term.
///
/// If the leader keeps a quorum it keeps leading: the bound is a client's
/// next command. Otherwise:
///
/// ```text
/// step down   = δ + E + τ          the leader hears no quorum for E
/// detection   = δ + E + τ          the winner's last heartbeat came at the
///                                  step-down at the latest
/// order       = (n-2)·S + τ        every other node ranks before the winner
/// throttle    = tp                 a PREPARE of a candidate that cannot win
///                                  holds the winner back once
/// phase 1, new view, commit, next command, commit: as for a crash
/// ```
pub fn recovery_bound(
    scenario: Scenario,
    config: &Config,
    env: &Environment,
) -> crate::liveness::FailoverBound {
    let (d, p, t) = (env.delay, env.processing, env.tick);
    let n = config.nodes.len();
    let commit = 2 * d + 3 * p;
    let next = p + 2 * d + env.think;
    if leader_keeps_quorum(scenario, n) {
        return crate::liveness::FailoverBound {
            terms: vec![
                ("next command (π + 2δ + think)", next),
                ("commit (2δ + 3π)", commit),
            ],
            elected: 0,
            total: next + commit,
            assumptions_hold: true,
        };
    }
    let step_down = d + config.election_timeout + t;
    let detection = d + config.election_timeout + t;
    let order = (n as u64).saturating_sub(2) * config.candidate_stagger + t;
    let throttle = config.prepare_throttle;
    let phase1 = t + 2 * d + 2 * p;
    let new_view = 2 * p;
    let elected = step_down + detection + order + throttle + phase1 + new_view;
    let request = env.client_timeout + d;
    let total = (elected + commit).max(request) + next + commit;
    crate::liveness::FailoverBound {
        terms: vec![
            ("step down (δ + E + τ)", step_down),
            ("detection (δ + E + τ)", detection),
            ("candidate order ((n-2)·S + τ)", order),
            ("throttle (tp)", throttle),
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
    fn names_parse_back_and_strangers_are_refused() {
        for s in Scenario::ALL {
            assert_eq!(Scenario::parse(s.name()), Ok(s));
        }
        assert!(Scenario::parse("split-brain").is_err());
        assert!(Scenario::QuorumLoss.links(&ids(5), NodeId(9)).is_empty());
        assert!(Scenario::QuorumLoss.links(&ids(2), NodeId(1)).is_empty());
    }
}

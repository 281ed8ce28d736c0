//! Why a failover took as long as it did (docs/liveness.md, "The
//! compound-fault tail"). While a failover is watched, this keeps how long
//! no quorum of running voters could talk to each other both ways, which
//! fault kinds struck, and whether the network was lossy or slow meanwhile;
//! the runner groups slow failovers by it. Contract: it only watches the
//! world, and changes nothing the run does.

use super::*;
use std::collections::BTreeSet;

/// What went on during one failover.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FailoverCause {
    /// Virtual time, within the failover, during which no quorum of the
    /// latest voters was running, unpaused, able to vote (not wiped) and
    /// connected both ways.
    pub no_quorum: Time,
    /// The fault kinds that struck during it (after the one that started it).
    pub struck: BTreeSet<&'static str>,
    /// A loss, duplication or delay episode was under way at some point.
    pub lossy: bool,
}

impl FailoverCause {
    /// One cause per failover, the first that applies: `within-bound` if
    /// it took no longer than `bound` (the clean-crash bound); `no-quorum`
    /// if it had a connected quorum for no longer than `bound` (the wait
    /// is the fault's doing); else `lossy-network`; else `more-faults` if
    /// anything else struck meanwhile; else `election` (the protocol's own
    /// time, to be explained).
    pub fn label(&self, gap: Time, bound: Time) -> &'static str {
        if gap <= bound {
            "within-bound"
        } else if gap.saturating_sub(self.no_quorum) <= bound {
            "no-quorum"
        } else if self.lossy {
            "lossy-network"
        } else if !self.struck.is_empty() {
            "more-faults"
        } else {
            "election"
        }
    }
}

/// The watch's bookkeeping between topology changes.
#[derive(Debug, Default)]
pub(super) struct Tail {
    cause: FailoverCause,
    /// Whether a connected quorum existed since `since`.
    connected: bool,
    since: Time,
}

impl World<'_> {
    /// A failover watch starts now.
    pub(super) fn tail_start(&mut self) {
        self.tail = Tail {
            cause: FailoverCause::default(),
            connected: self.quorum_connected(),
            since: self.now,
        };
        self.tail.cause.lossy = self.lossy();
    }

    /// A fault of `kind` struck.
    pub(super) fn tail_struck(&mut self, kind: &'static str) {
        if self.watch.is_some() {
            self.tail.cause.struck.insert(kind);
        }
    }

    /// Nodes, links or conditions changed: account the time since the last
    /// change.
    pub(super) fn tail_changed(&mut self) {
        if self.watch.is_none() {
            return;
        }
        if !self.tail.connected {
            self.tail.cause.no_quorum += self.now - self.tail.since;
        }
        self.tail.connected = self.quorum_connected();
        self.tail.since = self.now;
        self.tail.cause.lossy |= self.lossy();
    }

    /// The watched failover ended now: its cause.
    pub(super) fn tail_end(&mut self) -> FailoverCause {
        self.tail_changed();
        std::mem::take(&mut self.tail.cause)
    }

    fn lossy(&self) -> bool {
        let c = &self.net.conditions;
        c.loss > 0.0 || c.duplicate > 0.0 || c.slow > 0.0
    }

    /// Whether some quorum of the latest voters is running, unpaused and
    /// connected pairwise both ways.
    fn quorum_connected(&self) -> bool {
        let voters = self.voters_for(Slot::MAX);
        let quorum = voters.len() / 2 + 1;
        let up: Vec<NodeId> = voters
            .iter()
            .copied()
            .filter(|id| {
                self.nodes.get(id.0 as usize - 1).is_some_and(|h| {
                    // A node that lost its disk is a voter on paper only.
                    let votes = h.replica.as_ref().is_some_and(|r| !r.is_non_voting());
                    votes && !h.paused && !h.retired
                })
            })
            .collect();
        if up.len() < quorum {
            return false;
        }
        if up.len() > 12 {
            // Too many subsets to try: count the running voters only.
            return true;
        }
        let talk = |a: NodeId, b: NodeId| !self.net.is_cut(a, b) && !self.net.is_cut(b, a);
        (0u32..1 << up.len())
            .filter(|set| set.count_ones() as usize >= quorum)
            .any(|set| {
                let members: Vec<NodeId> = (0..up.len())
                    .filter(|i| set & (1 << i) != 0)
                    .map(|i| up[i])
                    .collect();
                members
                    .iter()
                    .enumerate()
                    .all(|(i, &a)| members[i + 1..].iter().all(|&b| talk(a, b)))
            })
    }
}

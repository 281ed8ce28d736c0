//! The acceptor: the only role whose memory makes Paxos safe.
//!
//! Rules (docs/protocol.md):
//! - promise a ballot only if it is strictly above every ballot promised
//!   before (whether to promise *now* is the election's call; see
//!   `election.rs`), and report the accept log from the requested slot on;
//! - accept (b, s, v) only if b is at least the promised ballot; an
//!   acceptance raises the promise to b;
//! - persist the promise before the PROMISE leaves, and the entry before the
//!   ACCEPTED leaves. The acceptor returns the [`PersistOp`] with each
//!   decision; the replica queues it ahead of the reply.

use crate::config::{Bug, Bugs};
use crate::durable::{DurableState, PersistOp};
use crate::message::AcceptedEntry;
use crate::types::{Ballot, Slot, Value};
use std::collections::BTreeMap;

#[derive(Debug, Default)]
pub struct Acceptor {
    promised: Ballot,
    accepted: BTreeMap<Slot, (Ballot, Value)>,
    /// Every slot up to here is chosen, executed and in a checkpoint; its
    /// entries are gone. A PROMISE reports it, so that a candidate behind
    /// it knows it cannot lead before catching up.
    truncated: Slot,
    bugs: Bugs,
}

/// A refusal, naming the ballot that outranks the request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rejected {
    pub promised: Ballot,
}

impl Acceptor {
    pub fn restore(state: DurableState) -> Self {
        Acceptor {
            promised: state.promised,
            accepted: state.accepted,
            truncated: state.checkpoint.map_or(0, |(slot, _)| slot),
            bugs: Bugs::default(),
        }
    }

    /// Plants the configured bug (the simulator's tests).
    pub(crate) fn with_bugs(mut self, bugs: Bugs) -> Self {
        self.bugs = bugs;
        self
    }

    pub fn promised(&self) -> Ballot {
        self.promised
    }

    /// PREPARE(b): promises `ballot` if it is above every earlier promise.
    /// Returns the op to persist and the accept log from `from` on.
    pub fn prepare(
        &mut self,
        ballot: Ballot,
        from: Slot,
    ) -> Result<(PersistOp, Vec<AcceptedEntry>), Rejected> {
        if ballot <= self.promised {
            return Err(Rejected {
                promised: self.promised,
            });
        }
        self.promised = ballot;
        Ok((PersistOp::Promise(ballot), self.log_from(from)))
    }

    /// The accept log from `from` on, as a PROMISE reports it.
    pub fn log_from(&self, from: Slot) -> Vec<AcceptedEntry> {
        self.accepted
            .range(from..)
            .map(|(&slot, (ballot, value))| AcceptedEntry {
                slot,
                ballot: *ballot,
                value: value.clone(),
            })
            .collect()
    }

    /// Accepted entries in `from..=to`.
    pub fn range(&self, from: Slot, to: Slot) -> impl Iterator<Item = (Slot, &(Ballot, Value))> {
        // BTreeMap::range panics on an inverted range; an empty one is meant.
        (from <= to)
            .then(|| self.accepted.range(from..=to))
            .into_iter()
            .flatten()
            .map(|(&slot, entry)| (slot, entry))
    }

    /// ACCEPT(b, s, v): accepts if `ballot` is at least the promise.
    pub fn accept(
        &mut self,
        ballot: Ballot,
        slot: Slot,
        value: Value,
    ) -> Result<PersistOp, Rejected> {
        if ballot < self.promised && !self.bugs.has(Bug::AcceptLowerBallot) {
            return Err(Rejected {
                promised: self.promised,
            });
        }
        self.promised = self.promised.max(ballot);
        self.accepted.insert(slot, (ballot, value.clone()));
        Ok(PersistOp::Accept {
            slot,
            ballot,
            value,
        })
    }

    /// The entry accepted for `slot`, if any.
    pub fn accepted(&self, slot: Slot) -> Option<&(Ballot, Value)> {
        self.accepted.get(&slot)
    }

    /// Forgets entries below `slot`: they are chosen, executed, and covered by
    /// a checkpoint, so no future leader needs them.
    pub fn truncate_below(&mut self, slot: Slot) {
        self.accepted = self.accepted.split_off(&slot);
        self.truncated = self.truncated.max(slot.saturating_sub(1));
    }

    /// The highest slot forgotten by truncation (0: none).
    pub fn truncated(&self) -> Slot {
        self.truncated
    }

    /// Every accepted entry as the ops that would persist it, for log
    /// compaction.
    pub fn live_ops(&self) -> impl Iterator<Item = PersistOp> + '_ {
        self.accepted
            .iter()
            .map(|(&slot, (ballot, value))| PersistOp::Accept {
                slot,
                ballot: *ballot,
                value: value.clone(),
            })
    }

    pub fn highest_accepted_slot(&self) -> Slot {
        self.accepted.keys().next_back().copied().unwrap_or(0)
    }

    pub fn len(&self) -> usize {
        self.accepted.len()
    }

    pub fn is_empty(&self) -> bool {
        self.accepted.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::NodeId;

    fn b(round: u64, node: u32) -> Ballot {
        Ballot::new(round, NodeId(node))
    }

    #[test]
    fn promises_only_a_ballot_above_every_earlier_promise() {
        let mut a = Acceptor::default();
        assert!(a.prepare(b(1, 2), 1).is_ok());
        assert_eq!(a.prepare(b(1, 2), 1), Err(Rejected { promised: b(1, 2) }));
        assert_eq!(a.prepare(b(1, 1), 1), Err(Rejected { promised: b(1, 2) }));
        assert!(a.prepare(b(1, 3), 1).is_ok());
        assert_eq!(a.promised(), b(1, 3));
    }

    #[test]
    fn accepts_at_or_above_the_promise_and_rejects_below() {
        let mut a = Acceptor::default();
        a.prepare(b(2, 1), 1).unwrap();
        assert_eq!(
            a.accept(b(1, 3), 1, Value::Noop),
            Err(Rejected { promised: b(2, 1) })
        );
        assert!(a.accept(b(2, 1), 1, Value::Noop).is_ok());
        assert!(a.accept(b(3, 2), 2, Value::Noop).is_ok());
        assert_eq!(a.promised(), b(3, 2), "an acceptance raises the promise");
    }

    #[test]
    fn promise_reports_the_accept_log_from_the_requested_slot() {
        let mut a = Acceptor::default();
        for slot in 1..=5 {
            a.accept(b(1, 1), slot, Value::Noop).unwrap();
        }
        let (op, log) = a.prepare(b(2, 2), 3).unwrap();
        assert_eq!(op, PersistOp::Promise(b(2, 2)));
        assert_eq!(
            log.iter().map(|e| e.slot).collect::<Vec<_>>(),
            vec![3, 4, 5]
        );
        assert!(log.iter().all(|e| e.ballot == b(1, 1)));
    }

    #[test]
    fn every_decision_comes_with_the_op_to_persist() {
        let mut a = Acceptor::default();
        let op = a.accept(b(1, 1), 7, Value::Noop).unwrap();
        let restored = Acceptor::restore(DurableState::replay([&op]));
        assert_eq!(restored.promised(), b(1, 1));
        assert_eq!(restored.accepted(7), Some(&(b(1, 1), Value::Noop)));
    }
}

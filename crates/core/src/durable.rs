//! What a node must persist to restart without contradicting itself, and how
//! a restarted node rebuilds it.
//!
//! Each turn the core hands its host at most one [`Write`]: a log
//! replacement (a compaction) and [`PersistOp`]s to append, under a token.
//! The host applies it to its [`Log`] with [`Write::apply_to`] (the one
//! order every host uses), makes it durable, and reports the token back
//! (`Replica::persisted`). The core itself holds every message that reveals
//! a record (PROMISE, ACCEPTED) until that report: the host needs no
//! bookkeeping of its own ([`DurabilityGate`]).
//!
//! On restart the host replays every op it had synced, in order, into a
//! [`DurableState`] and hands that to `Replica::restore`. Ops that were
//! written but not synced may be lost, or survive as a prefix: both are safe,
//! because nothing that depended on them was sent.

use crate::types::{Ballot, Slot, Value};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PersistOp {
    /// The acceptor promised `ballot` (phase 1b).
    Promise(Ballot),
    /// The acceptor accepted `value` for `slot` at `ballot` (phase 2b). An
    /// acceptance is also a promise of `ballot`.
    Accept {
        slot: Slot,
        ballot: Ballot,
        value: Value,
    },
    /// The node's state after executing through `slot` (the executor's
    /// snapshot: application and reply table). Entries at or below `slot`
    /// are no longer needed: replay drops them.
    Checkpoint { slot: Slot, snapshot: Bytes },
    /// This node lost its disk and came back as a learner that never votes
    /// (its forgotten promises and acceptances must never be contradicted).
    NonVoting,
    /// Votes only on the slots after `.0`. Written by an earlier rule that
    /// gave a node that lost its disk its vote back after a reconfiguration
    /// (unsafe: it cannot tell one chosen before the loss, docs/membership.md);
    /// no longer written, still read from old logs.
    VotesAbove(Slot),
}

/// The acceptor's durable state: enough to never break a promise or deny an
/// acceptance after a crash. Everything else (chosen values, the executed
/// state) is relearned from peers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DurableState {
    pub promised: Ballot,
    pub accepted: BTreeMap<Slot, (Ballot, Value)>,
    /// The latest checkpoint: the slot and the executor's snapshot there.
    pub checkpoint: Option<(Slot, Bytes)>,
    /// The node votes only on slots above this one: 0 normally, `Slot::MAX`
    /// after it rejoined having lost its disk, the slot of the
    /// reconfiguration that made it a voter again after that.
    pub votes_above: Slot,
}

impl DurableState {
    /// Replays one synced op.
    pub fn apply(&mut self, op: &PersistOp) {
        match op {
            PersistOp::Promise(ballot) => {
                self.promised = self.promised.max(*ballot);
            }
            PersistOp::Accept {
                slot,
                ballot,
                value,
            } => {
                self.promised = self.promised.max(*ballot);
                if self.checkpoint.as_ref().is_none_or(|(c, _)| slot > c) {
                    self.accepted.insert(*slot, (*ballot, value.clone()));
                }
            }
            PersistOp::NonVoting => self.votes_above = Slot::MAX,
            PersistOp::VotesAbove(slot) => self.votes_above = *slot,
            PersistOp::Checkpoint { slot, snapshot } => {
                if self.checkpoint.as_ref().is_none_or(|(c, _)| slot > c) {
                    self.checkpoint = Some((*slot, snapshot.clone()));
                    self.accepted = self.accepted.split_off(&(slot + 1));
                }
            }
        }
    }

    /// Rebuilds the state from a log of ops.
    pub fn replay<'a>(ops: impl IntoIterator<Item = &'a PersistOp>) -> Self {
        let mut state = DurableState::default();
        for op in ops {
            state.apply(op);
        }
        state
    }
}

/// What one turn asks to be made durable. Reported back by its `token`
/// (tokens grow by one per write; reporting a token says that it and every
/// earlier write are durable).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Write {
    pub token: u64,
    /// Replace the whole log with these ops first (a compaction: a
    /// checkpoint held by a quorum made the rest unnecessary). They cover
    /// every op of `append` too, so nothing of the turn is lost whichever
    /// way a crash falls.
    pub replace: Option<Vec<PersistOp>>,
    /// Then append these.
    pub append: Vec<PersistOp>,
}

/// Durable storage as the core sees it: the simulator's disk and the node's
/// write-ahead log. Syncing is the host's business (it may sync many writes
/// at once); a replacement must be atomic and durable when it returns.
pub trait Log {
    type Error;
    fn replace(&mut self, live: &[PersistOp]) -> Result<(), Self::Error>;
    fn append(&mut self, ops: &[PersistOp]) -> Result<(), Self::Error>;
}

impl Write {
    /// Applies the write to `log`: the replacement first, then the appends
    /// (so a record of the turn is never replaced away).
    pub fn apply_to<L: Log + ?Sized>(&self, log: &mut L) -> Result<(), L::Error> {
        if let Some(live) = &self.replace {
            log.replace(live)?;
        }
        if !self.append.is_empty() {
            log.append(&self.append)?;
        }
        Ok(())
    }
}

/// Holds messages that reveal durable state until the writes they depend on
/// are reported durable. A message depends on every write issued before it
/// was produced, including the one of its own turn.
#[derive(Debug)]
pub struct DurabilityGate<T> {
    issued: u64,
    durable: u64,
    held: VecDeque<(u64, Vec<T>)>,
}

impl<T> Default for DurabilityGate<T> {
    fn default() -> Self {
        DurabilityGate {
            issued: 0,
            durable: 0,
            held: VecDeque::new(),
        }
    }
}

impl<T> DurabilityGate<T> {
    /// The token of the next write.
    pub fn issue(&mut self) -> u64 {
        self.issued += 1;
        self.issued
    }

    /// Messages that depend on every write issued so far: returned to go at
    /// once if all of it is durable, held otherwise.
    pub fn hold(&mut self, messages: Vec<T>) -> Vec<T> {
        if messages.is_empty() || self.issued <= self.durable {
            return messages;
        }
        self.held.push_back((self.issued, messages));
        Vec::new()
    }

    /// Every write up to `token` is durable: the messages now free to go, in
    /// the order they were produced. A token never issued is ignored.
    pub fn persisted(&mut self, token: u64) -> Vec<T> {
        if token > self.issued {
            return Vec::new();
        }
        self.durable = self.durable.max(token);
        let mut free = Vec::new();
        while let Some((waits_for, _)) = self.held.front()
            && *waits_for <= self.durable
        {
            if let Some((_, messages)) = self.held.pop_front() {
                free.extend(messages);
            }
        }
        free
    }

    /// Messages still waiting for a write.
    pub fn held(&self) -> usize {
        self.held.iter().map(|(_, m)| m.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{NodeId, Value};

    #[test]
    fn a_message_waits_for_every_write_before_it() {
        let mut gate = DurabilityGate::default();
        assert_eq!(
            gate.hold(vec!["nothing to wait for"]),
            vec!["nothing to wait for"]
        );
        let one = gate.issue();
        assert!(gate.hold(vec!["after 1"]).is_empty());
        let two = gate.issue();
        assert!(gate.hold(vec!["after 2"]).is_empty());
        // No write of its own: it may still reveal write 2's records.
        assert!(gate.hold(vec!["after 2, no write"]).is_empty());
        assert!(
            gate.persisted(7).is_empty(),
            "a token never issued is ignored"
        );
        assert_eq!(gate.persisted(one), vec!["after 1"]);
        assert!(gate.persisted(one).is_empty(), "released once");
        assert_eq!(gate.persisted(two), vec!["after 2", "after 2, no write"]);
        assert_eq!(gate.hold(vec!["all durable"]), vec!["all durable"]);
    }

    /// Records what a host's log is asked to do.
    #[derive(Default)]
    struct Recorder(Vec<String>);
    impl Log for Recorder {
        type Error = ();
        fn replace(&mut self, live: &[PersistOp]) -> Result<(), ()> {
            self.0.push(format!("replace {}", live.len()));
            Ok(())
        }
        fn append(&mut self, ops: &[PersistOp]) -> Result<(), ()> {
            self.0.push(format!("append {}", ops.len()));
            Ok(())
        }
    }

    #[test]
    fn a_write_replaces_first_then_appends_and_a_lone_compaction_is_applied() {
        let accept = |slot| PersistOp::Accept {
            slot,
            ballot: Ballot::new(1, NodeId(1)),
            value: Value::Noop,
        };
        let mut log = Recorder::default();
        let both = Write {
            token: 1,
            replace: Some(vec![accept(5)]),
            append: vec![accept(6), accept(7)],
        };
        both.apply_to(&mut log).unwrap();
        // A compaction with nothing to append (a peer's CHECKPOINT let this
        // node truncate) still reaches the log.
        let alone = Write {
            token: 2,
            replace: Some(vec![accept(7)]),
            append: Vec::new(),
        };
        alone.apply_to(&mut log).unwrap();
        assert_eq!(log.0, vec!["replace 1", "append 2", "replace 1"]);
    }
}

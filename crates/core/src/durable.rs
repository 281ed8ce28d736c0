//! What a node must persist to restart without contradicting itself, and how
//! a restarted node rebuilds it.
//!
//! The core emits [`PersistOp`]s; the host appends them to durable storage
//! and syncs before it sends any `persisted_messages` (see [`crate::Ready`]).
//! On restart the host replays every op it had synced, in order, into a
//! [`DurableState`] and hands that to `Replica::restore`. Ops that were
//! written but not synced may be lost, or survive as a prefix: both are safe,
//! because nothing that depended on them was sent.

use crate::types::{Ballot, Slot, Value};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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
    /// The node rejoined after losing its disk: it learns, never votes.
    pub non_voting: bool,
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
            PersistOp::NonVoting => self.non_voting = true,
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

//! The learner: which slots are chosen, with what value.
//!
//! A slot is chosen once f+1 acceptors accepted one value in one ballot. The
//! leader learns it from the ACCEPTED quorum; a follower learns it from a
//! COMMIT (or a HEARTBEAT, or the commit point an ACCEPT carries) for a slot
//! it accepted in that same ballot, or, for anything it missed, from a
//! catch-up reply. The learner keeps the chosen values it has not truncated
//! so that it can serve them to lagging peers.

use crate::types::{Slot, Time, Value};
use std::collections::BTreeMap;

#[derive(Debug, Default)]
pub struct Learner {
    chosen: BTreeMap<Slot, Value>,
    /// Every slot up to here is chosen and its value known here.
    commit: Slot,
    /// The highest commit point any peer reported: what we should catch up to.
    known_commit: Slot,
    /// When we last asked a peer for missing slots.
    last_catch_up: Option<Time>,
    /// Slots below this were truncated (covered by a checkpoint).
    first_retained: Slot,
}

impl Learner {
    pub fn new() -> Self {
        Learner {
            first_retained: 1,
            ..Default::default()
        }
    }

    /// Records that `slot` is chosen with `value`. Returns false if it was
    /// already known (a chosen slot never changes value; the simulator's
    /// agreement checker verifies that across nodes).
    pub fn learn(&mut self, slot: Slot, value: Value) -> bool {
        if slot <= self.commit || self.chosen.contains_key(&slot) {
            return false;
        }
        self.chosen.insert(slot, value);
        while self.chosen.contains_key(&(self.commit + 1)) {
            self.commit += 1;
        }
        self.known_commit = self.known_commit.max(self.commit);
        true
    }

    pub fn is_chosen(&self, slot: Slot) -> bool {
        slot <= self.commit || self.chosen.contains_key(&slot)
    }

    pub fn value(&self, slot: Slot) -> Option<&Value> {
        self.chosen.get(&slot)
    }

    pub fn commit(&self) -> Slot {
        self.commit
    }

    /// The highest slot known chosen (possibly beyond a gap).
    pub fn highest_chosen(&self) -> Slot {
        self.chosen
            .keys()
            .next_back()
            .copied()
            .unwrap_or(0)
            .max(self.commit)
    }

    pub fn observe_commit(&mut self, commit: Slot) {
        self.known_commit = self.known_commit.max(commit);
    }

    /// The range to ask a peer for, if we are behind what peers reported and
    /// have not asked within `interval`.
    pub fn catch_up_due(
        &mut self,
        now: Time,
        interval: Time,
        batch: usize,
    ) -> Option<(Slot, Slot)> {
        if self.known_commit <= self.commit {
            return None;
        }
        if let Some(last) = self.last_catch_up
            && now < last + interval
        {
            return None;
        }
        self.last_catch_up = Some(now);
        let from = self.commit + 1;
        Some((from, self.known_commit.min(from + batch as u64 - 1)))
    }

    /// Allows the next catch-up request at once (the last reply was useful).
    pub fn catch_up_progressed(&mut self) {
        self.last_catch_up = None;
    }

    /// Chosen values in `from..=to`, at most `limit`, for a lagging peer.
    pub fn entries(&self, from: Slot, to: Slot, limit: usize) -> Vec<(Slot, Value)> {
        if from > to {
            return Vec::new();
        }
        self.chosen
            .range(from..=to)
            .take(limit)
            .map(|(&slot, value)| (slot, value.clone()))
            .collect()
    }

    /// Everything up to `slot` is known through a checkpoint (installed from
    /// a snapshot, or restored from disk).
    pub fn install(&mut self, slot: Slot) {
        self.commit = self.commit.max(slot);
        self.chosen = self.chosen.split_off(&(slot + 1));
        while self.chosen.contains_key(&(self.commit + 1)) {
            self.commit += 1;
        }
        self.known_commit = self.known_commit.max(self.commit);
        self.first_retained = self.first_retained.max(slot + 1);
    }

    /// Forgets chosen values below `slot` (they are in a checkpoint).
    pub fn truncate_below(&mut self, slot: Slot) {
        self.chosen = self.chosen.split_off(&slot);
        self.first_retained = self.first_retained.max(slot);
    }

    pub fn first_retained(&self) -> Slot {
        self.first_retained
    }

    pub fn retained(&self) -> usize {
        self.chosen.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_point_is_the_contiguous_chosen_prefix() {
        let mut l = Learner::new();
        assert!(l.learn(2, Value::Noop));
        assert_eq!(l.commit(), 0);
        assert_eq!(l.highest_chosen(), 2);
        assert!(l.learn(1, Value::Noop));
        assert_eq!(l.commit(), 2);
        assert!(!l.learn(1, Value::Noop), "a slot is learned once");
    }

    #[test]
    fn catch_up_asks_for_what_peers_reported_and_is_throttled() {
        let mut l = Learner::new();
        l.learn(1, Value::Noop);
        l.observe_commit(1000);
        assert_eq!(l.catch_up_due(0, 10, 100), Some((2, 101)));
        assert_eq!(l.catch_up_due(5, 10, 100), None);
        assert_eq!(l.catch_up_due(10, 10, 100), Some((2, 101)));
        l.catch_up_progressed();
        assert!(l.catch_up_due(11, 10, 100).is_some());
    }
}

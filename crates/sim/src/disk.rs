//! The simulated disk: what a node wrote, and how much of it survives a crash.
//!
//! A node appends persist ops; a sync makes everything written before it
//! durable after a disk latency. A crash keeps the durable part and a random
//! prefix of what was written but not yet synced (the page cache may have
//! flushed some of it; a torn last record is dropped by recovery, which
//! amounts to a shorter prefix). Nothing that depended on the lost part was
//! sent, because the host holds `persisted_messages` until their sync ends.

use rand::Rng;
use synod_core::{DurableState, PersistOp};

#[derive(Debug, Default)]
pub struct Disk {
    log: Vec<PersistOp>,
    durable: usize,
}

impl Disk {
    pub fn write(&mut self, ops: impl IntoIterator<Item = PersistOp>) {
        self.log.extend(ops);
    }

    /// The position a sync started now would make durable.
    pub fn written(&self) -> usize {
        self.log.len()
    }

    pub fn durable(&self) -> usize {
        self.durable
    }

    pub fn complete_sync(&mut self, upto: usize) {
        self.durable = self.durable.max(upto.min(self.log.len()));
    }

    /// Log compaction: the log becomes `live`, durably (the real log syncs
    /// the new segment before dropping the old ones; a crash at any point
    /// leaves one complete log).
    pub fn compact(&mut self, live: Vec<PersistOp>) {
        self.log = live;
        self.durable = self.log.len();
    }

    /// How many ops the log holds (bounded by compaction).
    pub fn len(&self) -> usize {
        self.log.len()
    }

    pub fn is_empty(&self) -> bool {
        self.log.is_empty()
    }

    /// A crash: unsynced writes are lost, except a random prefix of them.
    /// Returns how many unsynced ops were lost.
    pub fn crash(&mut self, rng: &mut impl Rng) -> usize {
        let keep = rng.random_range(self.durable..=self.log.len());
        let lost = self.log.len() - keep;
        self.log.truncate(keep);
        self.durable = keep;
        lost
    }

    /// What a restarted node recovers.
    pub fn recover(&self) -> DurableState {
        DurableState::replay(&self.log[..self.durable])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use synod_core::{Ballot, NodeId};

    #[test]
    fn a_crash_keeps_everything_synced_and_a_prefix_of_the_rest() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        for round in 0..50 {
            let mut disk = Disk::default();
            disk.write((1..=3).map(|r| PersistOp::Promise(Ballot::new(r, NodeId(1)))));
            disk.complete_sync(disk.written());
            disk.write((4..=8).map(|r| PersistOp::Promise(Ballot::new(r, NodeId(1)))));
            let lost = disk.crash(&mut rng);
            let state = disk.recover();
            assert!(
                state.promised.round >= 3,
                "round {round}: synced promise lost"
            );
            assert_eq!(state.promised.round, 8 - lost as u64);
        }
    }
}

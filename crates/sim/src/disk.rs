//! The simulated disk: what a node wrote, and how much of it survives a crash.
//!
//! A node's host applies each write of its replica ([`synod_core::Log`]); a
//! sync makes everything written before it durable after a disk latency. A
//! crash keeps the durable part and a random prefix of what was written but
//! not yet synced (the page cache may have flushed some of it; a torn last
//! record is dropped by recovery, which amounts to a shorter prefix).
//! Nothing that depended on the lost part was sent, because the replica
//! holds its votes until the host reports their write durable.
//!
//! Positions are counted over everything ever written (a compaction does not
//! reset them), so a sync started before a compaction and finishing after it
//! still names the right ops.

use rand::Rng;
use std::convert::Infallible;
use synod_core::{DurableState, Log, PersistOp};

#[derive(Debug, Default)]
pub struct Disk {
    log: Vec<PersistOp>,
    /// Ops ever written; `log` holds the last `log.len()` of them.
    written: u64,
    /// Ops ever made durable (by a sync or a compaction).
    durable: u64,
}

impl Log for Disk {
    type Error = Infallible;

    /// Log compaction: the log becomes `live`, durably (the real log syncs
    /// the new segment before dropping the old ones; a crash at any point
    /// leaves one complete log).
    fn replace(&mut self, live: &[PersistOp]) -> Result<(), Infallible> {
        self.log = live.to_vec();
        self.written += live.len() as u64;
        self.durable = self.written;
        Ok(())
    }

    fn append(&mut self, ops: &[PersistOp]) -> Result<(), Infallible> {
        self.log.extend_from_slice(ops);
        self.written += ops.len() as u64;
        Ok(())
    }
}

impl Disk {
    /// The position a sync started now would make durable.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Appends and syncs at once (a host's own startup record).
    pub fn write_durably(&mut self, ops: &[PersistOp]) {
        let Ok(()) = self.append(ops);
        self.complete_sync(self.written);
    }

    pub fn complete_sync(&mut self, upto: u64) {
        self.durable = self.durable.max(upto.min(self.written));
    }

    /// How many ops the log holds (bounded by compaction).
    pub fn len(&self) -> usize {
        self.log.len()
    }

    pub fn is_empty(&self) -> bool {
        self.log.is_empty()
    }

    /// Ops in `log` that are durable.
    fn durable_len(&self) -> usize {
        let unsynced = (self.written - self.durable) as usize;
        self.log.len().saturating_sub(unsynced)
    }

    /// A crash: unsynced writes are lost, except a random prefix of them.
    /// Returns how many unsynced ops were lost.
    pub fn crash(&mut self, rng: &mut impl Rng) -> usize {
        let durable = self.durable_len();
        let keep = rng.random_range(durable..=self.log.len());
        let lost = self.log.len() - keep;
        self.log.truncate(keep);
        self.written -= lost as u64;
        self.durable = self.written;
        lost
    }

    /// Everything written, synced or not.
    pub fn written_state(&self) -> DurableState {
        DurableState::replay(&self.log)
    }

    /// What a restarted node recovers.
    pub fn recover(&self) -> DurableState {
        DurableState::replay(&self.log[..self.durable_len()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use synod_core::{Ballot, NodeId, Value};

    fn promises(rounds: std::ops::RangeInclusive<u64>) -> Vec<PersistOp> {
        rounds
            .map(|r| PersistOp::Promise(Ballot::new(r, NodeId(1))))
            .collect()
    }

    #[test]
    fn a_crash_keeps_everything_synced_and_a_prefix_of_the_rest() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        for round in 0..50 {
            let mut disk = Disk::default();
            disk.write_durably(&promises(1..=3));
            let Ok(()) = disk.append(&promises(4..=8));
            let lost = disk.crash(&mut rng);
            let state = disk.recover();
            assert!(
                state.promised.round >= 3,
                "round {round}: synced promise lost"
            );
            assert_eq!(state.promised.round, 8 - lost as u64);
        }
    }

    #[test]
    fn a_sync_that_ends_after_a_compaction_covers_only_what_was_written_before_it() {
        let accept = |slot| PersistOp::Accept {
            slot,
            ballot: Ballot::new(1, NodeId(1)),
            value: Value::Noop,
        };
        let mut disk = Disk::default();
        let Ok(()) = disk.append(&[accept(1), accept(2)]);
        let sync_started_at = disk.written();
        let Ok(()) = disk.replace(&[accept(2)]);
        let Ok(()) = disk.append(&[accept(3)]);
        disk.complete_sync(sync_started_at);
        // Slot 3 was written after the sync began: not durable yet.
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let mut kept_3 = 0;
        for _ in 0..20 {
            let mut copy = Disk {
                log: disk.log.clone(),
                written: disk.written,
                durable: disk.durable,
            };
            copy.crash(&mut rng);
            let state = copy.recover();
            assert!(state.accepted.contains_key(&2), "the compaction is durable");
            kept_3 += state.accepted.contains_key(&3) as u32;
        }
        assert!(kept_3 < 20, "an unsynced append is sometimes lost");
    }
}

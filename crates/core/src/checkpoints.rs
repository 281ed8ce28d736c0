//! One replica's checkpoint bookkeeping, apart from the replica's roles:
//! when a checkpoint falls due, our latest one, our recent digests to compare
//! with peers', the checkpoints peers hold (a quorum of them lets us
//! truncate), a snapshot arriving in pieces, and when to announce ours again.
//! The replica wires it to its acceptor, learner and executor
//! (`replica/checkpointing.rs`).
//!
//! Checkpoints are taken in two steps. At a checkpoint slot the replica
//! freezes its state ([`crate::executor::Capture`], cheap) and hands it to
//! its host as a [`CheckpointJob`]; the host serialises and digests it
//! elsewhere ([`CheckpointJob::build`]) and hands the result back
//! (`Replica::checkpoint_built`). Which slots are checkpoint slots depends
//! on the log alone (see [`Checkpoints::due`]), never on when a build
//! finishes, so every replica checkpoints at the same slots.

use crate::executor::Capture;
use crate::proposer::Voters;
use crate::state_machine::StateMachine;
use crate::types::{Digest, DigestCache, NodeId, Slot, Time};
use bytes::Bytes;
use std::collections::BTreeMap;

/// A checkpoint waits until the commands executed since the last one add
/// up to this many times the state's size: snapshotting then costs at most
/// a quarter of the work of the log it replaces.
pub(crate) const LOG_RATIO: u64 = 4;

/// Whatever the state's size, a checkpoint falls due once this much of the
/// log has executed since the last one. Without it a state that grows with
/// every command (an MVCC store keeping its history) is checkpointed ever
/// more rarely (each waits for 4 times a state that grew by the log before
/// it): the log grows without bound, and a PROMISE, which carries every
/// entry after the last truncation, outgrows the largest frame a peer
/// takes, after which no election can succeed (found 2026-12-03 with the
/// etcd store under etcd-bench). Half the default 16 MiB frame: the log
/// is counted as it is encoded ([`crate::Value::log_bytes`]), and the other
/// half is room for what executes while the checkpoint is built. Larger
/// is better for a large state (each checkpoint writes all of it): 8 MiB
/// instead of 4 lowered p99 under etcd-bench by a sixth (docs/performance.md).
pub(crate) const MAX_LOG_BYTES: u64 = 8 << 20;

/// When checkpoints fall due (see [`Checkpoints::due`]).
#[derive(Clone, Copy, Debug)]
pub struct Spacing {
    /// Only at multiples of this slot number.
    pub interval: u64,
    /// The log since the last checkpoint must outweigh its state this many
    /// times ...
    pub log_ratio: u64,
    /// ... or add up to this many bytes.
    pub max_log_bytes: u64,
}

/// Digests of our own recent checkpoints kept for comparison.
const RECENT: usize = 16;

/// A checkpoint: the replicated state's snapshot after executing through
/// `slot`, and its digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    pub slot: Slot,
    pub digest: Digest,
    pub snapshot: Bytes,
}

/// A state frozen at a checkpoint slot, for the host to build off the
/// replica's path.
pub struct CheckpointJob<S: StateMachine> {
    capture: Capture<S>,
}

impl<S: StateMachine> CheckpointJob<S> {
    pub(crate) fn new(capture: Capture<S>) -> Self {
        CheckpointJob { capture }
    }

    pub fn slot(&self) -> Slot {
        self.capture.slot()
    }

    /// Serialises and digests the state (the expensive part: run it on
    /// another thread).
    pub fn build(self) -> Checkpoint {
        self.build_with(|snapshot| Digest::of(snapshot))
    }

    /// [`CheckpointJob::build`], hashing again only what differs from the
    /// last snapshot `digests` saw: the same checkpoint.
    pub fn build_after(self, digests: &mut DigestCache) -> Checkpoint {
        self.build_with(|snapshot| digests.digest(snapshot))
    }

    fn build_with(self, digest: impl FnOnce(&Bytes) -> Digest) -> Checkpoint {
        let snapshot = Bytes::from(self.capture.serialize());
        Checkpoint {
            slot: self.capture.slot(),
            digest: digest(&snapshot),
            snapshot,
        }
    }
}

impl<S: StateMachine> std::fmt::Debug for CheckpointJob<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CheckpointJob(slot {})", self.slot())
    }
}

/// A snapshot being received in pieces.
struct Incoming {
    slot: Slot,
    digest: Digest,
    total: u64,
    bytes: Vec<u8>,
}

#[derive(Default)]
pub struct Checkpoints {
    /// Our latest checkpoint, built or installed from a peer.
    latest: Option<Checkpoint>,
    /// The slot and state size of the last checkpoint taken (captured, or
    /// installed): what spaces the next one.
    last_taken: (Slot, u64),
    /// Command bytes executed since the last checkpoint taken (the work the
    /// log stands for, against the state's size) ...
    executed_bytes: u64,
    /// ... and those entries as a PROMISE would carry them (against
    /// `max_log_bytes`).
    executed_log_bytes: u64,
    recent_digests: BTreeMap<Slot, Digest>,
    /// The highest checkpoint slot each peer announced.
    peer_slots: BTreeMap<NodeId, Slot>,
    incoming: Option<Incoming>,
    last_announce: Time,
}

impl Checkpoints {
    /// After a restart from `latest` (if the disk held one), whose state
    /// is `state_size` bytes or so. Without one, the first checkpoint is
    /// due at the first checkpoint slot.
    pub fn restored(latest: Option<Checkpoint>, state_size: u64) -> Self {
        let last_taken = latest.as_ref().map_or((0, 0), |c| (c.slot, state_size));
        let mut checkpoints = Checkpoints {
            last_taken,
            ..Default::default()
        };
        if let Some(c) = latest {
            checkpoints.remember(c.slot, c.digest);
            checkpoints.latest = Some(c);
        }
        checkpoints
    }

    pub fn latest(&self) -> Option<&Checkpoint> {
        self.latest.as_ref()
    }

    /// A slot executed `command_bytes` of commands, `log_bytes` as an
    /// entry of a PROMISE ([`crate::Value::log_bytes`]).
    pub fn executed(&mut self, command_bytes: u64, log_bytes: u64) {
        self.executed_bytes += command_bytes;
        self.executed_log_bytes += log_bytes;
    }

    /// Whether a checkpoint falls due after executing `slot`, with the state
    /// now `state_size` bytes or so: every `interval` slots, but never more
    /// often than the state's size justifies (the commands executed since
    /// the last one must add up to `log_ratio` ([`LOG_RATIO`] by default)
    /// times that state's size), unless the log since the last one adds up
    /// to `max_log_bytes` ([`MAX_LOG_BYTES`]) as a PROMISE carries it. All
    /// depend on the log alone. If due, it counts as taken. `state_size` is asked only at checkpoint slots (it may
    /// take a walk over the state).
    pub fn due(&mut self, slot: Slot, spacing: Spacing, state_size: impl FnOnce() -> u64) -> bool {
        let (last_slot, last_size) = self.last_taken;
        let outweighs = self.executed_bytes >= last_size.saturating_mul(spacing.log_ratio);
        let capped = self.executed_log_bytes >= spacing.max_log_bytes;
        if !slot.is_multiple_of(spacing.interval) || slot <= last_slot || !(outweighs || capped) {
            return false;
        }
        self.last_taken = (slot, state_size());
        self.executed_bytes = 0;
        self.executed_log_bytes = 0;
        true
    }

    /// Our own checkpoint was built. Returns false (and keeps nothing) if a
    /// newer one is already in place (a snapshot installed meanwhile).
    pub fn built(&mut self, checkpoint: Checkpoint) -> bool {
        if self
            .latest
            .as_ref()
            .is_some_and(|c| c.slot >= checkpoint.slot)
        {
            return false;
        }
        self.remember(checkpoint.slot, checkpoint.digest);
        self.latest = Some(checkpoint);
        true
    }

    /// A peer's snapshot was installed: it is our checkpoint now, and the
    /// next one is spaced from it.
    pub fn installed(&mut self, checkpoint: Checkpoint, state_size: u64) {
        self.last_taken = (checkpoint.slot, state_size);
        self.executed_bytes = 0;
        self.executed_log_bytes = 0;
        self.remember(checkpoint.slot, checkpoint.digest);
        self.latest = Some(checkpoint);
    }

    fn remember(&mut self, slot: Slot, digest: Digest) {
        self.recent_digests.insert(slot, digest);
        while self.recent_digests.len() > RECENT {
            self.recent_digests.pop_first();
        }
    }

    /// A peer announced a checkpoint. Returns our own digest at that slot
    /// if it differs from theirs: the replicas diverged.
    pub fn peer_announced(&mut self, peer: NodeId, slot: Slot, digest: Digest) -> Option<Digest> {
        let known = self.peer_slots.entry(peer).or_default();
        *known = (*known).max(slot);
        self.recent_digests
            .get(&slot)
            .copied()
            .filter(|ours| *ours != digest)
    }

    /// Our latest checkpoint, if a quorum of `voters` (ourselves included)
    /// holds one at least that far: the log through it can be truncated.
    pub fn held_by_quorum(&self, voters: &Voters) -> Option<&Checkpoint> {
        let latest = self.latest.as_ref()?;
        let holders = 1 + self
            .peer_slots
            .iter()
            .filter(|(peer, s)| **s >= latest.slot && voters.contains(**peer))
            .count();
        (holders >= voters.quorum()).then_some(latest)
    }

    /// Whether to announce our latest checkpoint now: at the retransmit
    /// pace until we could truncate through it ourselves (`truncated`), then
    /// 8 times slower, for peers that are still waiting (announcements get
    /// lost, and peers truncate only once a quorum holds a checkpoint).
    pub fn announce_due(
        &mut self,
        now: Time,
        truncated: Slot,
        retransmit: Time,
    ) -> Option<(Slot, Digest)> {
        let c = self.latest.as_ref()?;
        let pace = if c.slot <= truncated { 8 } else { 1 } * retransmit;
        if now < self.last_announce + pace {
            return None;
        }
        self.last_announce = now;
        Some((c.slot, c.digest))
    }

    /// One piece of a peer's snapshot: `data` is `snapshot[offset..]`, of
    /// `total` bytes whose digest is `digest`. Returns the whole snapshot
    /// once the last piece is in and the digest matches. Pieces of another
    /// transfer or out of order are dropped (the next catch-up asks again).
    pub fn receive_piece(
        &mut self,
        slot: Slot,
        digest: Digest,
        offset: u64,
        total: u64,
        data: &[u8],
    ) -> Option<Vec<u8>> {
        if offset == 0 {
            self.incoming = Some(Incoming {
                slot,
                digest,
                total,
                bytes: Vec::with_capacity(total.min(1 << 30) as usize),
            });
        }
        let incoming = self.incoming.as_mut()?;
        if (incoming.slot, incoming.digest, incoming.total) != (slot, digest, total)
            || incoming.bytes.len() as u64 != offset
        {
            return None;
        }
        incoming.bytes.extend_from_slice(data);
        if (incoming.bytes.len() as u64) < total {
            return None;
        }
        let snapshot = self.incoming.take()?.bytes;
        // Corrupt in transit: drop it; the next catch-up asks again.
        (Digest::of(&snapshot) == digest).then_some(snapshot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checkpoint(slot: Slot, byte: u8) -> Checkpoint {
        let snapshot = Bytes::from(vec![byte; 8]);
        Checkpoint {
            slot,
            digest: Digest::of(&snapshot),
            snapshot,
        }
    }

    const SPACING: Spacing = Spacing {
        interval: 100,
        log_ratio: LOG_RATIO,
        max_log_bytes: MAX_LOG_BYTES,
    };

    #[test]
    fn checkpoints_fall_every_interval_once_the_log_outweighs_the_state() {
        let mut c = Checkpoints::restored(None, 0);
        assert!(!c.due(50, SPACING, || 10), "not a multiple of the interval");
        assert!(c.due(100, SPACING, || 10), "the first one is due at once");
        c.executed(39, 39);
        assert!(
            !c.due(200, SPACING, || 10),
            "39 bytes of log, state 10: wait"
        );
        c.executed(1, 1);
        assert!(c.due(300, SPACING, || 10), "40 bytes: 4 times the state");
        assert!(!c.due(300, SPACING, || 10), "taken once");
    }

    #[test]
    fn the_cap_counts_the_log_as_a_promise_carries_it_not_its_commands() {
        let capped = Spacing {
            max_log_bytes: 1000,
            ..SPACING
        };
        let huge = || 1 << 30;
        let mut c = Checkpoints::restored(None, 0);
        assert!(c.due(100, capped, huge), "the first one");
        // One-byte commands in entries of 71 bytes: 15 of them make 1,065
        // bytes of PROMISE, for 15 bytes of commands.
        for _ in 0..14 {
            c.executed(1, 71);
        }
        assert!(!c.due(200, capped, huge), "994 bytes");
        c.executed(1, 71);
        assert!(c.due(300, capped, huge), "1,065 bytes");
    }

    /// The longest stretch of log (bytes) without a checkpoint over 10,000
    /// slots of 10-byte commands, each adding its size to the state.
    fn longest_log_between_checkpoints(spacing: Spacing) -> u64 {
        let mut c = Checkpoints::restored(None, 0);
        let (mut state, mut since, mut longest) = (0, 0, 0);
        for slot in 1..=10_000 {
            c.executed(10, 10);
            state += 10;
            since += 10;
            longest = longest.max(since);
            if c.due(slot, spacing, || state) {
                since = 0;
            }
        }
        longest
    }

    #[test]
    fn a_state_that_grows_with_its_log_is_still_checkpointed() {
        // The log never outweighs such a state 4 to 1 for long: each
        // checkpoint waits 4 times longer than the one before.
        let ratio_alone = Spacing {
            max_log_bytes: u64::MAX,
            ..SPACING
        };
        assert!(longest_log_between_checkpoints(ratio_alone) >= 75_000);
        // With the cap, a checkpoint falls at the first interval slot
        // after 1000 bytes of log.
        let capped = Spacing {
            max_log_bytes: 1000,
            ..SPACING
        };
        assert_eq!(longest_log_between_checkpoints(capped), 1000);
    }

    #[test]
    fn a_late_build_never_replaces_a_newer_checkpoint() {
        let mut c = Checkpoints::restored(None, 0);
        c.installed(checkpoint(200, 2), 8);
        assert!(!c.built(checkpoint(100, 1)));
        assert_eq!(c.latest().map(|c| c.slot), Some(200));
        assert!(c.built(checkpoint(300, 3)));
    }

    #[test]
    fn a_different_digest_at_one_of_our_slots_is_a_divergence() {
        let mut c = Checkpoints::restored(Some(checkpoint(100, 1)), 8);
        let ours = checkpoint(100, 1).digest;
        assert_eq!(c.peer_announced(NodeId(2), 100, ours), None);
        let theirs = checkpoint(100, 9).digest;
        assert_eq!(c.peer_announced(NodeId(3), 100, theirs), Some(ours));
        assert_eq!(c.peer_announced(NodeId(3), 200, theirs), None, "not ours");
    }

    #[test]
    fn truncation_waits_for_a_quorum_of_holders() {
        let mut c = Checkpoints::restored(Some(checkpoint(100, 1)), 8);
        let d = checkpoint(100, 1).digest;
        let three = Voters::new((1..=3).map(NodeId).collect());
        let five = Voters::new((1..=5).map(NodeId).collect());
        assert!(c.held_by_quorum(&three).is_none());
        c.peer_announced(NodeId(2), 90, d);
        assert!(
            c.held_by_quorum(&three).is_none(),
            "90 is not as far as 100"
        );
        c.peer_announced(NodeId(9), 100, d);
        assert!(c.held_by_quorum(&three).is_none(), "n9 is not a voter");
        c.peer_announced(NodeId(2), 100, d);
        assert_eq!(c.held_by_quorum(&three).map(|c| c.slot), Some(100));
        assert!(c.held_by_quorum(&five).is_none());
    }

    #[test]
    fn a_snapshot_in_pieces_is_assembled_and_checked() {
        let whole = checkpoint(7, 5);
        let mut c = Checkpoints::default();
        let (a, b) = whole.snapshot.split_at(3);
        assert_eq!(c.receive_piece(7, whole.digest, 0, 8, a), None);
        assert_eq!(c.receive_piece(7, whole.digest, 5, 8, b), None, "a gap");
        let mut c = Checkpoints::default();
        assert_eq!(c.receive_piece(7, whole.digest, 0, 8, a), None);
        assert_eq!(
            c.receive_piece(7, whole.digest, 3, 8, b).as_deref(),
            Some(&whole.snapshot[..])
        );
        let wrong = checkpoint(7, 6).digest;
        let mut c = Checkpoints::default();
        assert_eq!(c.receive_piece(7, wrong, 0, 8, &whole.snapshot), None);
    }
}

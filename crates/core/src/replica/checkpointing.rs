//! Checkpoints, truncation and state transfer at a replica: when to take a
//! checkpoint, comparing digests with peers, truncating once a quorum holds
//! one, the compaction's live records, installing a peer's snapshot, and
//! announcing our own.

use super::*;

impl<S: StateMachine> Replica<S> {
    /// Takes a checkpoint every `checkpoint_interval` slots, but never more
    /// often than the state's size justifies: the commands executed since
    /// the last one must add up to [`CHECKPOINT_LOG_RATIO`] times its
    /// snapshot's size. The slots where checkpoints fall are a function of
    /// the log alone, so every replica takes them at the same slots.
    pub(super) fn maybe_checkpoint(&mut self, slot: Slot) {
        let last = self
            .checkpoint
            .as_ref()
            .map_or((0, 0), |c| (c.slot, c.snapshot.len() as u64));
        if !slot.is_multiple_of(self.config.checkpoint_interval)
            || slot <= last.0
            || self.executed_bytes < last.1 * CHECKPOINT_LOG_RATIO
        {
            return;
        }
        let snapshot = Bytes::from(self.executor.snapshot());
        let digest = crate::executor::digest(&snapshot);
        self.executed_bytes = 0;
        // Not persisted now: the log still holds every entry it covers. It
        // reaches the disk with the compaction that truncates them.
        self.checkpoint = Some(OwnCheckpoint {
            slot,
            digest,
            snapshot,
        });
        self.remember_digest(slot, digest);
        for peer in self.peers() {
            self.send(peer, Message::Checkpoint { slot, digest });
        }
        self.out.events.push(Event::Checkpoint { slot, digest });
        self.maybe_truncate();
    }

    pub(super) fn remember_digest(&mut self, slot: Slot, digest: [u8; 32]) {
        self.recent_digests.insert(slot, digest);
        while self.recent_digests.len() > 16 {
            self.recent_digests.pop_first();
        }
    }

    pub(super) fn on_checkpoint(&mut self, from: NodeId, slot: Slot, digest: [u8; 32]) {
        if let Some(ours) = self.recent_digests.get(&slot)
            && *ours != digest
        {
            let ours = *ours;
            self.out.events.push(Event::Divergence {
                slot,
                peer: from,
                ours,
                theirs: digest,
            });
        }
        let known = self.peer_checkpoints.entry(from).or_default();
        *known = (*known).max(slot);
        self.maybe_truncate();
    }

    /// Truncates the log through our latest checkpoint once a quorum
    /// (ourselves included) holds a checkpoint at least that far.
    pub(super) fn maybe_truncate(&mut self) {
        let Some(c) = &self.checkpoint else { return };
        let slot = c.slot;
        if slot <= self.acceptor.truncated() && self.learner.first_retained() > slot {
            return;
        }
        let holders = 1 + self
            .peer_checkpoints
            .values()
            .filter(|s| **s >= slot)
            .count();
        if holders < self.config.quorum() {
            return;
        }
        self.acceptor.truncate_below(slot + 1);
        self.learner.truncate_below(slot + 1);
        self.compaction = Some(c.clone());
        self.out.events.push(Event::Truncated { slot });
    }

    /// Everything the durable log must hold after a compaction based on
    /// checkpoint `base`: the checkpoint, the promise, the non-voting mark,
    /// and every accepted entry above the truncation.
    pub(super) fn live_ops(&self, base: &OwnCheckpoint) -> Vec<PersistOp> {
        let mut live = vec![
            PersistOp::Checkpoint {
                slot: base.slot,
                snapshot: base.snapshot.clone(),
            },
            PersistOp::Promise(self.acceptor.promised()),
        ];
        if self.non_voting {
            live.push(PersistOp::NonVoting);
        }
        live.extend(self.acceptor.live_ops());
        if self.config.has_bug(Bug::CompactionDropsRecord)
            && let Some(i) = live
                .iter()
                .rposition(|op| matches!(op, PersistOp::Accept { .. }))
        {
            live.remove(i);
        }
        live
    }

    pub(super) fn on_snapshot(
        &mut self,
        slot: Slot,
        digest: [u8; 32],
        offset: u64,
        total: u64,
        data: Bytes,
    ) {
        if slot <= self.executor.executed() || self.is_leader() {
            return;
        }
        if offset == 0 {
            self.incoming = Some((
                slot,
                digest,
                total,
                Vec::with_capacity(total.min(1 << 30) as usize),
            ));
        }
        let Some((s, d, t, buf)) = &mut self.incoming else {
            return;
        };
        if (*s, *d, *t) != (slot, digest, total) || buf.len() as u64 != offset {
            return; // a piece of another transfer, or out of order: wait for a resend
        }
        buf.extend_from_slice(&data);
        if (buf.len() as u64) < total {
            return;
        }
        let Some((_, _, _, snapshot)) = self.incoming.take() else {
            return;
        };
        if crate::executor::digest(&snapshot) != digest || self.executor.restore(&snapshot).is_err()
        {
            return; // corrupt in transit: the next catch-up asks again
        }
        let snapshot = Bytes::from(snapshot);
        self.learner.install(slot);
        self.acceptor.truncate_below(slot + 1);
        self.out.persist.push(PersistOp::Checkpoint {
            slot,
            snapshot: snapshot.clone(),
        });
        let installed = OwnCheckpoint {
            slot,
            digest,
            snapshot,
        };
        // A compaction asked for earlier in this turn now rests on the newer
        // checkpoint: the acceptor has just dropped everything below it.
        if self.compaction.is_some() {
            self.compaction = Some(installed.clone());
        }
        self.checkpoint = Some(installed);
        self.remember_digest(slot, digest);
        self.executed_bytes = 0;
        self.out.events.push(Event::SnapshotInstalled { slot });
        self.learner.catch_up_progressed();
        self.execute_chosen();
    }

    /// Repeats our latest CHECKPOINT (announcements get lost, and peers
    /// truncate only once a quorum holds a checkpoint): at the retransmit
    /// pace until we could truncate through it ourselves, then 8 times
    /// slower, for peers that are still waiting.
    pub(super) fn announce_checkpoint(&mut self) {
        let Some(c) = &self.checkpoint else { return };
        let pace = if c.slot <= self.acceptor.truncated() {
            8
        } else {
            1
        } * self.config.retransmit_interval;
        if self.now < self.last_announce + pace {
            return;
        }
        let (slot, digest) = (c.slot, c.digest);
        self.last_announce = self.now;
        for peer in self.peers() {
            self.send(peer, Message::Checkpoint { slot, digest });
        }
    }
}

//! Checkpoints, truncation and state transfer at a replica, wired to the
//! bookkeeping of `crate::checkpoints`: taking a checkpoint (a capture
//! handed to the host) and receiving it built, comparing digests with peers,
//! truncating once a quorum holds one, the compaction's live records,
//! installing a peer's snapshot, and announcing our own.

use super::*;

impl<S: StateMachine> Replica<S> {
    /// After executing `slot`: freezes the state for a checkpoint if one is
    /// due (see `Checkpoints::due`); the host builds it.
    pub(super) fn maybe_checkpoint(&mut self, slot: Slot) {
        let executor = &self.executor;
        let spacing = crate::checkpoints::Spacing {
            interval: self.config.checkpoint_interval,
            log_ratio: self.config.checkpoint_log_ratio,
            max_log_bytes: self.config.checkpoint_max_log_bytes,
        };
        if self.checkpoints.due(slot, spacing, || executor.size_hint()) {
            let job = CheckpointJob::new(self.executor.capture());
            self.out.checkpoints.push(job);
        }
    }

    /// After executing the reconfiguration in `slot`: a checkpoint there,
    /// built now and written with this turn. The membership lives in the
    /// executed state, and a node restarted from an older checkpoint knows
    /// only the voters of then; once the operator has stopped the nodes
    /// removed since, no quorum of those may be left to tell it what was
    /// chosen after (docs/membership.md, "A restart across
    /// reconfigurations"). Written with the turn, it is durable before any
    /// promise or acceptance this node sends in the new epoch. Rare enough
    /// to serialise the state on the replica's path.
    pub(super) fn checkpoint_reconfiguration(&mut self, slot: Slot) {
        if self.config.has_bug(Bug::ReconfigurationNotDurable) {
            return;
        }
        let checkpoint = CheckpointJob::new(self.executor.capture()).build();
        let digest = checkpoint.digest;
        self.out.persist.push(PersistOp::Checkpoint {
            slot,
            snapshot: checkpoint.snapshot.clone(),
        });
        self.checkpoints
            .installed(checkpoint, self.executor.size_hint());
        for peer in self.peers() {
            self.send(peer, Message::Checkpoint { slot, digest });
        }
        self.out.events.push(Event::Checkpoint { slot, digest });
        self.maybe_truncate();
    }

    /// The host built a checkpoint of ours. It is not persisted now: the
    /// log still holds every entry it covers; it reaches the disk with the
    /// compaction that truncates them.
    pub fn checkpoint_built(&mut self, now: Time, checkpoint: Checkpoint) {
        self.now = now;
        let (slot, digest) = (checkpoint.slot, checkpoint.digest);
        if !self.checkpoints.built(checkpoint) {
            return; // a snapshot installed meanwhile is newer
        }
        for peer in self.peers() {
            self.send(peer, Message::Checkpoint { slot, digest });
        }
        self.out.events.push(Event::Checkpoint { slot, digest });
        self.maybe_truncate();
    }

    pub(super) fn on_checkpoint(&mut self, from: NodeId, slot: Slot, digest: Digest) {
        if let Some(ours) = self.checkpoints.peer_announced(from, slot, digest) {
            self.out.events.push(Event::Divergence {
                slot,
                peer: from,
                ours,
                theirs: digest,
            });
        }
        self.maybe_truncate();
    }

    /// Truncates the log through our latest checkpoint once a quorum
    /// (ourselves included) holds a checkpoint at least that far.
    pub(super) fn maybe_truncate(&mut self) {
        let voters = self.voters();
        let Some(c) = self.checkpoints.held_by_quorum(&voters) else {
            return;
        };
        let slot = c.slot;
        if slot <= self.acceptor.truncated() && self.learner.first_retained() > slot {
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
    pub(super) fn live_ops(&self, base: &Checkpoint) -> Vec<PersistOp> {
        let mut live = vec![
            PersistOp::Checkpoint {
                slot: base.slot,
                snapshot: base.snapshot.clone(),
            },
            PersistOp::Promise(self.acceptor.promised()),
        ];
        match self.votes_above {
            0 => {}
            Slot::MAX => live.push(PersistOp::NonVoting),
            slot => live.push(PersistOp::VotesAbove(slot)),
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
        digest: Digest,
        offset: u64,
        total: u64,
        data: Bytes,
    ) {
        if slot <= self.executor.executed() || self.is_leader() {
            return;
        }
        let Some(snapshot) = self
            .checkpoints
            .receive_piece(slot, digest, offset, total, &data)
        else {
            return;
        };
        if self.executor.restore(&snapshot).is_err() {
            return; // not a state we can run: the next catch-up asks again
        }
        let snapshot = Bytes::from(snapshot);
        self.learner.install(slot);
        self.acceptor.truncate_below(slot + 1);
        self.out.persist.push(PersistOp::Checkpoint {
            slot,
            snapshot: snapshot.clone(),
        });
        let installed = Checkpoint {
            slot,
            digest,
            snapshot,
        };
        // A compaction asked for earlier in this turn now rests on the newer
        // checkpoint: the acceptor has just dropped everything below it.
        if self.compaction.is_some() {
            self.compaction = Some(installed.clone());
        }
        self.checkpoints
            .installed(installed, self.executor.size_hint());
        self.out.events.push(Event::SnapshotInstalled { slot });
        self.learner.catch_up_progressed();
        self.execute_chosen();
    }

    /// Repeats our latest CHECKPOINT now and then (see
    /// `Checkpoints::announce_due`).
    pub(super) fn announce_checkpoint(&mut self) {
        let due = self.checkpoints.announce_due(
            self.now,
            self.acceptor.truncated(),
            self.config.retransmit_interval,
        );
        if let Some((slot, digest)) = due {
            for peer in self.peers() {
                self.send(peer, Message::Checkpoint { slot, digest });
            }
        }
    }
}

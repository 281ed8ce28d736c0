//! Learning chosen values a replica missed (catch-up) and executing chosen
//! slots in order.

use super::*;

impl<S: StateMachine> Replica<S> {
    pub(super) fn on_catch_up(&mut self, from: NodeId, first: Slot, to: Slot) {
        if first < self.learner.first_retained()
            && let Some(c) = self.checkpoints.latest()
            && c.slot >= first
        {
            // The peer is behind our oldest retained entry: state transfer.
            let (slot, digest, total) = (c.slot, c.digest, c.snapshot.len() as u64);
            let pieces: Vec<(u64, Bytes)> = (0..c.snapshot.len())
                .step_by(SNAPSHOT_CHUNK)
                .map(|o| {
                    (
                        o as u64,
                        c.snapshot
                            .slice(o..(o + SNAPSHOT_CHUNK).min(c.snapshot.len())),
                    )
                })
                .collect();
            for (offset, data) in pieces {
                let msg = Message::Snapshot {
                    slot,
                    digest,
                    offset,
                    total,
                    data,
                };
                self.send(from, msg);
            }
        }
        let entries = self.learner.entries(first, to, self.config.catchup_batch);
        let commit = self.learner.commit();
        self.send(from, Message::CatchUpReply { entries, commit });
    }

    /// A message from a node that is not a member as far as this node
    /// knows. Never a vote, a ballot or a request: a removed node takes no
    /// part. But what it says of chosen state may be all that tells this
    /// node that its own membership is behind (a node that joined, or
    /// restarted from a checkpoint older than the latest reconfigurations,
    /// knows only the members of then, and may not know the leader): a
    /// commit point or checkpoint beyond what this node executed makes it
    /// ask that peer for the missing slots, and the peer's catch-up replies
    /// and snapshots are chosen values like anyone's. Once it has executed
    /// the reconfigurations it missed, it hears the members as members.
    pub(super) fn on_stranger_message(&mut self, from: NodeId, msg: Message) {
        let known = match &msg {
            Message::Checkpoint { slot, .. } => Some(*slot),
            Message::Heartbeat { commit, .. }
            | Message::Commit { commit, .. }
            | Message::Accept { commit, .. }
            | Message::NewView { commit, .. } => Some(*commit),
            Message::Prepare { from, .. } => Some(from.saturating_sub(1)),
            _ => None,
        };
        if let Some(slot) = known
            && slot > self.executor.executed()
        {
            self.learner.observe_commit(slot);
            self.catch_up_hint = Some((from, slot));
        }
        match msg {
            Message::CatchUpReply { entries, commit } => self.on_catch_up_reply(entries, commit),
            Message::Snapshot {
                slot,
                digest,
                offset,
                total,
                data,
            } => self.on_snapshot(slot, digest, offset, total, data),
            _ => {}
        }
    }

    pub(super) fn on_catch_up_reply(&mut self, entries: Vec<(Slot, Value)>, commit: Slot) {
        // A leader learns only from its own quorum: a slot it proposed in its
        // ballot must be decided by the acknowledgements of that ballot.
        if self.is_leader() {
            return;
        }
        self.learner.observe_commit(commit);
        let before = self.learner.commit();
        for (slot, value) in entries {
            self.learner.learn(slot, value);
        }
        if self.learner.commit() > before {
            self.learner.catch_up_progressed();
        }
        self.execute_chosen();
    }

    pub(super) fn execute_chosen(&mut self) {
        let before = self.executor.executed();
        loop {
            let slot = self.executor.executed() + 1;
            let Some(value) = self.learner.value(slot) else {
                break;
            };
            let value = value.clone();
            let (commands, log_bytes) = (value.command_bytes(), value.log_bytes());
            let epoch = self.executor.membership().epoch;
            let executions = self.executor.execute(slot, &value);
            let reconfigured = self.executor.membership().epoch != epoch;
            for execution in &executions {
                self.reply_if_waiting(execution);
            }
            if self.record_executions {
                self.out.events.push(Event::Executed {
                    slot,
                    value,
                    executions,
                });
            }
            self.checkpoints.executed(commands, log_bytes);
            self.maybe_checkpoint(slot);
            if reconfigured {
                self.checkpoint_reconfiguration(slot);
                self.on_reconfigured(slot);
            }
        }
        if self.executor.executed() > before {
            self.election.progressed(self.now, !self.waiting.is_empty());
            self.serve_reads();
        }
    }
}

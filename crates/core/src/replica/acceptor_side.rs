//! The acceptor's side of a replica: answering PREPARE (when the election
//! allows it), ACCEPT and NEW-VIEW, following the leader, and learning what
//! its COMMITs and HEARTBEATs say is chosen. The acceptor's own rules (which
//! ballot to promise, what to accept) are in `crate::acceptor`.

use super::*;

impl<S: StateMachine> Replica<S> {
    pub(super) fn on_prepare(&mut self, from: NodeId, ballot: Ballot, from_slot: Slot) {
        self.note(ballot);
        if !self.votes_on(from_slot) {
            // A node that lost its disk cannot vouch for slots it may have
            // voted on before.
            return;
        }
        if from != self.config.id {
            self.election.saw_prepare(self.now);
        }
        let promised = self.acceptor.promised();
        if ballot == promised && ballot.node == from && from != self.config.id {
            // A candidate resending PREPARE: repeat the promise (it may
            // have been lost). It depends on the same persisted promise.
            self.send_promise(from, ballot, from_slot);
            return;
        }
        if ballot <= promised {
            if from == self.config.id {
                self.abandon_candidacy("own acceptor promised a higher ballot");
            } else {
                self.send(from, Message::Nack { ballot, promised });
            }
            return;
        }
        let from_own_leader = self.view.leader() == Some(from) && !self.is_leader();
        let successor = self.election.is_handover_to(from, self.now);
        if from == self.config.id || from_own_leader || successor || self.election.suspecting() {
            self.promise(from, ballot, from_slot);
        } else {
            self.election.defer(DeferredPrepare {
                ballot,
                from,
                from_slot,
                at: self.now,
            });
        }
    }

    pub(super) fn promise(&mut self, to: NodeId, ballot: Ballot, from_slot: Slot) {
        match self.acceptor.prepare(ballot, from_slot) {
            Ok((op, accepted)) => {
                self.out.persist.push(op);
                let commit = self.learner.commit();
                let truncated = self.acceptor.truncated();
                self.send_vote(
                    to,
                    Message::Promise {
                        ballot,
                        from: from_slot,
                        accepted,
                        commit,
                        truncated,
                    },
                );
                self.out.events.push(Event::Promised { ballot });
                if self.own_ballot().is_some_and(|b| b < ballot) {
                    self.step_down("promised a higher ballot");
                }
            }
            Err(rejected) => {
                if to != self.config.id {
                    let promised = rejected.promised;
                    self.send(to, Message::Nack { ballot, promised });
                }
            }
        }
    }

    pub(super) fn send_promise(&mut self, to: NodeId, ballot: Ballot, from_slot: Slot) {
        let accepted = self.acceptor.log_from(from_slot);
        let commit = self.learner.commit();
        let truncated = self.acceptor.truncated();
        self.send_vote(
            to,
            Message::Promise {
                ballot,
                from: from_slot,
                accepted,
                commit,
                truncated,
            },
        );
    }

    pub(super) fn on_accept(
        &mut self,
        from: NodeId,
        ballot: Ballot,
        slot: Slot,
        value: Value,
        commit: Slot,
    ) {
        self.note(ballot);
        if ballot.node != from {
            return; // only a ballot's owner proposes in it
        }
        if slot <= self.acceptor.truncated() || !self.votes_on(slot) {
            // Decided, executed and checkpointed here, or a node that never
            // votes: nothing to accept; just follow the commit point.
            self.on_commit(from, ballot, commit, None);
            return;
        }
        match self.acceptor.accept(ballot, slot, value) {
            Ok(op) => {
                self.out.persist.push(op);
                self.vote_accepted(from, ballot, slot, slot);
                self.follow(ballot);
                self.on_leader_commit(ballot, commit);
            }
            Err(rejected) => {
                let promised = rejected.promised;
                self.send(from, Message::Nack { ballot, promised });
            }
        }
    }

    pub(super) fn on_new_view(
        &mut self,
        from: NodeId,
        ballot: Ballot,
        start: Slot,
        entries: Vec<Value>,
        commit: Slot,
    ) {
        self.note(ballot);
        if ballot.node != from {
            return;
        }
        let promised = self.acceptor.promised();
        if ballot < promised {
            self.send(from, Message::Nack { ballot, promised });
            return;
        }
        self.follow(ballot);
        // Slots this node truncated are decided; it does not vote on them,
        // nor on slots it may have voted on before losing its disk.
        let floor = self.acceptor.truncated().max(self.votes_above);
        let skip = (floor.saturating_add(1).saturating_sub(start) as usize).min(entries.len());
        for (i, value) in entries.iter().enumerate().skip(skip) {
            let slot = start + i as u64;
            // Cannot be refused: ballot >= promised was checked above, and
            // each acceptance only raises the promise to this same ballot.
            if let Ok(op) = self.acceptor.accept(ballot, slot, value.clone()) {
                self.out.persist.push(op);
            }
        }
        if entries.len() > skip {
            let last = start + entries.len() as u64 - 1;
            self.vote_accepted(from, ballot, start + skip as u64, last);
        }
        self.out.events.push(Event::NewView {
            ballot,
            start,
            entries,
        });
        self.on_leader_commit(ballot, commit);
    }

    /// COMMIT, or HEARTBEAT (with its `round`), from the leader of `ballot`.
    pub(super) fn on_commit(
        &mut self,
        from: NodeId,
        ballot: Ballot,
        commit: Slot,
        heartbeat: Option<u64>,
    ) {
        self.note(ballot);
        if ballot.node != from || from == self.config.id {
            return;
        }
        let promised = self.acceptor.promised();
        if ballot < promised {
            // A deposed leader: tell it, so it steps down or rises.
            if heartbeat.is_some() {
                self.send(from, Message::Nack { ballot, promised });
            }
            return;
        }
        self.follow(ballot);
        self.on_leader_commit(ballot, commit);
        if let Some(round) = heartbeat {
            let commit = self.learner.commit();
            let truncated = self.acceptor.truncated().max(self.votes_above);
            // An acknowledged round confirms reads: it says this node has
            // promised no higher ballot. A node that lost its disk cannot
            // say that (it forgot what it promised before), so its
            // acknowledgement confirms no round: counted, it could make a
            // quorum with a deposed leader that misses a newer leader's
            // writes (docs/protocol.md, "Reads").
            let round = if self.votes_above == 0 { round } else { 0 };
            let ack = Message::HeartbeatAck {
                ballot,
                commit,
                truncated,
                round,
            };
            self.send(from, ack);
        }
    }

    /// The leader of `ballot` says every slot up to `commit` is chosen. A
    /// slot this node accepted in that same ballot holds the chosen value
    /// (a leader proposes one value per slot per ballot); any other slot up
    /// to `commit` is fetched by catch-up.
    pub(super) fn on_leader_commit(&mut self, ballot: Ballot, commit: Slot) {
        self.learner.observe_commit(commit);
        self.election.leader_committed(self.now, commit);
        let mut from = self.learner.commit() + 1;
        if self.commit_scan.ballot == ballot {
            from = from.max(self.commit_scan.through + 1);
        }
        if commit < from {
            return;
        }
        let learned: Vec<(Slot, Value)> = self
            .acceptor
            .range(from, commit)
            .filter(|(slot, (b, _))| *b == ballot && !self.learner.is_chosen(*slot))
            .map(|(slot, (_, value))| (slot, value.clone()))
            .collect();
        self.commit_scan = CommitScan {
            ballot,
            through: commit,
        };
        for (slot, value) in learned {
            self.learner.learn(slot, value);
        }
        self.execute_chosen();
    }
}

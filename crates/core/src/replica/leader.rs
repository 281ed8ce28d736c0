//! Leading: heartbeats and check-quorum, proposing batches, counting
//! ACCEPTEDs (`crate::proposer::Leadership`), resending, and stepping down.

use super::*;

impl<S: StateMachine> Replica<S> {
    pub(super) fn tick_leader(&mut self) {
        let Phase::Leader(l) = &mut self.phase else {
            return;
        };
        let cfg = &self.config;
        let now = self.now;
        if now >= l.since + cfg.election_timeout
            && !l.reaches_quorum(cfg.id, now, cfg.election_timeout)
        {
            let ballot = l.ballot;
            self.step_down("lost contact with a quorum");
            self.election.suspect(now);
            // Whoever still hears us would otherwise follow a leader that
            // cannot commit until its own timer expired: an election
            // timeout lost in the quorum-loss scenario.
            if !self.config.has_bug(Bug::SilentStepDown) && !self.config.old_rules() {
                for peer in self.peers() {
                    self.send(peer, Message::StepDown { ballot });
                }
            }
            return;
        }
        if l.quorum_truncated_through(self.learner.commit() + 1, cfg.id, now, cfg.election_timeout)
        {
            // Too many acceptors hold the next slot we need as chosen and
            // no longer vote on it: we cannot decide it, only learn it.
            self.step_down("behind a quorum's checkpoint; catching up first");
            self.election.candidacy_failed(now);
            return;
        }
        if l.last_heartbeat
            .is_none_or(|t| now >= t + cfg.heartbeat_interval)
        {
            self.send_heartbeats();
        }
        self.resend_proposals();
        self.tick_transfer();
        if !self.is_leader() {
            return;
        }
        // A NACK made us doubt our ballot: rise above it once tp allows.
        if self.election.suspecting() && self.election.should_stand(now, &self.config, 0) {
            self.stand();
        }
    }

    pub(super) fn send_heartbeats(&mut self) {
        let Phase::Leader(l) = &mut self.phase else {
            return;
        };
        l.last_heartbeat = Some(self.now);
        l.round += 1;
        let (ballot, round) = (l.ballot, l.round);
        let commit = self.learner.commit();
        l.commit_sent = commit;
        for peer in self.peers() {
            let heartbeat = Message::Heartbeat {
                ballot,
                commit,
                round,
            };
            self.send(peer, heartbeat);
        }
        // A cluster of one confirms its reads alone.
        self.confirm_reads();
    }

    pub(super) fn resend_proposals(&mut self) {
        let Phase::Leader(l) = &mut self.phase else {
            return;
        };
        let ballot = l.ballot;
        let due = l.due_for_resend(self.now, self.config.retransmit_interval);
        let commit = self.learner.commit();
        let nodes = l.voters.ids().to_vec();
        for (slot, value, acks) in due {
            for (index, &peer) in nodes.iter().enumerate() {
                if !acks.contains(index) {
                    let msg = Message::Accept {
                        ballot,
                        slot,
                        value: value.clone(),
                        commit,
                    };
                    if peer == self.config.id {
                        self.on_accept(peer, ballot, slot, value.clone(), commit);
                    } else {
                        self.send(peer, msg);
                    }
                }
            }
        }
    }

    pub(super) fn propose_pending(&mut self) {
        self.propose_reconfiguration();
        loop {
            let Phase::Leader(l) = &mut self.phase else {
                return;
            };
            let Some((slot, value)) = l.next_batch(&self.config, self.now) else {
                return;
            };
            let ballot = l.ballot;
            let commit = self.learner.commit();
            l.commit_sent = commit;
            self.propose_to_all(ballot, slot, value, commit);
        }
    }

    pub(super) fn on_accepted(&mut self, from: NodeId, ballot: Ballot, first: Slot, last: Slot) {
        let Phase::Leader(l) = &mut self.phase else {
            return;
        };
        if l.ballot != ballot {
            return;
        }
        let Some(index) = l.voters.index_of(from) else {
            return; // a learner's acknowledgement counts for nothing
        };
        l.last_contact[index] = self.now;
        let chosen = l.accepted(&self.config, index, first, last);
        for (slot, value) in chosen {
            self.learner.learn(slot, value);
        }
        self.execute_chosen();
    }

    pub(super) fn on_heartbeat_ack(
        &mut self,
        from: NodeId,
        ballot: Ballot,
        commit: Slot,
        truncated: Slot,
        round: u64,
    ) {
        self.learner.observe_commit(commit);
        let Phase::Leader(l) = &mut self.phase else {
            return;
        };
        if l.ballot != ballot {
            return;
        }
        let known = l.member_commit.entry(from).or_default();
        *known = (*known).max(commit);
        if let Some(index) = l.voters.index_of(from) {
            l.last_contact[index] = self.now;
            l.peer_truncated[index] = l.peer_truncated[index].max(truncated);
            l.acked_round[index] = l.acked_round[index].max(round);
            self.confirm_reads();
        }
    }

    pub(super) fn send_commit_if_advanced(&mut self) {
        let Phase::Leader(l) = &mut self.phase else {
            return;
        };
        let commit = self.learner.commit();
        if commit <= l.commit_sent {
            return;
        }
        l.commit_sent = commit;
        let ballot = l.ballot;
        for peer in self.peers() {
            self.send(peer, Message::Commit { ballot, commit });
        }
    }

    /// Leaves leadership or candidacy; queued requests wait for the next leader.
    pub(super) fn step_down(&mut self, why: &'static str) {
        let ballot = match &mut self.phase {
            Phase::Follower => return,
            Phase::Candidate(c) => c.ballot,
            Phase::Leader(l) => {
                self.held.extend(l.drain_pending());
                let reads = std::mem::take(&mut l.reads);
                let ballot = l.ballot;
                self.abandon_reads(reads);
                ballot
            }
        };
        self.phase = Phase::Follower;
        self.out.events.push(Event::SteppedDown { ballot, why });
    }

    /// The leader we follow stepped down for want of a quorum: suspect it
    /// now, so that the candidate order starts at once.
    pub(super) fn on_step_down(&mut self, from: NodeId, ballot: Ballot) {
        if ballot.node == from && ballot == self.view && !self.is_leader() {
            self.election.suspect(self.now);
        }
    }

    /// Phase 2a: ACCEPT to every peer, and this node's own acceptance,
    /// counted inside (no message to itself).
    pub(super) fn propose_to_all(
        &mut self,
        ballot: Ballot,
        slot: Slot,
        value: Value,
        commit: Slot,
    ) {
        for peer in self.peers() {
            let msg = Message::Accept {
                ballot,
                slot,
                value: value.clone(),
                commit,
            };
            self.send(peer, msg);
        }
        self.on_accept(self.config.id, ballot, slot, value, commit);
    }
}

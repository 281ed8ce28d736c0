//! Standing for leadership: when a follower stands, phase 1 (PREPARE,
//! PROMISE, NACK), and becoming leader with a NEW-VIEW built from the
//! promises (`crate::proposer::Candidacy`).

use super::*;

impl<S: StateMachine> Replica<S> {
    pub(super) fn tick_follower(&mut self) {
        if self.election.tick(self.now, &self.config) {
            self.out.events.push(Event::Suspected {
                leader: self.view.leader(),
            });
            if let Some(d) = self.election.take_deferred(self.now, &self.config)
                && d.ballot > self.acceptor.promised()
            {
                self.promise(d.from, d.ballot, d.from_slot);
            }
        }
        let voters = self.membership().voters();
        let me = self.config.id;
        // Only a voter of the current membership stands (a learner, or a
        // node that lost its disk, never does).
        let Some(rank) = Election::rank(&voters, me, self.view.leader()) else {
            return;
        };
        let from = self.learner.commit() + 1;
        if self.votes_on(from) && self.election.should_stand(self.now, &self.config, rank) {
            self.stand();
        }
    }

    /// Sends PREPARE with a ballot above every one seen.
    pub(super) fn stand(&mut self) {
        self.max_round += 1;
        let ballot = Ballot::new(self.max_round, self.config.id);
        let from = self.learner.commit() + 1;
        self.election.stood(self.now);
        if let Phase::Leader(l) = &mut self.phase {
            self.held.extend(l.drain_pending());
            let reads = std::mem::take(&mut l.reads);
            self.abandon_reads(reads);
        }
        let voters = self.voters();
        self.phase = Phase::Candidate(Candidacy::new(ballot, voters, from, self.now));
        self.out.events.push(Event::Candidacy { ballot });
        for peer in self.peers() {
            self.send(peer, Message::Prepare { ballot, from });
        }
        self.maybe_self_prepare();
    }

    pub(super) fn resend_prepare(&mut self) {
        let Phase::Candidate(c) = &mut self.phase else {
            return;
        };
        c.last_sent = self.now;
        let (ballot, from) = (c.ballot, c.from);
        let missing: Vec<NodeId> = c
            .voters
            .ids()
            .iter()
            .copied()
            .filter(|n| *n != self.config.id && !c.promises.contains_key(n))
            .collect();
        for peer in missing {
            self.send(peer, Message::Prepare { ballot, from });
        }
    }

    /// Asks this node's own acceptor for its promise once f others promised.
    pub(super) fn maybe_self_prepare(&mut self) {
        let Phase::Candidate(c) = &mut self.phase else {
            return;
        };
        if c.self_prepared || c.others(self.config.id) < c.voters.max_failures() {
            return;
        }
        c.self_prepared = true;
        let (ballot, from) = (c.ballot, c.from);
        self.on_prepare(self.config.id, ballot, from);
    }

    pub(super) fn on_promise(
        &mut self,
        from: NodeId,
        ballot: Ballot,
        answers: Slot,
        accepted: Vec<AcceptedEntry>,
        commit: Slot,
        truncated: Slot,
    ) {
        self.note(ballot);
        self.learner.observe_commit(commit);
        let Phase::Candidate(c) = &mut self.phase else {
            return;
        };
        if c.ballot != ballot {
            return;
        }
        if answers > c.from && !self.config.has_bug(Bug::StalePromiseCounted) {
            // A promise to an earlier candidacy at this ballot, by this node
            // before it crashed: it reports nothing below `answers`, which
            // this NEW-VIEW must cover. The PREPARE is resent to `from`
            // until it answers this one.
            return;
        }
        if truncated >= c.from && !self.config.has_bug(Bug::IgnoreTruncation) {
            // The promiser forgot slots we do not know: we cannot build a
            // safe NEW-VIEW over them. Catch up (by snapshot) first, from
            // this promiser: it holds the checkpoint and it answers us,
            // while the leader of our view, whom catch-up asks otherwise,
            // may be out of reach (it lost its quorum: constrained
            // election, docs/liveness.md).
            self.catch_up_hint = Some((from, truncated));
            if self.config.old_rules() {
                self.abandon_candidacy("behind a peer's checkpoint; catching up first");
                return;
            }
            // Not a lost duel, and its turn has come: stand again as soon
            // as the throttle allows (the snapshot comes back sooner),
            // without a longer backoff or another wait for its rank.
            let ballot = c.ballot;
            self.phase = Phase::Follower;
            self.election.stepped_aside_to_catch_up(self.now);
            // Ask the promiser at the next tick, not when the last request
            // (to a source that may be out of reach) would be retried.
            self.learner.catch_up_progressed();
            let why = "behind a peer's checkpoint; catching up first";
            self.out.events.push(Event::SteppedDown { ballot, why });
            return;
        }
        c.promises.insert(from, accepted);
        if c.has_quorum(self.config.id) {
            self.become_leader();
        } else {
            self.maybe_self_prepare();
        }
    }

    pub(super) fn on_nack(&mut self, ballot: Ballot, promised: Ballot) {
        self.note(promised);
        match &self.phase {
            Phase::Candidate(c) if c.ballot == ballot => {
                self.abandon_candidacy("a promise went to a higher ballot");
            }
            Phase::Leader(l) if l.ballot == ballot && promised > ballot => {
                // Some acceptor promised a higher ballot and now refuses us.
                // Rise above it (throttled like any PREPARE), so that node
                // can take part again; a candidate with real support would
                // have deposed us with a NEW-VIEW instead.
                self.election.suspect(self.now);
                if self.election.should_stand(self.now, &self.config, 0) {
                    self.stand();
                }
            }
            _ => {}
        }
    }

    pub(super) fn become_leader(&mut self) {
        let Phase::Candidate(c) = &self.phase else {
            return;
        };
        let ballot = c.ballot;
        let start = self.learner.commit() + 1;
        let learner = &self.learner;
        let mut entries = c.new_view(
            &self.config,
            start,
            |slot| learner.value(slot).cloned(),
            learner.highest_chosen(),
        );
        // Nothing after a stop-sign belongs to this epoch: an entry beyond
        // it was never chosen here (any later leader of the epoch learned
        // the stop-sign in its phase 1 and proposed nothing after it).
        let stop_sign = entries
            .iter()
            .position(|v| matches!(v, Value::Reconfigure(_)));
        if let Some(k) = stop_sign {
            entries.truncate(k + 1);
        }
        let voters = c.voters.clone();
        let mut leadership = Leadership::new(voters, ballot, start, &entries, self.now);
        leadership.stop_sign = stop_sign.map(|k| start + k as Slot);
        for request in self.held.drain(..) {
            leadership.enqueue(&self.config, request, self.now);
        }
        for request in self.take_forwarded() {
            leadership.enqueue(&self.config, request, self.now);
        }
        leadership.commit_sent = self.learner.commit();
        self.phase = Phase::Leader(Box::new(leadership));
        self.view = ballot;
        self.election.heard_from_leader(self.now, true);
        self.out.events.push(Event::Elected { ballot });
        let commit = self.learner.commit();
        for peer in self.peers() {
            let msg = Message::NewView {
                ballot,
                start,
                entries: entries.clone(),
                commit,
            };
            self.send(peer, msg);
        }
        // Our own acceptor accepts the NEW-VIEW like everyone else.
        self.on_new_view(self.config.id, ballot, start, entries, commit);
        self.send_heartbeats();
    }

    /// The candidacy ran out of time. If no peer answered at all, nobody
    /// competed with it: the peers are cut off, down, or still hear their
    /// leader and keep the PREPARE for when they suspect it. Standing again
    /// soon costs nothing then, so the failure does not lengthen the
    /// backoff, which exists to separate candidates that split the
    /// promises between them (a node cut off alone would otherwise come
    /// back with the longest backoff, the constrained-election scenario).
    pub(super) fn candidacy_timed_out(&mut self) {
        let Phase::Candidate(c) = &self.phase else {
            return;
        };
        let answered = c.promises.keys().any(|&n| n != self.config.id);
        if answered
            || self.config.has_bug(Bug::UnansweredCandidacyBacksOff)
            || self.config.old_rules()
        {
            self.abandon_candidacy("no quorum of promises in time");
            return;
        }
        let ballot = c.ballot;
        self.phase = Phase::Follower;
        self.election.candidacy_unanswered(self.now);
        let why = "no peer answered in time";
        self.out.events.push(Event::SteppedDown { ballot, why });
    }

    pub(super) fn abandon_candidacy(&mut self, why: &'static str) {
        if let Phase::Candidate(c) = &self.phase {
            let ballot = c.ballot;
            self.phase = Phase::Follower;
            if self.config.old_rules() {
                self.election.candidacy_failed(self.now);
            } else {
                self.election.candidacy_lost(self.now);
            }
            self.out.events.push(Event::SteppedDown { ballot, why });
        }
    }
}

//! Client requests at a replica: routing to the leader (or holding while
//! there is none), forwarded requests, and answering the clients waiting
//! here once their requests execute.

use super::*;

impl<S: StateMachine> Replica<S> {
    pub(super) fn route(&mut self, request: Request) {
        match &mut self.phase {
            Phase::Leader(l) => {
                l.enqueue(&self.config, request, self.now);
            }
            Phase::Candidate(_) => self.hold(request),
            Phase::Follower => match self.view.leader() {
                Some(leader) if leader != self.config.id && !self.election.suspecting() => {
                    self.forward(leader, request);
                }
                _ => self.hold(request),
            },
        }
    }

    /// Forwards a request of a client connected here to `leader`, and
    /// remembers it until it executes.
    ///
    /// Why remember: a leader that has just died still looks alive here for
    /// up to an election timeout, and what we forward to it meanwhile is
    /// lost. Without a copy, only the client's retry timer would recover it,
    /// long after the next leader is in place; with one, `follow` sends it
    /// on as soon as that leader appears (and `become_leader` proposes it).
    /// Sending it again is as safe as a client's retry, which it is: same
    /// client, same timestamp, so the executor's reply table applies it at
    /// most once and a leader queues it at most once per ballot.
    fn forward(&mut self, leader: NodeId, request: Request) {
        let newer_known = self
            .forwarded
            .get(&request.client)
            .is_some_and(|(r, _)| r.timestamp > request.timestamp);
        let room = self.forwarded.len() < self.config.max_pending
            || self.forwarded.contains_key(&request.client);
        if !newer_known && room && !self.config.old_rules() {
            self.forwarded
                .insert(request.client, (request.clone(), self.now));
        }
        self.send(leader, Message::Forward { request });
    }

    /// How long a forwarded request is kept for sending again: a new leader
    /// is normally in place within about an election timeout of the last
    /// contact with the old one (docs/liveness.md); this leaves room for
    /// one failed candidacy. Older ones are left to their client's retry (a
    /// client that gave up long ago should not see its request execute at
    /// some later leader change).
    fn forward_memory(&self) -> Time {
        2 * self.config.election_timeout + self.config.candidacy_timeout
    }

    /// The remembered forwards still worth sending (recent, not yet
    /// executed here, not superseded by a request in `held`), in client
    /// order; forgets the rest.
    fn forwards_to_resend(&mut self) -> Vec<Request> {
        let since = self.now.saturating_sub(self.forward_memory());
        let executor = &self.executor;
        self.forwarded.retain(|client, (request, at)| {
            *at >= since
                && executor
                    .last_reply(*client)
                    .is_none_or(|(last, _)| last < request.timestamp)
        });
        let held = &self.held;
        self.forwarded
            .values()
            .filter(|(r, _)| {
                !held
                    .iter()
                    .any(|h| h.client == r.client && h.timestamp >= r.timestamp)
            })
            .map(|(r, _)| r.clone())
            .collect()
    }

    /// This node became leader: what it forwarded to earlier leaders and
    /// what was not executed yet it now proposes itself (after `held`, so a
    /// client's newer request wins over an older one).
    pub(super) fn take_forwarded(&mut self) -> Vec<Request> {
        let requests = self.forwards_to_resend();
        self.forwarded.clear();
        requests
    }

    pub(super) fn hold(&mut self, request: Request) {
        if self.held.len() >= self.config.max_pending {
            self.held.pop_front();
        }
        self.held.push_back(request);
    }

    pub(super) fn on_forward(&mut self, request: Request) {
        if let Some((last, _)) = self.executor.last_reply(request.client)
            && request.timestamp <= last
        {
            return;
        }
        match &mut self.phase {
            Phase::Leader(l) => {
                l.enqueue(&self.config, request, self.now);
            }
            Phase::Candidate(_) => self.hold(request),
            // Not ours to order; the client will retry.
            Phase::Follower => {}
        }
    }

    /// Accepts `ballot`'s leader as ours if it is not older than what we
    /// follow, stepping down if we led or stood with a lower ballot.
    pub(super) fn follow(&mut self, ballot: Ballot) {
        if ballot < self.view {
            return;
        }
        if self.own_ballot().is_some_and(|own| own < ballot) {
            self.step_down("a higher ballot leads");
        }
        let new_leader = ballot > self.view;
        self.view = ballot;
        self.election.heard_from_leader(self.now, new_leader);
        let Some(leader) = ballot.leader().filter(|&l| l != self.config.id) else {
            return;
        };
        if new_leader {
            // What we forwarded to the leader before may have died with it.
            for request in self.forwards_to_resend() {
                self.send(leader, Message::Forward { request });
            }
        }
        for request in std::mem::take(&mut self.held) {
            self.forward(leader, request);
        }
    }

    pub(super) fn reply_if_waiting(&mut self, execution: &Execution) {
        let (client, timestamp) = match execution {
            Execution::Applied {
                client, timestamp, ..
            }
            | Execution::Duplicate { client, timestamp } => (*client, *timestamp),
            Execution::Stale { client, timestamp } => {
                self.forget_forwarded(*client, *timestamp);
                if self.waiting.get(client) == Some(timestamp) {
                    self.waiting.remove(client);
                }
                return;
            }
        };
        self.forget_forwarded(client, timestamp);
        if self.waiting.get(&client) != Some(&timestamp) {
            return;
        }
        self.waiting.remove(&client);
        if let Some((ts, result)) = self.executor.last_reply(client)
            && ts == timestamp
        {
            let reply = Reply {
                ballot: self.view,
                timestamp,
                client,
                result: result.clone(),
            };
            self.out.replies.push(reply);
        }
    }

    /// `client`'s request `timestamp` executed: a forwarded one up to it
    /// needs no resending.
    fn forget_forwarded(&mut self, client: ClientId, timestamp: u64) {
        if self
            .forwarded
            .get(&client)
            .is_some_and(|(r, _)| r.timestamp <= timestamp)
        {
            self.forwarded.remove(&client);
        }
    }
}

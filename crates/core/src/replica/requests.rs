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
                    self.send(leader, Message::Forward { request });
                }
                _ => self.hold(request),
            },
        }
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
        if (new_leader || !self.held.is_empty())
            && let Some(leader) = ballot.leader()
            && leader != self.config.id
        {
            for request in std::mem::take(&mut self.held) {
                self.send(leader, Message::Forward { request });
            }
        }
    }

    pub(super) fn reply_if_waiting(&mut self, execution: &Execution) {
        let (client, timestamp) = match execution {
            Execution::Applied {
                client, timestamp, ..
            }
            | Execution::Duplicate { client, timestamp } => (*client, *timestamp),
            Execution::Stale { client, timestamp } => {
                if self.waiting.get(client) == Some(timestamp) {
                    self.waiting.remove(client);
                }
                return;
            }
        };
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
}

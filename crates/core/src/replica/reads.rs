//! Linearizable reads without a log write (read index), and serializable
//! reads from the local state.
//!
//! A linearizable read at the leader takes the commit point it has when the
//! read arrives (or the end of its NEW-VIEW, if that is further: those slots
//! may hold values chosen under earlier leaders; and where followers count
//! acceptances, the last slot it proposed: a follower may have answered a
//! write in it before the leader knew it chosen) as the read's index, then
//! confirms that it still leads: a quorum must acknowledge a heartbeat sent
//! after the read arrived (reads arriving together share one round). A node
//! acknowledges a heartbeat only while it has promised no higher ballot, so
//! any newer leader was elected after the read arrived, and every write
//! completed before the read arrived is at or below the index. Once the
//! node has executed through the index it answers from its state
//! (`StateMachine::query`). A read at a follower asks the leader for the
//! index (READ-INDEX) and answers itself once it has executed that far.
//! A command the application does not answer as a query goes through the
//! log instead. Reads that lose their leader are dropped: their clients
//! retry, as after any lost request. So are reads that reach a leader
//! whose epoch ends at a stop-sign (a reconfiguration in its NEW-VIEW or
//! proposed by it): the slots after the stop-sign are the next epoch's,
//! and its voters may have chosen some of them already; the next epoch's
//! leader serves the retry.

use super::*;
use crate::proposer::ReadOrigin;

/// A linearizable read at this node.
pub(super) struct LocalRead {
    request: Request,
    since: Time,
    /// Known once the leader confirmed it; then it waits for execution.
    index: Option<Slot>,
}

impl<S: StateMachine> Replica<S> {
    /// A read-only request from a client connected here. A `serializable`
    /// read is answered at once from this node's state, however stale; any
    /// other is linearizable (see the module documentation).
    pub fn on_client_read(&mut self, now: Time, request: Request, serializable: bool) {
        self.now = now;
        if serializable {
            self.answer_read(request);
            return;
        }
        if self.reads.len() >= self.config.max_pending {
            return; // the client retries
        }
        if matches!(self.phase, Phase::Leader(_)) && self.config.has_bug(Bug::UnconfirmedRead) {
            self.answer_read(request);
            return;
        }
        let id = self.next_read;
        self.next_read += 1;
        let floor = self.read_floor();
        match &mut self.phase {
            Phase::Leader(l) if l.takes_reads() => l.add_read(ReadOrigin::Local(id), floor),
            // Its epoch ends at a stop-sign: dropped, the client retries
            // (and finds the next epoch's leader).
            Phase::Leader(_) => return,
            _ => match self.view.leader() {
                Some(leader) if leader != self.config.id && !self.election.suspecting() => {
                    self.send(leader, Message::ReadIndex { id });
                }
                // No leader to ask: dropped, the client retries.
                _ => return,
            },
        }
        let read = LocalRead {
            request,
            since: now,
            index: None,
        };
        self.reads.insert(id, read);
        self.confirm_reads();
    }

    /// The least index a read arriving at this leader now may take: its
    /// commit point, or, where followers count acceptances
    /// (`follower_quorum.rs`), the last slot it proposed. A follower may
    /// then learn a slot chosen, and answer its client, before this leader
    /// knows it chosen, but never a slot this leader has not proposed (it
    /// counts this leader's own acceptance).
    fn read_floor(&self) -> Slot {
        match &self.phase {
            Phase::Leader(l) if self.followers_count(&l.voters) => {
                self.learner.commit().max(l.next_slot.saturating_sub(1))
            }
            _ => self.learner.commit(),
        }
    }

    /// A follower asks us, as its leader, for a read index.
    pub(super) fn on_read_index(&mut self, from: NodeId, id: u64) {
        if matches!(self.phase, Phase::Leader(_)) && self.config.has_bug(Bug::UnconfirmedRead) {
            let index = Some(self.executor.executed());
            self.send(from, Message::ReadIndexReply { id, index });
            return;
        }
        let floor = self.read_floor();
        match &mut self.phase {
            Phase::Leader(l) if l.takes_reads() => {
                l.add_read(ReadOrigin::Remote(from, id), floor);
                self.confirm_reads();
            }
            _ => self.send(from, Message::ReadIndexReply { id, index: None }),
        }
    }

    pub(super) fn on_read_index_reply(&mut self, id: u64, index: Option<Slot>) {
        match index {
            Some(index) => {
                if let Some(read) = self.reads.get_mut(&id) {
                    read.index = Some(index);
                }
                self.serve_reads();
            }
            None => {
                self.reads.remove(&id);
            }
        }
    }

    /// Hands out the reads a quorum has confirmed.
    pub(super) fn confirm_reads(&mut self) {
        let me = self.config.id;
        let Phase::Leader(l) = &mut self.phase else {
            return;
        };
        let confirmed = l.confirmed_reads(me);
        for read in confirmed {
            match read.origin {
                ReadOrigin::Local(id) => {
                    if let Some(local) = self.reads.get_mut(&id) {
                        local.index = Some(read.index);
                    }
                }
                ReadOrigin::Remote(node, id) => {
                    let index = Some(read.index);
                    self.send(node, Message::ReadIndexReply { id, index });
                }
            }
        }
        self.serve_reads();
    }

    /// Answers every confirmed read whose index this node has executed.
    pub(super) fn serve_reads(&mut self) {
        let executed = self.executor.executed();
        let ready: Vec<u64> = self
            .reads
            .iter()
            .filter(|(_, r)| r.index.is_some_and(|i| i <= executed))
            .map(|(id, _)| *id)
            .collect();
        for id in ready {
            if let Some(read) = self.reads.remove(&id) {
                self.answer_read(read.request);
            }
        }
    }

    /// Answers from the state as it is now, or sends a command that is not
    /// a query through the log.
    fn answer_read(&mut self, request: Request) {
        match self.executor.app().query(&request.command) {
            Some(result) => {
                self.reads_served += 1;
                let reply = Reply {
                    ballot: self.view,
                    timestamp: request.timestamp,
                    client: request.client,
                    result: result.into(),
                };
                self.out.replies.push(reply);
            }
            None => self.on_client_request(self.now, request),
        }
    }

    /// Drops reads that waited too long for a leader's answer (their
    /// clients have retried meanwhile), and, when this node stops leading,
    /// everything it was confirming.
    pub(super) fn expire_reads(&mut self) {
        let limit = self.config.election_timeout;
        let now = self.now;
        self.reads
            .retain(|_, r| r.index.is_some() || now < r.since + limit);
    }

    /// This node stops leading: the reads it was confirming are refused.
    pub(super) fn abandon_reads(&mut self, pending: Vec<crate::proposer::PendingRead>) {
        for read in pending {
            match read.origin {
                ReadOrigin::Local(id) => {
                    self.reads.remove(&id);
                }
                ReadOrigin::Remote(node, id) => {
                    self.send(node, Message::ReadIndexReply { id, index: None })
                }
            }
        }
    }
}

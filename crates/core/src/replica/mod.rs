//! A replica: one node's proposer, acceptor, learner and executor, driven by
//! inputs and producing outputs, with no I/O of its own.
//!
//! # The contract with the host (the simulator, or the tokio runtime)
//!
//! Inputs: [`Replica::on_message`] (a peer's message), [`Replica::on_client_request`]
//! (a request from a client connected here), [`Replica::tick`] (time passed),
//! and [`Replica::persisted`] (the host's storage made a write durable).
//! Each takes the current time; the replica never reads a clock.
//!
//! After feeding any number of inputs, the host calls [`Replica::ready`] (or
//! [`crate::host::drive`], which does all of the following) and then:
//! - sends `messages` and `replies`: nothing in them reveals state that is
//!   not yet durable (the replica holds PROMISE and ACCEPTED until the write
//!   holding their records is reported durable, then releases them in a
//!   later `Ready`);
//! - applies `write`, if any, to its log ([`crate::Write::apply_to`]), makes
//!   it durable (one sync for many writes is fine: group commit) and reports
//!   `persisted(token)`. Writes must become durable in token order.
//!
//! The replica never sends a message to itself: its own promise and its own
//! acceptance count once durable, inside the replica. If the host crashes
//! before reporting a write, the messages held for it are lost with the
//! replica: that is always safe.
//!
//! Restart: rebuild [`DurableState`] from the synced ops and call
//! [`Replica::restore`]; the node rejoins as a follower and relearns chosen
//! values from its peers.

use crate::acceptor::Acceptor;
use crate::checkpoints::{Checkpoint, CheckpointJob, Checkpoints};
use crate::config::{Bug, Config};
use crate::durable::{DurabilityGate, DurableState, PersistOp, Write};
use crate::election::{DeferredPrepare, Election};
use crate::executor::{Execution, Executor};
use crate::learner::Learner;
use crate::membership::Membership;
use crate::message::{AcceptedEntry, Envelope, Message};
use crate::proposer::{Candidacy, Leadership, Voters};
use crate::state_machine::StateMachine;
use crate::types::{Ballot, ClientId, Digest, NodeId, Reply, Request, Slot, Time, Value};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};

mod acceptor_side;
mod candidate;
mod checkpointing;
mod follower_quorum;
mod leader;
mod learning;
mod output;
mod reads;
mod reconfiguration;
mod requests;

use output::Outbox;
pub use output::{Event, Ready};
pub use reconfiguration::ChangeRefused;

/// A node's role, as `synod admin status` shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    Follower,
    Candidate,
    Leader,
    /// A node that lost its disk once: it learns and serves, never votes.
    Learner,
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Role::Follower => "follower",
            Role::Candidate => "candidate",
            Role::Leader => "leader",
            Role::Learner => "learner",
        })
    }
}

/// A snapshot of a replica's progress for status displays.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    pub id: NodeId,
    pub role: Role,
    /// The ballot this node follows or leads with.
    pub view: Ballot,
    pub promised: Ballot,
    pub leader: Option<NodeId>,
    pub commit: Slot,
    pub executed: Slot,
    pub highest_accepted: Slot,
    pub suspecting: bool,
    /// Log entries held in memory (accepted plus chosen): bounded by
    /// truncation.
    pub retained: usize,
    /// The latest checkpoint's slot (0: none yet).
    pub checkpoint: Slot,
    /// The log is truncated through this slot.
    pub truncated: Slot,
    /// Reads answered from the state without a log write, since start.
    pub reads_served: u64,
    /// Client requests that reached this node directly and await their
    /// reply here (a client gone before its request executed stays counted
    /// until it executes or the client sends a newer one).
    pub waiting: usize,
}

enum Phase {
    Follower,
    Candidate(Candidacy),
    // Boxed: a leadership carries its queues and maps; followers should not
    // pay for them.
    Leader(Box<Leadership>),
}

pub struct Replica<S: StateMachine> {
    config: Config,
    now: Time,
    acceptor: Acceptor,
    learner: Learner,
    executor: Executor<S>,
    election: Election,
    phase: Phase,
    /// The ballot of the leader this node last heard from (its view).
    view: Ballot,
    /// The highest round seen in any ballot: a candidate goes above it.
    max_round: u64,
    /// Clients whose request reached this node directly and awaits a reply
    /// here: client -> timestamp.
    waiting: BTreeMap<ClientId, u64>,
    /// Requests held while no leader is known.
    held: VecDeque<Request>,
    /// Requests this follower forwarded to its leader (its own clients',
    /// and those it held), by client, with when they were first forwarded:
    /// sent again to the next leader should that one die (`requests.rs`).
    forwarded: BTreeMap<ClientId, (Request, Time)>,
    /// How far accepted entries were matched against a leader's COMMITs.
    commit_scan: CommitScan,
    /// Acceptances of the followed ballot's slots this node heard of
    /// (`follower_quorum.rs`).
    follower_acks: follower_quorum::FollowerAcks,
    record_executions: bool,
    /// Checkpoints taken, built, announced and received.
    checkpoints: Checkpoints,
    /// The checkpoint a log compaction asked for this turn is based on. The
    /// compaction's live records are built from it in [`Replica::ready`],
    /// after every input of the turn, so that they hold every record the
    /// turn produced (an acceptance after the truncation included).
    compaction: Option<Checkpoint>,
    /// This node promises, accepts and stands only for slots above this
    /// one. 0 normally; `Slot::MAX` for a node that lost its disk: it learns
    /// chosen values (by catch-up and state transfer) but never votes,
    /// because it cannot know what it promised or accepted before (another
    /// value only from a log written by an earlier version).
    votes_above: Slot,
    /// A peer that is not a member as far as this node knows announced a
    /// checkpoint beyond what this node executed: this node's membership
    /// is behind (it joined, or restarted from an old state). It asks that
    /// peer for the missing slots, once: that peer may have been removed
    /// and stopped since, and asking it again and again would leave this
    /// node behind for good; it sets the hint again whenever it speaks.
    catch_up_hint: Option<(NodeId, Slot)>,
    out: Outbox<S>,
    /// Votes waiting for their writes to be durable.
    gate: DurabilityGate<Envelope>,
    /// Linearizable reads at this node, by id, and the next id.
    reads: BTreeMap<u64, reads::LocalRead>,
    next_read: u64,
    /// Reads answered from the state, without a log write.
    reads_served: u64,
    /// Messages addressed to ourselves (a vote released by `persisted`, or
    /// a catch-up request in a cluster of one): handled before `ready`
    /// returns, never handed to the host.
    loopback: VecDeque<Message>,
}

/// Accepted entries matched against the COMMITs of `ballot`'s leader
/// through slot `through`: the next COMMIT of the same leader need not look
/// at them again.
#[derive(Clone, Copy, Debug, Default)]
struct CommitScan {
    ballot: Ballot,
    through: Slot,
}

/// Snapshots travel in pieces of at most this many bytes.
const SNAPSHOT_CHUNK: usize = 1 << 20;

impl<S: StateMachine> Replica<S> {
    /// A fresh node with nothing persisted.
    pub fn new(config: Config, app: S, now: Time) -> Self {
        Self::restore(config, app, DurableState::default(), now)
    }

    /// A node restarted from what it had persisted: its acceptor state, and
    /// its latest checkpoint if it had one (else it relearns everything from
    /// its peers).
    ///
    /// A node whose disk was lost (its data directory wiped or replaced)
    /// must never vote again: a promise or an acceptance it forgot may be
    /// what made a value chosen, and voting without it could choose another.
    /// Its host makes [`PersistOp::NonVoting`] durable on the new disk
    /// before anything else (a crash before that would bring it back as a
    /// voter with nothing on disk), then restores from it: the node rejoins
    /// as a learner that catches up by state transfer, executes and serves
    /// reads of the replicated state, and never counts in a quorum.
    pub fn restore(config: Config, app: S, durable: DurableState, now: Time) -> Self {
        let max_round = durable.promised.round;
        let votes_above = if config.has_bug(Bug::WipedNodeVotes) {
            0
        } else {
            durable.votes_above
        };
        let mut executor = Executor::new(app)
            .with_membership(Membership::initial(&config.nodes, &config.learners))
            .with_bugs(config.bugs());
        let mut learner = Learner::new();
        let mut checkpoint = None;
        if let Some((slot, snapshot)) = &durable.checkpoint
            && executor.restore(snapshot).is_ok()
        {
            learner.install(*slot);
            checkpoint = Some(Checkpoint {
                slot: *slot,
                digest: Digest::of(snapshot),
                snapshot: snapshot.clone(),
            });
        }
        let checkpoints = Checkpoints::restored(checkpoint, executor.size_hint());
        Replica {
            now,
            acceptor: Acceptor::restore(durable).with_bugs(config.bugs()),
            learner,
            executor,
            checkpoints,
            compaction: None,
            votes_above,
            catch_up_hint: None,
            election: Election::new(now),
            phase: Phase::Follower,
            view: Ballot::ZERO,
            max_round,
            waiting: BTreeMap::new(),
            held: VecDeque::new(),
            forwarded: BTreeMap::new(),
            commit_scan: CommitScan::default(),
            follower_acks: Default::default(),
            record_executions: false,
            out: Outbox::default(),
            gate: DurabilityGate::default(),
            reads: BTreeMap::new(),
            next_read: 0,
            reads_served: 0,
            loopback: VecDeque::new(),
            config,
        }
    }

    /// Whether this node only learns (it lost its disk once).
    pub fn is_non_voting(&self) -> bool {
        self.votes_above == Slot::MAX
    }

    /// Whether this node may vote on `slot`.
    pub(super) fn votes_on(&self, slot: Slot) -> bool {
        slot > self.votes_above
    }

    /// The membership after the executed slot: who votes, who learns.
    pub fn membership(&self) -> &Membership {
        self.executor.membership()
    }

    /// Emit an [`Event::Executed`] for every executed slot (the simulator's
    /// checkers want them; a production node need not pay for the clones).
    pub fn record_executions(&mut self, on: bool) {
        self.record_executions = on;
    }

    pub fn id(&self) -> NodeId {
        self.config.id
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn app(&self) -> &S {
        self.executor.app()
    }

    pub fn state_digest(&self) -> Digest {
        self.executor.state_digest()
    }

    pub fn is_leader(&self) -> bool {
        matches!(self.phase, Phase::Leader(_))
    }

    /// The leader this node believes in (itself included).
    pub fn leader(&self) -> Option<NodeId> {
        self.view.leader()
    }

    pub fn status(&self) -> Status {
        Status {
            id: self.config.id,
            role: match self.phase {
                _ if !self.membership().is_voter(self.config.id) || self.is_non_voting() => {
                    Role::Learner
                }
                Phase::Follower => Role::Follower,
                Phase::Candidate(_) => Role::Candidate,
                Phase::Leader(_) => Role::Leader,
            },
            view: self.view,
            promised: self.acceptor.promised(),
            leader: self.view.leader(),
            commit: self.learner.commit(),
            executed: self.executor.executed(),
            highest_accepted: self.acceptor.highest_accepted_slot(),
            suspecting: self.election.suspecting(),
            retained: self.acceptor.len() + self.learner.retained(),
            checkpoint: self.checkpoints.latest().map_or(0, |c| c.slot),
            truncated: self.acceptor.truncated(),
            reads_served: self.reads_served,
            waiting: self.waiting.len(),
        }
    }

    /// The chosen value of `slot`, if this node knows it and still holds it.
    pub fn chosen(&self, slot: Slot) -> Option<&Value> {
        self.learner.value(slot)
    }

    /// The entry this node's acceptor holds for `slot`.
    pub fn accepted(&self, slot: Slot) -> Option<&(Ballot, Value)> {
        self.acceptor.accepted(slot)
    }

    // ----- inputs ---------------------------------------------------------

    /// A message from peer `from`. Messages from nodes that are not members
    /// (strangers, or members removed since) are ignored.
    pub fn on_message(&mut self, now: Time, from: NodeId, msg: Message) {
        self.now = now;
        if !self.membership().is_member(from) && !self.hears_removed(from) {
            self.on_stranger_message(from, msg);
            return;
        }
        match msg {
            Message::Prepare { ballot, from: slot } => self.on_prepare(from, ballot, slot),
            Message::Promise {
                ballot,
                from: answers,
                accepted,
                commit,
                truncated,
            } => self.on_promise(from, ballot, answers, accepted, commit, truncated),
            Message::Nack { ballot, promised } => self.on_nack(ballot, promised),
            Message::Accept {
                ballot,
                slot,
                value,
                commit,
            } => self.on_accept(from, ballot, slot, value, commit),
            Message::Accepted {
                ballot,
                first,
                last,
            } => match self.phase {
                Phase::Follower => self.learn_from_accepted(from, ballot, first, last),
                _ => self.on_accepted(from, ballot, first, last),
            },
            Message::NewView {
                ballot,
                start,
                entries,
                commit,
            } => self.on_new_view(from, ballot, start, entries, commit),
            Message::Commit { ballot, commit } => self.on_commit(from, ballot, commit, None),
            Message::Heartbeat {
                ballot,
                commit,
                round,
            } => self.on_commit(from, ballot, commit, Some(round)),
            Message::HeartbeatAck {
                ballot,
                commit,
                truncated,
                round,
            } => self.on_heartbeat_ack(from, ballot, commit, truncated, round),
            Message::ReadIndex { id } => self.on_read_index(from, id),
            Message::ReadIndexReply { id, index } => self.on_read_index_reply(id, index),
            Message::Handover { ballot, to } => self.on_handover(from, ballot, to),
            Message::CatchUp { from: first, to } => self.on_catch_up(from, first, to),
            Message::CatchUpReply { entries, commit } => self.on_catch_up_reply(entries, commit),
            Message::Forward { request } => self.on_forward(request),
            Message::Checkpoint { slot, digest } => self.on_checkpoint(from, slot, digest),
            Message::Snapshot {
                slot,
                digest,
                offset,
                total,
                data,
            } => self.on_snapshot(slot, digest, offset, total, data),
            Message::StepDown { ballot } => self.on_step_down(from, ballot),
        }
    }

    /// A request from a client connected to this node.
    pub fn on_client_request(&mut self, now: Time, request: Request) {
        self.now = now;
        if let Some((last, result)) = self.executor.last_reply(request.client) {
            if request.timestamp < last {
                return; // older than what the client already had executed
            }
            if request.timestamp == last {
                let reply = Reply {
                    ballot: self.view,
                    timestamp: last,
                    client: request.client,
                    result: result.clone(),
                };
                self.out.replies.push(reply);
                return;
            }
        }
        self.waiting.insert(request.client, request.timestamp);
        self.election.work_arrived(now);
        self.route(request);
    }

    /// Time passed: heartbeats, retransmissions, failure detection,
    /// elections, catch-up.
    pub fn tick(&mut self, now: Time) {
        self.now = now;
        match &self.phase {
            Phase::Leader(_) => self.tick_leader(),
            Phase::Candidate(c) => {
                if now >= c.started + self.config.candidacy_timeout {
                    self.candidacy_timed_out();
                } else if now >= c.last_sent + self.config.retransmit_interval {
                    self.resend_prepare();
                }
            }
            Phase::Follower => {}
        }
        if matches!(self.phase, Phase::Follower) {
            self.tick_follower();
        }
        if !self.is_leader()
            && let Some((first, to)) = self.learner.catch_up_due(
                now,
                self.config.retransmit_interval,
                self.config.catchup_batch,
            )
        {
            let target = self.catch_up_source();
            self.send(target, Message::CatchUp { from: first, to });
        }
        self.announce_checkpoint();
        self.expire_reads();
    }

    /// The host made every write up to `token` durable: the votes that
    /// waited for them go out (our own count at once).
    pub fn persisted(&mut self, now: Time, token: u64) {
        self.now = now;
        let me = self.config.id;
        for env in self.gate.persisted(token) {
            if env.to == me {
                self.loopback.push_back(env.msg);
            } else {
                self.out.messages.push(env);
            }
        }
        self.run_loopback();
    }

    /// Proposes what is queued and returns every output since the last call.
    pub fn ready(&mut self) -> Ready<S> {
        loop {
            self.propose_pending();
            self.send_commit_if_advanced();
            if let Phase::Leader(l) = &self.phase
                && l.round_due()
            {
                // Reads wait for a round sent after they arrived: one now,
                // shared by every read of this turn.
                self.send_heartbeats();
            }
            if self.loopback.is_empty() {
                break;
            }
            self.run_loopback();
        }
        self.coalesce_accepted();
        let replace = self.compaction.take().map(|base| self.live_ops(&base));
        let append = std::mem::take(&mut self.out.persist);
        let write = (replace.is_some() || !append.is_empty()).then(|| Write {
            token: self.gate.issue(),
            replace,
            append,
        });
        let votes = std::mem::take(&mut self.out.votes);
        let me = self.config.id;
        for env in self.gate.hold(votes) {
            // Nothing to wait for (everything before is durable): a vote to
            // ourselves counts at the next input, or the next call.
            if env.to == me {
                self.loopback.push_back(env.msg);
            } else {
                self.out.messages.push(env);
            }
        }
        let out = std::mem::take(&mut self.out);
        Ready {
            messages: out.messages,
            replies: out.replies,
            events: out.events,
            write,
            checkpoints: out.checkpoints,
        }
    }

    /// Handles the messages this node sent itself.
    fn run_loopback(&mut self) {
        let me = self.config.id;
        while let Some(msg) = self.loopback.pop_front() {
            self.on_message(self.now, me, msg);
        }
    }

    // ----- plumbing ------------------------------------------------------

    /// Only under the planted bug `RemovedNodeCounted`: a node its own
    /// candidacy or leadership still counts is heard although it was
    /// removed (without it the bug's extra voters could never answer).
    fn hears_removed(&self, from: NodeId) -> bool {
        self.config.has_bug(Bug::RemovedNodeCounted)
            && match &self.phase {
                Phase::Candidate(c) => c.voters.contains(from),
                Phase::Leader(l) => l.voters.contains(from),
                Phase::Follower => false,
            }
    }

    pub(super) fn note(&mut self, ballot: Ballot) {
        self.max_round = self.max_round.max(ballot.round);
    }

    pub(super) fn own_ballot(&self) -> Option<Ballot> {
        match &self.phase {
            Phase::Follower => None,
            Phase::Candidate(c) => Some(c.ballot),
            Phase::Leader(l) => Some(l.ballot),
        }
    }

    /// Every member but this node: voters and learners.
    pub(super) fn peers(&self) -> Vec<NodeId> {
        let me = self.config.id;
        let mut peers: Vec<NodeId> = self
            .membership()
            .ids()
            .into_iter()
            .filter(|&n| n != me)
            .collect();
        // Whoever a leadership counts hears from it (only a planted bug
        // counts a node that is not a member).
        if let Phase::Leader(l) = &self.phase {
            for &n in l.voters.ids() {
                if n != me && !peers.contains(&n) {
                    peers.push(n);
                }
            }
        }
        peers
    }

    /// The voters of the current membership.
    pub(super) fn voters(&self) -> Voters {
        Voters::new(self.membership().voters())
    }

    /// Whom to ask for missing slots: the peer whose checkpoint showed our
    /// membership behind (see `catch_up_hint`, used once) while we are
    /// behind it, else the leader, else peers in turn.
    pub(super) fn catch_up_source(&mut self) -> NodeId {
        let hint = if self.config.has_bug(Bug::CatchUpHintSticks) {
            self.catch_up_hint
        } else {
            self.catch_up_hint.take()
        };
        if let Some((peer, slot)) = hint
            && self.executor.executed() < slot
        {
            return peer;
        }
        match self.view.leader() {
            Some(leader) if leader != self.config.id => leader,
            _ => {
                let peers = self.peers();
                if peers.is_empty() {
                    return self.config.id;
                }
                peers[(self.now / self.config.retransmit_interval) as usize % peers.len()]
            }
        }
    }

    pub(super) fn send(&mut self, to: NodeId, msg: Message) {
        if to == self.config.id {
            self.loopback.push_back(msg);
            return;
        }
        self.out.messages.push(Envelope {
            from: self.config.id,
            to,
            msg,
        });
    }

    /// Sends a PROMISE or ACCEPTED once this turn's write is durable.
    pub(super) fn send_vote(&mut self, to: NodeId, msg: Message) {
        self.out.votes.push(Envelope {
            from: self.config.id,
            to,
            msg,
        });
    }

    /// Merges consecutive ACCEPTED messages to one node into ranges: under
    /// load a follower acknowledges many slots per turn. An ACCEPTED joins
    /// the last message to the same node, whatever went to other nodes in
    /// between (a vote may go to the leader and to this node itself).
    pub(super) fn coalesce_accepted(&mut self) {
        let msgs = &mut self.out.votes;
        if msgs.len() < 2 {
            return;
        }
        let mut merged: Vec<Envelope> = Vec::with_capacity(msgs.len());
        for env in msgs.drain(..) {
            let last_to_same = merged.iter_mut().rev().find(|m| m.to == env.to);
            if let (
                Some(Envelope {
                    msg:
                        Message::Accepted {
                            ballot: pb,
                            last: pl,
                            ..
                        },
                    ..
                }),
                Message::Accepted {
                    ballot,
                    first,
                    last,
                },
            ) = (last_to_same, &env.msg)
                && *pb == *ballot
                && *pl + 1 == *first
            {
                *pl = *last;
                continue;
            }
            merged.push(env);
        }
        *msgs = merged;
    }
}

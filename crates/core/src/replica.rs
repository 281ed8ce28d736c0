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
use crate::config::{Bug, Config};
use crate::durable::{DurabilityGate, DurableState, PersistOp, Write};
use crate::election::{DeferredPrepare, Election};
use crate::executor::{Execution, Executor};
use crate::learner::Learner;
use crate::message::{AcceptedEntry, Envelope, Message};
use crate::proposer::{Candidacy, Leadership};
use crate::state_machine::StateMachine;
use crate::types::{Ballot, ClientId, NodeId, Reply, Request, Slot, Time, Value};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};

/// Everything a batch of inputs produced. See the module documentation for
/// what the host must do with it.
#[derive(Debug, Default)]
pub struct Ready {
    /// Messages to send now; never addressed to this node.
    pub messages: Vec<Envelope>,
    pub replies: Vec<Reply>,
    pub events: Vec<Event>,
    /// Records to make durable, then report with [`Replica::persisted`].
    pub write: Option<Write>,
}

impl Ready {
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
            && self.replies.is_empty()
            && self.events.is_empty()
            && self.write.is_none()
    }
}

/// What the replica produced since the last [`Replica::ready`].
#[derive(Debug, Default)]
struct Outbox {
    messages: Vec<Envelope>,
    /// PROMISE and ACCEPTED (to peers or to ourselves): each reveals
    /// acceptor state, so it waits for the write of this turn (and every
    /// earlier one) to be durable.
    votes: Vec<Envelope>,
    persist: Vec<PersistOp>,
    replies: Vec<Reply>,
    events: Vec<Event>,
}

/// Things worth telling a person or a checker; the protocol does not need
/// the host to act on them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The leader timer expired.
    Suspected { leader: Option<NodeId> },
    /// This node sent PREPARE(b).
    Candidacy { ballot: Ballot },
    /// This node promised `ballot`.
    Promised { ballot: Ballot },
    /// This node became leader with `ballot`.
    Elected { ballot: Ballot },
    /// This node stopped leading or standing.
    SteppedDown { ballot: Ballot, why: &'static str },
    /// A NEW-VIEW this node sent or accepted.
    NewView {
        ballot: Ballot,
        start: Slot,
        entries: Vec<Value>,
    },
    /// This node executed `slot` (only with `record_executions`).
    Executed {
        slot: Slot,
        value: Value,
        executions: Vec<Execution>,
    },
    /// This node took a checkpoint after executing through `slot`; `digest`
    /// is the SHA-256 of its state (application and reply table) there.
    /// Equal slots must give equal digests on every replica.
    Checkpoint { slot: Slot, digest: [u8; 32] },
    /// A peer's checkpoint digest differs from ours at the same slot: the
    /// replicas diverged. Never expected; the host must make it loud.
    Divergence {
        slot: Slot,
        peer: NodeId,
        ours: [u8; 32],
        theirs: [u8; 32],
    },
    /// This node truncated its log through `slot` (a quorum holds a
    /// checkpoint there).
    Truncated { slot: Slot },
    /// This node installed a peer's snapshot and now stands at `slot`.
    SnapshotInstalled { slot: Slot },
}

/// A node's role, as `synod admin status` shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    Follower,
    Candidate,
    Leader,
    /// A node that lost its disk once: it learns and serves, never votes.
    Learner,
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
}

enum Phase {
    Follower,
    Candidate(Candidacy),
    Leader(Leadership),
}

pub struct Replica<S> {
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
    /// The slot up to which accepted entries were matched against a COMMIT
    /// of `commit_scan.0`.
    commit_scan: (Ballot, Slot),
    record_executions: bool,
    /// The latest checkpoint this node took or installed.
    checkpoint: Option<OwnCheckpoint>,
    /// The checkpoint a log compaction asked for this turn is based on. The
    /// compaction's live records are built from it in [`Replica::ready`],
    /// after every input of the turn, so that they hold every record the
    /// turn produced (an acceptance after the truncation included).
    compaction: Option<OwnCheckpoint>,
    /// Our digests of recent checkpoints, to compare with peers'.
    recent_digests: BTreeMap<Slot, [u8; 32]>,
    /// The highest checkpoint slot each peer reported.
    peer_checkpoints: BTreeMap<NodeId, Slot>,
    /// Command bytes executed since the last checkpoint.
    executed_bytes: u64,
    /// A snapshot being received in pieces: (slot, digest, total, bytes).
    incoming: Option<(Slot, [u8; 32], u64, Vec<u8>)>,
    last_announce: Time,
    /// A node that lost its disk: it learns chosen values (by catch-up and
    /// state transfer) but never promises, accepts or stands, because it
    /// cannot know what it promised or accepted before.
    non_voting: bool,
    out: Outbox,
    /// Votes waiting for their writes to be durable.
    gate: DurabilityGate<Envelope>,
    /// Messages addressed to ourselves (a vote released by `persisted`, or
    /// a catch-up request in a cluster of one): handled before `ready`
    /// returns, never handed to the host.
    loopback: VecDeque<Message>,
}

/// A checkpoint: the executor's snapshot after executing through `slot`.
#[derive(Clone)]
struct OwnCheckpoint {
    slot: Slot,
    digest: [u8; 32],
    snapshot: Bytes,
}

/// A checkpoint waits until the commands executed since the last one add
/// up to this many times its snapshot's size: snapshotting then costs at
/// most a quarter of the work of the log it replaces.
const CHECKPOINT_LOG_RATIO: u64 = 4;

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
        let durable_non_voting = durable.non_voting && !config.has_bug(Bug::WipedNodeVotes);
        let mut executor = Executor::new(app);
        let mut learner = Learner::new();
        let mut checkpoint = None;
        if let Some((slot, snapshot)) = &durable.checkpoint
            && executor.restore(snapshot).is_ok()
        {
            learner.install(*slot);
            let digest = crate::executor::digest(snapshot);
            checkpoint = Some(OwnCheckpoint {
                slot: *slot,
                digest,
                snapshot: snapshot.clone(),
            });
        }
        let recent_digests = checkpoint.iter().map(|c| (c.slot, c.digest)).collect();
        Replica {
            now,
            acceptor: Acceptor::restore(durable),
            learner,
            executor,
            checkpoint,
            compaction: None,
            recent_digests,
            peer_checkpoints: BTreeMap::new(),
            executed_bytes: 0,
            incoming: None,
            last_announce: 0,
            non_voting: durable_non_voting,
            election: Election::new(now),
            phase: Phase::Follower,
            view: Ballot::ZERO,
            max_round,
            waiting: BTreeMap::new(),
            held: VecDeque::new(),
            commit_scan: (Ballot::ZERO, 0),
            record_executions: false,
            out: Outbox::default(),
            gate: DurabilityGate::default(),
            loopback: VecDeque::new(),
            config,
        }
    }

    /// Whether this node only learns (it lost its disk once).
    pub fn is_non_voting(&self) -> bool {
        self.non_voting
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

    pub fn state_digest(&self) -> [u8; 32] {
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
                _ if self.non_voting => Role::Learner,
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
            checkpoint: self.checkpoint.as_ref().map_or(0, |c| c.slot),
            truncated: self.acceptor.truncated(),
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

    /// A message from peer `from`. Messages from non-members are ignored
    /// (the runtime refuses strangers at the handshake already).
    pub fn on_message(&mut self, now: Time, from: NodeId, msg: Message) {
        self.now = now;
        if !self.config.nodes.contains(&from) {
            return;
        }
        match msg {
            Message::Prepare { ballot, from: slot } => self.on_prepare(from, ballot, slot),
            Message::Promise {
                ballot,
                accepted,
                commit,
                truncated,
            } => self.on_promise(from, ballot, accepted, commit, truncated),
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
            } => self.on_accepted(from, ballot, first, last),
            Message::NewView {
                ballot,
                start,
                entries,
                commit,
            } => self.on_new_view(from, ballot, start, entries, commit),
            Message::Commit { ballot, commit } => self.on_commit(from, ballot, commit, false),
            Message::Heartbeat { ballot, commit } => self.on_commit(from, ballot, commit, true),
            Message::HeartbeatAck {
                ballot,
                commit,
                truncated,
            } => self.on_heartbeat_ack(from, ballot, commit, truncated),
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
                    self.abandon_candidacy("no quorum of promises in time");
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
    }

    /// Repeats our latest CHECKPOINT (announcements get lost, and peers
    /// truncate only once a quorum holds a checkpoint): at the retransmit
    /// pace until we could truncate through it ourselves, then 8 times
    /// slower, for peers that are still waiting.
    fn announce_checkpoint(&mut self) {
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
    pub fn ready(&mut self) -> Ready {
        loop {
            self.propose_pending();
            self.send_commit_if_advanced();
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
        }
    }

    /// Handles the messages this node sent itself.
    fn run_loopback(&mut self) {
        let me = self.config.id;
        while let Some(msg) = self.loopback.pop_front() {
            self.on_message(self.now, me, msg);
        }
    }

    // ----- acceptor side --------------------------------------------------

    fn on_prepare(&mut self, from: NodeId, ballot: Ballot, from_slot: Slot) {
        self.note(ballot);
        if self.non_voting {
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
        if from == self.config.id || from_own_leader || self.election.suspecting() {
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

    fn promise(&mut self, to: NodeId, ballot: Ballot, from_slot: Slot) {
        match self.acceptor.prepare(ballot, from_slot) {
            Ok((op, accepted)) => {
                self.out.persist.push(op);
                let commit = self.learner.commit();
                let truncated = self.acceptor.truncated();
                self.send_vote(
                    to,
                    Message::Promise {
                        ballot,
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

    fn send_promise(&mut self, to: NodeId, ballot: Ballot, from_slot: Slot) {
        let accepted = self.acceptor.log_from(from_slot);
        let commit = self.learner.commit();
        let truncated = self.acceptor.truncated();
        self.send_vote(
            to,
            Message::Promise {
                ballot,
                accepted,
                commit,
                truncated,
            },
        );
    }

    fn on_accept(&mut self, from: NodeId, ballot: Ballot, slot: Slot, value: Value, commit: Slot) {
        self.note(ballot);
        if ballot.node != from {
            return; // only a ballot's owner proposes in it
        }
        if slot <= self.acceptor.truncated() || self.non_voting {
            // Decided, executed and checkpointed here, or a node that never
            // votes: nothing to accept; just follow the commit point.
            self.on_commit(from, ballot, commit, false);
            return;
        }
        match self.acceptor.accept(&self.config, ballot, slot, value) {
            Ok(op) => {
                self.out.persist.push(op);
                let accepted = Message::Accepted {
                    ballot,
                    first: slot,
                    last: slot,
                };
                self.send_vote(from, accepted);
                self.follow(ballot);
                self.on_leader_commit(ballot, commit);
            }
            Err(rejected) => {
                let promised = rejected.promised;
                self.send(from, Message::Nack { ballot, promised });
            }
        }
    }

    fn on_new_view(
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
        // Slots this node truncated are decided; it does not vote on them.
        let skip = if self.non_voting {
            entries.len()
        } else {
            (self.acceptor.truncated() + 1).saturating_sub(start) as usize
        };
        for (i, value) in entries.iter().enumerate().skip(skip) {
            let slot = start + i as u64;
            // Cannot be refused: ballot >= promised was checked above, and
            // each acceptance only raises the promise to this same ballot.
            if let Ok(op) = self
                .acceptor
                .accept(&self.config, ballot, slot, value.clone())
            {
                self.out.persist.push(op);
            }
        }
        if entries.len() > skip {
            let last = start + entries.len() as u64 - 1;
            self.send_vote(
                from,
                Message::Accepted {
                    ballot,
                    first: start + skip as u64,
                    last,
                },
            );
        }
        self.out.events.push(Event::NewView {
            ballot,
            start,
            entries,
        });
        self.on_leader_commit(ballot, commit);
    }

    /// COMMIT or HEARTBEAT from the leader of `ballot`.
    fn on_commit(&mut self, from: NodeId, ballot: Ballot, commit: Slot, heartbeat: bool) {
        self.note(ballot);
        if ballot.node != from || from == self.config.id {
            return;
        }
        let promised = self.acceptor.promised();
        if ballot < promised {
            // A deposed leader: tell it, so it steps down or rises.
            if heartbeat {
                self.send(from, Message::Nack { ballot, promised });
            }
            return;
        }
        self.follow(ballot);
        self.on_leader_commit(ballot, commit);
        if heartbeat {
            let commit = self.learner.commit();
            let truncated = if self.non_voting {
                Slot::MAX
            } else {
                self.acceptor.truncated()
            };
            let ack = Message::HeartbeatAck {
                ballot,
                commit,
                truncated,
            };
            self.send(from, ack);
        }
    }

    /// The leader of `ballot` says every slot up to `commit` is chosen. A
    /// slot this node accepted in that same ballot holds the chosen value
    /// (a leader proposes one value per slot per ballot); any other slot up
    /// to `commit` is fetched by catch-up.
    fn on_leader_commit(&mut self, ballot: Ballot, commit: Slot) {
        self.learner.observe_commit(commit);
        self.election.leader_committed(self.now, commit);
        let mut from = self.learner.commit() + 1;
        if self.commit_scan.0 == ballot {
            from = from.max(self.commit_scan.1 + 1);
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
        self.commit_scan = (ballot, commit);
        for (slot, value) in learned {
            self.learner.learn(slot, value);
        }
        self.execute_chosen();
    }

    // ----- proposer side: candidate -------------------------------------

    fn tick_follower(&mut self) {
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
        let rank = Election::rank(&self.config, self.view.leader());
        if !self.non_voting && self.election.should_stand(self.now, &self.config, rank) {
            self.stand();
        }
    }

    /// Sends PREPARE with a ballot above every one seen.
    fn stand(&mut self) {
        self.max_round += 1;
        let ballot = Ballot::new(self.max_round, self.config.id);
        let from = self.learner.commit() + 1;
        self.election.stood(self.now);
        if let Phase::Leader(l) = &mut self.phase {
            self.held.extend(l.drain_pending());
        }
        self.phase = Phase::Candidate(Candidacy::new(ballot, from, self.now));
        self.out.events.push(Event::Candidacy { ballot });
        for peer in self.peers() {
            self.send(peer, Message::Prepare { ballot, from });
        }
        self.maybe_self_prepare();
    }

    fn resend_prepare(&mut self) {
        let Phase::Candidate(c) = &mut self.phase else {
            return;
        };
        c.last_sent = self.now;
        let (ballot, from) = (c.ballot, c.from);
        let missing: Vec<NodeId> = self
            .config
            .nodes
            .iter()
            .copied()
            .filter(|n| *n != self.config.id && !c.promises.contains_key(n))
            .collect();
        for peer in missing {
            self.send(peer, Message::Prepare { ballot, from });
        }
    }

    /// Asks this node's own acceptor for its promise once f others promised.
    fn maybe_self_prepare(&mut self) {
        let Phase::Candidate(c) = &mut self.phase else {
            return;
        };
        if c.self_prepared || c.others(self.config.id) < self.config.max_failures() {
            return;
        }
        c.self_prepared = true;
        let (ballot, from) = (c.ballot, c.from);
        self.on_prepare(self.config.id, ballot, from);
    }

    fn on_promise(
        &mut self,
        from: NodeId,
        ballot: Ballot,
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
        if truncated >= c.from && !self.config.has_bug(Bug::IgnoreTruncation) {
            // The promiser forgot slots we do not know: we cannot build a
            // safe NEW-VIEW over them. Catch up (by snapshot) first.
            self.abandon_candidacy("behind a peer's checkpoint; catching up first");
            return;
        }
        c.promises.insert(from, accepted);
        if c.promises.len() >= self.config.quorum() && c.promises.contains_key(&self.config.id) {
            self.become_leader();
        } else {
            self.maybe_self_prepare();
        }
    }

    fn on_nack(&mut self, ballot: Ballot, promised: Ballot) {
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

    fn become_leader(&mut self) {
        let Phase::Candidate(c) = &self.phase else {
            return;
        };
        let ballot = c.ballot;
        let start = self.learner.commit() + 1;
        let learner = &self.learner;
        let entries = c.new_view(
            &self.config,
            start,
            |slot| learner.value(slot).cloned(),
            learner.highest_chosen(),
        );
        let mut leadership = Leadership::new(&self.config, ballot, start, &entries, self.now);
        for request in self.held.drain(..) {
            leadership.enqueue(&self.config, request, self.now);
        }
        leadership.commit_sent = self.learner.commit();
        self.phase = Phase::Leader(leadership);
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

    fn abandon_candidacy(&mut self, why: &'static str) {
        if let Phase::Candidate(c) = &self.phase {
            let ballot = c.ballot;
            self.phase = Phase::Follower;
            self.election.candidacy_failed(self.now);
            self.out.events.push(Event::SteppedDown { ballot, why });
        }
    }

    // ----- proposer side: leader ----------------------------------------

    fn tick_leader(&mut self) {
        let Phase::Leader(l) = &mut self.phase else {
            return;
        };
        let cfg = &self.config;
        let now = self.now;
        if now >= l.since + cfg.election_timeout
            && !l.reaches_quorum(cfg, now, cfg.election_timeout)
        {
            self.step_down("lost contact with a quorum");
            self.election.suspect(now);
            return;
        }
        if l.quorum_truncated_through(cfg, self.learner.commit() + 1) {
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
        // A NACK made us doubt our ballot: rise above it once tp allows.
        if self.election.suspecting() && self.election.should_stand(now, &self.config, 0) {
            self.stand();
        }
    }

    fn send_heartbeats(&mut self) {
        let Phase::Leader(l) = &mut self.phase else {
            return;
        };
        l.last_heartbeat = Some(self.now);
        let ballot = l.ballot;
        let commit = self.learner.commit();
        l.commit_sent = commit;
        for peer in self.peers() {
            self.send(peer, Message::Heartbeat { ballot, commit });
        }
    }

    fn resend_proposals(&mut self) {
        let Phase::Leader(l) = &mut self.phase else {
            return;
        };
        let ballot = l.ballot;
        let due = l.due_for_resend(self.now, self.config.retransmit_interval);
        let commit = self.learner.commit();
        let nodes = self.config.nodes.clone();
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

    fn propose_pending(&mut self) {
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

    fn on_accepted(&mut self, from: NodeId, ballot: Ballot, first: Slot, last: Slot) {
        let Some(index) = self.index_of(from) else {
            return;
        };
        let Phase::Leader(l) = &mut self.phase else {
            return;
        };
        if l.ballot != ballot {
            return;
        }
        l.last_contact[index] = self.now;
        let chosen = l.accepted(&self.config, index, first, last);
        for (slot, value) in chosen {
            self.learner.learn(slot, value);
        }
        self.execute_chosen();
    }

    fn on_heartbeat_ack(&mut self, from: NodeId, ballot: Ballot, commit: Slot, truncated: Slot) {
        let Some(index) = self.index_of(from) else {
            return;
        };
        self.learner.observe_commit(commit);
        if let Phase::Leader(l) = &mut self.phase
            && l.ballot == ballot
        {
            l.last_contact[index] = self.now;
            l.peer_truncated[index] = l.peer_truncated[index].max(truncated);
        }
    }

    fn send_commit_if_advanced(&mut self) {
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
    fn step_down(&mut self, why: &'static str) {
        let ballot = match &mut self.phase {
            Phase::Follower => return,
            Phase::Candidate(c) => c.ballot,
            Phase::Leader(l) => {
                self.held.extend(l.drain_pending());
                l.ballot
            }
        };
        self.phase = Phase::Follower;
        self.out.events.push(Event::SteppedDown { ballot, why });
    }

    // ----- requests ------------------------------------------------------

    fn route(&mut self, request: Request) {
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

    fn hold(&mut self, request: Request) {
        if self.held.len() >= self.config.max_pending {
            self.held.pop_front();
        }
        self.held.push_back(request);
    }

    fn on_forward(&mut self, request: Request) {
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
    fn follow(&mut self, ballot: Ballot) {
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

    // ----- learning and executing ---------------------------------------

    fn on_catch_up(&mut self, from: NodeId, first: Slot, to: Slot) {
        if first < self.learner.first_retained()
            && let Some(c) = &self.checkpoint
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

    fn on_catch_up_reply(&mut self, entries: Vec<(Slot, Value)>, commit: Slot) {
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

    fn execute_chosen(&mut self) {
        let before = self.executor.executed();
        loop {
            let slot = self.executor.executed() + 1;
            let Some(value) = self.learner.value(slot) else {
                break;
            };
            let value = value.clone();
            let bytes: u64 = value
                .requests()
                .iter()
                .map(|r| r.command.len() as u64)
                .sum();
            let executions = self.executor.execute(&self.config, slot, &value);
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
            self.executed_bytes += bytes;
            self.maybe_checkpoint(slot);
        }
        if self.executor.executed() > before {
            self.election.progressed(self.now, !self.waiting.is_empty());
        }
    }

    // ----- checkpoints, truncation, state transfer -----------------------

    /// Takes a checkpoint every `checkpoint_interval` slots, but never more
    /// often than the state's size justifies: the commands executed since
    /// the last one must add up to [`CHECKPOINT_LOG_RATIO`] times its
    /// snapshot's size. The slots where checkpoints fall are a function of
    /// the log alone, so every replica takes them at the same slots.
    fn maybe_checkpoint(&mut self, slot: Slot) {
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

    fn remember_digest(&mut self, slot: Slot, digest: [u8; 32]) {
        self.recent_digests.insert(slot, digest);
        while self.recent_digests.len() > 16 {
            self.recent_digests.pop_first();
        }
    }

    fn on_checkpoint(&mut self, from: NodeId, slot: Slot, digest: [u8; 32]) {
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
    fn maybe_truncate(&mut self) {
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
    fn live_ops(&self, base: &OwnCheckpoint) -> Vec<PersistOp> {
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

    fn on_snapshot(&mut self, slot: Slot, digest: [u8; 32], offset: u64, total: u64, data: Bytes) {
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

    fn reply_if_waiting(&mut self, execution: &Execution) {
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

    // ----- plumbing ------------------------------------------------------

    fn note(&mut self, ballot: Ballot) {
        self.max_round = self.max_round.max(ballot.round);
    }

    fn own_ballot(&self) -> Option<Ballot> {
        match &self.phase {
            Phase::Follower => None,
            Phase::Candidate(c) => Some(c.ballot),
            Phase::Leader(l) => Some(l.ballot),
        }
    }

    fn peers(&self) -> Vec<NodeId> {
        let me = self.config.id;
        self.config
            .nodes
            .iter()
            .copied()
            .filter(|&n| n != me)
            .collect()
    }

    fn index_of(&self, node: NodeId) -> Option<usize> {
        self.config.nodes.iter().position(|&n| n == node)
    }

    /// Whom to ask for missing slots: the leader, else peers in turn.
    fn catch_up_source(&self) -> NodeId {
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

    fn send(&mut self, to: NodeId, msg: Message) {
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
    fn send_vote(&mut self, to: NodeId, msg: Message) {
        self.out.votes.push(Envelope {
            from: self.config.id,
            to,
            msg,
        });
    }

    /// Merges consecutive ACCEPTED messages to one leader into ranges: under
    /// load a follower acknowledges many slots per turn.
    fn coalesce_accepted(&mut self) {
        let msgs = &mut self.out.votes;
        if msgs.len() < 2 {
            return;
        }
        let mut merged: Vec<Envelope> = Vec::with_capacity(msgs.len());
        for env in msgs.drain(..) {
            if let (
                Some(Envelope {
                    to: prev_to,
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
            ) = (merged.last_mut(), &env.msg)
                && *prev_to == env.to
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

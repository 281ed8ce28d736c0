//! The core task: owns the replica and runs it one turn at a time. Each turn
//! takes every input that has arrived (peer messages, client requests, admin
//! queries, the clock, the log writer's reports), feeds them all to the
//! replica, then carries out its output through the hosts' shared driver
//! (`synod_core::host::drive`) against [`NodeIo`]: messages to the peer
//! links, replies to the client connections, writes to the log writer.

use crate::log_writer::LogWriter;
use crate::members::{Dialer, PeerView};
use crate::metrics::{Metrics, Observer, ReplyOutcome};
use crate::net::{FrameSender, NotQueued};
use crate::protocol_log::ProtocolLog;
use crate::server::NodeError;
use crate::snapshot_file::SnapshotWriter;
use crate::wire::{
    AdminReply, AdminRequest, Frame, MAX_SLOTS, NodeStatus, SlotState, SlotStatus, ViewRecord,
    encode,
};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use synod_core::{
    Checkpoint, CheckpointJob, ClientId, Envelope, Event, Inspect, Message, NodeId, Replica, Reply,
    Request, Role, Slot, StateMachine, Status, Time, Value, Write, host,
};
use tokio::sync::{mpsc, oneshot};

/// How many NEW-VIEWs a node remembers for `synod admin views`.
const MAX_VIEWS: usize = 256;

/// At most this many inputs are taken into one turn.
const MAX_TURN_INPUTS: usize = 8192;

/// What reaches the core task.
pub(crate) enum Input {
    Peer(NodeId, Message),
    ClientConnected {
        client: ClientId,
        conn: u64,
        replies: ReplySink,
    },
    ClientGone {
        client: ClientId,
        conn: u64,
    },
    Request(Request),
    /// A read-only request: linearizable (read index) unless `serializable`.
    Read {
        request: Request,
        serializable: bool,
    },
    Admin(AdminRequest, oneshot::Sender<AdminReply>),
    /// The log writer made every write up to this token durable.
    Synced(u64),
    /// A checkpoint of ours, built on a blocking thread.
    CheckpointBuilt(Checkpoint),
    /// The log writer failed and stopped.
    StorageFailed(String),
    /// Show the observer the applied state after this turn even if nothing
    /// moved ([`crate::local::LocalPort::refresh`]).
    Refresh,
    Shutdown,
}

/// Where a client's replies go.
pub(crate) enum ReplySink {
    /// Its connection's writer, as encoded frames; bounded, so a client
    /// that does not read loses replies (it retries) instead of growing
    /// the node's memory.
    Wire(FrameSender),
    /// A client in this process ([`crate::local`]), which holds one
    /// request at a time: at most one reply is ever queued.
    Local(mpsc::UnboundedSender<Reply>),
}

/// Something in the node's process that follows the replica as it runs
/// (the etcd front end: its watchers, lease timers and response headers).
pub trait AppObserver<S>: Send + 'static {
    /// Called after each turn in which the replica executed something, or
    /// its view, role or leader changed, or that a
    /// [`crate::local::LocalPort::refresh`] asked for; `app` is the applied
    /// state.
    fn after_turn(&mut self, app: &S, status: &Status);
}

/// The core task's state: the replica, and everything its output goes to.
pub(crate) struct Core<S: StateMachine> {
    replica: Replica<S>,
    io: NodeIo,
    /// Injected partition: peers whose messages are dropped on arrival.
    drop_from: BTreeSet<NodeId>,
    serve_clients: bool,
    observer: Option<Box<dyn AppObserver<S>>>,
    /// What the observer was last shown: (executed, view, role, leader).
    observed: Option<(Slot, synod_core::Ballot, Role, Option<NodeId>)>,
}

/// The node's side of the driver: sockets, the log writer, and what the
/// admin views show.
pub(crate) struct NodeIo {
    id: NodeId,
    start: Instant,
    now: Time,
    writer: LogWriter,
    links: BTreeMap<NodeId, FrameSender>,
    clients: BTreeMap<ClientId, (u64, ReplySink)>,
    log: ProtocolLog,
    /// The last [`MAX_VIEWS`] NEW-VIEWs this node saw, for the admin views.
    views: Vec<ViewRecord>,
    /// Checkpoint digests that differed from a peer's (never expected).
    divergences: u64,
    /// Injected partition: peers this node's messages to are dropped.
    drop_to: BTreeSet<NodeId>,
    /// How commands look in the admin views.
    describe: fn(&[u8]) -> String,
    /// The log writer refused a write: the node must stop.
    failed: Option<String>,
    /// Built checkpoints come back this way.
    inputs: mpsc::UnboundedSender<Input>,
    /// Keeps the metrics endpoint's values current (if the node serves
    /// one).
    metrics: Option<Observer>,
    /// Opens links to members the node learns of through the log.
    dialer: Dialer,
    /// The membership as the accept side sees it; updated here.
    peers: PeerView,
    /// The epoch of the membership the links and `peers` follow.
    epoch: u64,
    /// How long this node's last checkpoint build took, in µs: what it
    /// waits per node before it in the membership (see `checkpoint`).
    last_build_us: Arc<AtomicU64>,
    /// Writes the built checkpoints' snapshot files, one at a time.
    snapshot_files: Arc<Mutex<SnapshotWriter>>,
}

/// The longest a node waits, per member before it, to start building a
/// checkpoint.
const MAX_BUILD_STAGGER: Duration = Duration::from_millis(250);

impl<S: StateMachine + Inspect + 'static> Core<S> {
    pub(crate) fn new(
        replica: Replica<S>,
        writer: LogWriter,
        (mut links, dialer, peers): (BTreeMap<NodeId, FrameSender>, Dialer, PeerView),
        inputs: mpsc::UnboundedSender<Input>,
        metrics: Option<Arc<Metrics>>,
        observer: Option<Box<dyn AppObserver<S>>>,
    ) -> Self {
        // A node restarted after reconfigurations knows members its file
        // may not list (its latest checkpoint holds the membership).
        dialer.link_members(replica.membership(), &mut links);
        let snapshot_files = writer.snapshot_writer();
        let io = NodeIo {
            id: replica.id(),
            start: Instant::now(),
            now: 0,
            writer,
            links,
            clients: BTreeMap::new(),
            log: ProtocolLog::default(),
            views: Vec::new(),
            divergences: 0,
            drop_to: BTreeSet::new(),
            describe: S::describe_command,
            failed: None,
            inputs,
            metrics: metrics.map(Observer::new),
            dialer,
            peers,
            epoch: replica.membership().epoch,
            last_build_us: Arc::new(AtomicU64::new(0)),
            snapshot_files: Arc::new(Mutex::new(snapshot_files)),
        };
        Core {
            replica,
            io,
            drop_from: BTreeSet::new(),
            serve_clients: true,
            observer,
            observed: None,
        }
    }

    fn now(&self) -> Time {
        self.io.start.elapsed().as_micros() as Time
    }

    pub(crate) async fn run(
        mut self,
        mut inputs: mpsc::UnboundedReceiver<Input>,
        tick: Duration,
    ) -> Result<(), NodeError> {
        let tick_us = tick.as_micros() as Time;
        let mut next_tick = self.now() + tick_us;
        loop {
            let wait = Duration::from_micros(next_tick.saturating_sub(self.now()));
            let first = match tokio::time::timeout(wait, inputs.recv()).await {
                Ok(Some(input)) => Some(input),
                Ok(None) => return Ok(()),
                Err(_) => None,
            };
            let now = self.now();
            let mut batch: Vec<Input> = first.into_iter().collect();
            while batch.len() < MAX_TURN_INPUTS {
                match inputs.try_recv() {
                    Ok(input) => batch.push(input),
                    Err(_) => break,
                }
            }
            for input in batch {
                match input {
                    Input::Peer(from, _) if self.drop_from.contains(&from) => {}
                    Input::Request(_) | Input::Read { .. } if !self.serve_clients => {
                        if let Some(m) = &mut self.io.metrics {
                            m.request(false);
                        }
                    }
                    Input::Peer(from, msg) => {
                        if let Some(m) = &mut self.io.metrics {
                            m.received(from, &msg);
                        }
                        self.io.log.received(now, from, &msg);
                        self.replica.on_message(now, from, msg);
                    }
                    Input::Request(request) => {
                        if let Some(m) = &mut self.io.metrics {
                            m.request(true);
                        }
                        self.replica.on_client_request(now, request)
                    }
                    Input::Read {
                        request,
                        serializable,
                    } => {
                        if let Some(m) = &mut self.io.metrics {
                            m.request(true);
                        }
                        self.replica.on_client_read(now, request, serializable)
                    }
                    Input::ClientConnected {
                        client,
                        conn,
                        replies,
                    } => {
                        self.io.clients.insert(client, (conn, replies));
                    }
                    Input::ClientGone { client, conn } => {
                        if self
                            .io
                            .clients
                            .get(&client)
                            .is_some_and(|(c, _)| *c == conn)
                        {
                            self.io.clients.remove(&client);
                        }
                    }
                    Input::Admin(request, reply) => {
                        let _ = reply.send(self.admin(now, request));
                    }
                    Input::Synced(token) => self.replica.persisted(now, token),
                    Input::CheckpointBuilt(checkpoint) => {
                        self.replica.checkpoint_built(now, checkpoint)
                    }
                    Input::StorageFailed(why) => {
                        self.io.storage_failed();
                        return Err(NodeError::StorageFailed(why));
                    }
                    Input::Refresh => self.observed = None,
                    Input::Shutdown => {
                        self.flush(now)?;
                        self.io.writer.finish();
                        return Ok(());
                    }
                }
            }
            if now >= next_tick {
                self.replica.tick(now);
                next_tick = now + tick_us;
            }
            self.flush(now)?;
            if self.io.metrics.is_some() || self.observer.is_some() {
                let status = self.replica.status();
                if let Some(m) = &mut self.io.metrics {
                    m.turn(&status);
                }
                self.observe(&status);
            }
        }
    }

    /// Shows the observer the applied state if anything it follows moved.
    fn observe(&mut self, status: &Status) {
        let Some(observer) = &mut self.observer else {
            return;
        };
        let now = (status.executed, status.view, status.role, status.leader);
        if self.observed != Some(now) {
            self.observed = Some(now);
            observer.after_turn(self.replica.app(), status);
        }
    }

    /// Carries out everything the replica produced.
    fn flush(&mut self, now: Time) -> Result<(), NodeError> {
        self.io.now = now;
        host::drive(&mut self.replica, &mut self.io);
        // The membership moves when a reconfiguration executes, and also
        // when a snapshot from a peer is installed (no `Reconfigured` for
        // the changes it skipped): the epoch catches both.
        if self.replica.membership().epoch != self.io.epoch {
            let membership = self.replica.membership().clone();
            self.io.epoch = membership.epoch;
            self.io.follow_membership(&membership);
        }
        match self.io.failed.take() {
            Some(why) => {
                self.io.storage_failed();
                Err(NodeError::StorageFailed(why))
            }
            None => Ok(()),
        }
    }

    fn admin(&mut self, now: Time, request: AdminRequest) -> AdminReply {
        match request {
            AdminRequest::Status => {
                let s = self.replica.status();
                AdminReply::Status(NodeStatus {
                    id: s.id,
                    role: s.role,
                    ballot: s.view,
                    promised: s.promised,
                    leader: s.leader,
                    commit: s.commit,
                    executed: s.executed,
                    uptime_ms: now / 1000,
                })
            }
            AdminRequest::Db => AdminReply::Db {
                executed: self.replica.status().executed,
                state: self.replica.app().export(),
            },
            AdminRequest::Log => AdminReply::Log(self.io.log.render()),
            AdminRequest::Slot(slot) => {
                let executed = self.replica.status().executed;
                let accepted = self.replica.accepted(slot).cloned();
                let chosen = self.replica.chosen(slot).cloned();
                // Executed slots read E here even below the checkpoint: this
                // view answers "did it execute", the grid "what is left".
                let state = slot_state(slot, 0, executed, chosen.is_some(), accepted.is_some());
                let value = chosen.or_else(|| accepted.as_ref().map(|(_, v)| v.clone()));
                AdminReply::Slot(SlotStatus {
                    slot,
                    state,
                    ballot: accepted.map(|(b, _)| b),
                    value: value.as_ref().map(|v| describe(v, S::describe_command)),
                })
            }
            AdminRequest::Views => AdminReply::Views(self.io.views.clone()),
            AdminRequest::Slots { from, count } => {
                let status = self.replica.status();
                let from = from.max(1);
                let slots = (from..from.saturating_add(u64::from(count.min(MAX_SLOTS))))
                    .map(|slot| {
                        let accepted = self.replica.accepted(slot).cloned();
                        let chosen = self.replica.chosen(slot).cloned();
                        let state = slot_state(
                            slot,
                            status.truncated,
                            status.executed,
                            chosen.is_some(),
                            accepted.is_some(),
                        );
                        let value = chosen.or_else(|| accepted.as_ref().map(|(_, v)| v.clone()));
                        SlotStatus {
                            slot,
                            state,
                            ballot: accepted.map(|(b, _)| b),
                            value: value
                                .as_ref()
                                .map(|v| describe_short(v, S::describe_command, SLOT_VALUE_CHARS)),
                        }
                    })
                    .collect();
                AdminReply::Slots {
                    truncated: status.truncated,
                    checkpoint: status.checkpoint,
                    slots,
                }
            }
            AdminRequest::Members => AdminReply::Members(self.replica.membership().clone()),
            AdminRequest::TransferLeader { to } => {
                match self.replica.transfer_leadership(now, to) {
                    Ok(()) => {
                        tracing::info!(node = %self.io.id, %to, "leader transfer asked by admin");
                        AdminReply::Done
                    }
                    Err(why) => AdminReply::Refused(why.to_string()),
                }
            }
            AdminRequest::Change(change) => {
                let what = format!("{change:?}");
                match self.replica.propose_change(now, change) {
                    Ok(()) => {
                        tracing::info!(node = %self.io.id, change = %what, "membership change asked by admin");
                        self.io
                            .note(now, || format!("membership change asked: {what}"));
                        AdminReply::Done
                    }
                    Err(why) => AdminReply::Refused(why.to_string()),
                }
            }
            AdminRequest::Partition {
                drop_from,
                drop_to,
                serve_clients,
            } => {
                tracing::info!(node = %self.io.id, ?drop_from, ?drop_to, serve_clients, "partition set by admin");
                self.io.note(now, || {
                    format!("partition: drop from {drop_from:?}, drop to {drop_to:?}, serve clients {serve_clients}")
                });
                self.drop_from = drop_from.into_iter().collect();
                self.io.drop_to = drop_to.into_iter().collect();
                self.serve_clients = serve_clients;
                AdminReply::Done
            }
        }
    }
}

/// How far `slot` has come at a node that truncated its log through
/// `truncated` and executed through `executed`.
fn slot_state(
    slot: Slot,
    truncated: Slot,
    executed: Slot,
    chosen: bool,
    accepted: bool,
) -> SlotState {
    if slot <= truncated && slot > 0 {
        SlotState::Truncated
    } else if slot <= executed && slot > 0 {
        SlotState::Executed
    } else if chosen {
        SlotState::Chosen
    } else if accepted {
        SlotState::Accepted
    } else {
        SlotState::Unknown
    }
}

impl NodeIo {
    /// Tells the metrics endpoint, for the moment the node still runs.
    fn storage_failed(&self) {
        if let Some(m) = &self.metrics {
            m.storage_failed();
        }
    }

    /// Points the links and the accept side at the membership the replica
    /// now holds (after a reconfiguration executed or a snapshot was
    /// installed): links to new members open, links to removed ones
    /// close (their tasks end once the queue drains).
    fn follow_membership(&mut self, membership: &synod_core::Membership) {
        for gone in self.peers.reconfigured(membership) {
            if self.links.remove(&gone).is_some() {
                tracing::info!(node = %self.id, peer = %gone, "closed the link to a removed node");
            }
        }
        self.dialer.link_members(membership, &mut self.links);
    }

    /// Records a line for `synod admin log`.
    fn note(&mut self, now: Time, line: impl FnOnce() -> String) {
        self.log.text(now, line);
    }
}

impl<S: StateMachine + 'static> host::Io<S> for NodeIo {
    fn event(&mut self, event: Event) {
        let (id, now) = (self.id, self.now);
        if let Some(m) = &mut self.metrics {
            m.event(&event);
        }
        match &event {
            Event::Elected { ballot } => tracing::info!(node = %id, %ballot, "elected leader"),
            Event::SteppedDown { ballot, why } => {
                tracing::info!(node = %id, %ballot, "stepped down: {why}")
            }
            Event::Suspected { leader } => {
                tracing::info!(node = %id, ?leader, "suspects the leader")
            }
            Event::Divergence { slot, peer, .. } => {
                self.divergences += 1;
                tracing::error!(
                    node = %id,
                    slot,
                    %peer,
                    total = self.divergences,
                    "REPLICA DIVERGENCE: our state digest at checkpoint {slot} differs from {peer}'s"
                );
            }
            Event::Truncated { slot } => tracing::debug!(node = %id, slot, "log truncated"),
            Event::Reconfigured { slot, membership } => {
                tracing::info!(
                    node = %id,
                    slot,
                    epoch = membership.epoch,
                    voters = ?membership.voters(),
                    members = ?membership.ids(),
                    "membership changed"
                );
            }
            Event::SnapshotInstalled { slot } => {
                tracing::info!(node = %id, slot, "installed a snapshot from a peer (state transfer)")
            }
            Event::NewView {
                ballot,
                start,
                entries,
            } => {
                tracing::info!(node = %id, %ballot, start, entries = entries.len(), "new view");
                let describe_command = self.describe;
                // The latest ones only: a long-lived node sees many.
                if self.views.len() >= MAX_VIEWS {
                    self.views.remove(0);
                }
                self.views
                    .push(view_record(*ballot, *start, entries, describe_command, now));
            }
            _ => {}
        }
        self.note(now, || event_line(&event));
    }

    fn send(&mut self, env: Envelope) {
        if self.drop_to.contains(&env.to) {
            return;
        }
        self.log.sent(self.now, env.to, &env.msg);
        if let Some(link) = self.links.get(&env.to) {
            if let Some(m) = &mut self.metrics {
                m.sending(&env.msg);
            }
            let kind = env.msg.kind();
            let frame = encode(&Frame::Peer(env.msg));
            if frame.len() > self.dialer.file.max_frame_bytes {
                // The peer would close the link on it, and with it
                // everything queued behind it; resending it never helps.
                tracing::error!(
                    to = %env.to,
                    "a {kind} message of {} bytes exceeds max_frame_bytes ({}); not sent",
                    frame.len(),
                    self.dialer.file.max_frame_bytes
                );
                if let Some(m) = &mut self.metrics {
                    m.send_failed(env.to);
                }
                return;
            }
            // A full queue (a slow or dead peer) drops the message: the
            // protocol resends what matters.
            let queued = link.try_send(frame).is_ok();
            if !queued && let Some(m) = &mut self.metrics {
                m.send_failed(env.to);
            }
        }
    }

    fn reply(&mut self, reply: Reply) {
        let outcome = match self.clients.get(&reply.client) {
            Some((_, ReplySink::Wire(tx))) => match tx.try_send(encode(&Frame::Reply(reply))) {
                Ok(()) => ReplyOutcome::Sent,
                Err(NotQueued::Full) => ReplyOutcome::ConnectionFull,
                Err(NotQueued::Closed) => ReplyOutcome::ClientGone,
            },
            Some((_, ReplySink::Local(tx))) => match tx.send(reply) {
                Ok(()) => ReplyOutcome::Sent,
                Err(_) => ReplyOutcome::ClientGone,
            },
            None => ReplyOutcome::ClientGone,
        };
        if let Some(m) = &mut self.metrics {
            m.reply(outcome);
        }
    }

    fn write(&mut self, write: Write) {
        if self.failed.is_none()
            && let Err(why) = self.writer.submit(write)
        {
            self.failed = Some(why);
        }
    }

    /// Serialising and hashing a large state takes a while: a blocking
    /// thread does it, and the core task goes on. It also writes the
    /// snapshot to its file, so that the compaction recording the
    /// checkpoint later costs the log writer a reference, not the state
    /// (`snapshot_file`: the file holds what the snapshot does not share
    /// with the one before); if it cannot, the compaction writes the
    /// snapshot into the log itself.
    ///
    /// Every member checkpoints at the same slot; building all at once
    /// made every node slow at the same moment (a build walks, hashes and
    /// writes the whole state). So each waits first, for as long as its
    /// last build took (at most [`MAX_BUILD_STAGGER`]) times the members
    /// before it in id order: builds follow one another, and the first
    /// ones (a quorum's) let the log be truncated. The replica does not
    /// depend on when a build ends. Measured in docs/performance.md ("What
    /// each change bought").
    fn checkpoint(&mut self, job: CheckpointJob<S>) {
        let inputs = self.inputs.clone();
        let timer = self.metrics.as_ref().map(Observer::checkpoint_timer);
        let files = self.snapshot_files.clone();
        let node = self.id;
        let rank = self.peers.rank(node);
        let last_build_us = self.last_build_us.clone();
        let last = Duration::from_micros(last_build_us.load(Ordering::Relaxed));
        let wait = last.min(MAX_BUILD_STAGGER) * rank as u32;
        tokio::task::spawn_blocking(move || {
            std::thread::sleep(wait);
            let started = Instant::now();
            let mut files = files.lock().unwrap_or_else(|p| p.into_inner());
            let checkpoint = job.build_after(&mut files.digests);
            let written = files.write(checkpoint.slot, &checkpoint.snapshot);
            drop(files);
            if let Err(e) = written {
                tracing::warn!(%node, slot = checkpoint.slot, "checkpoint snapshot file not written ({e}); the log will hold it");
            }
            let took = started.elapsed();
            last_build_us.store(took.as_micros() as u64, Ordering::Relaxed);
            if let Some(timer) = timer {
                timer.observe(took.as_secs_f64());
            }
            let _ = inputs.send(Input::CheckpointBuilt(checkpoint));
        });
    }
}

/// A NEW-VIEW as the admin views keep it: each entry described in at most
/// [`SLOT_VALUE_CHARS`] characters. A NEW-VIEW can carry hundreds of slots
/// of large batches (a whole cluster restarted under load re-proposes its
/// log's tail); describing every command in full blocked the core task for
/// over a second, long enough for the new leader to lose its quorum and
/// step down, again at every election.
fn view_record(
    ballot: synod_core::Ballot,
    start: Slot,
    entries: &[Value],
    describe_command: fn(&[u8]) -> String,
    now: Time,
) -> ViewRecord {
    ViewRecord {
        ballot,
        start,
        entries: entries
            .iter()
            .map(|v| describe_short(v, describe_command, SLOT_VALUE_CHARS))
            .collect(),
        uptime_ms: now / 1000,
    }
}

/// An event's line for `synod admin log`: a NEW-VIEW by its size only (its
/// entries are in the views), anything else as it prints.
fn event_line(event: &Event) -> String {
    match event {
        Event::NewView {
            ballot,
            start,
            entries,
        } => format!(
            "NewView {{ ballot: {ballot}, start: {start}, entries: {} }}",
            entries.len()
        ),
        other => format!("{other:?}"),
    }
}

/// How much of a slot's value one [`AdminRequest::Slots`] answer carries.
const SLOT_VALUE_CHARS: usize = 240;

/// `text` cut to at most `max` characters, marked when cut.
fn shorten(mut text: String, max: usize) -> String {
    if let Some((cut, _)) = text.char_indices().nth(max) {
        text.truncate(cut);
        text.push('…');
    }
    text
}

/// [`describe`] cut to `max` characters, describing only as many of a
/// batch's commands as fit: a batch of a thousand commands costs a few
/// descriptions, not a thousand.
fn describe_short(value: &Value, describe_command: fn(&[u8]) -> String, max: usize) -> String {
    let Value::Batch(requests) = value else {
        return shorten(describe(value, describe_command), max);
    };
    let mut text = String::new();
    let mut shown = 0;
    for r in requests {
        if text.len() >= max {
            break;
        }
        if shown > 0 {
            text.push_str("; ");
        }
        let command = shorten(describe_command(&r.command), max);
        text.push_str(&format!("{}@{} {command}", r.client, r.timestamp));
        shown += 1;
    }
    let mut text = shorten(text, max);
    if shown < requests.len() {
        text.push_str(&format!(" (+{} more)", requests.len() - shown));
    }
    text
}

/// A slot's value for a person: each request's client, timestamp and
/// command as the application describes it.
fn describe(value: &Value, describe_command: fn(&[u8]) -> String) -> String {
    match value {
        Value::Noop => "no-op".into(),
        Value::Reconfigure(_) => format!("{value:?}"),
        Value::Batch(requests) => {
            let parts: Vec<String> = requests
                .iter()
                .map(|r| {
                    let command = describe_command(&r.command);
                    format!("{}@{} {command}", r.client, r.timestamp)
                })
                .collect();
            parts.join("; ")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use synod_core::{Ballot, ClientId};

    /// A command that describes itself as long as etcd's and the kv's
    /// debug output of a 256-byte value does.
    fn verbose(command: &[u8]) -> String {
        format!("{:?}", command.repeat(4))
    }

    /// A NEW-VIEW of a restarted cluster's tail: 900 slots of 64 requests.
    fn big_view() -> Vec<Value> {
        (0..900u64)
            .map(|slot| {
                Value::Batch(
                    (0..64u64)
                        .map(|i| Request {
                            client: ClientId(i + 1),
                            timestamp: slot,
                            command: Bytes::from(vec![7u8; 256]),
                        })
                        .collect(),
                )
            })
            .collect()
    }

    #[test]
    fn a_large_new_view_is_kept_and_logged_in_bounded_space() {
        let entries = big_view();
        let ballot = Ballot {
            round: 3,
            node: NodeId(1),
        };
        let record = view_record(ballot, 501, &entries, verbose, 0);
        assert_eq!(record.entries.len(), entries.len());
        for e in &record.entries {
            // Cut to the limit, and says how many commands were left out.
            assert!(e.chars().count() <= SLOT_VALUE_CHARS + 16, "{}", e.len());
            assert!(e.ends_with("more)"), "{e}");
        }
        let line = event_line(&Event::NewView {
            ballot,
            start: 501,
            entries,
        });
        assert_eq!(
            line,
            "NewView { ballot: (3, n1), start: 501, entries: 900 }"
        );
    }
}

//! The node runtime: one synod node as an OS process.
//!
//! One thread runs every task (a current-thread tokio runtime), so handing
//! an input from a socket to the replica and a message from the replica to
//! a socket wakes no other thread; only the disk has a thread of its own.
//! - the core task owns the [`Replica`]. Each turn it takes every input
//!   that has arrived (peer messages, client requests, admin queries, the
//!   clock, the log writer's reports), feeds them all to the replica, then
//!   carries out its `Ready` in the order the core demands: send `messages`
//!   and `replies`, hand `persist` to the log writer, and hold
//!   `persisted_messages` until the writer reports that turn durable.
//! - the log writer thread owns the write-ahead log (see [`crate::log_writer`]):
//!   it writes every turn queued and fsyncs once for all of them, so the
//!   core task goes on working (a leader counts ACCEPTEDs and replies to
//!   clients) while the disk syncs.
//! - tokio tasks own the sockets: a listener per address, a reader per
//!   inbound connection (handshake first: strangers are refused with a
//!   logged reason), and an outgoing link per peer that reconnects with
//!   backoff and drains a bounded queue.

use crate::config::ClusterFile;
use crate::log_writer::{DurableOutbox, Job, LogWriter};
use crate::net::{FrameReader, LINK_QUEUE, ReadError, run_link};
use crate::store::Wal;
use crate::wire::{
    AdminReply, AdminRequest, Caller, Frame, NodeStatus, SlotStatus, ViewRecord, encode,
};
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use synod_apps::Services;
use synod_core::{
    ClientId, Envelope, Event, Message, NodeId, PersistOp, Replica, Request, Role, Time,
};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};

/// How long a new connection has to introduce itself.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// Lines kept for `synod admin log`.
const LOG_LINES: usize = 2000;

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("node {0} is not in the cluster file")]
    NotAMember(u32),
    #[error("cannot listen on {addr} ({what}): {source}")]
    Bind {
        addr: SocketAddr,
        what: &'static str,
        source: std::io::Error,
    },
    #[error("{0}")]
    Storage(String),
    #[error("storage failed, stopping so nothing unpersisted is acknowledged: {0}")]
    StorageFailed(String),
}

enum Input {
    Peer(NodeId, Message),
    ClientConnected {
        client: ClientId,
        conn: u64,
        replies: mpsc::Sender<Bytes>,
    },
    ClientGone {
        client: ClientId,
        conn: u64,
    },
    Request(Request),
    Admin(AdminRequest, oneshot::Sender<AdminReply>),
    /// The log writer made every turn up to this one durable.
    Synced(u64),
    /// The log writer failed and stopped.
    StorageFailed(String),
    Shutdown,
}

/// How a node starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// From its data directory, which must exist.
    Existing,
    /// From its data directory, creating a fresh one if there is none
    /// (a new cluster).
    Init,
    /// A node whose disk was lost, into a running cluster: it starts empty
    /// and rejoins as a learner that never votes (see `Replica::restore`):
    /// that status is written and synced before anything else.
    Rejoin,
}

/// Runs node `id` until `shutdown` resolves or storage fails.
pub async fn run(
    cluster: ClusterFile,
    id: u32,
    start: Start,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), NodeError> {
    let me = cluster.node(id).ok_or(NodeError::NotAMember(id))?.clone();
    let dir = cluster.node_dir(id);
    let (mut wal, mut recovery) =
        Wal::open(&dir, start != Start::Existing).map_err(|e| NodeError::Storage(e.to_string()))?;
    if start == Start::Rejoin && !recovery.state.non_voting {
        if recovery.records > 0 {
            return Err(NodeError::Storage(format!(
                "refusing --rejoin: {} holds this node's log; start it normally (--rejoin is for a node whose disk was lost)",
                dir.display()
            )));
        }
        // Durable before the node does anything: a crash before this
        // record reaches the disk must not bring the node back as a voter.
        let marked = wal
            .append(&[PersistOp::NonVoting])
            .and_then(|()| wal.sync());
        marked.map_err(|e| NodeError::Storage(e.to_string()))?;
        recovery.state.non_voting = true;
    }
    if let Some(torn) = &recovery.torn_tail {
        tracing::warn!(
            node = id,
            file = %torn.file.display(),
            offset = torn.offset,
            dropped = torn.dropped_bytes,
            "cut off a torn write at the end of the log (a crash mid-write: never acknowledged)"
        );
    }
    tracing::info!(
        node = id,
        records = recovery.records,
        promised = %recovery.state.promised,
        accepted = recovery.state.accepted.len(),
        "recovered from {}",
        dir.display()
    );
    let peer_listener = TcpListener::bind(me.addr)
        .await
        .map_err(|source| NodeError::Bind {
            addr: me.addr,
            what: "peers",
            source,
        })?;
    let client_listener =
        TcpListener::bind(me.client_addr)
            .await
            .map_err(|source| NodeError::Bind {
                addr: me.client_addr,
                what: "clients",
                source,
            })?;

    let (input_tx, input_rx) = mpsc::unbounded_channel::<Input>();
    let mut links = BTreeMap::new();
    for peer in cluster.nodes.iter().filter(|n| n.id != id) {
        let (tx, rx) = mpsc::channel(LINK_QUEUE);
        links.insert(NodeId(peer.id), tx);
        tokio::spawn(run_link(
            peer.addr,
            cluster.cluster_id.clone(),
            Caller::Peer(NodeId(id)),
            cluster.max_frame_bytes,
            rx,
            None,
        ));
    }
    let context = Context {
        cluster: cluster.clone(),
        me: NodeId(id),
        inputs: input_tx.clone(),
    };
    tokio::spawn(accept_loop(peer_listener, context.clone()));
    tokio::spawn(accept_loop(client_listener, context));

    if recovery.state.non_voting {
        tracing::warn!(
            node = id,
            "this node lost its disk once: it learns and serves, but never votes again"
        );
    }
    let replica = Replica::restore(
        cluster.core_config(id),
        Services::default(),
        recovery.state,
        0,
    );
    let tick = Duration::from_millis(cluster.timers.tick_ms);
    let writer = {
        let inputs = input_tx.clone();
        let pacing = Duration::from_micros(cluster.storage.sync_pacing_us);
        LogWriter::start(wal, format!("synod-wal-n{id}"), pacing, move |result| {
            let _ = inputs.send(match result {
                Ok(turn) => Input::Synced(turn),
                Err(e) => Input::StorageFailed(e.to_string()),
            });
        })
        .map_err(|e| NodeError::Storage(format!("cannot start the log writer: {e}")))?
    };
    let core = Core::new(replica, writer, links).run(input_rx, tick);
    tokio::pin!(core);
    tracing::info!(node = id, peers = %me.addr, clients = %me.client_addr, "node up");
    tokio::select! {
        _ = shutdown => {
            tracing::info!(node = id, "shutting down");
            let _ = input_tx.send(Input::Shutdown);
            core.await
        }
        result = &mut core => result,
    }
}

#[derive(Clone)]
struct Context {
    cluster: ClusterFile,
    me: NodeId,
    inputs: mpsc::UnboundedSender<Input>,
}

async fn accept_loop(listener: TcpListener, ctx: Context) {
    let mut next_conn = 0u64;
    loop {
        let (stream, from) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        next_conn += 1;
        let ctx = ctx.clone();
        let conn = next_conn;
        tokio::spawn(async move {
            if let Err(reason) = serve_connection(stream, ctx, conn).await {
                tracing::warn!(%from, "connection closed: {reason}");
            }
        });
    }
}

/// Handles one inbound connection from handshake to close. Returns why it
/// ended abnormally (for the log); the node is unaffected either way.
async fn serve_connection(stream: TcpStream, ctx: Context, conn: u64) -> Result<(), String> {
    let _ = stream.set_nodelay(true);
    let (read, mut write) = stream.into_split();
    let mut reader = FrameReader::new(read, ctx.cluster.max_frame_bytes);
    let first = match tokio::time::timeout(HANDSHAKE_TIMEOUT, reader.next()).await {
        Err(_) => return Err("no handshake within 5 s".into()),
        Ok(Err(ReadError::Closed)) => return Ok(()),
        Ok(Err(e)) => return refuse(&mut write, format!("bad handshake: {e}")).await,
        Ok(Ok(frame)) => frame,
    };
    let caller = match first {
        Frame::Hello { cluster, .. } if cluster != ctx.cluster.cluster_id => {
            let reason = format!(
                "cluster id {cluster:?} is not ours ({:?})",
                ctx.cluster.cluster_id
            );
            return refuse(&mut write, reason).await;
        }
        Frame::Hello {
            caller: Caller::Peer(p),
            ..
        } if p == ctx.me || ctx.cluster.node(p.0).is_none() => {
            return refuse(&mut write, format!("{p} is not a peer of {}", ctx.me)).await;
        }
        Frame::Hello { caller, .. } => caller,
        other => {
            return refuse(
                &mut write,
                format!("expected a handshake, got {}", frame_name(&other)),
            )
            .await;
        }
    };
    use tokio::io::AsyncWriteExt;
    write
        .write_all(&encode(&Frame::Welcome { node: ctx.me }))
        .await
        .map_err(|e| e.to_string())?;
    match caller {
        Caller::Peer(peer) => loop {
            match reader.next().await {
                Ok(Frame::Peer(msg)) => {
                    if ctx.inputs.send(Input::Peer(peer, msg)).is_err() {
                        return Ok(());
                    }
                }
                Ok(other) => {
                    return Err(format!(
                        "{peer} sent a {} frame on a peer link",
                        frame_name(&other)
                    ));
                }
                Err(ReadError::Closed) => return Ok(()),
                Err(e) => return Err(format!("{peer}: {e}")),
            }
        },
        Caller::Client(_) | Caller::ClientGroup => {
            let (tx, mut rx) = mpsc::channel::<Bytes>(4096);
            let writer = tokio::spawn(async move {
                while let Some(first) = rx.recv().await {
                    if crate::net::pump(&mut write, first, &mut rx).await.is_err() {
                        return;
                    }
                }
            });
            // The clients whose replies go back on this connection.
            let mut registered: Vec<ClientId> = Vec::new();
            let result = loop {
                let frame = reader.next().await;
                match frame {
                    Ok(Frame::Request(r)) => {
                        if let Caller::Client(client) = caller
                            && r.client != client
                        {
                            break Err(format!("{client} sent a request stamped as {}", r.client));
                        }
                        if !registered.contains(&r.client) {
                            registered.push(r.client);
                            let _ = ctx.inputs.send(Input::ClientConnected {
                                client: r.client,
                                conn,
                                replies: tx.clone(),
                            });
                        }
                        if ctx.inputs.send(Input::Request(r)).is_err() {
                            break Ok(());
                        }
                    }
                    Ok(other) => {
                        break Err(format!("a client sent a {} frame", frame_name(&other)));
                    }
                    Err(ReadError::Closed) => break Ok(()),
                    Err(e) => break Err(format!("client connection: {e}")),
                }
            };
            for client in registered {
                let _ = ctx.inputs.send(Input::ClientGone { client, conn });
            }
            writer.abort();
            result
        }
        Caller::Admin => loop {
            match reader.next().await {
                Ok(Frame::Admin(request)) => {
                    let (tx, rx) = oneshot::channel();
                    if ctx.inputs.send(Input::Admin(request, tx)).is_err() {
                        return Ok(());
                    }
                    let Ok(reply) = rx.await else { return Ok(()) };
                    write
                        .write_all(&encode(&Frame::AdminReply(reply)))
                        .await
                        .map_err(|e| e.to_string())?;
                }
                Ok(other) => return Err(format!("admin sent a {} frame", frame_name(&other))),
                Err(ReadError::Closed) => return Ok(()),
                Err(e) => return Err(format!("admin: {e}")),
            }
        },
    }
}

async fn refuse(write: &mut tokio::net::tcp::OwnedWriteHalf, reason: String) -> Result<(), String> {
    use tokio::io::AsyncWriteExt;
    let _ = write
        .write_all(&encode(&Frame::Refused {
            reason: reason.clone(),
        }))
        .await;
    Err(format!("refused: {reason}"))
}

fn frame_name(frame: &Frame) -> &'static str {
    match frame {
        Frame::Hello { .. } => "HELLO",
        Frame::Welcome { .. } => "WELCOME",
        Frame::Refused { .. } => "REFUSED",
        Frame::Peer(_) => "PEER",
        Frame::Request(_) => "REQUEST",
        Frame::Reply(_) => "REPLY",
        Frame::Admin(_) => "ADMIN",
        Frame::AdminReply(_) => "ADMIN-REPLY",
    }
}

/// The core task's state.
struct Core {
    replica: Replica<Services>,
    writer: LogWriter,
    /// `persisted_messages` waiting for the writer's syncs.
    outbox: DurableOutbox<Envelope>,
    links: BTreeMap<NodeId, mpsc::Sender<Bytes>>,
    clients: BTreeMap<ClientId, (u64, mpsc::Sender<Bytes>)>,
    start: Instant,
    local: VecDeque<Message>,
    log: VecDeque<(Time, String)>,
    views: Vec<ViewRecord>,
    dropped: u64,
    /// Checkpoint digests that differed from a peer's (never expected).
    divergences: u64,
    /// Injected partition: peers whose messages are dropped on arrival, and
    /// peers this node's messages to are dropped.
    drop_from: BTreeSet<NodeId>,
    drop_to: BTreeSet<NodeId>,
    serve_clients: bool,
}

impl Core {
    fn new(
        replica: Replica<Services>,
        writer: LogWriter,
        links: BTreeMap<NodeId, mpsc::Sender<Bytes>>,
    ) -> Self {
        Core {
            replica,
            writer,
            outbox: DurableOutbox::default(),
            links,
            clients: BTreeMap::new(),
            start: Instant::now(),
            local: VecDeque::new(),
            log: VecDeque::new(),
            views: Vec::new(),
            dropped: 0,
            divergences: 0,
            drop_from: BTreeSet::new(),
            drop_to: BTreeSet::new(),
            serve_clients: true,
        }
    }

    fn now(&self) -> Time {
        self.start.elapsed().as_micros() as Time
    }

    async fn run(
        mut self,
        mut inputs: mpsc::UnboundedReceiver<Input>,
        tick: Duration,
    ) -> Result<(), NodeError> {
        let tick_us = tick.as_micros() as Time;
        let mut next_tick = self.now() + tick_us;
        loop {
            let now = self.now();
            let wait = Duration::from_micros(next_tick.saturating_sub(now));
            let first = if self.local.is_empty() {
                match tokio::time::timeout(wait, inputs.recv()).await {
                    Ok(Some(input)) => Some(input),
                    Ok(None) => return Ok(()),
                    Err(_) => None,
                }
            } else {
                // Messages to itself are waiting: let the socket tasks run
                // first, then take them with whatever else arrived.
                tokio::task::yield_now().await;
                None
            };
            let now = self.now();
            let mut batch: Vec<Input> = first.into_iter().collect();
            while batch.len() < 8192 {
                match inputs.try_recv() {
                    Ok(input) => batch.push(input),
                    Err(_) => break,
                }
            }
            let me = self.replica.id();
            while let Some(msg) = self.local.pop_front() {
                self.replica.on_message(now, me, msg);
            }
            for input in batch {
                match input {
                    Input::Peer(from, _) if self.drop_from.contains(&from) => {}
                    Input::Request(_) if !self.serve_clients => {}
                    Input::Peer(from, msg) => {
                        if !routine(&msg) {
                            self.note(now, || {
                                format!("recv {} from {from}{}", msg.kind(), slot_of(&msg))
                            });
                        }
                        self.replica.on_message(now, from, msg);
                    }
                    Input::Request(request) => self.replica.on_client_request(now, request),
                    Input::ClientConnected {
                        client,
                        conn,
                        replies,
                    } => {
                        self.clients.insert(client, (conn, replies));
                    }
                    Input::ClientGone { client, conn } => {
                        if self.clients.get(&client).is_some_and(|(c, _)| *c == conn) {
                            self.clients.remove(&client);
                        }
                    }
                    Input::Admin(request, reply) => {
                        let _ = reply.send(self.admin(request));
                    }
                    Input::Synced(turn) => {
                        for env in self.outbox.synced(turn) {
                            self.send(now, env);
                        }
                    }
                    Input::StorageFailed(why) => return Err(NodeError::StorageFailed(why)),
                    Input::Shutdown => {
                        self.flush(now)?;
                        self.writer.finish();
                        return Ok(());
                    }
                }
            }
            if now >= next_tick {
                self.replica.tick(now);
                next_tick = now + tick_us;
            }
            self.flush(now)?;
        }
    }

    /// Carries out everything the replica produced, in the contract's order.
    fn flush(&mut self, now: Time) -> Result<(), NodeError> {
        let ready = self.replica.ready();
        for event in ready.events {
            self.on_event(now, event);
        }
        for env in ready.messages {
            self.send(now, env);
        }
        for reply in ready.replies {
            if let Some((_, tx)) = self.clients.get(&reply.client) {
                let _ = tx.try_send(encode(&Frame::Reply(reply)));
            }
        }
        if !ready.persist.is_empty() || ready.compact.is_some() {
            let job = Job {
                turn: self.outbox.next_turn(),
                persist: ready.persist,
                compact: ready.compact,
            };
            self.writer.submit(job).map_err(NodeError::StorageFailed)?;
        }
        for env in self.outbox.after_durable(ready.persisted_messages) {
            self.send(now, env);
        }
        Ok(())
    }

    fn send(&mut self, now: Time, env: Envelope) {
        if env.to == self.replica.id() {
            self.local.push_back(env.msg);
            return;
        }
        if self.drop_to.contains(&env.to) {
            return;
        }
        if !routine(&env.msg) {
            self.note(now, || {
                format!("send {} to {}{}", env.msg.kind(), env.to, slot_of(&env.msg))
            });
        }
        if let Some(link) = self.links.get(&env.to)
            && link.try_send(encode(&Frame::Peer(env.msg))).is_err()
        {
            self.dropped += 1;
        }
    }

    /// Records a line for `synod admin log`.
    fn note(&mut self, now: Time, line: impl FnOnce() -> String) {
        let line = line();
        if self.log.len() >= LOG_LINES {
            self.log.pop_front();
        }
        self.log.push_back((now, line));
    }

    fn on_event(&mut self, now: Time, event: Event) {
        let id = self.replica.id();
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
            Event::SnapshotInstalled { slot } => {
                tracing::info!(node = %id, slot, "installed a snapshot from a peer (state transfer)")
            }
            Event::NewView {
                ballot,
                start,
                entries,
            } => {
                tracing::info!(node = %id, %ballot, start, entries = entries.len(), "new view");
                self.views.push(ViewRecord {
                    ballot: *ballot,
                    start: *start,
                    entries: entries.iter().map(describe).collect(),
                    uptime_ms: now / 1000,
                });
            }
            _ => {}
        }
        self.note(now, || format!("{event:?}"));
    }

    fn admin(&mut self, request: AdminRequest) -> AdminReply {
        let now = self.now();
        match request {
            AdminRequest::Status => {
                let s = self.replica.status();
                let role = match s.role {
                    _ if self.replica.is_non_voting() => "learner",
                    Role::Leader => "leader",
                    Role::Candidate => "candidate",
                    Role::Follower => "follower",
                };
                AdminReply::Status(NodeStatus {
                    id: s.id,
                    role: role.into(),
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
                services: postcard::to_stdvec(self.replica.app()).unwrap_or_default(),
            },
            AdminRequest::Log => AdminReply::Log(
                self.log
                    .iter()
                    .map(|(t, line)| format!("{:>8}.{:03} {line}", t / 1000, t % 1000))
                    .collect(),
            ),
            AdminRequest::Slot(slot) => {
                let executed = self.replica.status().executed;
                let accepted = self.replica.accepted(slot).cloned();
                let chosen = self.replica.chosen(slot).cloned();
                let state = if slot <= executed && slot > 0 {
                    'E'
                } else if chosen.is_some() {
                    'C'
                } else if accepted.is_some() {
                    'A'
                } else {
                    'X'
                };
                let value = chosen.or_else(|| accepted.as_ref().map(|(_, v)| v.clone()));
                AdminReply::Slot(SlotStatus {
                    slot,
                    state,
                    ballot: accepted.map(|(b, _)| b),
                    value: value.as_ref().map(describe),
                })
            }
            AdminRequest::Views => AdminReply::Views(self.views.clone()),
            AdminRequest::Partition {
                drop_from,
                drop_to,
                serve_clients,
            } => {
                tracing::info!(node = %self.replica.id(), ?drop_from, ?drop_to, serve_clients, "partition set by admin");
                self.note(now, || {
                    format!("partition: drop from {drop_from:?}, drop to {drop_to:?}, serve clients {serve_clients}")
                });
                self.drop_from = drop_from.into_iter().collect();
                self.drop_to = drop_to.into_iter().collect();
                self.serve_clients = serve_clients;
                AdminReply::Done
            }
        }
    }
}

/// A slot's value for a person: each request's client, timestamp and
/// decoded command.
fn describe(value: &synod_core::Value) -> String {
    match value {
        synod_core::Value::Noop => "no-op".into(),
        synod_core::Value::Batch(requests) => {
            let parts: Vec<String> = requests
                .iter()
                .map(|r| match synod_apps::decode_command(&r.command) {
                    Ok(command) => format!("{}@{} {command:?}", r.client, r.timestamp),
                    Err(_) => format!(
                        "{}@{} ({} bytes, not a synod command)",
                        r.client,
                        r.timestamp,
                        r.command.len()
                    ),
                })
                .collect();
            parts.join("; ")
        }
    }
}

/// Heartbeats are left out of `synod admin log`: they would drown the rest.
fn routine(msg: &Message) -> bool {
    matches!(
        msg,
        Message::Heartbeat { .. } | Message::HeartbeatAck { .. }
    )
}

fn slot_of(msg: &Message) -> String {
    match msg {
        Message::Accept { slot, .. } => format!(" slot {slot}"),
        Message::Accepted { first, last, .. } if first == last => format!(" slot {first}"),
        Message::Accepted { first, last, .. } => format!(" slots {first}..={last}"),
        Message::NewView { start, entries, .. } => format!(" slots {start}..+{}", entries.len()),
        Message::Prepare { ballot, .. } | Message::Promise { ballot, .. } => format!(" {ballot}"),
        _ => String::new(),
    }
}

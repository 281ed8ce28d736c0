//! The client library: the sans-IO client of synod-core behind a tokio
//! transport.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! // Any application's commands: here the built-in ones of synod-apps.
//! use synod_apps::{BankOp, Command};
//! use synod_node::client::{ClientOptions, CommandResult, SynodClient};
//! let cluster = synod_node::ClusterFile::load("cluster.toml".as_ref())?;
//! let mut client = SynodClient::new(&cluster, ClientOptions::default())?;
//! let op = Command::Bank(BankOp::Transfer { from: "A".into(), to: "B".into(), amount: 3 });
//! match client.execute(&op).await {
//!     CommandResult::Ok(outcome) => println!("{outcome}"),
//!     CommandResult::Failed(outcome) => println!("{outcome}"),
//!     CommandResult::Unknown => println!("unknown outcome: it may still commit, once"),
//! }
//! # Ok(()) }
//! ```
//!
//! One request is outstanding at a time per client (open several clients for
//! concurrency). Retries keep the same timestamp, so a request is applied at
//! most once however often it is resent; after the last retry the result is
//! [`CommandResult::Unknown`], never a failure. Each client picks a random
//! 64-bit id: a fresh process never collides with an earlier one's
//! exactly-once record.

use crate::config::ClusterFile;
use crate::net::{
    CLIENT_BYTES, FrameSender, Incoming, LINK_QUEUE, LinkHealth, Target, frame_queue, run_link,
};
use crate::tls::{Security, TlsError};
use crate::wire::{Caller, Frame, encode};
use bytes::Bytes;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use synod_core::{
    AppCommand, Client, ClientAction, ClientConfig, ClientId, NodeId, Reply, Request, RequestKind,
    Time,
};
use tokio::sync::{mpsc, watch};

#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// Wait this long for a reply before broadcasting the request again.
    pub timeout: Duration,
    /// Broadcasts before reporting an unknown outcome.
    pub retries: u32,
    /// A fixed client id (default: random).
    pub id: Option<u64>,
    /// The node to contact first (default: the first in the cluster file).
    pub first_contact: Option<u32>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            timeout: Duration::from_millis(500),
            retries: 6,
            id: None,
            first_contact: None,
        }
    }
}

/// What became of a command, whose application answers with `O`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommandResult<O> {
    /// Executed; the application's answer.
    Ok(O),
    /// Executed, and the application refused it (an overdraft, an order
    /// beyond stock; see [`AppCommand::refused`]): its outcome, which says
    /// why. Retrying would not help.
    Failed(O),
    /// No answer after every retry: it may have executed (once) or not.
    Unknown,
}

impl<O> CommandResult<O> {
    /// A reply to `C` as a result.
    fn from_reply<C: AppCommand<Outcome = O>>(reply: &[u8]) -> Self {
        let outcome = C::decode_outcome(reply);
        if C::refused(&outcome) {
            CommandResult::Failed(outcome)
        } else {
            CommandResult::Ok(outcome)
        }
    }

    /// The application's answer, failed or not; `None` when unknown.
    pub fn outcome(&self) -> Option<&O> {
        match self {
            CommandResult::Ok(outcome) | CommandResult::Failed(outcome) => Some(outcome),
            CommandResult::Unknown => None,
        }
    }
}

/// Connections to every node, shared by many clients: requests of all of
/// them travel on one connection per node, and replies are routed back by
/// client id. A load generator with hundreds of clients needs a handful of
/// these, not hundreds of sockets.
#[derive(Clone)]
pub struct Transport {
    links: Arc<BTreeMap<NodeId, FrameSender>>,
    routes: Arc<Mutex<BTreeMap<ClientId, mpsc::UnboundedSender<Reply>>>>,
    /// Raised once any link connected to its node.
    connected: Arc<AtomicBool>,
    /// Per node: raised while its link is down.
    down: Arc<BTreeMap<NodeId, Arc<AtomicBool>>>,
    /// Bumped whenever a link goes down.
    down_changes: Arc<watch::Sender<u64>>,
}

impl Transport {
    /// Connections (opened on first use) carrying many clients' requests,
    /// presenting the certificate [`Security::client`] finds.
    pub fn shared(cluster: &ClusterFile) -> Result<Self, TlsError> {
        Ok(Transport::open(
            cluster,
            Caller::ClientGroup,
            Security::client(cluster)?,
        ))
    }

    /// Like [`Transport::shared`], over the given security.
    pub fn shared_with(cluster: &ClusterFile, security: Security) -> Self {
        Transport::open(cluster, Caller::ClientGroup, security)
    }

    fn open(cluster: &ClusterFile, caller: Caller, security: Security) -> Self {
        let (in_tx, mut in_rx) = mpsc::unbounded_channel::<Frame>();
        let connected = Arc::new(AtomicBool::new(false));
        let down_changes = Arc::new(watch::Sender::new(0u64));
        let mut links = BTreeMap::new();
        let mut down = BTreeMap::new();
        for node in &cluster.nodes {
            let (tx, rx) = frame_queue(LINK_QUEUE, CLIENT_BYTES);
            links.insert(NodeId(node.id), tx);
            let health = LinkHealth {
                down: Arc::new(AtomicBool::new(false)),
                changes: down_changes.clone(),
            };
            down.insert(NodeId(node.id), health.down.clone());
            tokio::spawn(run_link(
                Target {
                    node: NodeId(node.id),
                    addr: node.client_addr.clone(),
                    security: security.clone(),
                },
                cluster.cluster_id.clone(),
                caller,
                cluster.max_frame_bytes,
                rx,
                Some(Incoming {
                    frames: in_tx.clone(),
                    connected: connected.clone(),
                    health,
                }),
            ));
        }
        let routes: Arc<Mutex<BTreeMap<ClientId, mpsc::UnboundedSender<Reply>>>> = Arc::default();
        let table = routes.clone();
        tokio::spawn(async move {
            while let Some(frame) = in_rx.recv().await {
                if let Frame::Reply(reply) = frame {
                    let route = table
                        .lock()
                        .ok()
                        .and_then(|t| t.get(&reply.client).cloned());
                    if let Some(route) = route {
                        let _ = route.send(reply);
                    }
                }
            }
        });
        Transport {
            links: Arc::new(links),
            routes,
            connected,
            down: Arc::new(down),
            down_changes,
        }
    }

    /// Whether a connection to any node was ever made. Until one is,
    /// nothing sent over this transport can have reached a node.
    pub fn ever_connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }

    fn register(&self, id: ClientId) -> mpsc::UnboundedReceiver<Reply> {
        let (tx, rx) = mpsc::unbounded_channel();
        if let Ok(mut t) = self.routes.lock() {
            t.insert(id, tx);
        }
        rx
    }
}

pub struct SynodClient {
    core: Client,
    transport: Transport,
    incoming: mpsc::UnboundedReceiver<Reply>,
    /// Wakes the client when one of the transport's links goes down.
    links_down: watch::Receiver<u64>,
    start: Instant,
}

impl Drop for SynodClient {
    fn drop(&mut self) {
        if let Ok(mut t) = self.transport.routes.lock() {
            t.remove(&self.core.id());
        }
    }
}

impl SynodClient {
    /// A client of `cluster` with its own connections, presenting the
    /// certificate [`Security::client`] finds (none on a plain cluster).
    /// Connections open on first use, in the background; a node that is
    /// down costs nothing but its retry.
    pub fn new(cluster: &ClusterFile, options: ClientOptions) -> Result<Self, TlsError> {
        Ok(SynodClient::with_security(
            cluster,
            options,
            Security::client(cluster)?,
        ))
    }

    /// Like [`SynodClient::new`], over the given security.
    pub fn with_security(
        cluster: &ClusterFile,
        options: ClientOptions,
        security: Security,
    ) -> Self {
        let id = ClientId(options.id.unwrap_or_else(|| rand::random::<u64>() | 1));
        let transport = Transport::open(cluster, Caller::Client(id), security);
        SynodClient::build(cluster, options, id, transport)
    }

    /// A client that sends over `transport`, shared with other clients.
    pub fn with_transport(
        cluster: &ClusterFile,
        options: ClientOptions,
        transport: &Transport,
    ) -> Self {
        let id = ClientId(options.id.unwrap_or_else(|| rand::random::<u64>() | 1));
        SynodClient::build(cluster, options, id, transport.clone())
    }

    fn build(
        cluster: &ClusterFile,
        options: ClientOptions,
        id: ClientId,
        transport: Transport,
    ) -> Self {
        let incoming = transport.register(id);
        let mut nodes = cluster.node_ids();
        if let Some(first) = options.first_contact
            && let Some(i) = nodes.iter().position(|n| n.0 == first)
        {
            nodes.rotate_left(i);
        }
        let core = Client::new(ClientConfig {
            id,
            nodes,
            timeout: options.timeout.as_micros() as Time,
            max_attempts: options.retries,
        });
        SynodClient {
            core,
            links_down: transport.down_changes.subscribe(),
            transport,
            incoming,
            start: Instant::now(),
        }
    }

    pub fn id(&self) -> ClientId {
        self.core.id()
    }

    /// The node this client believes leads.
    pub fn leader(&self) -> NodeId {
        self.core.leader()
    }

    fn now(&self) -> Time {
        self.start.elapsed().as_micros() as Time
    }

    /// Runs one command of any application to its end.
    pub async fn execute<C: AppCommand>(&mut self, command: &C) -> CommandResult<C::Outcome> {
        match self.execute_raw(Bytes::from(command.encode())).await {
            Some(reply) => CommandResult::from_reply::<C>(&reply),
            None => CommandResult::Unknown,
        }
    }

    /// Reads with a read-only command of any application, without a log
    /// write: [`RequestKind::Read`] is linearizable (the node confirms its
    /// leader still leads, by read index), [`RequestKind::LocalRead`]
    /// serializable (answered from the contacted node's state, however
    /// stale). A command the application does not answer as a query goes
    /// through the log like any other. An unknown outcome changed nothing.
    pub async fn read<C: AppCommand>(
        &mut self,
        command: &C,
        kind: RequestKind,
    ) -> CommandResult<C::Outcome> {
        match self.read_raw(Bytes::from(command.encode()), kind).await {
            Some(reply) => CommandResult::from_reply::<C>(&reply),
            None => CommandResult::Unknown,
        }
    }

    /// [`SynodClient::read`] of opaque command bytes.
    pub async fn read_raw(&mut self, command: Bytes, kind: RequestKind) -> Option<Bytes> {
        while self.incoming.try_recv().is_ok() {}
        let actions = self.core.submit_read(self.now(), command, kind).ok()?;
        self.drive(actions).await
    }

    /// Runs opaque command bytes; `None` is an unknown outcome.
    pub async fn execute_raw(&mut self, command: Bytes) -> Option<Bytes> {
        // Drop replies to earlier, abandoned requests.
        while self.incoming.try_recv().is_ok() {}
        let actions = self.core.submit(self.now(), command).ok()?;
        self.drive(actions).await
    }

    /// Whether a connection to any node was ever made. `false` after an
    /// unknown outcome means that no node was reachable and nothing was
    /// sent: the command cannot commit later. (`true` proves nothing of a
    /// transport shared with other clients.)
    pub fn ever_connected(&self) -> bool {
        self.transport.ever_connected()
    }

    /// Whether the last command's outcome was unknown.
    pub fn has_unknown(&self) -> bool {
        self.core.has_unknown()
    }

    /// Tries the last command whose outcome was unknown again, under its
    /// original timestamp, so it is applied at most once in all. `None` if
    /// there is no such command. `C` is the application it was for.
    pub async fn retry_unknown<C: AppCommand>(&mut self) -> Option<CommandResult<C::Outcome>> {
        while self.incoming.try_recv().is_ok() {}
        let actions = self.core.retry_unknown(self.now())?;
        Some(match self.drive(actions).await {
            Some(reply) => CommandResult::from_reply::<C>(&reply),
            None => CommandResult::Unknown,
        })
    }

    async fn drive(&mut self, actions: Vec<ClientAction>) -> Option<Bytes> {
        let links = &self.transport.links;
        let down = &self.transport.down;
        let is_down = |to: NodeId| down.get(&to).is_some_and(|d| d.load(Ordering::Relaxed));
        drive(
            &mut self.core,
            self.start,
            &mut self.incoming,
            actions,
            Some(DownLinks {
                is_down: &is_down,
                changes: &mut self.links_down,
            }),
            |to, request, kind| {
                let frame = match kind {
                    RequestKind::Command => Frame::Request(request),
                    RequestKind::Read => Frame::Read {
                        request,
                        serializable: false,
                    },
                    RequestKind::LocalRead => Frame::Read {
                        request,
                        serializable: true,
                    },
                };
                let Some(link) = links.get(&to) else {
                    return false;
                };
                // Queued even on a link that is down (it may reconnect),
                // but reported lost: the client need not wait for it. A
                // full queue is not a dead node: the timer retries, so an
                // overload does not turn into broadcasts.
                let _ = link.try_send(encode(&frame));
                !is_down(to)
            },
        )
        .await
    }
}

/// Which links of a transport are down, and a receiver that wakes when
/// one goes down.
pub(crate) struct DownLinks<'a> {
    pub is_down: &'a (dyn Fn(NodeId) -> bool + Sync),
    pub changes: &'a mut watch::Receiver<u64>,
}

/// Runs the sans-IO client `core` until its outstanding request is done:
/// sends what it asks through `send` (which returns false if the request
/// is lost: no link, or a link known to be down), feeds it the replies from
/// `incoming`, its timer, and the links that went down (`down`, if the
/// transport reports them); the reply's bytes, or `None` for an unknown
/// outcome. Shared by remote clients and those in a node's own process.
pub(crate) async fn drive(
    core: &mut Client,
    start: Instant,
    incoming: &mut mpsc::UnboundedReceiver<Reply>,
    actions: Vec<ClientAction>,
    mut down: Option<DownLinks<'_>>,
    mut send: impl FnMut(NodeId, Request, RequestKind) -> bool,
) -> Option<Bytes> {
    let now = || start.elapsed().as_micros() as Time;
    let mut actions = std::collections::VecDeque::from(actions);
    loop {
        while let Some(action) = actions.pop_front() {
            match action {
                ClientAction::Send { to, request, kind } => {
                    if !send(to, request, kind) {
                        actions.extend(core.link_down(to));
                    }
                }
                ClientAction::Done { outcome, .. } => {
                    return match outcome {
                        synod_core::Outcome::Replied(bytes) => Some(bytes),
                        synod_core::Outcome::Unknown => None,
                    };
                }
            }
        }
        let deadline = core.deadline().unwrap_or(now());
        let wait = Duration::from_micros(deadline.saturating_sub(now()));
        let link_went_down = async {
            match &mut down {
                Some(d) => d.changes.changed().await.is_ok(),
                None => std::future::pending().await,
            }
        };
        let next = tokio::select! {
            reply = incoming.recv() => match reply {
                Some(reply) => core.on_reply(&reply),
                None => return None,
            },
            _ = tokio::time::sleep(wait) => core.tick(now()),
            true = link_went_down => Vec::new(),
        };
        actions.extend(next);
        if let Some(d) = &down {
            // Whichever woke us: a request that went alone to a node whose
            // link is down now need not wait for its timer.
            for node in core.nodes().to_vec() {
                if (d.is_down)(node) {
                    actions.extend(core.link_down(node));
                }
            }
        }
    }
}

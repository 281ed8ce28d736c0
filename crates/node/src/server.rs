//! The node runtime: one synod node, running any application, as a set of
//! tokio tasks ([`run`]).
//!
//! One thread runs every task (the caller's current-thread runtime, as the
//! `synod node` command sets it up), so handing an input from a socket to
//! the replica and a message from the replica to a socket wakes no other
//! thread; only the disk has a thread of its own.
//! - the core task ([`crate::core_task`]) owns the replica and runs it one
//!   turn at a time;
//! - the log writer thread owns the write-ahead log
//!   ([`crate::log_writer`]): it applies every write queued and fsyncs once
//!   for all of them, while the core task goes on working;
//! - tokio tasks own the sockets: a listener per address and a reader per
//!   inbound connection ([`crate::connections`]), and an outgoing link per
//!   peer that reconnects with backoff and drains a bounded queue
//!   ([`crate::net`]);
//! - with a `metrics_addr`, an HTTP server for `/metrics` and `/health`
//!   ([`crate::http`]), reading what the others keep in
//!   [`crate::metrics`].

use crate::config::{Address, ClusterFile};
use crate::connections::{Context, accept_loop};
use crate::core_task::{AppObserver, Core, Input};
use crate::local::LocalPort;
use crate::log_writer::LogWriter;
use crate::members::{Dialer, PeerView};
use crate::metrics::Metrics;
use crate::store::{Recovery, StorageError, Wal};
use crate::tls::{Security, TlsError};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use synod_core::{Inspect, NodeId, PersistOp, Replica, StateMachine};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("node {0} is not in the cluster file")]
    NotAMember(u32),
    #[error("node {0} has no etcd_addr in the cluster file")]
    NoEtcdAddress(u32),
    // `cause`, not `source`: the message carries the OS error once, and
    // printers that also walk the source chain would say it twice.
    #[error("cannot listen on {addr} ({what}): {cause}")]
    Bind {
        addr: SocketAddr,
        what: &'static str,
        cause: std::io::Error,
    },
    #[error("cannot resolve this node's address {addr}: {cause}")]
    Resolve {
        addr: Address,
        cause: std::io::Error,
    },
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(
        "refusing --rejoin: {} holds this node's log; start it normally (--rejoin is for a node whose disk was lost)",
        .0.display()
    )]
    RejoinOverLog(PathBuf),
    #[error("cannot start the log writer: {0}")]
    Writer(std::io::Error),
    #[error("storage failed, stopping so nothing unpersisted is acknowledged: {0}")]
    StorageFailed(String),
    #[error("cannot start the node's runtime: {0}")]
    Runtime(std::io::Error),
    // Not `#[from]`: that would make it the source too, and printers that
    // walk the chain would say it twice.
    #[error("cannot set up TLS: {0}")]
    Tls(TlsError),
    #[error("node {0}'s thread panicked")]
    Panicked(u32),
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

/// Runs node `id` of `cluster` with the application `app` (its initial
/// state: a restarted node replaces it with its latest checkpoint) until
/// `shutdown` resolves or storage fails.
pub async fn run<S>(
    cluster: ClusterFile,
    id: u32,
    start: Start,
    app: S,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), NodeError>
where
    S: StateMachine + Inspect + Send + 'static,
{
    run_with(cluster, id, start, app, shutdown, |_| None).await
}

/// [`run`] with a front end in the node's process (the etcd API): once the
/// node's core is ready, `frontend` gets a [`LocalPort`] to send requests
/// through (it may spawn tasks on the current runtime), and returns the
/// observer that follows the applied state after each turn.
pub async fn run_with<S>(
    cluster: ClusterFile,
    id: u32,
    start: Start,
    app: S,
    shutdown: impl std::future::Future<Output = ()>,
    frontend: impl FnOnce(LocalPort) -> Option<Box<dyn AppObserver<S>>>,
) -> Result<(), NodeError>
where
    S: StateMachine + Inspect + Send + 'static,
{
    let me = cluster.node(id).ok_or(NodeError::NotAMember(id))?.clone();
    let security = Security::node(&cluster, id).map_err(NodeError::Tls)?;
    // Listeners first: a node that cannot bind its ports must not have
    // created or touched its data directory.
    let bind = |listen: Option<SocketAddr>, advertised: Address, what: &'static str| async move {
        let addr = match listen {
            Some(addr) => addr,
            None => advertised
                .resolve()
                .await
                .map_err(|cause| NodeError::Resolve {
                    addr: advertised.clone(),
                    cause,
                })?,
        };
        bind_listener(addr, what, BIND_RETRY).await
    };
    let peer_listener = bind(me.listen_addr, me.addr.clone(), "peers").await?;
    let client_listener = bind(me.client_listen_addr, me.client_addr.clone(), "clients").await?;
    let metrics_listener = match me.metrics_addr {
        Some(addr) => Some((addr, bind_listener(addr, "metrics", BIND_RETRY).await?)),
        None => None,
    };
    let dir = cluster.node_dir(id);
    let (mut wal, recovery) = open_log(&dir, start)?;
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

    let (input_tx, input_rx) = mpsc::unbounded_channel::<Input>();
    // Links to every other node of the file now; to members it does not
    // list once the replica is restored (below, in the core task).
    let dialer = Dialer {
        file: cluster.clone(),
        me: NodeId(id),
        security: security.clone(),
    };
    let mut links = BTreeMap::new();
    for peer in cluster.nodes.iter().filter(|n| n.id != id) {
        links.insert(
            NodeId(peer.id),
            dialer.open(NodeId(peer.id), peer.addr.clone()),
        );
    }
    if recovery.state.votes_above == u64::MAX {
        tracing::warn!(
            node = id,
            "this node lost its disk once: it learns and serves, but never votes again"
        );
    }
    let replica = Replica::restore(cluster.core_config(id), app, recovery.state, 0);
    let peers = PeerView::new(replica.membership().clone());
    let context = Context {
        cluster: cluster.clone(),
        me: NodeId(id),
        inputs: input_tx.clone(),
        security: security.clone(),
        peers: peers.clone(),
    };
    tokio::spawn(accept_loop(
        peer_listener,
        context.clone(),
        cluster.limits.peer_connections,
    ));
    tokio::spawn(accept_loop(
        client_listener,
        context,
        cluster.limits.client_connections,
    ));

    let tick = Duration::from_millis(cluster.timers.tick_ms);
    let metrics = metrics_listener.map(|(addr, listener)| {
        let metrics = Arc::new(Metrics::new());
        wal.time_syncs(metrics.sync_probe());
        tokio::spawn(crate::http::serve(listener, metrics.clone()));
        tracing::info!(node = id, "metrics on http://{addr}/metrics and /health");
        metrics
    });
    let writer = {
        let inputs = input_tx.clone();
        let pacing = Duration::from_micros(cluster.storage.sync_pacing_us);
        LogWriter::start(wal, format!("synod-wal-n{id}"), pacing, move |result| {
            let _ = inputs.send(match result {
                Ok(token) => Input::Synced(token),
                Err(e) => Input::StorageFailed(e.to_string()),
            });
        })
        .map_err(NodeError::Writer)?
    };
    let observer = frontend(LocalPort::new(
        NodeId(id),
        input_tx.clone(),
        metrics.clone(),
    ));
    let core = Core::new(
        replica,
        writer,
        (links, dialer, peers),
        input_tx.clone(),
        metrics,
        observer,
    )
    .run(input_rx, tick);
    tokio::pin!(core);
    tracing::info!(node = id, peers = %me.addr, clients = %me.client_addr, "node up");
    if !security.is_tls() {
        tracing::warn!(
            node = id,
            "plain TCP: peers and clients are not authenticated (the cluster file has no [tls]); \
             for benchmarks on a trusted network only"
        );
    }
    tokio::select! {
        _ = shutdown => {
            tracing::info!(node = id, "shutting down");
            let _ = input_tx.send(Input::Shutdown);
            core.await
        }
        result = &mut core => result,
    }
}

/// Opens the log in `dir` as `start` says. For a rejoin, the record saying
/// the node never votes again is made durable before anything else: a crash
/// before it reaches the disk must not bring the node back as a voter.
fn open_log(dir: &Path, start: Start) -> Result<(Wal, Recovery), NodeError> {
    let (mut wal, mut recovery) = Wal::open(dir, start != Start::Existing)?;
    if start == Start::Rejoin && recovery.state.votes_above == 0 {
        if recovery.records > 0 {
            return Err(NodeError::RejoinOverLog(dir.to_path_buf()));
        }
        wal.append(&[PersistOp::NonVoting])?;
        wal.sync()?;
        recovery.state.votes_above = u64::MAX;
    }
    Ok((wal, recovery))
}

/// What [`prepare`] makes of a node's data directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prepare {
    /// A node of a new cluster: a fresh, empty log. A directory that holds
    /// a log already is refused, never wiped.
    Init,
    /// A node whose disk was lost while the cluster ran on: a fresh log
    /// whose first record says the node never votes again (it comes back
    /// as a learner; see [`Start::Rejoin`]). A voter's log is refused.
    Rejoin,
}

/// Prepares node `id`'s data directory without running the node (`synod
/// node --init` or `--rejoin`), so that a later [`Start::Existing`] runs it;
/// returns the directory. Done once per disk: a node started every time
/// with [`Start::Init`] would come back empty, as a voter, after losing its
/// disk.
pub fn prepare(cluster: &ClusterFile, id: u32, how: Prepare) -> Result<PathBuf, NodeError> {
    cluster.node(id).ok_or(NodeError::NotAMember(id))?;
    let dir = cluster.node_dir(id);
    match how {
        Prepare::Init => drop(Wal::create(&dir)?),
        Prepare::Rejoin => drop(open_log(&dir, Start::Rejoin)?),
    }
    Ok(dir)
}

/// How long a node retries a port that is in use: a node restarted at once
/// can find its port still held for a moment (a killed process's last
/// thread, a connection's source port).
pub const BIND_RETRY: Duration = Duration::from_secs(3);

/// Binds `addr`, retrying while it is in use for up to `window` (with a
/// short backoff); any other error, or the port still in use after it, is
/// [`NodeError::Bind`].
pub async fn bind_listener(
    addr: SocketAddr,
    what: &'static str,
    window: Duration,
) -> Result<TcpListener, NodeError> {
    let deadline = tokio::time::Instant::now() + window;
    let mut backoff = Duration::from_millis(20);
    let mut logged = false;
    loop {
        match TcpListener::bind(addr).await {
            Ok(listener) => return Ok(listener),
            Err(cause)
                if cause.kind() == std::io::ErrorKind::AddrInUse
                    && tokio::time::Instant::now() + backoff <= deadline =>
            {
                if !logged {
                    tracing::warn!(%addr, what, "address in use; retrying for up to {window:?}");
                    logged = true;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_millis(250));
            }
            Err(cause) => return Err(NodeError::Bind { addr, what, cause }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_port_in_use_is_retried_until_it_is_free() {
        let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = held.local_addr().unwrap();
        let released = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = released.clone();
        let release = std::thread::spawn(move || {
            // The holder lets go later (a fault schedule, not a wait).
            std::thread::sleep(Duration::from_millis(300));
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
            drop(held);
        });
        let listener = bind_listener(addr, "peers", Duration::from_secs(10)).await;
        // Bound only once the port was let go: it retried meanwhile.
        assert!(released.load(std::sync::atomic::Ordering::SeqCst));
        release.join().unwrap();
        assert!(listener.is_ok(), "{:?}", listener.err());
    }

    #[tokio::test]
    async fn a_port_held_for_good_fails_once_the_window_has_passed() {
        let _held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = _held.local_addr().unwrap();
        // The window is bounded: this returns (no timing is asserted; the
        // test above shows the retries).
        let e = bind_listener(addr, "clients", Duration::from_millis(400))
            .await
            .err()
            .unwrap();
        let message = e.to_string();
        assert!(
            message.starts_with(&format!("cannot listen on {addr} (clients): ")),
            "{message}"
        );
        assert_eq!(message.matches("in use").count(), 1, "{message}");
    }
}

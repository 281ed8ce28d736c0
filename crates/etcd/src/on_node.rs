//! Running a synod node whose application is the etcd store
//! (`application = "etcd"` in the cluster file): the node as
//! `synod_node::server::run_with` runs it, plus a gRPC listener on the
//! node's `etcd_addr` serving etcd's five services over [`NodeBackend`].
//!
//! The listener is secured as the node's other listeners are: with the
//! cluster's mutual TLS (HTTP/2 offered by ALPN), a client or admin
//! certificate required; plain only on a plain cluster. It holds at most
//! `limits.client_connections` connections, and a connection has 5 s for
//! its TLS handshake. What a client sends passes through
//! [`AuthorityFix`] on its way to the HTTP/2 server.

use crate::authority::AuthorityFix;
use crate::backend::MemberInfo;
use crate::mvcc::Store;
use crate::node::NodeBackend;
use crate::server::{Services, serve_connection};
use crate::service::EtcdOptions;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use synod_node::config::{Address, ClusterFile};
use synod_node::net::BoundedListener;
use synod_node::server::{BIND_RETRY, NodeError, Start, bind_listener, run_with};
use synod_node::tls::{Reader, Security, Writer};
use tokio::io::{AsyncRead, AsyncWrite, Join, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, watch};

/// How long an accepted connection has for its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs node `id` of an etcd cluster until `shutdown` resolves or storage
/// fails.
pub async fn run(
    cluster: ClusterFile,
    id: u32,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), NodeError> {
    let me = cluster.node(id).ok_or(NodeError::NotAMember(id))?.clone();
    let advertised = me.etcd_addr.clone().ok_or(NodeError::NoEtcdAddress(id))?;
    let security = Security::node(&cluster, id).map_err(NodeError::Tls)?;
    // Bound before the node touches its data directory, as its other
    // listeners are.
    let addr = match me.etcd_listen_addr {
        Some(addr) => addr,
        None => advertised
            .resolve()
            .await
            .map_err(|cause| NodeError::Resolve {
                addr: advertised.clone(),
                cause,
            })?,
    };
    let listener = bind_listener(addr, "etcd clients", BIND_RETRY).await?;
    let scheme = if security.is_tls() { "https" } else { "http" };
    let members = cluster
        .nodes
        .iter()
        .map(|n| MemberInfo {
            id: u64::from(n.id),
            name: format!("n{}", n.id),
            peer_urls: vec![format!("{scheme}://{}", n.addr)],
            client_urls: n
                .etcd_addr
                .iter()
                .map(|a| format!("{scheme}://{a}"))
                .collect(),
            is_learner: false,
        })
        .collect();
    let options = EtcdOptions {
        min_lease_ttl: min_lease_ttl(&cluster),
        ..EtcdOptions::default()
    };
    let limit = cluster.limits.client_connections;
    // Validated when the file was loaded.
    let auto_compaction = cluster.etcd.auto_compaction().ok().flatten();
    let cluster_id = cluster.cluster_id.clone();
    let (closing_tx, closing) = watch::channel(false);
    let result = run_with(
        cluster,
        id,
        Start::Existing,
        Store::new(),
        shutdown,
        |port| {
            let (backend, follower) = NodeBackend::new(port, &cluster_id, members, auto_compaction);
            tracing::info!(node = id, "etcd API on {scheme}://{advertised}");
            tokio::spawn(serve(
                listener,
                security,
                limit,
                Services::new(std::sync::Arc::new(backend), options, closing.clone()),
                closing,
            ));
            Some(Box::new(follower))
        },
    )
    .await;
    // Ends the open streams (watches, keep-alives) with the node.
    let _ = closing_tx.send(true);
    result
}

/// The shortest lease TTL granted: a lease must outlive a failover, which
/// restarts its TTL (etcd: three election timeouts, rounded up to seconds).
fn min_lease_ttl(cluster: &ClusterFile) -> i64 {
    let ms = 3 * cluster.timers.election_timeout_ms;
    (ms.div_ceil(1000) as i64).max(1)
}

/// Accepts connections and serves gRPC on each, on a task of its own (TLS
/// handshake included, so a slow one holds up nobody).
async fn serve(
    listener: TcpListener,
    security: Security,
    limit: usize,
    services: Services<NodeBackend>,
    closing: watch::Receiver<bool>,
) {
    let mut listener = BoundedListener::new(listener, limit, "etcd clients");
    loop {
        let (stream, from, permit) = listener.accept().await;
        let (security, services, closing) = (security.clone(), services.clone(), closing.clone());
        tokio::spawn(async move {
            let accepted =
                tokio::time::timeout(HANDSHAKE_TIMEOUT, security.accept_h2(stream)).await;
            let (read, write, credential) = match accepted {
                Err(_) => {
                    tracing::warn!(%from, "etcd client: no TLS handshake within 5 s");
                    return;
                }
                Ok(Err(e)) => {
                    tracing::warn!(%from, "etcd client: TLS handshake refused: {e}");
                    return;
                }
                Ok(Ok(x)) => x,
            };
            if !credential.is_client() {
                tracing::warn!(
                    %from,
                    "etcd client refused: a node's certificate is for peers \
                     (present a client or admin certificate)"
                );
                return;
            }
            let conn = Conn {
                io: tokio::io::join(AuthorityFix::new(read), write),
                _permit: permit,
            };
            if let Err(e) = serve_connection(conn, services, closing).await {
                tracing::debug!(%from, "etcd client connection ended: {e}");
            }
        });
    }
}

/// An accepted connection, holding its place under the listener's limit.
struct Conn {
    io: Join<AuthorityFix<Reader>, Writer>,
    _permit: OwnedSemaphorePermit,
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// The etcd endpoints of `cluster`, as clients name them.
pub fn endpoints(cluster: &ClusterFile) -> Vec<String> {
    let scheme = if cluster.tls.is_some() {
        "https"
    } else {
        "http"
    };
    cluster
        .nodes
        .iter()
        .filter_map(|n| n.etcd_addr.as_ref())
        .map(|a: &Address| format!("{scheme}://{a}"))
        .collect()
}

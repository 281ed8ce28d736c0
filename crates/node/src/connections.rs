//! Inbound connections: the accept loop of each listener, the handshake
//! (strangers are refused with a logged reason), and one reader per
//! connection that turns frames into the core task's inputs: a peer's
//! messages, clients' requests (their replies go back on the same
//! connection), admin queries.
//!
//! What a connection can cost is bounded: each listener holds a limited
//! number of connections (the cluster file's `[limits]`; more are closed
//! at once); until its hello is
//! accepted a connection may send frames of [`HELLO_MAX_FRAME`] bytes and
//! must do so within [`HANDSHAKE_TIMEOUT`]; after it, a client's frames are
//! capped at [`MAX_CLIENT_FRAME`] and only peers may send the cluster's
//! `max_frame_bytes` (snapshots); buffers grow with the bytes that arrive,
//! not with the length a frame claims.

use crate::config::ClusterFile;
use crate::core_task::{Input, ReplySink};
use crate::members::PeerView;
use crate::net::{BoundedListener, FrameReader, ReadError};
use crate::tls::{Security, Writer};
use crate::wire::{AdminRequest, Caller, Frame, HELLO_MAX_FRAME, encode};

use std::time::Duration;
use synod_core::{ClientId, NodeId};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};

/// How long a new connection has to introduce itself.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest frame a client or admin connection may send (a command, a
/// batch of them): far above any command, far below a snapshot.
pub(crate) const MAX_CLIENT_FRAME: usize = 2 * 1024 * 1024;

/// What every connection task needs.
#[derive(Clone)]
pub(crate) struct Context {
    pub cluster: ClusterFile,
    pub me: NodeId,
    pub inputs: mpsc::UnboundedSender<Input>,
    pub security: Security,
    /// The membership this node executed: which peers are let in.
    pub peers: PeerView,
}

/// Accepts connections on `listener` until the node stops, holding at most
/// `limit` at once.
pub(crate) async fn accept_loop(listener: TcpListener, ctx: Context, limit: usize) {
    let mut listener = BoundedListener::new(listener, limit, "synod");
    let mut next_conn = 0u64;
    loop {
        let (stream, from, slot) = listener.accept().await;
        next_conn += 1;
        let ctx = ctx.clone();
        let conn = next_conn;
        tokio::spawn(async move {
            if let Err(reason) = serve_connection(stream, ctx, conn).await {
                tracing::warn!(%from, "connection closed: {reason}");
            }
            drop(slot);
        });
    }
}

/// Handles one inbound connection from handshake to close. Returns why it
/// ended abnormally (for the log); the node is unaffected either way.
async fn serve_connection(stream: TcpStream, ctx: Context, conn: u64) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + HANDSHAKE_TIMEOUT;
    let (read, mut write, credential) =
        match tokio::time::timeout_at(deadline, ctx.security.accept(stream)).await {
            Err(_) => return Err("no TLS handshake within 5 s".into()),
            // A stranger: no certificate, or one the cluster's CA did not sign.
            Ok(Err(e)) => return Err(format!("TLS handshake refused: {e}")),
            Ok(Ok(x)) => x,
        };
    let mut reader = FrameReader::new(read, HELLO_MAX_FRAME);
    let first = match tokio::time::timeout_at(deadline, reader.next()).await {
        Err(_) => return Err("no handshake within 5 s".into()),
        Ok(Err(ReadError::Closed)) => return Ok(()),
        Ok(Err(e)) => return refuse(&mut write, format!("bad handshake: {e}")).await,
        Ok(Ok(frame)) => frame,
    };
    // A peer's admission is looked at once: the membership may change
    // meanwhile, and a refused peer reconnects.
    let admission = match &first {
        Frame::Hello {
            caller: Caller::Peer(p),
            ..
        } => ctx.peers.admits(ctx.me, *p, &ctx.cluster),
        _ => Ok(()),
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
            caller: Caller::Peer(_),
            ..
        } if admission.is_err() => {
            let reason = admission.err().unwrap_or_default();
            return refuse(&mut write, reason).await;
        }
        Frame::Hello {
            caller: Caller::Peer(p),
            ..
        } if !credential.is_node(p.0) => {
            let reason = format!(
                "the certificate presented is not {p}'s (it must be valid for {})",
                crate::tls::node_name(p.0)
            );
            return refuse(&mut write, reason).await;
        }
        Frame::Hello { caller, .. } => caller,
        other => {
            return refuse(
                &mut write,
                format!("expected a handshake, got {}", other.kind()),
            )
            .await;
        }
    };
    reader.set_max_frame(match caller {
        Caller::Peer(_) => ctx.cluster.max_frame_bytes,
        _ => ctx.cluster.max_frame_bytes.min(MAX_CLIENT_FRAME),
    });
    send(&mut write, &encode(&Frame::Welcome { node: ctx.me })).await?;
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
                        other.kind()
                    ));
                }
                Err(ReadError::Closed) => return Ok(()),
                Err(e) => return Err(format!("{peer}: {e}")),
            }
        },
        Caller::Client(_) | Caller::ClientGroup => {
            let (tx, mut rx) = crate::net::frame_queue(4096, crate::net::CLIENT_BYTES);
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
                let (r, read) = match reader.next().await {
                    Ok(Frame::Request(r)) => (r, None),
                    Ok(Frame::Read {
                        request,
                        serializable,
                    }) => (request, Some(serializable)),
                    Ok(other) => {
                        break Err(format!("a client sent a {} frame", other.kind()));
                    }
                    Err(ReadError::Closed) => break Ok(()),
                    Err(e) => break Err(format!("client connection: {e}")),
                };
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
                        replies: ReplySink::Wire(tx.clone()),
                    });
                }
                let input = match read {
                    Some(serializable) => Input::Read {
                        request: r,
                        serializable,
                    },
                    None => Input::Request(r),
                };
                if ctx.inputs.send(input).is_err() {
                    break Ok(());
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
                Ok(Frame::Admin(AdminRequest::Partition { .. }))
                    if !ctx.cluster.testing.fault_injection =>
                {
                    // A fault switch: for test clusters only.
                    let reason = "fault injection is off in this cluster's file \
                                  ([testing] fault_injection = true enables partitions)";
                    return refuse(&mut write, reason.into()).await;
                }
                Ok(Frame::Admin(request))
                    if request.changes_cluster() && !credential.is_admin() =>
                {
                    let reason = format!(
                        "{} changes the cluster and needs an admin certificate (valid for {})",
                        request.name(),
                        crate::tls::ADMIN_NAME
                    );
                    return refuse(&mut write, reason).await;
                }
                Ok(Frame::Admin(request)) => {
                    let (tx, rx) = oneshot::channel();
                    if ctx.inputs.send(Input::Admin(request, tx)).is_err() {
                        return Ok(());
                    }
                    let Ok(reply) = rx.await else { return Ok(()) };
                    send(&mut write, &encode(&Frame::AdminReply(reply))).await?;
                }
                Ok(other) => return Err(format!("admin sent a {} frame", other.kind())),
                Err(ReadError::Closed) => return Ok(()),
                Err(e) => return Err(format!("admin: {e}")),
            }
        },
    }
}

async fn send(write: &mut Writer, bytes: &[u8]) -> Result<(), String> {
    use tokio::io::AsyncWriteExt;
    write.write_all(bytes).await.map_err(|e| e.to_string())?;
    write.flush().await.map_err(|e| e.to_string())
}

async fn refuse(write: &mut Writer, reason: String) -> Result<(), String> {
    let _ = send(
        write,
        &encode(&Frame::Refused {
            reason: reason.clone(),
        }),
    )
    .await;
    Err(format!("refused: {reason}"))
}

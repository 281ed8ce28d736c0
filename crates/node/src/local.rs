//! Clients inside the node's own process (the etcd front end): they hand
//! requests to the core task as a connection's reader would, and get their
//! replies back on a channel, with no socket or encoding between.
//!
//! A [`LocalClient`] is the sans-IO client of synod-core with the node as
//! the only one it knows: a request goes to this node, which orders it if
//! it leads and forwards it to its leader otherwise; a retry after the
//! timeout goes to this node again, which forwards it again (to a new
//! leader, after a failover). One request is outstanding at a time per
//! client; the same exactly-once rules hold as for a remote client.

use crate::client::drive;
use crate::core_task::{Input, ReplySink};
use crate::metrics::Metrics;
use bytes::Bytes;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use synod_core::{Client, ClientConfig, ClientId, NodeId, Reply, RequestKind, Time};
use tokio::sync::mpsc;

/// Local "connections" are numbered from here, apart from sockets'.
const LOCAL_CONN: u64 = 1 << 63;

/// Where a node takes requests from its own process; cheap to clone.
#[derive(Clone)]
pub struct LocalPort {
    me: NodeId,
    inputs: mpsc::UnboundedSender<Input>,
    next_conn: Arc<AtomicU64>,
    metrics: Option<Arc<Metrics>>,
}

impl LocalPort {
    pub(crate) fn new(
        me: NodeId,
        inputs: mpsc::UnboundedSender<Input>,
        metrics: Option<Arc<Metrics>>,
    ) -> Self {
        LocalPort {
            me,
            inputs,
            next_conn: Arc::new(AtomicU64::new(LOCAL_CONN)),
            metrics,
        }
    }

    /// The node this port belongs to.
    pub fn node(&self) -> NodeId {
        self.me
    }

    /// The node's metrics, if it serves them: the application registers
    /// its own in [`Metrics::app_registry`].
    pub fn metrics(&self) -> Option<&Arc<Metrics>> {
        self.metrics.as_ref()
    }

    /// Asks the node to show its observer the applied state after its next
    /// turn, even if nothing moved (an observer that publishes some of the
    /// state only on demand). False if the node has stopped.
    pub fn refresh(&self) -> bool {
        self.inputs.send(Input::Refresh).is_ok()
    }

    /// A new client with a random id that waits `timeout` for a reply
    /// before sending again, `retries` times, before an unknown outcome.
    pub fn client(&self, timeout: Duration, retries: u32) -> LocalClient {
        let id = ClientId(rand::random::<u64>() | 1);
        let conn = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let (tx, replies) = mpsc::unbounded_channel();
        let _ = self.inputs.send(Input::ClientConnected {
            client: id,
            conn,
            replies: ReplySink::Local(tx),
        });
        LocalClient {
            core: Client::new(ClientConfig {
                id,
                nodes: vec![self.me],
                timeout: timeout.as_micros() as Time,
                max_attempts: retries,
            }),
            inputs: self.inputs.clone(),
            replies,
            conn,
            start: Instant::now(),
        }
    }
}

/// One client in the node's process.
pub struct LocalClient {
    core: Client,
    inputs: mpsc::UnboundedSender<Input>,
    replies: mpsc::UnboundedReceiver<Reply>,
    conn: u64,
    start: Instant,
}

impl Drop for LocalClient {
    fn drop(&mut self) {
        let _ = self.inputs.send(Input::ClientGone {
            client: self.core.id(),
            conn: self.conn,
        });
    }
}

impl LocalClient {
    /// The node that last answered as leader (this node until one does).
    pub fn leader(&self) -> NodeId {
        self.core.leader()
    }

    /// Runs opaque command bytes through the log; `None` is an unknown
    /// outcome (it may still execute, once).
    pub async fn execute(&mut self, command: Bytes) -> Option<Bytes> {
        self.run(command, RequestKind::Command).await
    }

    /// A read-only command without a log write: linearizable
    /// ([`RequestKind::Read`]) or from this node's state
    /// ([`RequestKind::LocalRead`]). `None`: no answer, nothing changed.
    pub async fn read(&mut self, command: Bytes, kind: RequestKind) -> Option<Bytes> {
        self.run(command, kind).await
    }

    async fn run(&mut self, command: Bytes, kind: RequestKind) -> Option<Bytes> {
        while self.replies.try_recv().is_ok() {}
        let now = self.start.elapsed().as_micros() as Time;
        let actions = self.core.submit_read(now, command, kind).ok()?;
        let inputs = &self.inputs;
        drive(
            &mut self.core,
            self.start,
            &mut self.replies,
            actions,
            None,
            |_, request, kind| {
                // Whoever the core addresses, the request goes to this
                // node: it forwards to its leader.
                let input = match kind {
                    RequestKind::Command => Input::Request(request),
                    RequestKind::Read => Input::Read {
                        request,
                        serializable: false,
                    },
                    RequestKind::LocalRead => Input::Read {
                        request,
                        serializable: true,
                    },
                };
                // A node's own inputs: lost only with the node.
                inputs.send(input).is_ok()
            },
        )
        .await
    }
}

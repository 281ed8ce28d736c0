//! The gRPC services (KV, Watch, Lease, Cluster, Maintenance) over any
//! `EtcdBackend`. They validate requests as etcd's gRPC layer does, route
//! reads and writes to the backend, and dress results in etcd's responses
//! and errors; they hold no state of their own beyond a stream's.

mod cluster;
mod kv;
mod lease;
mod maintenance;
mod watch;

pub use cluster::ClusterService;
pub use kv::KvService;
pub use lease::LeaseService;
pub use maintenance::MaintenanceService;
pub use watch::WatchService;

use crate::backend::EtcdBackend;
use crate::convert;
use crate::pb::etcdserverpb::ResponseHeader;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch as signal;

/// The etcd release whose API these services speak; clients read it from
/// Status to decide what they may ask for.
pub const API_VERSION: &str = "3.5.0";

/// Settings of the services, the same on every node.
#[derive(Clone, Debug)]
pub struct EtcdOptions {
    /// The shortest TTL a lease is granted, in seconds: a lease must outlive
    /// a leader election (etcd uses 3 election timeouts, rounded up).
    pub min_lease_ttl: i64,
    /// How often a watch with `progress_notify` hears of the revision when
    /// it has had no events (etcd: 10 minutes).
    pub progress_interval: Duration,
    /// Events read from history per step when a watch catches up.
    pub watch_batch: usize,
}

impl Default for EtcdOptions {
    fn default() -> EtcdOptions {
        EtcdOptions {
            min_lease_ttl: 1,
            progress_interval: Duration::from_secs(600),
            watch_batch: 1000,
        }
    }
}

/// What every service holds: the backend, the options, and word of the
/// server closing.
pub(crate) struct Shared<B> {
    pub backend: Arc<B>,
    pub options: EtcdOptions,
    /// Becomes true when the server shuts down: streams (watches,
    /// keep-alives) then end, since a graceful shutdown waits for them and
    /// they would otherwise never finish.
    pub closing: signal::Receiver<bool>,
}

impl<B: EtcdBackend> Shared<B> {
    pub fn new(
        backend: Arc<B>,
        options: EtcdOptions,
        closing: signal::Receiver<bool>,
    ) -> Arc<Shared<B>> {
        Arc::new(Shared {
            backend,
            options,
            closing,
        })
    }

    /// A header at `revision`.
    pub fn header_at(&self, revision: i64) -> Option<ResponseHeader> {
        Some(convert::header(self.backend.header(), revision))
    }

    /// A header at the revision applied now, for responses not tied to a
    /// write (lease keep-alives, members, status).
    pub fn header_now(&self) -> Option<ResponseHeader> {
        let revision = *self.backend.applied_revision().borrow();
        self.header_at(revision)
    }
}

/// Resolves once `closing` turns true (or its sender is gone).
pub(crate) async fn closed(mut closing: signal::Receiver<bool>) {
    let _ = closing.wait_for(|c| *c).await;
}

//! The backend of a real synod node (docs/etcd.md): the etcd store is the
//! node's replicated state machine, and the gRPC services reach consensus
//! through clients in the node's own process (`synod_node::local`).
//!
//! - Writes go through the log: at a follower the node forwards them to its
//!   leader, so any endpoint takes writes.
//! - Reads are linearizable by read index (the leader confirms it still
//!   leads, then the node answers once it has executed that far) or, when
//!   asked, serializable from this node's state.
//! - After every turn that executed something the node publishes its
//!   status, revision, size and lease table ([`Follower`]). The store itself
//!   it publishes only when a watcher asks for it: a published copy shares
//!   the store's persistent maps, and the first write after it to any part
//!   of them copies that part (a tenth of the node's time under a load of
//!   puts, 2026-12-03).
//! - Leases: every node notes, on its own clock, when it applied each
//!   lease's grant or latest keep-alive (keep-alives go through the log, so
//!   every node sees each one). Only the leader acts: once a lease's TTL has
//!   passed since then, and since the leader took over, it proposes
//!   `LeaseExpire` naming the renewals it saw, which revokes the lease only
//!   if no keep-alive was ordered first. A new leader restarts every TTL, so
//!   a failover never expires a live lease early.
//! - Automatic compaction, when the cluster file asks for it: the leader
//!   proposes `Compact` as `compactor.rs` decides (docs/etcd.md).
//! - The store's revisions and size go to the node's `/metrics`
//!   (`metrics.rs`) after every turn that executed something.

use crate::backend::{EtcdBackend, HeaderInfo, LeaseTtl, MemberInfo, ReadConsistency, StatusInfo};
use crate::command::{Command, Outcome, Response, decode_outcome, encode_command};
use crate::compactor::Compactor;
use crate::error::EtcdError;
use crate::metrics::StoreMetrics;
use crate::mvcc::{Compacted, EventBatch, Store};
use crate::types::KeyRange;
use bytes::Bytes;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use synod_core::{RequestKind, Role, Status};
use synod_node::AppObserver;
use synod_node::config::AutoCompaction;
use synod_node::local::{LocalClient, LocalPort};
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;

/// How long an in-process client waits for a reply before sending again
/// (its node forwards the retry to whichever leader it knows then), and how
/// many times, before the request is reported timed out.
const RETRY_AFTER: Duration = Duration::from_millis(500);
const RETRIES: u32 = 6;
/// Requests in flight at once through one node's front end; more wait.
const MAX_IN_FLIGHT: usize = 4096;
/// How often the leader looks for expired leases.
const EXPIRY_TICK: Duration = Duration::from_millis(100);

/// What the node shows the front end after each turn.
#[derive(Clone)]
struct Applied {
    /// The applied store, when a watcher asked for it (see `store_wanted`).
    store: Option<Store>,
    revision: i64,
    leases: crate::lease::Leases,
    size: i64,
    /// The store's compaction revision.
    compacted: i64,
    status: Option<Status>,
}

/// When each lease runs out unless renewed, on this node's clock.
#[derive(Default)]
struct LeaseClock {
    /// lease id -> (renewals seen, deadline).
    deadlines: BTreeMap<i64, (u64, Instant)>,
    /// The ballot round under which this node last took over as leader.
    led_since: Option<(u64, Instant)>,
    /// Expiries proposed and not yet applied: (id, renewals).
    expiring: BTreeMap<i64, u64>,
}

struct Shared {
    applied: watch::Sender<Applied>,
    /// On the node's `/metrics`, if it serves one.
    metrics: Option<StoreMetrics>,
    revision: watch::Sender<i64>,
    clock: Mutex<LeaseClock>,
    /// A watcher waits for the store: publish it after the next turn.
    store_wanted: AtomicBool,
}

impl Shared {
    fn clock(&self) -> MutexGuard<'_, LeaseClock> {
        // The clock holds deadlines only; a panic mid-update leaves it usable.
        self.clock.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The etcd backend of one node.
#[derive(Clone)]
pub struct NodeBackend {
    port: LocalPort,
    pool: Arc<Mutex<Vec<LocalClient>>>,
    in_flight: Arc<Semaphore>,
    shared: Arc<Shared>,
    cluster_id: u64,
    members: Arc<Vec<MemberInfo>>,
}

/// Follows the replica for the front end: publishes the applied store and
/// the node's status, and keeps the lease clock.
pub struct Follower {
    shared: Arc<Shared>,
    /// The lease table as last seen, to skip the clock's update when it
    /// did not change (most turns: puts without leases).
    seen: Option<crate::lease::Leases>,
}

impl AppObserver<Store> for Follower {
    fn after_turn(&mut self, app: &Store, status: &Status) {
        let now = Instant::now();
        {
            let mut clock = self.shared.clock();
            // A leader that just took over restarts every TTL.
            if status.role == Role::Leader
                && clock
                    .led_since
                    .is_none_or(|(round, _)| round != status.view.round)
            {
                clock.led_since = Some((status.view.round, now));
                for (_, deadline) in clock.deadlines.values_mut() {
                    *deadline = now;
                }
            } else if status.role != Role::Leader {
                clock.led_since = None;
            }
            let leases = app.leases();
            if self.seen.as_ref().is_some_and(|s| leases.unchanged_from(s)) {
                drop(clock);
                return self.publish(app, status);
            }
            self.seen = Some(leases.clone());
            clock.deadlines.retain(|id, _| leases.contains(*id));
            clock
                .expiring
                .retain(|id, renewals| leases.get(*id).is_some_and(|l| l.renewals == *renewals));
            for (id, lease) in leases.iter() {
                let seen = clock.deadlines.get(&id).map(|(r, _)| *r);
                if seen != Some(lease.renewals) {
                    // Granted or renewed since we last looked: its TTL
                    // starts now (the client sent it earlier, so never
                    // early).
                    clock.deadlines.insert(id, (lease.renewals, now));
                }
            }
        }
        self.publish(app, status);
    }
}

impl Follower {
    /// Tells the services what the node applied.
    /// The revision goes last: a watcher it wakes finds the rest current.
    fn publish(&self, app: &Store, status: &Status) {
        if let Some(metrics) = &self.shared.metrics {
            metrics.show(app);
        }
        let store = self
            .shared
            .store_wanted
            .swap(false, Ordering::AcqRel)
            .then(|| app.clone());
        self.shared.applied.send_replace(Applied {
            store,
            revision: app.revision(),
            leases: app.leases().clone(),
            size: app.approximate_size(),
            compacted: app.compact_revision(),
            status: Some(status.clone()),
        });
        self.shared.revision.send_if_modified(|r| {
            let newer = app.revision() != *r;
            *r = app.revision();
            newer
        });
    }
}

impl NodeBackend {
    /// The backend of the node behind `port`, and the observer to hand the
    /// node ([`synod_node::server::run_with`]). `members` lists the
    /// cluster's nodes as etcd names them; `cluster_id` is the cluster
    /// file's, hashed. Starts the lease-expiry task on the current runtime,
    /// and the automatic compaction's if `auto_compaction` is set.
    pub fn new(
        port: LocalPort,
        cluster_id: &str,
        members: Vec<MemberInfo>,
        auto_compaction: Option<AutoCompaction>,
    ) -> (Self, Follower) {
        let shared = Arc::new(Shared {
            applied: watch::channel(Applied {
                store: None,
                revision: 1,
                leases: crate::lease::Leases::default(),
                size: 0,
                compacted: 0,
                status: None,
            })
            .0,
            revision: watch::channel(1).0,
            metrics: port
                .metrics()
                .map(|m| StoreMetrics::register(&mut m.app_registry())),
            clock: Mutex::new(LeaseClock::default()),
            store_wanted: AtomicBool::new(false),
        });
        let backend = NodeBackend {
            port,
            pool: Arc::default(),
            in_flight: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
            shared: Arc::clone(&shared),
            cluster_id: cluster_hash(cluster_id),
            members: Arc::new(members),
        };
        tokio::spawn(expire_leases(backend.clone()));
        if let Some(policy) = auto_compaction {
            tokio::spawn(compact_automatically(backend.clone(), policy));
        }
        (backend, Follower { shared, seen: None })
    }

    fn applied(&self) -> Applied {
        self.shared.applied.borrow().clone()
    }

    /// The applied store at the latest revision published, or later; `None`
    /// once the node has stopped. Asks the node to publish it, unless the
    /// copy published last is recent enough: the watchers woken by one
    /// revision share one copy.
    async fn store(&self) -> Option<Store> {
        let mut applied = self.shared.applied.subscribe();
        loop {
            {
                let now = applied.borrow_and_update();
                if let Some(store) = &now.store
                    && store.revision() >= now.revision
                {
                    return Some(store.clone());
                }
            }
            self.shared.store_wanted.store(true, Ordering::Release);
            if !self.port.refresh() {
                return None;
            }
            applied.changed().await.ok()?;
        }
    }

    /// Runs `command` with a pooled in-process client.
    async fn submit(&self, command: &Command, kind: RequestKind) -> Outcome {
        let _permit = self
            .in_flight
            .acquire()
            .await
            .map_err(|_| EtcdError::Unavailable("the node is stopping".into()))?;
        let pooled = self.pool.lock().ok().and_then(|mut p| p.pop());
        let mut client = pooled.unwrap_or_else(|| self.port.client(RETRY_AFTER, RETRIES));
        let bytes = Bytes::from(encode_command(command));
        let reply = match kind {
            RequestKind::Command => client.execute(bytes).await,
            read => client.read(bytes, read).await,
        };
        if let Ok(mut pool) = self.pool.lock() {
            pool.push(client);
        }
        match reply {
            Some(reply) => decode_outcome(&reply)?,
            None => Err(EtcdError::Timeout),
        }
    }
}

/// The cluster file's id as etcd's numeric cluster id (FNV-1a: stable
/// across versions and platforms).
fn cluster_hash(id: &str) -> u64 {
    id.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The leader's side of leases: proposes the expiry of every lease whose
/// TTL has run out, each once until it applies (or a keep-alive moves it).
async fn expire_leases(backend: NodeBackend) {
    let mut tick = tokio::time::interval(EXPIRY_TICK);
    loop {
        tick.tick().await;
        let applied = backend.applied();
        if applied.status.as_ref().map(|s| s.role) != Some(Role::Leader) {
            continue;
        }
        let now = Instant::now();
        let due: Vec<(i64, u64)> = {
            let mut clock = backend.shared.clock();
            let due: Vec<(i64, u64)> = clock
                .deadlines
                .iter()
                .filter(|(id, _)| !clock.expiring.contains_key(id))
                .filter_map(|(id, (renewals, since))| {
                    let ttl = applied.leases.get(*id)?.ttl;
                    let deadline = since.checked_add(Duration::from_secs(ttl.max(0) as u64))?;
                    (deadline <= now).then_some((*id, *renewals))
                })
                .collect();
            clock.expiring.extend(due.iter().copied());
            due
        };
        for (id, renewals) in due {
            let backend = backend.clone();
            tokio::spawn(async move {
                let outcome = backend
                    .submit(&Command::LeaseExpire { id, renewals }, RequestKind::Command)
                    .await;
                if outcome.is_err() {
                    // Not applied (or not known to be): try again later.
                    backend.shared.clock().expiring.remove(&id);
                }
            });
        }
    }
}

/// The leader's side of automatic compaction (`compactor.rs`).
async fn compact_automatically(backend: NodeBackend, policy: AutoCompaction) {
    let mut compactor = Compactor::new(policy);
    let mut tick = tokio::time::interval(compactor.interval());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let (role, revision, compacted) = {
            let applied = backend.shared.applied.borrow();
            (
                applied.status.as_ref().map(|s| s.role),
                applied.revision,
                applied.compacted,
            )
        };
        if role != Some(Role::Leader) {
            compactor.pause();
            continue;
        }
        let Some(target) = compactor.due(Instant::now(), revision, compacted) else {
            continue;
        };
        let outcome = backend
            .submit(&Command::Compact { revision: target }, RequestKind::Command)
            .await;
        match outcome {
            Ok(_) => {
                tracing::debug!(revision = target, "history compacted automatically");
                if let Some(metrics) = &backend.shared.metrics {
                    metrics.auto_compacted();
                }
            }
            // A client compacted further meanwhile: nothing lost.
            Err(EtcdError::Compacted) => {}
            Err(e) => tracing::warn!(revision = target, "automatic compaction failed: {e}"),
        }
    }
}

#[tonic::async_trait]
impl EtcdBackend for NodeBackend {
    fn header(&self) -> HeaderInfo {
        let applied = self.shared.applied.borrow();
        HeaderInfo {
            cluster_id: self.cluster_id,
            member_id: u64::from(self.port.node().0),
            raft_term: applied.status.as_ref().map_or(0, |s| s.view.round),
        }
    }

    async fn propose(&self, command: Command) -> Outcome {
        self.submit(&command, RequestKind::Command).await
    }

    async fn read(&self, command: Command, consistency: ReadConsistency) -> Outcome {
        let kind = match consistency {
            ReadConsistency::Linearizable => RequestKind::Read,
            ReadConsistency::Serializable => RequestKind::LocalRead,
        };
        self.submit(&command, kind).await
    }

    fn applied_revision(&self) -> watch::Receiver<i64> {
        self.shared.revision.subscribe()
    }

    async fn events(
        &self,
        range: KeyRange,
        after: i64,
        max_events: usize,
        prev_kv: bool,
    ) -> Result<EventBatch, Compacted> {
        match self.store().await {
            Some(store) => store.events_with(&range, after, max_events, prev_kv),
            // The node stopped: nothing more to tell (the stream ends with
            // it).
            None => Ok(EventBatch {
                events: Vec::new(),
                through: after,
            }),
        }
    }

    async fn lease_keep_alive(&self, id: i64) -> Result<i64, EtcdError> {
        match self.propose(Command::LeaseKeepAlive { id }).await? {
            Response::LeaseKeepAlive { ttl, .. } => Ok(ttl),
            other => Err(EtcdError::Unavailable(format!(
                "unexpected result {other:?}"
            ))),
        }
    }

    async fn lease_time_to_live(&self, id: i64, keys: bool) -> Result<LeaseTtl, EtcdError> {
        let applied = self.applied();
        let lease = applied.leases.get(id).ok_or(EtcdError::LeaseNotFound)?;
        let remaining = match self.shared.clock().deadlines.get(&id) {
            Some((_, since)) => {
                let elapsed = since.elapsed().as_secs() as i64;
                (lease.ttl - elapsed).max(0)
            }
            None => lease.ttl,
        };
        Ok(LeaseTtl {
            id,
            remaining,
            granted: lease.ttl,
            keys: if keys {
                lease.keys.iter().cloned().collect()
            } else {
                Vec::new()
            },
        })
    }

    async fn lease_leases(&self) -> Result<Vec<i64>, EtcdError> {
        Ok(self.applied().leases.iter().map(|(id, _)| id).collect())
    }

    async fn members(&self) -> Result<Vec<MemberInfo>, EtcdError> {
        Ok(self.members.as_ref().clone())
    }

    async fn status(&self) -> Result<StatusInfo, EtcdError> {
        let applied = self.applied();
        let status = applied
            .status
            .ok_or_else(|| EtcdError::Unavailable("the node is starting".into()))?;
        Ok(StatusInfo {
            db_size: applied.size,
            leader: status.leader.map_or(0, |l| u64::from(l.0)),
            raft_index: status.commit,
            raft_term: status.view.round,
            raft_applied_index: status.executed,
            is_learner: status.role == Role::Learner,
            errors: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::cluster_hash;

    #[test]
    fn the_cluster_id_hash_is_stable_and_tells_clusters_apart() {
        // FNV-1a's published value for "a".
        assert_eq!(cluster_hash("a"), 0xaf63_dc4c_8601_ec8c);
        assert_ne!(cluster_hash("synod-1"), cluster_hash("synod-2"));
    }
}

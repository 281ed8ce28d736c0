//! A single-process backend: commands apply directly to one store (no
//! consensus), and lease deadlines run on this process's clock. For tests
//! and tools; it keeps the backend contract (`backend`) in every respect a
//! client can see, with this process as a one-member cluster.

use crate::backend::{EtcdBackend, HeaderInfo, LeaseTtl, MemberInfo, ReadConsistency, StatusInfo};
use crate::command::{Command, Outcome, Response};
use crate::error::EtcdError;
use crate::mvcc::{Compacted, EventBatch, Store};
use crate::types::KeyRange;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

#[derive(Clone)]
pub struct MemoryBackend {
    inner: Arc<Inner>,
}

struct Inner {
    state: Mutex<State>,
    revision: watch::Sender<i64>,
    member: Mutex<MemberInfo>,
    cluster_id: u64,
}

struct State {
    store: Store,
    applied_index: u64,
    /// When each lease expires unless renewed.
    deadlines: BTreeMap<i64, Instant>,
}

/// How often the expiry task looks for expired leases.
/// This one-member cluster's member id.
const MEMBER_ID: u64 = 1;

const EXPIRY_TICK: Duration = Duration::from_millis(50);

impl MemoryBackend {
    /// A backend on an empty store, with a task on the current tokio
    /// runtime that revokes expired leases (it ends with the backend).
    pub fn start() -> MemoryBackend {
        let backend = MemoryBackend {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    store: Store::new(),
                    applied_index: 0,
                    deadlines: BTreeMap::new(),
                }),
                revision: watch::channel(1).0,
                member: Mutex::new(MemberInfo {
                    id: MEMBER_ID,
                    name: "memory".into(),
                    peer_urls: Vec::new(),
                    client_urls: Vec::new(),
                    is_learner: false,
                }),
                cluster_id: 1,
            }),
        };
        tokio::spawn(expire_leases(Arc::downgrade(&backend.inner)));
        backend
    }

    /// A copy of the store as it is now (O(1)).
    pub fn store(&self) -> Store {
        self.inner.lock().store.clone()
    }

    /// Sets the URLs clients are told to use (after the listener binds).
    pub fn set_client_urls(&self, urls: Vec<String>) {
        self.inner
            .member
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .client_urls = urls;
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves the store as the last
        // complete apply left it: applies mutate only after their checks.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn apply(&self, command: &Command) -> Outcome {
        let (outcome, revision) = {
            let mut state = self.lock();
            let outcome = state.store.execute(command);
            state.applied_index += 1;
            match &outcome {
                Ok(Response::LeaseGrant { id, ttl, .. }) => {
                    let deadline = deadline_after(*ttl);
                    state.deadlines.insert(*id, deadline);
                }
                Ok(Response::LeaseRevoke { .. }) => {
                    if let Command::LeaseRevoke { id } = command {
                        state.deadlines.remove(id);
                    }
                }
                _ => {}
            }
            (outcome, state.store.revision())
        };
        // Concurrent appliers may get here out of order; the announced
        // revision only moves forward.
        self.revision.send_if_modified(|r| {
            let newer = revision > *r;
            if newer {
                *r = revision;
            }
            newer
        });
        outcome
    }
}

/// `ttl` seconds from now; a TTL past what the clock can represent (etcd
/// allows 9e9 s) is as good as never.
fn deadline_after(ttl: i64) -> Instant {
    let now = Instant::now();
    now.checked_add(Duration::from_secs(ttl.max(0) as u64))
        .unwrap_or_else(|| now + Duration::from_secs(30 * 365 * 86_400))
}

async fn expire_leases(inner: Weak<Inner>) {
    let mut tick = tokio::time::interval(EXPIRY_TICK);
    loop {
        tick.tick().await;
        let Some(inner) = inner.upgrade() else { return };
        let now = Instant::now();
        let expired: Vec<i64> = inner
            .lock()
            .deadlines
            .iter()
            .filter(|(_, deadline)| **deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            // Goes through apply as a revoke, as the leader's would go
            // through the log.
            let _ = inner.apply(&Command::LeaseRevoke { id });
        }
    }
}

#[tonic::async_trait]
impl EtcdBackend for MemoryBackend {
    fn header(&self) -> HeaderInfo {
        HeaderInfo {
            cluster_id: self.inner.cluster_id,
            member_id: MEMBER_ID,
            raft_term: 1,
        }
    }

    async fn propose(&self, command: Command) -> Outcome {
        self.inner.apply(&command)
    }

    async fn read(&self, command: Command, _consistency: ReadConsistency) -> Outcome {
        // One copy of the state: every read is linearizable.
        self.inner.lock().store.query(&command)
    }

    fn applied_revision(&self) -> watch::Receiver<i64> {
        self.inner.revision.subscribe()
    }

    async fn events(
        &self,
        range: KeyRange,
        after: i64,
        max_events: usize,
        prev_kv: bool,
    ) -> Result<EventBatch, Compacted> {
        // Read from a capture, so appliers are not held up by the scan.
        let store = self.store();
        store.events_with(&range, after, max_events, prev_kv)
    }

    async fn lease_keep_alive(&self, id: i64) -> Result<i64, EtcdError> {
        let mut state = self.inner.lock();
        let ttl = state
            .store
            .leases()
            .get(id)
            .map(|l| l.ttl)
            .ok_or(EtcdError::LeaseNotFound)?;
        state.deadlines.insert(id, deadline_after(ttl));
        Ok(ttl)
    }

    async fn lease_time_to_live(&self, id: i64, keys: bool) -> Result<LeaseTtl, EtcdError> {
        let state = self.inner.lock();
        let lease = state
            .store
            .leases()
            .get(id)
            .ok_or(EtcdError::LeaseNotFound)?;
        let remaining = state
            .deadlines
            .get(&id)
            .map(|d| d.saturating_duration_since(Instant::now()).as_secs() as i64)
            .unwrap_or(lease.ttl);
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
        Ok(self
            .inner
            .lock()
            .store
            .leases()
            .iter()
            .map(|(id, _)| id)
            .collect())
    }

    async fn members(&self) -> Result<Vec<MemberInfo>, EtcdError> {
        Ok(vec![
            self.inner
                .member
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        ])
    }

    async fn status(&self) -> Result<StatusInfo, EtcdError> {
        let state = self.inner.lock();
        Ok(StatusInfo {
            db_size: state.store.approximate_size(),
            leader: MEMBER_ID,
            raft_index: state.applied_index,
            raft_term: 1,
            raft_applied_index: state.applied_index,
            is_learner: false,
            errors: Vec::new(),
        })
    }
}

//! What the gRPC services need from a node, as one trait: the node runtime
//! implements it over consensus; `memory::MemoryBackend` implements it in a
//! single process for tests.
//!
//! The contract:
//! - `propose` puts a command through the log and answers with the outcome
//!   every replica computed for it (after it is applied here). A follower
//!   forwards to the leader; without a leader it fails with `NoLeader`.
//! - `read` serves a read-only command: `Serializable` from this node's
//!   applied state as it is, `Linearizable` from a state that includes every
//!   write acknowledged before the call (through the log, or a read index).
//! - `applied_revision` tells watchers the store's revision as this node
//!   applies; `events` reads changes from this node's applied history (so a
//!   watcher that moves to another node resumes where it left off).
//! - Lease deadlines are the leader's, on its own clock: it revokes an
//!   expired lease by proposing `Command::LeaseRevoke`, restarts every
//!   remaining TTL when it takes over (so a failover never expires a live
//!   lease early), and renews on `lease_keep_alive`.

use crate::command::{Command, Outcome};
use crate::error::EtcdError;
use crate::mvcc::{Compacted, EventBatch};
use crate::types::KeyRange;
use tokio::sync::watch;

/// Who answers: the fields of every response header but the revision.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HeaderInfo {
    pub cluster_id: u64,
    pub member_id: u64,
    /// The leader's term; synod's ballot round.
    pub raft_term: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadConsistency {
    Linearizable,
    Serializable,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemberInfo {
    pub id: u64,
    pub name: String,
    pub peer_urls: Vec<String>,
    pub client_urls: Vec<String>,
    pub is_learner: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatusInfo {
    pub db_size: i64,
    /// The leader's member id, 0 if none is known.
    pub leader: u64,
    /// The last log index this node knows committed.
    pub raft_index: u64,
    pub raft_term: u64,
    pub raft_applied_index: u64,
    pub is_learner: bool,
    /// Alarms and other conditions worth reporting, in words.
    pub errors: Vec<String>,
}

/// A lease as LeaseTimeToLive reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeaseTtl {
    pub id: i64,
    /// Seconds left before the leader revokes it.
    pub remaining: i64,
    pub granted: i64,
    /// Attached keys, in key order (empty unless asked for).
    pub keys: Vec<Vec<u8>>,
}

#[tonic::async_trait]
pub trait EtcdBackend: Send + Sync + 'static {
    /// The header fields for a response sent now.
    fn header(&self) -> HeaderInfo;

    async fn propose(&self, command: Command) -> Outcome;

    /// Serves a read-only command (see `Command::is_read_only`).
    async fn read(&self, command: Command, consistency: ReadConsistency) -> Outcome;

    /// This node's applied store revision; it changes as commands apply.
    fn applied_revision(&self) -> watch::Receiver<i64>;

    /// Changes to `range` after revision `after`, about `max_events` at most
    /// (see `Store::events_with`), from this node's applied history; with
    /// the pair before each if `prev_kv`.
    async fn events(
        &self,
        range: KeyRange,
        after: i64,
        max_events: usize,
        prev_kv: bool,
    ) -> Result<EventBatch, Compacted>;

    /// Renews a lease for its granted TTL; answers that TTL.
    async fn lease_keep_alive(&self, id: i64) -> Result<i64, EtcdError>;

    async fn lease_time_to_live(&self, id: i64, keys: bool) -> Result<LeaseTtl, EtcdError>;

    /// Every lease's id, in order.
    async fn lease_leases(&self) -> Result<Vec<i64>, EtcdError>;

    async fn members(&self) -> Result<Vec<MemberInfo>, EtcdError>;

    async fn status(&self) -> Result<StatusInfo, EtcdError>;
}

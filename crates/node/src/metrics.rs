//! A node's metrics and health: the registry that `GET /metrics` encodes
//! ([`crate::http`]), and how the node's tasks keep it current without
//! waiting for one another.
//!
//! The contract:
//! - [`Metrics`] is shared (`Arc`) between the core task, the log writer
//!   thread, checkpoint builders and the HTTP server. Its counters and
//!   gauges are atomics; a histogram takes a short lock of its own (the
//!   core task observes one only per heartbeat acknowledgement). Writers
//!   never wait for a scrape, and a scrape reads whatever was last stored.
//! - [`Observer`] belongs to the core task. It derives every metric from
//!   what the sans-IO replica already tells its host: its status once per
//!   turn, its events, the messages it sends and receives. Nothing here
//!   changes what the replica does.
//! - [`SyncProbe`] belongs to the write-ahead log, on the log writer's
//!   thread: it times each fsync and says when one has been running for
//!   long (a stalled disk).
//! - [`Metrics::health`] judges the node from these values alone, as etcd's
//!   `/health` does: a leader heard from recently, storage that works, no
//!   alarm.
//!
//! Names follow etcd's where the meaning matches (docs/observability.md
//! lists every metric and what it measures here); the rest are `synod_`.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use synod_core::{Ballot, Event, Message, NodeId, Role, Status};

/// A gauge of slots and counts (never negative).
type U64Gauge = Gauge<u64, AtomicU64>;
/// A peer, as etcd labels it (`To`), by node id.
type PeerLabel = [(&'static str, u32); 1];
/// One word saying what happened (`outcome`, `role`).
type WordLabel = [(&'static str, &'static str); 1];

/// An fsync running longer than this makes the node unhealthy (etcd logs
/// a "slow fdatasync" warning from 1 s).
pub const SYNC_STALL: Duration = Duration::from_secs(1);
/// A core task that has not finished a turn for this long is stuck: it
/// turns at least every `timers.tick_ms` even when idle.
pub const CORE_STALL: Duration = Duration::from_secs(1);

/// How many of the leader's latest heartbeat rounds are remembered to
/// time their acknowledgements: 64 rounds of 20 ms cover 1.3 s, beyond
/// which an acknowledgement is not a round trip worth timing.
const HEARTBEATS_TIMED: usize = 64;

pub struct Metrics {
    registry: Registry,
    /// Metrics the node's application registers (the etcd front end's
    /// revisions), encoded after the node's own: the application gets a
    /// registry of its own so that it can register once the node is up.
    app_registry: Mutex<Registry>,
    /// The instant that the atomics holding times count from.
    epoch: Instant,

    has_leader: Gauge,
    is_leader: Gauge,
    leader_changes: Counter,
    committed: U64Gauge,
    applied: U64Gauge,
    pending: U64Gauge,
    wal_fsync: Histogram,
    peer_rtt: Family<PeerLabel, Histogram>,
    peer_sent_failures: Family<PeerLabel, Counter>,

    ballot: U64Gauge,
    leader: U64Gauge,
    role: Family<WordLabel, Gauge>,
    view_changes: Counter,
    checkpoint_duration: Histogram,
    checkpoint_slot: U64Gauge,
    truncated_slot: U64Gauge,
    retained: U64Gauge,
    snapshots_installed: Counter,
    divergences: Counter,
    reads_served: Counter,
    requests: Family<WordLabel, Counter>,
    replies: Family<WordLabel, Counter>,

    /// Microseconds after `epoch` at which the running fsync began (0: none
    /// running).
    sync_since_us: AtomicU64,
    /// Microseconds after `epoch` at which the core task last finished a
    /// turn.
    last_turn_us: AtomicU64,
    storage_failed: AtomicBool,
}

/// What `GET /health` answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Health {
    /// Why the node is unhealthy; `None` when it is healthy.
    pub problem: Option<String>,
    /// The leader this node follows or is (0: none it hears from).
    pub leader: u64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut m = Metrics {
            registry: Registry::default(),
            app_registry: Mutex::new(Registry::default()),
            epoch: Instant::now(),
            has_leader: Gauge::default(),
            is_leader: Gauge::default(),
            leader_changes: Counter::default(),
            committed: U64Gauge::default(),
            applied: U64Gauge::default(),
            pending: U64Gauge::default(),
            // etcd's buckets: 1 ms to 8 s.
            wal_fsync: Histogram::new(exponential_buckets(0.001, 2.0, 14)),
            // etcd's buckets: 0.1 ms to 3.3 s.
            peer_rtt: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.0001, 2.0, 16))
            }),
            peer_sent_failures: Family::default(),
            ballot: U64Gauge::default(),
            leader: U64Gauge::default(),
            role: Family::default(),
            view_changes: Counter::default(),
            // 0.1 ms to 26 s: a large state takes a while to serialise.
            checkpoint_duration: Histogram::new(exponential_buckets(0.0001, 4.0, 10)),
            checkpoint_slot: U64Gauge::default(),
            truncated_slot: U64Gauge::default(),
            retained: U64Gauge::default(),
            snapshots_installed: Counter::default(),
            divergences: Counter::default(),
            reads_served: Counter::default(),
            requests: Family::default(),
            replies: Family::default(),
            sync_since_us: AtomicU64::new(0),
            last_turn_us: AtomicU64::new(0),
            storage_failed: AtomicBool::new(false),
        };
        // prometheus-client adds `_total` to counters and the unit to
        // names registered with one; gauges keep their name as given (etcd
        // names some gauges `_total`).
        let r = &mut m.registry;
        r.register(
            "etcd_server_has_leader",
            "Whether or not a leader exists. 1 is existence, 0 is not: this node leads, or follows a leader it heard from within the election timeout",
            m.has_leader.clone(),
        );
        r.register(
            "etcd_server_is_leader",
            "Whether or not this member is a leader. 1 if is, 0 otherwise",
            m.is_leader.clone(),
        );
        r.register(
            "etcd_server_leader_changes_seen",
            "The number of leader changes seen",
            m.leader_changes.clone(),
        );
        r.register(
            "etcd_server_proposals_committed_total",
            "The total number of consensus proposals committed: the slot through which this node knows every slot chosen",
            m.committed.clone(),
        );
        r.register(
            "etcd_server_proposals_applied_total",
            "The total number of consensus proposals applied: the slot through which this node executed the log",
            m.applied.clone(),
        );
        r.register(
            "etcd_server_proposals_pending",
            "The current number of pending proposals to commit: client requests that reached this node and await their reply",
            m.pending.clone(),
        );
        r.register_with_unit(
            "etcd_disk_wal_fsync_duration",
            "The latency distributions of fsync called by WAL",
            Unit::Seconds,
            m.wal_fsync.clone(),
        );
        r.register_with_unit(
            "etcd_network_peer_round_trip_time",
            "Round-Trip-Time histogram between peers: from a leader's heartbeat queued for a peer to the peer's acknowledgement taken by the core task",
            Unit::Seconds,
            m.peer_rtt.clone(),
        );
        r.register(
            "etcd_network_peer_sent_failures",
            "The total number of send failures from peers: messages dropped because the peer's link queue was full or closed",
            m.peer_sent_failures.clone(),
        );
        r.register(
            "synod_ballot",
            "The round of the ballot this node follows or leads with",
            m.ballot.clone(),
        );
        r.register(
            "synod_leader",
            "The leader of the ballot this node follows or leads with, whether or not it still hears from it (0: none yet)",
            m.leader.clone(),
        );
        r.register(
            "synod_role",
            "1 for this node's role (follower, candidate, leader, learner), 0 for the others",
            m.role.clone(),
        );
        r.register(
            "synod_view_changes",
            "NEW-VIEWs this node sent or accepted",
            m.view_changes.clone(),
        );
        r.register_with_unit(
            "synod_checkpoint_duration",
            "Time to serialise, digest and write (synced, to its snapshot file) one checkpoint of the state, off the core task",
            Unit::Seconds,
            m.checkpoint_duration.clone(),
        );
        r.register(
            "synod_checkpoint_slot",
            "The slot of this node's latest checkpoint (0: none yet)",
            m.checkpoint_slot.clone(),
        );
        r.register(
            "synod_log_truncated_slot",
            "The log is truncated through this slot",
            m.truncated_slot.clone(),
        );
        r.register(
            "synod_log_retained_entries",
            "Log entries held in memory, accepted and chosen",
            m.retained.clone(),
        );
        r.register(
            "synod_snapshots_installed",
            "Snapshots received from a peer and installed (state transfer)",
            m.snapshots_installed.clone(),
        );
        r.register(
            "synod_divergences",
            "Checkpoint digests that differed from a peer's at the same slot (never expected)",
            m.divergences.clone(),
        );
        r.register(
            "synod_reads_served",
            "Reads answered from the state without a log write",
            m.reads_served.clone(),
        );
        r.register(
            "synod_client_requests",
            "Client requests that reached this node, by what became of them: replica (handed to the replica) or dropped (a partition set by admin)",
            m.requests.clone(),
        );
        r.register(
            "synod_client_replies",
            "Replies to clients connected here, by outcome: sent (queued on the connection), client_gone (no connection), connection_full (its queue was full)",
            m.replies.clone(),
        );
        m
    }

    /// The registry, for the endpoint to encode.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The application's registry: register its metrics here (at start;
    /// the endpoint encodes them after the node's own).
    pub fn app_registry(&self) -> MutexGuard<'_, Registry> {
        // Registration and encoding do not panic midway.
        self.app_registry.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every metric in the text format: the node's, then the
    /// application's.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        use prometheus_client::encoding::prometheus_text::encode;
        let mut text = String::with_capacity(8 * 1024);
        encode(&mut text, &self.registry)?;
        encode(&mut text, &self.app_registry())?;
        Ok(text)
    }

    fn micros_since_epoch(&self) -> u64 {
        // +1: 0 means "never" in the atomics.
        self.epoch.elapsed().as_micros() as u64 + 1
    }

    fn since(&self, stored_us: u64) -> Option<Duration> {
        (stored_us != 0)
            .then(|| Duration::from_micros(self.micros_since_epoch().saturating_sub(stored_us)))
    }

    /// The probe the log writer times its fsyncs with.
    pub fn sync_probe(self: &Arc<Self>) -> SyncProbe {
        SyncProbe {
            metrics: self.clone(),
        }
    }

    /// How the node is, from the values stored last.
    pub fn health(&self) -> Health {
        let last_turn = self.last_turn_us.load(Ordering::Relaxed);
        judge(Signs {
            has_leader: self.has_leader.get() == 1,
            storage_failed: self.storage_failed.load(Ordering::Relaxed),
            sync_running: self.since(self.sync_since_us.load(Ordering::Relaxed)),
            // None before the first turn: the node is starting, not stuck.
            since_turn: self.since(last_turn),
            divergences: self.divergences.get(),
            leader: self.leader.get(),
        })
    }
}

/// What [`judge`] looks at.
struct Signs {
    has_leader: bool,
    storage_failed: bool,
    sync_running: Option<Duration>,
    since_turn: Option<Duration>,
    divergences: u64,
    leader: u64,
}

/// The verdict: the first problem found, in the order an operator should
/// look at them (a stuck disk explains a missing leader, not the reverse).
fn judge(s: Signs) -> Health {
    let problem = if s.storage_failed {
        Some("STORAGE FAILED".to_string())
    } else if let Some(running) = s.sync_running.filter(|d| *d >= SYNC_STALL) {
        Some(format!(
            "WAL FSYNC STALLED ({:.1} s)",
            running.as_secs_f64()
        ))
    } else if let Some(idle) = s.since_turn.filter(|d| *d >= CORE_STALL) {
        Some(format!("CORE STALLED ({:.1} s)", idle.as_secs_f64()))
    } else if s.divergences > 0 {
        Some("REPLICA DIVERGENCE".to_string())
    } else if !s.has_leader {
        Some("NO LEADER".to_string())
    } else {
        None
    };
    Health {
        problem,
        // The last leader known is no answer to "who leads" once silent.
        leader: if s.has_leader { s.leader } else { 0 },
    }
}

/// The write-ahead log's handle ([`crate::store::Wal::time_syncs`]): times
/// each `fdatasync` into `etcd_disk_wal_fsync_duration_seconds`, and marks
/// the disk busy while a group commit is written and synced, so that a
/// stalled disk shows in `/health` while the call still hangs.
#[derive(Clone)]
pub struct SyncProbe {
    metrics: Arc<Metrics>,
}

impl SyncProbe {
    /// The disk is busy from now until the guard is dropped.
    pub fn busy(&self) -> Busy {
        let m = &self.metrics;
        m.sync_since_us
            .store(m.micros_since_epoch(), Ordering::Relaxed);
        Busy(self.clone())
    }

    /// One `fdatasync` took `took`.
    pub fn fsync_took(&self, took: Duration) {
        self.metrics.wal_fsync.observe(took.as_secs_f64());
    }
}

/// While it lives, the disk is marked busy ([`SyncProbe::busy`]).
pub struct Busy(SyncProbe);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.metrics.sync_since_us.store(0, Ordering::Relaxed);
    }
}

/// What became of a reply for a client connected here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReplyOutcome {
    /// Queued on the client's connection.
    Sent,
    /// The client has no connection here any more.
    ClientGone,
    /// The connection's queue was full.
    ConnectionFull,
}

/// The core task's side: what it last saw, to turn the replica's status
/// into counters and its heartbeats into round trips.
pub(crate) struct Observer {
    metrics: Arc<Metrics>,
    /// The per-request counters, looked up once (not per request): handed
    /// to the replica, dropped.
    requests: [Counter; 2],
    /// Replies by [`ReplyOutcome`], in its order.
    replies: [Counter; 3],
    leader: Option<NodeId>,
    role: Option<Role>,
    reads_served: u64,
    /// The leader's latest heartbeat rounds: ballot, round, when queued.
    heartbeats: VecDeque<(Ballot, u64, Instant)>,
}

impl Observer {
    pub(crate) fn new(metrics: Arc<Metrics>) -> Self {
        let counter = |family: &Family<WordLabel, Counter>, outcome| {
            family.get_or_create_owned(&[("outcome", outcome)])
        };
        Observer {
            requests: [
                counter(&metrics.requests, "replica"),
                counter(&metrics.requests, "dropped"),
            ],
            replies: [
                counter(&metrics.replies, "sent"),
                counter(&metrics.replies, "client_gone"),
                counter(&metrics.replies, "connection_full"),
            ],
            metrics,
            leader: None,
            role: None,
            reads_served: 0,
            heartbeats: VecDeque::new(),
        }
    }

    /// After each turn: the replica's status as it now stands.
    pub(crate) fn turn(&mut self, s: &Status) {
        let m = &self.metrics;
        let leads = s.role == Role::Leader;
        // A follower's election timer expires (`suspecting`) when it has
        // not heard from its leader for an election timeout, or its
        // requests stalled that long: either way it has no leader it can
        // use. A candidate has none by definition.
        let has_leader =
            leads || (s.role != Role::Candidate && s.leader.is_some() && !s.suspecting);
        m.has_leader.set(i64::from(has_leader));
        m.is_leader.set(i64::from(leads));
        // As etcd counts them: each time the leader is another node than
        // the last one known (the first one included).
        if s.leader.is_some() && s.leader != self.leader {
            m.leader_changes.inc();
            self.leader = s.leader;
        }
        m.leader.set(s.leader.map_or(0, |l| u64::from(l.0)));
        m.ballot.set(s.view.round);
        m.committed.set(s.commit);
        m.applied.set(s.executed);
        m.pending.set(s.waiting as u64);
        m.checkpoint_slot.set(s.checkpoint);
        m.truncated_slot.set(s.truncated);
        m.retained.set(s.retained as u64);
        if s.reads_served > self.reads_served {
            m.reads_served.inc_by(s.reads_served - self.reads_served);
            self.reads_served = s.reads_served;
        }
        if self.role != Some(s.role) {
            for role in [Role::Follower, Role::Candidate, Role::Leader, Role::Learner] {
                m.role
                    .get_or_create(&[("role", role_name(role))])
                    .set(i64::from(role == s.role));
            }
            self.role = Some(s.role);
        }
        m.last_turn_us
            .store(m.micros_since_epoch(), Ordering::Relaxed);
    }

    pub(crate) fn event(&mut self, event: &Event) {
        let m = &self.metrics;
        match event {
            Event::NewView { .. } => {
                m.view_changes.inc();
            }
            Event::Divergence { .. } => {
                m.divergences.inc();
            }
            Event::SnapshotInstalled { .. } => {
                m.snapshots_installed.inc();
            }
            _ => {}
        }
    }

    /// A message for `to` is handed to its link.
    pub(crate) fn sending(&mut self, msg: &Message) {
        if let Message::Heartbeat { ballot, round, .. } = msg {
            // Every peer gets the same round in the same turn: one entry.
            if self
                .heartbeats
                .back()
                .is_none_or(|(b, r, _)| (b, r) != (ballot, round))
            {
                if self.heartbeats.len() >= HEARTBEATS_TIMED {
                    self.heartbeats.pop_front();
                }
                self.heartbeats.push_back((*ballot, *round, Instant::now()));
            }
        }
    }

    /// A message for `to` was dropped: its link's queue was full or closed.
    pub(crate) fn send_failed(&mut self, to: NodeId) {
        self.metrics
            .peer_sent_failures
            .get_or_create(&[("To", to.0)])
            .inc();
    }

    /// A message from `from` is about to be handed to the replica.
    pub(crate) fn received(&mut self, from: NodeId, msg: &Message) {
        if let Message::HeartbeatAck { ballot, round, .. } = msg
            && let Some((_, _, sent)) = self
                .heartbeats
                .iter()
                .rev()
                .find(|(b, r, _)| (b, r) == (ballot, round))
        {
            self.metrics
                .peer_rtt
                .get_or_create(&[("To", from.0)])
                .observe(sent.elapsed().as_secs_f64());
        }
    }

    /// The histogram a checkpoint builder records its time in.
    pub(crate) fn checkpoint_timer(&self) -> Histogram {
        self.metrics.checkpoint_duration.clone()
    }

    /// Storage failed: the node stops now, and says so while it does.
    pub(crate) fn storage_failed(&self) {
        self.metrics.storage_failed.store(true, Ordering::Relaxed);
    }

    /// A client request arrived; `served`: it goes to the replica (not
    /// dropped by an injected partition).
    pub(crate) fn request(&mut self, served: bool) {
        self.requests[usize::from(!served)].inc();
    }

    /// A reply for a client connected here.
    pub(crate) fn reply(&mut self, outcome: ReplyOutcome) {
        self.replies[outcome as usize].inc();
    }
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Follower => "follower",
        Role::Candidate => "candidate",
        Role::Leader => "leader",
        Role::Learner => "learner",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn healthy() -> Signs {
        Signs {
            has_leader: true,
            storage_failed: false,
            sync_running: None,
            since_turn: Some(Duration::from_millis(3)),
            divergences: 0,
            leader: 2,
        }
    }

    #[test]
    fn a_node_with_a_leader_and_a_working_disk_is_healthy() {
        let h = judge(healthy());
        assert_eq!(h.problem, None);
        assert_eq!(h.leader, 2);
        // A sync that runs, but not for long, is normal.
        let h = judge(Signs {
            sync_running: Some(Duration::from_millis(20)),
            ..healthy()
        });
        assert_eq!(h.problem, None);
    }

    #[test]
    fn each_problem_is_named_and_the_disk_comes_first() {
        let problem = |s: Signs| judge(s).problem.unwrap_or_default();
        assert_eq!(
            problem(Signs {
                has_leader: false,
                ..healthy()
            }),
            "NO LEADER"
        );
        let silent = judge(Signs {
            has_leader: false,
            ..healthy()
        });
        assert_eq!(silent.leader, 0, "a leader not heard from is not named");
        assert_eq!(
            problem(Signs {
                divergences: 1,
                ..healthy()
            }),
            "REPLICA DIVERGENCE"
        );
        assert_eq!(
            problem(Signs {
                sync_running: Some(Duration::from_secs(2)),
                has_leader: false,
                ..healthy()
            }),
            "WAL FSYNC STALLED (2.0 s)"
        );
        assert_eq!(
            problem(Signs {
                since_turn: Some(Duration::from_secs(3)),
                has_leader: false,
                ..healthy()
            }),
            "CORE STALLED (3.0 s)"
        );
        assert_eq!(
            problem(Signs {
                storage_failed: true,
                sync_running: Some(Duration::from_secs(2)),
                ..healthy()
            }),
            "STORAGE FAILED"
        );
    }

    #[test]
    fn the_disk_is_busy_while_the_guard_lives() {
        let metrics = Arc::new(Metrics::new());
        let probe = metrics.sync_probe();
        let busy = probe.busy();
        assert_ne!(metrics.sync_since_us.load(Ordering::Relaxed), 0);
        assert!(
            metrics
                .since(metrics.sync_since_us.load(Ordering::Relaxed))
                .is_some()
        );
        drop(busy);
        assert_eq!(metrics.sync_since_us.load(Ordering::Relaxed), 0);
    }

    fn status(role: Role, leader: Option<u32>, suspecting: bool) -> Status {
        Status {
            id: NodeId(1),
            role,
            view: Ballot {
                round: 4,
                node: NodeId(leader.unwrap_or(1)),
            },
            promised: Ballot::ZERO,
            leader: leader.map(NodeId),
            commit: 10,
            executed: 9,
            highest_accepted: 10,
            suspecting,
            retained: 5,
            checkpoint: 0,
            truncated: 0,
            reads_served: 0,
            waiting: 2,
        }
    }

    /// What `GET /metrics` serves.
    fn text(m: &Metrics) -> String {
        m.encode().unwrap()
    }

    #[test]
    fn the_applications_metrics_follow_the_nodes() {
        let metrics = Metrics::new();
        let gauge: Gauge = Gauge::default();
        metrics.app_registry().register(
            "app_things",
            "Things the application counts",
            gauge.clone(),
        );
        gauge.set(7);
        let out = text(&metrics);
        let node = out.find("\netcd_server_has_leader ").unwrap();
        let app = out.find("\napp_things 7\n").unwrap();
        assert!(node < app, "{out}");
        assert!(!out.contains("# EOF"), "one exposition, not two: {out}");
    }

    #[test]
    fn the_status_of_each_turn_becomes_etcd_named_metrics() {
        let metrics = Arc::new(Metrics::new());
        let mut observer = Observer::new(metrics.clone());
        observer.turn(&status(Role::Follower, Some(2), false));
        let out = text(&metrics);
        for line in [
            "etcd_server_has_leader 1",
            "etcd_server_is_leader 0",
            "etcd_server_leader_changes_seen_total 1",
            "etcd_server_proposals_committed_total 10",
            "etcd_server_proposals_applied_total 9",
            "etcd_server_proposals_pending 2",
            "synod_ballot 4",
            "synod_leader 2",
            "synod_role{role=\"follower\"} 1",
            "synod_role{role=\"leader\"} 0",
            "# TYPE etcd_disk_wal_fsync_duration_seconds histogram",
        ] {
            assert!(out.lines().any(|l| l == line), "no {line:?} in\n{out}");
        }
        // Silence from the leader: no leader, and no change counted yet.
        observer.turn(&status(Role::Follower, Some(2), true));
        assert_eq!(metrics.has_leader.get(), 0);
        assert_eq!(metrics.health().problem.as_deref(), Some("NO LEADER"));
        // Another leader is a change; the same one again is not.
        observer.turn(&status(Role::Follower, Some(3), false));
        observer.turn(&status(Role::Follower, Some(3), false));
        assert_eq!(metrics.leader_changes.get(), 2);
        assert_eq!(metrics.health().problem, None);
        // A candidate has no leader, whatever it last followed.
        observer.turn(&status(Role::Candidate, Some(3), false));
        assert_eq!(metrics.has_leader.get(), 0);
    }

    #[test]
    fn requests_and_replies_are_counted_by_outcome_from_zero() {
        let metrics = Arc::new(Metrics::new());
        let mut observer = Observer::new(metrics.clone());
        // Every outcome is there from the start, at 0.
        let out = text(&metrics);
        assert!(
            out.lines()
                .any(|l| l == "synod_client_replies_total{outcome=\"connection_full\"} 0"),
            "{out}"
        );
        observer.request(true);
        observer.request(true);
        observer.request(false);
        observer.reply(ReplyOutcome::Sent);
        observer.reply(ReplyOutcome::ClientGone);
        let out = text(&metrics);
        for line in [
            "synod_client_requests_total{outcome=\"replica\"} 2",
            "synod_client_requests_total{outcome=\"dropped\"} 1",
            "synod_client_replies_total{outcome=\"sent\"} 1",
            "synod_client_replies_total{outcome=\"client_gone\"} 1",
            "synod_client_replies_total{outcome=\"connection_full\"} 0",
        ] {
            assert!(out.lines().any(|l| l == line), "no {line:?} in\n{out}");
        }
    }

    #[test]
    fn a_heartbeat_acknowledged_is_one_round_trip_to_that_peer() {
        let metrics = Arc::new(Metrics::new());
        let mut observer = Observer::new(metrics.clone());
        let ballot = Ballot {
            round: 1,
            node: NodeId(1),
        };
        let heartbeat = Message::Heartbeat {
            ballot,
            commit: 0,
            round: 7,
        };
        observer.sending(&heartbeat);
        observer.sending(&heartbeat);
        let ack = |round| Message::HeartbeatAck {
            ballot,
            commit: 0,
            truncated: 0,
            round,
        };
        observer.received(NodeId(2), &ack(7));
        // A round never sent is not timed.
        observer.received(NodeId(3), &ack(8));
        observer.send_failed(NodeId(3));
        let out = text(&metrics);
        for line in [
            "etcd_network_peer_round_trip_time_seconds_count{To=\"2\"} 1",
            "etcd_network_peer_sent_failures_total{To=\"3\"} 1",
        ] {
            assert!(out.lines().any(|l| l == line), "no {line:?} in\n{out}");
        }
        assert!(
            !out.contains("round_trip_time_seconds_count{To=\"3\"}"),
            "{out}"
        );
    }
}

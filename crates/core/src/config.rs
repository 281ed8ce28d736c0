//! The protocol's knobs: membership, timers, batching and pipelining.
//!
//! Every duration is in microseconds of the caller's clock. The defaults suit
//! a cluster on one machine or a LAN; the failover bound they give is derived
//! in docs/liveness.md and computed by [`Config::failover_bound`].

use crate::types::{MS, NodeId, Time};
use thiserror::Error;

/// A protocol bug compiled in only for the simulator's own tests, so they can
/// show that the simulator catches it. Never part of a shipped build.
#[cfg(feature = "planted-bugs")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlantedBug {
    /// The acceptor accepts an ACCEPT whose ballot is below its promise.
    AcceptLowerBallot,
    /// NEW-VIEW ignores the accept logs in the promises and fills every
    /// unknown slot with a no-op.
    NewViewIgnoresPromises,
    /// The leader declares a slot chosen on f acknowledgements, not f+1.
    CommitOnF,
    /// Duplicate suppression uses a leader-local cache instead of the
    /// replicated reply table, so a retry after a leader change is applied
    /// again.
    LocalReplyCache,
    /// A candidate ignores that a promiser truncated its log past the
    /// candidate's knowledge, and builds its NEW-VIEW over forgotten slots.
    IgnoreTruncation,
    /// A node that lost its disk rejoins as a voter, with its promises and
    /// acceptances forgotten.
    WipedNodeVotes,
    /// A log compaction leaves out the highest accepted entry, so a crash
    /// after it forgets an acceptance the node already acknowledged.
    CompactionDropsRecord,
    /// A reconfiguration takes effect when proposed: the leader counts the
    /// new voters at once, proposes past it, and takes the next change
    /// before it is chosen.
    ReconfigureEarly,
    /// After a reconfiguration the removed voters still count toward the
    /// new epoch's quorums (and the leader still hears them, though they
    /// are no longer members).
    RemovedNodeCounted,
    /// A candidate counts a promise that answered an earlier PREPARE of its
    /// ballot (sent before it crashed) with a later `from`, and fills the
    /// slots in between from its own log.
    StalePromiseCounted,
    /// The leader answers a linearizable read at once from its state, and
    /// hands a follower's READ-INDEX its executed slot at once, without the
    /// quorum round that confirms it still leads: a deposed leader answers
    /// stale reads.
    UnconfirmedRead,
    /// A replica that executes a reconfiguration keeps it in memory only
    /// until the next periodic checkpoint: restarted, it knows the voters
    /// of an older epoch, who may all have been removed and stopped.
    ReconfigurationNotDurable,
    /// A node whose membership is behind keeps asking for missing slots
    /// the non-member that first told it so, even once that node is
    /// stopped for good.
    CatchUpHintSticks,
    /// A leader that steps down for want of a quorum does not say so: the
    /// nodes that still hear it wait out their election timer.
    SilentStepDown,
    /// A candidacy that no peer answered lengthens the backoff as if it
    /// had lost a duel: a node cut off alone comes back slow to stand.
    UnansweredCandidacyBacksOff,
    /// A follower of three voters takes its own acceptance of a slot for a
    /// quorum, without its leader's: it executes a value that may never be
    /// chosen.
    FollowerCountsItselfTwice,
}

#[derive(Clone, Debug)]
pub struct Config {
    /// This node.
    pub id: NodeId,
    /// The voters the cluster was created with (this node among them,
    /// unless it joins as a learner).
    pub nodes: Vec<NodeId>,
    /// Learners of the initial membership: a node joining a running cluster
    /// lists itself here until it learns the real membership from the log.
    pub learners: Vec<NodeId>,
    /// How often a leader sends HEARTBEAT (it carries the commit point).
    pub heartbeat_interval: Time,
    /// A follower suspects its leader after this long without hearing from
    /// it, or without progress while it holds a client's request.
    pub election_timeout: Time,
    /// Extra wait per place in the candidate order: the node right after the
    /// suspected leader stands at once, the next one this much later, ...
    pub candidate_stagger: Time,
    /// tp: a node sends PREPARE at most once per tp, and not within tp of a
    /// PREPARE it received from another node.
    pub prepare_throttle: Time,
    /// How long a candidate waits for a quorum of promises before giving up.
    pub candidacy_timeout: Time,
    /// Resend ACCEPTs that lack acknowledgements, and catch-up requests, this often.
    pub retransmit_interval: Time,
    /// At most this many proposed-but-not-chosen slots at a time.
    pub window: usize,
    /// At most this many client requests per slot.
    pub max_batch_size: usize,
    /// Wait up to this long to fill a batch when slots are already in flight
    /// (0: propose whenever the window has room). A lone request never
    /// waits, and the wait ends as soon as no slot is in flight; until then
    /// the requests that arrive share one slot instead of each turn
    /// proposing its own, which costs every node a message, a log record
    /// and a sync's worth of work per slot (docs/performance.md).
    pub max_batch_delay: Time,
    /// At most this many chosen entries in one catch-up reply.
    pub catchup_batch: usize,
    /// At most this many client requests queued at a leader (beyond it new
    /// ones are dropped; their clients retry).
    pub max_pending: usize,
    /// K: every K executed slots a node digests its state (application plus
    /// reply table) so that replicas can compare.
    pub checkpoint_interval: u64,
    /// A checkpoint also waits until the commands executed since the last
    /// one add up to this many times that checkpoint's state size (so a
    /// large state is not copied too often). The simulator lowers it to 0
    /// on some seeds to checkpoint every `checkpoint_interval` slots.
    pub checkpoint_log_ratio: u64,
    /// ... unless they add up to this many bytes: the log between
    /// checkpoints stays bounded whatever the state (it must fit a PROMISE
    /// in one frame).
    pub checkpoint_max_log_bytes: u64,
    #[cfg(feature = "planted-bugs")]
    pub planted_bug: Option<PlantedBug>,
    /// Tests only: the liveness rules as they were before 2026-12-02 (a
    /// leader that steps down says nothing, an unanswered candidacy or a
    /// step aside to catch up lengthens the backoff, a node that just
    /// started waits a whole election timeout, a follower keeps no copy of
    /// what it forwarded), and without followers counting acceptances
    /// (2026-12-06: a follower of three voters learns from COMMITs only), so
    /// that seeds found then replay the runs that found them. Safety never
    /// depended on any of them.
    #[cfg(feature = "planted-bugs")]
    pub replay_old_rules: bool,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("nodes: the cluster has no members")]
    NoMembers,
    #[error("nodes: node ids must be unique and non-zero, got {0:?}")]
    BadIds(Vec<NodeId>),
    #[error("id: node {0} is not one of the members {1:?}")]
    NotAMember(NodeId, Vec<NodeId>),
    #[error("nodes: at most 64 members are supported, got {0}")]
    TooMany(usize),
    #[error("{field}: {why}")]
    BadValue { field: &'static str, why: String },
}

impl Config {
    /// A configuration with default timers for `id` in a cluster of `nodes`.
    pub fn new(id: NodeId, nodes: Vec<NodeId>) -> Self {
        Config {
            id,
            nodes,
            learners: Vec::new(),
            heartbeat_interval: 20 * MS,
            election_timeout: 150 * MS,
            candidate_stagger: 40 * MS,
            prepare_throttle: 60 * MS,
            candidacy_timeout: 100 * MS,
            retransmit_interval: 40 * MS,
            window: 256,
            max_batch_size: 512,
            max_batch_delay: MS,
            catchup_batch: 256,
            max_pending: 100_000,
            checkpoint_interval: 100,
            checkpoint_log_ratio: crate::checkpoints::LOG_RATIO,
            checkpoint_max_log_bytes: crate::checkpoints::MAX_LOG_BYTES,
            #[cfg(feature = "planted-bugs")]
            planted_bug: None,
            #[cfg(feature = "planted-bugs")]
            replay_old_rules: false,
        }
    }

    /// A cluster of `n` nodes numbered 1..=n, seen from `id`.
    pub fn cluster(id: u32, n: u32) -> Self {
        Config::new(NodeId(id), (1..=n).map(NodeId).collect())
    }

    /// Checks the configuration, naming the offending field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.nodes.is_empty() {
            return Err(ConfigError::NoMembers);
        }
        if self.nodes.len() > 64 {
            return Err(ConfigError::TooMany(self.nodes.len()));
        }
        let mut all: Vec<NodeId> = self.nodes.iter().chain(&self.learners).copied().collect();
        let mut sorted = all.clone();
        sorted.sort();
        sorted.dedup();
        if sorted.len() != all.len() || sorted.contains(&NodeId(0)) {
            return Err(ConfigError::BadIds(all));
        }
        if !all.contains(&self.id) {
            all.sort();
            return Err(ConfigError::NotAMember(self.id, all));
        }
        let positive = [
            ("heartbeat_interval", self.heartbeat_interval),
            ("election_timeout", self.election_timeout),
            ("prepare_throttle", self.prepare_throttle),
            ("candidacy_timeout", self.candidacy_timeout),
            ("retransmit_interval", self.retransmit_interval),
        ];
        for (field, value) in positive {
            if value == 0 {
                return Err(ConfigError::BadValue {
                    field,
                    why: "must be greater than zero".into(),
                });
            }
        }
        if self.election_timeout <= self.heartbeat_interval {
            return Err(ConfigError::BadValue {
                field: "election_timeout",
                why: format!(
                    "must exceed heartbeat_interval ({} us), or a healthy leader looks dead",
                    self.heartbeat_interval
                ),
            });
        }
        for (field, value) in [
            ("window", self.window),
            ("max_batch_size", self.max_batch_size),
            ("catchup_batch", self.catchup_batch),
            ("max_pending", self.max_pending),
            ("checkpoint_interval", self.checkpoint_interval as usize),
        ] {
            if value == 0 {
                return Err(ConfigError::BadValue {
                    field,
                    why: "must be at least 1".into(),
                });
            }
        }
        Ok(())
    }

    /// f: how many nodes may fail while the cluster still makes progress.
    pub fn max_failures(&self) -> usize {
        (self.nodes.len() - 1) / 2
    }

    /// f+1: the size of every quorum.
    pub fn quorum(&self) -> usize {
        self.nodes.len() / 2 + 1
    }

    pub(crate) fn has_bug(&self, bug: Bug) -> bool {
        self.bugs().has(bug)
    }

    /// Whether a test asked for the liveness rules of before 2026-12-02
    /// (`replay_old_rules`); never without the feature.
    pub(crate) fn old_rules(&self) -> bool {
        #[cfg(feature = "planted-bugs")]
        return self.replay_old_rules;
        #[cfg(not(feature = "planted-bugs"))]
        false
    }

    /// The planted bug switched on, for the roles that keep it themselves
    /// (the acceptor and the executor) instead of being handed the config.
    pub(crate) fn bugs(&self) -> Bugs {
        Bugs {
            #[cfg(feature = "planted-bugs")]
            planted: self.planted_bug,
        }
    }
}

/// The planted bug a role was built with, if any. Without the feature it
/// holds nothing and `has` is constantly false.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Bugs {
    #[cfg(feature = "planted-bugs")]
    planted: Option<PlantedBug>,
}

impl Bugs {
    #[cfg(feature = "planted-bugs")]
    pub(crate) fn has(self, bug: Bug) -> bool {
        self.planted == Some(bug)
    }

    #[cfg(not(feature = "planted-bugs"))]
    #[inline(always)]
    pub(crate) fn has(self, _bug: Bug) -> bool {
        false
    }
}

/// Without the `planted-bugs` feature the bug names still exist so that the
/// protocol code reads the same, but `has_bug` is constantly false and the
/// compiler removes every planted branch.
#[cfg(not(feature = "planted-bugs"))]
#[derive(Clone, Copy, Debug)]
pub(crate) enum PlantedBugStub {
    AcceptLowerBallot,
    NewViewIgnoresPromises,
    CommitOnF,
    LocalReplyCache,
    /// A candidate ignores that a promiser truncated its log past the
    /// candidate's knowledge, and builds its NEW-VIEW over forgotten slots.
    IgnoreTruncation,
    /// A node that lost its disk rejoins as a voter, with its promises and
    /// acceptances forgotten.
    WipedNodeVotes,
    /// A log compaction leaves out the highest accepted entry, so a crash
    /// after it forgets an acceptance the node already acknowledged.
    CompactionDropsRecord,
    /// A reconfiguration takes effect when proposed: the leader counts the
    /// new voters at once, proposes past it, and takes the next change
    /// before it is chosen.
    ReconfigureEarly,
    /// After a reconfiguration the removed voters still count toward the
    /// new epoch's quorums (and the leader still hears them, though they
    /// are no longer members).
    RemovedNodeCounted,
    /// A candidate counts a promise that answered an earlier PREPARE of its
    /// ballot (sent before it crashed) with a later `from`, and fills the
    /// slots in between from its own log.
    StalePromiseCounted,
    /// The leader answers a linearizable read at once from its state, and
    /// hands a follower's READ-INDEX its executed slot at once, without the
    /// quorum round that confirms it still leads: a deposed leader answers
    /// stale reads.
    UnconfirmedRead,
    /// A replica that executes a reconfiguration keeps it in memory only
    /// until the next periodic checkpoint: restarted, it knows the voters
    /// of an older epoch, who may all have been removed and stopped.
    ReconfigurationNotDurable,
    /// A node whose membership is behind keeps asking for missing slots
    /// the non-member that first told it so, even once that node is
    /// stopped for good.
    CatchUpHintSticks,
    /// A leader that steps down for want of a quorum does not say so: the
    /// nodes that still hear it wait out their election timer.
    SilentStepDown,
    /// A candidacy that no peer answered lengthens the backoff as if it
    /// had lost a duel: a node cut off alone comes back slow to stand.
    UnansweredCandidacyBacksOff,
    /// A follower of three voters takes its own acceptance of a slot for a
    /// quorum, without its leader's: it executes a value that may never be
    /// chosen.
    FollowerCountsItselfTwice,
}

#[cfg(feature = "planted-bugs")]
pub(crate) use PlantedBug as Bug;
#[cfg(not(feature = "planted-bugs"))]
pub(crate) use PlantedBugStub as Bug;

//! The vocabulary every part of synod shares: node and client ids, ballots,
//! slots, client requests and the values the log holds.

use crate::membership::Membership;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use std::fmt;

/// A node of the cluster, numbered from 1 (`n1`, `n2`, ...).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub struct NodeId(pub u32);

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "n{}", self.0)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "n{}", self.0)
    }
}

/// A client of the replicated service. Each client has at most one request
/// outstanding; its requests carry growing timestamps.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub struct ClientId(pub u64);

impl fmt::Debug for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "c{}", self.0)
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "c{}", self.0)
    }
}

/// A log position. Slot 0 is never used: "nothing chosen yet" is commit 0.
pub type Slot = u64;

/// Time in microseconds, as given by the caller (virtual in the simulator,
/// monotonic since start in the runtime). The core never reads a clock.
pub type Time = u64;

/// Microseconds per millisecond, for readable timer arithmetic.
pub const MS: Time = 1_000;

/// A ballot: (round, node). Ordered by round, then node id, so that two
/// nodes never own the same ballot. `Ballot::ZERO` is below every real one.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub struct Ballot {
    pub round: u64,
    pub node: NodeId,
}

impl Ballot {
    pub const ZERO: Ballot = Ballot {
        round: 0,
        node: NodeId(0),
    };

    pub fn new(round: u64, node: NodeId) -> Self {
        Ballot { round, node }
    }

    /// The node that leads (or tried to lead) with this ballot, if any.
    pub fn leader(&self) -> Option<NodeId> {
        (self.round > 0).then_some(self.node)
    }
}

impl fmt::Debug for Ballot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({},{})", self.round, self.node)
    }
}

impl fmt::Display for Ballot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({}, {})", self.round, self.node)
    }
}

/// One client command, stamped for exactly-once execution.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Request {
    pub client: ClientId,
    pub timestamp: u64,
    /// Opaque to the protocol; the state machine decodes it.
    pub command: Bytes,
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?}@{}[{}B]",
            self.client,
            self.timestamp,
            self.command.len()
        )
    }
}

/// What one log slot holds once chosen: a batch of requests, a no-op that
/// a new leader writes into a hole no promise reported a value for, or a
/// reconfiguration: the membership of the slots after it (a stop-sign for
/// the epoch it ends; see `crate::membership`).
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Value {
    Noop,
    Batch(Vec<Request>),
    Reconfigure(Membership),
}

/// The most a log entry's slot, ballot, value tag and request count take
/// encoded (postcard varints at their longest), apart from its requests.
const ENTRY_OVERHEAD: u64 = 40;
/// The most a request's client, timestamp and command length take.
const REQUEST_OVERHEAD: u64 = 30;

impl Value {
    pub fn requests(&self) -> &[Request] {
        match self {
            Value::Batch(requests) => requests,
            Value::Noop | Value::Reconfigure(_) => &[],
        }
    }

    /// At least the bytes this value adds to a PROMISE as an entry: what checkpoint spacing counts, so that the log a PROMISE
    /// carries keeps within its bound whatever the size of the commands
    /// (counting commands alone, a log of 1-byte commands would weigh some
    /// 30 times its count). A reconfiguration is rare and counts as an
    /// empty entry.
    pub fn log_bytes(&self) -> u64 {
        ENTRY_OVERHEAD + self.command_bytes() + REQUEST_OVERHEAD * self.requests().len() as u64
    }

    /// The bytes of the commands this value holds.
    pub fn command_bytes(&self) -> u64 {
        self.requests().iter().map(|r| r.command.len() as u64).sum()
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Noop => write!(f, "noop"),
            Value::Batch(requests) => f.debug_list().entries(requests).finish(),
            Value::Reconfigure(m) => {
                write!(f, "reconfigure epoch {} voters {:?}", m.epoch, m.voters())?;
                let learners: Vec<NodeId> = m
                    .members
                    .iter()
                    .filter(|x| !x.voter)
                    .map(|x| x.id)
                    .collect();
                if !learners.is_empty() {
                    write!(f, " learners {learners:?}")?;
                }
                Ok(())
            }
        }
    }
}

/// The answer to a client: REPLY(b, timestamp, client, result). The ballot
/// names the leader the replying node knows, so the client can follow it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    pub ballot: Ballot,
    pub timestamp: u64,
    pub client: ClientId,
    pub result: Bytes,
}

impl fmt::Debug for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Reply{{b={:?} {:?}@{} [{}B]}}",
            self.ballot,
            self.client,
            self.timestamp,
            self.result.len()
        )
    }
}

/// The SHA-256 of a checkpoint's snapshot: what replicas compare to find out
/// that their states diverged, and what a snapshot sent in pieces is checked
/// against.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    pub fn of(bytes: &[u8]) -> Digest {
        Digest(Sha256::digest(bytes).into())
    }
}

/// Digests of snapshots that often begin like the one before (a state that
/// grows at its end, as the etcd store's history does): the hash of the
/// part they share is not computed again. It keeps the last snapshot and
/// the hasher's state after every `mark` bytes of it; the next snapshot is
/// compared with it and hashed on from the last mark inside the part they
/// share. The digest is [`Digest::of`] the snapshot, whatever was kept.
#[derive(Clone)]
pub struct DigestCache {
    mark: usize,
    last: Bytes,
    /// `marks[i]`: the hasher after the first `(i + 1) * mark` bytes of
    /// `last`.
    marks: Vec<Sha256>,
    /// The snapshot before `last`, and how many bytes they share.
    compared: (Bytes, usize),
}

impl Default for DigestCache {
    /// Marks every MiB: a few dozen hasher states for a large snapshot,
    /// and at most a MiB hashed again.
    fn default() -> Self {
        DigestCache::with_mark(1 << 20)
    }
}

impl DigestCache {
    pub fn with_mark(mark: usize) -> Self {
        DigestCache {
            mark: mark.max(1),
            last: Bytes::new(),
            marks: Vec::new(),
            compared: (Bytes::new(), 0),
        }
    }

    /// How many bytes `snapshot` and `before` begin with in common, if
    /// they are the last two snapshots digested (the very same bytes in
    /// memory; the cache holds `before` until asked, so its memory is not
    /// reused): the comparison is not made twice. Asked once: it lets go
    /// of `before`.
    pub fn take_shared(&mut self, before: &Bytes, snapshot: &Bytes) -> Option<usize> {
        let same = |a: &Bytes, b: &Bytes| a.as_ptr() == b.as_ptr() && a.len() == b.len();
        let (compared, shared) = std::mem::take(&mut self.compared);
        (same(&compared, before) && same(&self.last, snapshot)).then_some(shared)
    }

    /// [`Digest::of`] `snapshot`.
    pub fn digest(&mut self, snapshot: &Bytes) -> Digest {
        let shared = common_prefix(&self.last, snapshot);
        let kept = (shared / self.mark).min(self.marks.len());
        self.marks.truncate(kept);
        let mut hasher = self.marks.last().cloned().unwrap_or_default();
        for chunk in snapshot[kept * self.mark..].chunks(self.mark) {
            hasher.update(chunk);
            if chunk.len() == self.mark {
                self.marks.push(hasher.clone());
            }
        }
        let before = std::mem::replace(&mut self.last, snapshot.clone());
        self.compared = (before, shared);
        Digest(hasher.finalize().into())
    }
}

/// How many bytes `a` and `b` begin with in common.
pub fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    const CHUNK: usize = 4096;
    let n = a.len().min(b.len());
    let mut at = 0;
    while at + CHUNK <= n && a[at..at + CHUNK] == b[at..at + CHUNK] {
        at += CHUNK;
    }
    while at < n && a[at] == b[at] {
        at += 1;
    }
    at
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in &self.0[..6] {
            write!(f, "{b:02x}")?;
        }
        write!(f, "…")
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in &self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::AcceptedEntry;

    #[test]
    fn log_bytes_bound_an_entry_as_a_promise_carries_it() {
        let request = |n: usize| Request {
            client: ClientId(u64::MAX),
            timestamp: u64::MAX,
            command: Bytes::from(vec![7u8; n]),
        };
        for value in [
            Value::Noop,
            Value::Batch(vec![request(0)]),
            Value::Batch(vec![request(1); 100]),
            Value::Batch(vec![request(300), request(70_000)]),
        ] {
            let entry = AcceptedEntry {
                slot: u64::MAX,
                ballot: Ballot {
                    round: u64::MAX,
                    node: NodeId(u32::MAX),
                },
                value: value.clone(),
            };
            let encoded = postcard::to_stdvec(&entry).unwrap().len() as u64;
            assert!(
                encoded <= value.log_bytes(),
                "{value:?}: {encoded} bytes > {}",
                value.log_bytes()
            );
        }
        // Counting commands alone, 100 one-byte commands would weigh 100.
        assert!(Value::Batch(vec![request(1); 100]).log_bytes() > 3_000);
    }

    use proptest::prelude::*;

    proptest! {
        /// Each snapshot keeps some of the one before's beginning (all of
        /// it, part, or none), changes a byte or not, and grows or
        /// shrinks: the cached digest is always the plain one.
        #[test]
        fn a_cached_digest_is_the_digest_of_the_whole(
            steps in prop::collection::vec((0usize..=100, any::<bool>(), 0usize..300), 1..12),
            mark in 1usize..100,
        ) {
            let mut cache = DigestCache::with_mark(mark);
            let mut last: Vec<u8> = Vec::new();
            for (i, (keep_percent, flip, grow)) in steps.into_iter().enumerate() {
                let keep = last.len() * keep_percent / 100;
                let mut next = last[..keep].to_vec();
                next.extend((0..grow).map(|j| (i * 31 + j) as u8));
                if flip && !next.is_empty() {
                    let at = next.len() / 2;
                    next[at] ^= 0x5a;
                }
                let snapshot = Bytes::from(next.clone());
                let before = cache.last.clone();
                prop_assert_eq!(cache.digest(&snapshot), Digest::of(&snapshot));
                if i % 2 == 0 || last.is_empty() {
                    let shared = common_prefix(&last, &next);
                    prop_assert_eq!(cache.take_shared(&before, &snapshot), Some(shared));
                } else {
                    // Equal bytes elsewhere in memory: not known.
                    let copy = Bytes::from(last.clone());
                    prop_assert_eq!(cache.take_shared(&copy, &snapshot), None);
                }
                if !before.is_empty() {
                    prop_assert_eq!(cache.take_shared(&before, &snapshot), None, "asked once");
                }
                last = next;
            }
        }
    }

    #[test]
    fn common_prefix_counts_to_the_first_difference() {
        let a: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        let mut b = a.clone();
        assert_eq!(common_prefix(&a, &b), 10_000);
        b[9_000] ^= 1;
        assert_eq!(common_prefix(&a, &b), 9_000);
        assert_eq!(common_prefix(&a[..5], &b), 5);
        assert_eq!(common_prefix(&[], &b), 0);
    }
}

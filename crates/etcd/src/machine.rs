//! The store as synod's replicated state machine: `apply` decodes a
//! command, executes it and returns the encoded outcome; `snapshot` and
//! `restore` carry the whole history kept (back to the compaction
//! revision) and the leases.
//!
//! Determinism: the maps are ordered, nothing reads a clock or a random
//! source, and lease ids are assigned by a counter in the state. A snapshot
//! lists keys in order, so equal states give equal bytes. To snapshot off
//! the apply path, clone the store (O(1): the maps are persistent) and call
//! `snapshot` on the clone from another thread.

use crate::command::{Command, Outcome, Response, decode_command, encode_outcome};
use crate::error::EtcdError;
use crate::lease::Leases;
use crate::mvcc::{Change, Revision, Store};
use crate::types::KeyValue;
use bytes::Bytes;
use imbl::{OrdMap, Vector};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use synod_core::{Inspect, SnapshotError, StateMachine};

/// 2: each lease's renewal count.
const SNAPSHOT_FORMAT: u32 = 2;

impl Store {
    /// Applies one command from the log.
    pub fn execute(&mut self, command: &Command) -> Outcome {
        match command {
            Command::Range(r) => self.read_range(r).map(Response::Range),
            Command::Put(p) => self.put(p).map(Response::Put),
            Command::DeleteRange(d) => self.delete_range(d).map(Response::DeleteRange),
            Command::Txn(t) => self.txn(t).map(Response::Txn),
            Command::Compact { revision } => self
                .compact(*revision)
                .map(|revision| Response::Compact { revision }),
            Command::LeaseGrant { id, ttl } => {
                let (id, ttl) = self.lease_grant(*id, *ttl)?;
                Ok(Response::LeaseGrant {
                    revision: self.revision,
                    id,
                    ttl,
                })
            }
            Command::LeaseRevoke { id } => self
                .lease_revoke(*id)
                .map(|revision| Response::LeaseRevoke { revision }),
            Command::LeaseKeepAlive { id } => {
                let ttl = self.lease_keep_alive(*id)?;
                Ok(Response::LeaseKeepAlive {
                    revision: self.revision,
                    ttl,
                })
            }
            Command::LeaseExpire { id, renewals } => {
                let revoked = self.lease_expire(*id, *renewals)?;
                Ok(Response::LeaseExpire {
                    revision: self.revision,
                    revoked: revoked.is_some(),
                })
            }
        }
    }

    /// Serves a read-only command (a range, or a txn of ranges) from the
    /// applied state, without changing it.
    pub fn query(&self, command: &Command) -> Outcome {
        match command {
            Command::Range(r) => self.read_range(r).map(Response::Range),
            // A read-only txn writes nothing; running it on an O(1) clone
            // keeps `&self` honest.
            Command::Txn(t) if t.is_read_only() => self.clone().txn(t).map(Response::Txn),
            _ => Err(EtcdError::InvalidArgument(
                "a write cannot be served as a read".into(),
            )),
        }
    }

    /// The whole state as bytes; equal states give equal bytes.
    ///
    /// Written straight from the store (`SnapshotOut`), in the layout that
    /// `Snapshot` reads back: copying every key and value into a `Snapshot`
    /// first took most of a checkpoint's time.
    pub fn to_snapshot(&self) -> Vec<u8> {
        let snapshot = SnapshotOut {
            format: SNAPSHOT_FORMAT,
            revision: self.revision,
            compact_revision: self.compact_revision,
            next_lease_id: self.leases.next_id(),
            leases: self
                .leases
                .iter()
                .map(|(id, l)| (id, l.ttl, l.renewals))
                .collect(),
            keys: KeysOut(&self.keys),
        };
        // The size counts every key and value, and a little more than their
        // framing: one allocation, as a rule.
        let capacity = usize::try_from(self.size).unwrap_or(0);
        postcard::to_extend(&snapshot, Vec::with_capacity(capacity))
            .expect("snapshots always serialise")
    }

    /// Rebuilds a store from `to_snapshot`'s bytes, checking that they
    /// describe a state the store could have reached.
    pub fn from_snapshot(bytes: &[u8]) -> Result<Store, SnapshotError> {
        let bad = |why: String| SnapshotError(format!("etcd store: {why}"));
        let snapshot: Snapshot =
            postcard::from_bytes(bytes).map_err(|e| bad(format!("does not decode: {e}")))?;
        if snapshot.format != SNAPSHOT_FORMAT {
            return Err(bad(format!(
                "format {} is not {SNAPSHOT_FORMAT}",
                snapshot.format
            )));
        }
        if snapshot.revision < 1 || snapshot.compact_revision > snapshot.revision {
            return Err(bad(format!(
                "revision {} with compaction at {}",
                snapshot.revision, snapshot.compact_revision
            )));
        }
        let mut leases = Leases::from_parts(snapshot.next_lease_id, snapshot.leases);
        let mut keys = OrdMap::new();
        let mut changes = OrdMap::new();
        for (key, history) in snapshot.keys {
            let key = Bytes::from(key);
            if history.is_empty() {
                return Err(bad("a key with no history".into()));
            }
            let mut restored = Vector::new();
            let mut last: Option<Revision> = None;
            for c in history {
                let rev = Revision {
                    main: c.main,
                    sub: c.sub,
                };
                if last.is_some_and(|l| l >= rev) || rev.main > snapshot.revision {
                    return Err(bad(format!("key {key:?}: change at {rev:?} out of order")));
                }
                last = Some(rev);
                if rev.main >= snapshot.compact_revision {
                    changes.insert(rev, key.clone());
                }
                let kv = c.put.map(|p| {
                    Arc::new(KeyValue {
                        key: key.to_vec(),
                        create_revision: p.create_revision,
                        mod_revision: rev.main,
                        version: p.version,
                        value: p.value,
                        lease: p.lease,
                    })
                });
                restored.push_back(Change { rev, kv });
            }
            if let Some(Some(kv)) = restored.last().map(|c| c.kv.clone())
                && kv.lease != 0
            {
                if !leases.contains(kv.lease) {
                    return Err(bad(format!("key {key:?} holds missing lease {}", kv.lease)));
                }
                leases.attach(kv.lease, &key);
            }
            keys.insert(key, restored);
        }
        let mut store = Store {
            revision: snapshot.revision,
            compact_revision: snapshot.compact_revision,
            keys,
            changes,
            leases,
            size: 0,
        };
        store.size = store.count_size();
        Ok(store)
    }
}

impl StateMachine for Store {
    /// The store itself: its maps are persistent, so a clone is O(1).
    type Capture = Store;

    fn apply(&mut self, command: &[u8]) -> Vec<u8> {
        let outcome = decode_command(command).and_then(|c| self.execute(&c));
        encode_outcome(&outcome)
    }

    fn capture(&self) -> Store {
        self.clone()
    }

    fn serialize(capture: &Store) -> Vec<u8> {
        capture.to_snapshot()
    }

    fn size_hint(&self) -> u64 {
        self.approximate_size().max(0) as u64
    }

    /// Ranges and read-only txns: answered from the applied state, without
    /// a log write (the node decides when that state is recent enough).
    fn query(&self, command: &[u8]) -> Option<Vec<u8>> {
        let command = decode_command(command).ok()?;
        let read_only = match &command {
            Command::Range(_) => true,
            Command::Txn(t) => t.is_read_only(),
            _ => false,
        };
        read_only.then(|| encode_outcome(&Store::query(self, &command)))
    }

    fn restore(&mut self, snapshot: &[u8]) -> Result<(), SnapshotError> {
        *self = Store::from_snapshot(snapshot)?;
        Ok(())
    }
}

impl Inspect for Store {
    /// Keys as text, values by their size: a command's line stays short
    /// however large its value.
    fn describe_command(command: &[u8]) -> String {
        let key = |k: &[u8]| String::from_utf8_lossy(k).into_owned();
        let range = |k: &[u8], end: &[u8]| match end {
            [] => key(k),
            [0] => format!("{}..", key(k)),
            end => format!("{}..{}", key(k), key(end)),
        };
        match decode_command(command) {
            Ok(Command::Range(r)) => format!("range {}", range(&r.key, &r.range_end)),
            Ok(Command::Put(p)) => format!("put {} ({} B)", key(&p.key), p.value.len()),
            Ok(Command::DeleteRange(d)) => format!("del {}", range(&d.key, &d.range_end)),
            Ok(Command::Txn(t)) => format!(
                "txn ({} compares, {} + {} ops)",
                t.compare.len(),
                t.success.len(),
                t.failure.len()
            ),
            Ok(Command::Compact { revision }) => format!("compact {revision}"),
            Ok(Command::LeaseGrant { id, ttl }) => format!("lease grant {id} ttl {ttl}"),
            Ok(Command::LeaseRevoke { id }) => format!("lease revoke {id}"),
            Ok(Command::LeaseKeepAlive { id }) => format!("lease keep-alive {id}"),
            Ok(Command::LeaseExpire { id, renewals }) => {
                format!("lease expire {id} after {renewals} renewals")
            }
            Err(_) => format!("({} bytes, not an etcd command)", command.len()),
        }
    }

    /// The snapshot's bytes.
    fn export(&self) -> Vec<u8> {
        self.to_snapshot()
    }
}

/// The snapshot's layout. The watch log and the lease-to-key index are
/// derived from the histories, so they are rebuilt rather than stored.
#[derive(Serialize, Deserialize)]
struct Snapshot {
    format: u32,
    revision: i64,
    compact_revision: i64,
    next_lease_id: i64,
    /// (id, granted TTL, renewals), in id order.
    leases: Vec<(i64, i64, u64)>,
    /// Each key's history, in key order.
    keys: Vec<(Vec<u8>, Vec<SnapshotChange>)>,
}

#[derive(Serialize, Deserialize)]
struct SnapshotChange {
    main: i64,
    sub: i64,
    /// `None` for a delete.
    put: Option<SnapshotPut>,
}

#[derive(Serialize, Deserialize)]
struct SnapshotPut {
    create_revision: i64,
    version: i64,
    #[serde(with = "serde_bytes")]
    value: Vec<u8>,
    lease: i64,
}

/// `Snapshot` as written: the same fields in the same order, borrowed from
/// the store. postcard writes a byte string as its length and then its
/// bytes, exactly as it writes the `Vec<u8>` that `Snapshot` reads.
#[derive(Serialize)]
struct SnapshotOut<'a> {
    format: u32,
    revision: i64,
    compact_revision: i64,
    next_lease_id: i64,
    leases: Vec<(i64, i64, u64)>,
    keys: KeysOut<'a>,
}

struct KeysOut<'a>(&'a OrdMap<Bytes, Vector<Change>>);

impl Serialize for KeysOut<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut keys = serializer.serialize_seq(Some(self.0.len()))?;
        for (key, history) in self.0.iter() {
            keys.serialize_element(&(BytesOut(key), HistoryOut(history)))?;
        }
        keys.end()
    }
}

struct HistoryOut<'a>(&'a Vector<Change>);

impl Serialize for HistoryOut<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut changes = serializer.serialize_seq(Some(self.0.len()))?;
        for c in self.0.iter() {
            changes.serialize_element(&ChangeOut {
                main: c.rev.main,
                sub: c.rev.sub,
                put: c.kv.as_ref().map(|kv| PutOut {
                    create_revision: kv.create_revision,
                    version: kv.version,
                    value: BytesOut(&kv.value),
                    lease: kv.lease,
                }),
            })?;
        }
        changes.end()
    }
}

#[derive(Serialize)]
struct ChangeOut<'a> {
    main: i64,
    sub: i64,
    put: Option<PutOut<'a>>,
}

#[derive(Serialize)]
struct PutOut<'a> {
    create_revision: i64,
    version: i64,
    value: BytesOut<'a>,
    lease: i64,
}

struct BytesOut<'a>(&'a [u8]);

impl Serialize for BytesOut<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::{DeleteRangeRequest, PutRequest};

    /// The snapshot as `Snapshot` itself writes it: the layout the reader
    /// expects, which `to_snapshot` must reproduce byte for byte.
    fn owned_snapshot(store: &Store) -> Vec<u8> {
        let snapshot = Snapshot {
            format: SNAPSHOT_FORMAT,
            revision: store.revision,
            compact_revision: store.compact_revision,
            next_lease_id: store.leases.next_id(),
            leases: store
                .leases
                .iter()
                .map(|(id, l)| (id, l.ttl, l.renewals))
                .collect(),
            keys: store
                .keys
                .iter()
                .map(|(key, history)| {
                    let changes = history
                        .iter()
                        .map(|c| SnapshotChange {
                            main: c.rev.main,
                            sub: c.rev.sub,
                            put: c.kv.as_ref().map(|kv| SnapshotPut {
                                create_revision: kv.create_revision,
                                version: kv.version,
                                value: kv.value.clone(),
                                lease: kv.lease,
                            }),
                        })
                        .collect();
                    (key.to_vec(), changes)
                })
                .collect(),
        };
        postcard::to_stdvec(&snapshot).unwrap()
    }

    #[test]
    fn the_snapshot_written_from_the_store_is_the_layout_read_back() {
        let mut store = Store::new();
        let put = |key: &str, value: Vec<u8>, lease: i64| {
            Command::Put(PutRequest {
                key: key.as_bytes().to_vec(),
                value,
                lease,
                ..Default::default()
            })
        };
        store
            .execute(&Command::LeaseGrant { id: 7, ttl: 30 })
            .unwrap();
        store.execute(&put("a", vec![1; 300], 0)).unwrap();
        store.execute(&put("b", Vec::new(), 7)).unwrap();
        store.execute(&put("a", vec![2; 128], 0)).unwrap();
        store
            .execute(&Command::DeleteRange(DeleteRangeRequest {
                key: b"b".to_vec(),
                ..Default::default()
            }))
            .unwrap();
        store.execute(&put("c", vec![3; 70_000], 7)).unwrap();
        store.execute(&Command::Compact { revision: 3 }).unwrap();
        let bytes = store.to_snapshot();
        assert_eq!(bytes, owned_snapshot(&store));
        let back = Store::from_snapshot(&bytes).unwrap();
        assert_eq!(back, store);
        assert_eq!(back.approximate_size(), store.approximate_size());
    }
}

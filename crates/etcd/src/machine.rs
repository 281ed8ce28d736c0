//! The store as synod's replicated state machine: `apply` decodes a
//! command, executes it and returns the encoded outcome; `snapshot` and
//! `restore` carry the whole history kept (back to the compaction
//! revision) and the leases (the layout is `snapshot`'s).
//!
//! Determinism: the maps are ordered, nothing reads a clock or a random
//! source, and lease ids are assigned by a counter in the state, so equal
//! states give equal bytes. A checkpoint captures the store (O(1): the
//! maps are persistent) and serialises the capture on another thread.

use crate::command::{Command, Outcome, Response, decode_command, encode_outcome};
use crate::error::EtcdError;
use crate::mvcc::Store;
use crate::snapshot;
use crate::snapshot_cache::CacheSlot;
use synod_core::{Inspect, SnapshotError, StateMachine};

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

    /// The whole state as bytes; equal states give equal bytes (the
    /// layout is `snapshot`'s). A checkpoint's snapshot goes through
    /// [`StateMachine::serialize`] instead, which reuses what the live
    /// store's earlier snapshots encoded.
    pub fn to_snapshot(&self) -> Vec<u8> {
        snapshot::write(self, None, snapshot::BLOCK)
    }

    /// Rebuilds a store from a snapshot's bytes, checking that they
    /// describe a state the store could have reached.
    pub fn from_snapshot(bytes: &[u8]) -> Result<Store, SnapshotError> {
        snapshot::read(bytes)
    }
}

/// A store frozen for a checkpoint, with the live store's snapshot cache:
/// it can only be serialised.
pub struct Frozen(Store);

impl StateMachine for Store {
    /// The store itself (its maps are persistent, so a clone is O(1)),
    /// with the live store's cache of encoded blocks.
    type Capture = Frozen;

    fn apply(&mut self, command: &[u8]) -> Vec<u8> {
        let outcome = decode_command(command).and_then(|c| self.execute(&c));
        encode_outcome(&outcome)
    }

    fn capture(&self) -> Frozen {
        let mut store = self.clone();
        store.cache = CacheSlot(self.cache.0.clone());
        Frozen(store)
    }

    fn serialize(capture: &Frozen) -> Vec<u8> {
        snapshot::write(&capture.0, capture.0.cache.0.as_deref(), snapshot::BLOCK)
    }

    fn serialize_into(capture: &Frozen, out: &mut Vec<u8>) {
        let cache = capture.0.cache.0.as_deref();
        snapshot::write_into(&capture.0, cache, snapshot::BLOCK, out)
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

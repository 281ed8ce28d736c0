//! The store's snapshot: its layout, how it is written (reusing what an
//! earlier snapshot of the same store already encoded) and read back.
//!
//! Layout (format 3): the format number as a postcard varint, then frames,
//! each a kind byte, its payload's length (u32 LE) and the payload
//! (postcard):
//! - `BASE` (first, if any): what compaction kept from before the
//!   compaction revision, each key's change from then, in key order;
//! - `CHANGES`, any number: every change from the compaction revision on,
//!   in revision order, one frame per [`BLOCK`] main revisions (empty
//!   blocks are left out);
//! - `META` (last): the revision, the compaction revision and the leases.
//!
//! Why this layout: a checkpoint snapshots the whole store, and between
//! compactions the store only grows at its end. A block whose revisions
//! are all committed ("sealed") stays the same bytes until the next
//! compaction, so the live store keeps them ([`SnapshotCache`]) and later
//! snapshots copy them instead of encoding them again; and consecutive
//! snapshots share their bytes up to the older one's last sealed block,
//! which the node's snapshot files exploit (docs/storage.md). Keeping
//! history in key order (format 2) made every snapshot differ from the
//! last one everywhere.
//!
//! Equal states give equal bytes whatever the cache holds: a cached frame
//! is exactly what encoding its block afresh would give. That holds
//! because only the live store and its own captures share a cache
//! (`Store::clone` starts none), the captures never change, and a sealed
//! block changes only when the compaction revision does, which is part of
//! the cache's key.
//!
//! Format 2 (each key's history in key order, one postcard struct) is still
//! read, so a node restarts from the files an older version wrote.

use crate::history::History;
use crate::key::Key;
use crate::lease::Leases;
use crate::mvcc::{Change, Revision, Store};
use crate::snapshot_cache::{CacheSlot, SnapshotCache};
use crate::types::KeyValue;
use bytes::Bytes;
use imbl::OrdMap;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};
use synod_core::SnapshotError;

/// The format written.
const FORMAT: u32 = 3;
/// The format before this one, still read.
const FORMAT_KEY_ORDER: u32 = 2;

/// Main revisions per `CHANGES` frame: large enough that a frame's own
/// framing and a lookup per frame cost nothing, small enough that the one
/// block still open when a snapshot is taken is quick to encode.
pub(crate) const BLOCK: i64 = 1024;

const BASE: u8 = 1;
const CHANGES: u8 = 2;
const META: u8 = 3;

/// One change as a snapshot carries it.
#[derive(Serialize, Deserialize)]
struct Record<'a> {
    main: i64,
    sub: i64,
    #[serde(with = "serde_bytes")]
    key: &'a [u8],
    /// `None` for a delete.
    #[serde(borrow)]
    put: Option<RecordPut<'a>>,
}

#[derive(Serialize, Deserialize)]
struct RecordPut<'a> {
    create_revision: i64,
    version: i64,
    #[serde(with = "serde_bytes")]
    value: &'a [u8],
    lease: i64,
}

#[derive(Serialize, Deserialize)]
struct Meta {
    revision: i64,
    compact_revision: i64,
    next_lease_id: i64,
    /// (id, granted TTL, renewals), in id order.
    leases: Vec<(i64, i64, u64)>,
}

impl Meta {
    fn of(store: &Store) -> Meta {
        Meta {
            revision: store.revision,
            compact_revision: store.compact_revision,
            next_lease_id: store.leases.next_id(),
            leases: store
                .leases
                .iter()
                .map(|(id, l)| (id, l.ttl, l.renewals))
                .collect(),
        }
    }
}

/// Encodes `store`, taking sealed blocks from `cache` (and leaving the ones
/// it encodes there) if given.
pub(crate) fn write(store: &Store, cache: Option<&Mutex<SnapshotCache>>, block: i64) -> Vec<u8> {
    let mut out = Vec::new();
    write_into(store, cache, block, &mut out);
    out
}

/// [`write`], appending to `out`.
pub(crate) fn write_into(
    store: &Store,
    cache: Option<&Mutex<SnapshotCache>>,
    block: i64,
    out: &mut Vec<u8>,
) {
    let mut guard = cache.map(|c| c.lock().unwrap_or_else(|p| p.into_inner()));
    let cache = guard.as_deref_mut();
    // The size counts every key and value, and a little more than their
    // framing: one allocation, as a rule.
    out.reserve(usize::try_from(store.size).unwrap_or(0));
    *out = postcard::to_extend(&FORMAT, std::mem::take(out)).expect("a varint always serialises");
    match cache {
        Some(cache) => {
            if cache.compact_revision != store.compact_revision {
                *cache = SnapshotCache {
                    compact_revision: store.compact_revision,
                    ..Default::default()
                };
            }
            let base = cache.base.get_or_insert_with(|| base_frame(store));
            out.extend_from_slice(base);
            for_each_block(store, block, |b, sealed| {
                if !sealed {
                    return out.extend_from_slice(&block_frame(store, b, block));
                }
                let frame = cache
                    .blocks
                    .entry(b)
                    .or_insert_with(|| block_frame(store, b, block));
                out.extend_from_slice(frame);
            });
        }
        None => {
            out.extend_from_slice(&base_frame(store));
            for_each_block(store, block, |b, _| {
                out.extend_from_slice(&block_frame(store, b, block))
            });
        }
    }
    push_frame(out, META, &Meta::of(store));
}

/// Calls `f` with each block that holds a change, in order, and whether it
/// is sealed (every main revision it spans is committed).
fn for_each_block(store: &Store, block: i64, mut f: impl FnMut(i64, bool)) {
    let mut from = Revision { main: 0, sub: 0 };
    while let Some((rev, _)) = store.changes.range(from..).next() {
        let b = rev.main / block;
        let end = (b + 1) * block;
        f(b, end - 1 <= store.revision);
        from = Revision { main: end, sub: 0 };
    }
}

/// An empty frame is left out (a store never compacted has no base).
fn base_frame(store: &Store) -> Bytes {
    let records: Vec<Record<'_>> = store
        .keys
        .iter()
        .flat_map(|(key, history)| {
            history
                .oldest_first()
                .into_iter()
                .take_while(|c| c.rev.main < store.compact_revision)
                .map(|c| record(key, c))
        })
        .collect();
    let mut out = Vec::new();
    if !records.is_empty() {
        push_frame(&mut out, BASE, &records);
    }
    Bytes::from(out)
}

fn block_frame(store: &Store, b: i64, block: i64) -> Bytes {
    let range = Revision {
        main: b * block,
        sub: 0,
    }..Revision {
        main: (b + 1) * block,
        sub: 0,
    };
    let records: Vec<Record<'_>> = store
        .changes
        .range(range)
        .map(|(_, (key, change))| record(key, change))
        .collect();
    let mut out = Vec::new();
    push_frame(&mut out, CHANGES, &records);
    Bytes::from(out)
}

fn record<'a>(key: &'a [u8], c: &'a Change) -> Record<'a> {
    Record {
        main: c.rev.main,
        sub: c.rev.sub,
        key,
        put: c.kv.as_ref().map(|kv| RecordPut {
            create_revision: kv.create_revision,
            version: kv.version,
            value: &kv.value,
            lease: kv.lease,
        }),
    }
}

/// Appends a frame: its kind, its length (filled in once known) and its
/// payload, encoded in place.
fn push_frame<T: Serialize + ?Sized>(out: &mut Vec<u8>, kind: u8, payload: &T) {
    out.push(kind);
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    *out = postcard::to_extend(payload, std::mem::take(out)).expect("snapshots always serialise");
    let len = u32::try_from(out.len() - at - 4).expect("a snapshot frame is under 4 GiB");
    out[at..at + 4].copy_from_slice(&len.to_le_bytes());
}

fn bad(why: String) -> SnapshotError {
    SnapshotError(format!("etcd store: {why}"))
}

/// Rebuilds a store from a snapshot of either format, checking that it
/// describes a state the store could have reached.
pub(crate) fn read(bytes: &[u8]) -> Result<Store, SnapshotError> {
    let (format, rest) = postcard::take_from_bytes::<u32>(bytes)
        .map_err(|e| bad(format!("does not decode: {e}")))?;
    match format {
        FORMAT => read_frames(rest),
        FORMAT_KEY_ORDER => read_key_order(bytes),
        other => Err(bad(format!("format {other} is not {FORMAT}"))),
    }
}

/// A store being rebuilt, change by change, each key's in revision order.
struct Rebuild {
    keys: OrdMap<Key, History>,
    changes: OrdMap<Revision, (Key, Change)>,
}

impl Rebuild {
    fn push(&mut self, r: Record<'_>, meta: &Meta) -> Result<(), SnapshotError> {
        let rev = Revision {
            main: r.main,
            sub: r.sub,
        };
        if rev.main > meta.revision || rev.main < 1 || rev.sub < 0 {
            return Err(bad(format!(
                "a change at {rev:?} past revision {}",
                meta.revision
            )));
        }
        let kv = r.put.map(|p| {
            Arc::new(KeyValue {
                key: r.key.to_vec(),
                create_revision: p.create_revision,
                mod_revision: rev.main,
                version: p.version,
                value: p.value.to_vec(),
                lease: p.lease,
            })
        });
        let change = Change { rev, kv };
        let key = match self.keys.get_key_value_mut(r.key) {
            Some((key, history)) => {
                if history.last().rev >= rev {
                    return Err(bad(format!("key {key:?}: change at {rev:?} out of order")));
                }
                history.push(change.clone());
                key.clone()
            }
            None => {
                let key = Key::new(r.key);
                self.keys.insert(key.clone(), History::unit(change.clone()));
                key
            }
        };
        if rev.main >= meta.compact_revision {
            self.changes.insert(rev, (key, change));
        }
        Ok(())
    }

    fn finish(self, meta: Meta) -> Result<Store, SnapshotError> {
        let mut leases = Leases::from_parts(meta.next_lease_id, meta.leases);
        for (key, history) in self.keys.iter() {
            if let Some(kv) = &history.last().kv
                && kv.lease != 0
            {
                if !leases.contains(kv.lease) {
                    return Err(bad(format!("key {key:?} holds missing lease {}", kv.lease)));
                }
                leases.attach(kv.lease, key);
            }
        }
        let mut store = Store {
            revision: meta.revision,
            compact_revision: meta.compact_revision,
            keys: self.keys,
            changes: self.changes,
            leases,
            size: 0,
            cache: CacheSlot::fresh(),
        };
        store.size = store.count_size();
        Ok(store)
    }
}

fn check_meta(meta: &Meta) -> Result<(), SnapshotError> {
    if meta.revision < 1 || meta.compact_revision > meta.revision {
        return Err(bad(format!(
            "revision {} with compaction at {}",
            meta.revision, meta.compact_revision
        )));
    }
    Ok(())
}

fn read_frames(mut rest: &[u8]) -> Result<Store, SnapshotError> {
    let mut frames = Vec::new();
    while !rest.is_empty() {
        let (&kind, after) = rest
            .split_first()
            .ok_or_else(|| bad("a frame cut short".into()))?;
        let len = after
            .get(..4)
            .map(|l| u32::from_le_bytes([l[0], l[1], l[2], l[3]]) as usize)
            .ok_or_else(|| bad("a frame cut short".into()))?;
        let payload = after
            .get(4..4 + len)
            .ok_or_else(|| bad(format!("a frame of {len} bytes cut short")))?;
        frames.push((kind, payload));
        rest = &after[4 + len..];
    }
    let Some((&(META, meta), frames)) = frames.split_last() else {
        return Err(bad("no META frame at the end".into()));
    };
    let meta: Meta = decode(meta)?;
    check_meta(&meta)?;
    let mut rebuild = Rebuild {
        keys: OrdMap::new(),
        changes: OrdMap::new(),
    };
    let mut last: Option<Revision> = None;
    for (i, &(kind, payload)) in frames.iter().enumerate() {
        let records: Vec<Record<'_>> = decode(payload)?;
        match kind {
            BASE if i == 0 => {
                for r in records {
                    if r.main >= meta.compact_revision || r.put.is_none() {
                        return Err(bad(format!(
                            "base change at {} is not a put from before compaction at {}",
                            r.main, meta.compact_revision
                        )));
                    }
                    rebuild.push(r, &meta)?;
                }
            }
            CHANGES => {
                for r in records {
                    let rev = Revision {
                        main: r.main,
                        sub: r.sub,
                    };
                    if last.is_some_and(|l| l >= rev) || rev.main < meta.compact_revision {
                        return Err(bad(format!("change at {rev:?} out of order")));
                    }
                    last = Some(rev);
                    rebuild.push(r, &meta)?;
                }
            }
            other => return Err(bad(format!("frame {i} of kind {other} out of place"))),
        }
    }
    rebuild.finish(meta)
}

fn decode<'a, T: Deserialize<'a>>(payload: &'a [u8]) -> Result<T, SnapshotError> {
    postcard::from_bytes(payload).map_err(|e| bad(format!("does not decode: {e}")))
}

/// Format 2: one struct, each key's history in key order.
#[derive(Serialize, Deserialize)]
struct KeyOrder<'a> {
    format: u32,
    revision: i64,
    compact_revision: i64,
    next_lease_id: i64,
    leases: Vec<(i64, i64, u64)>,
    #[serde(borrow)]
    keys: Vec<(&'a serde_bytes::Bytes, Vec<KeyOrderChange<'a>>)>,
}

#[derive(Serialize, Deserialize)]
struct KeyOrderChange<'a> {
    main: i64,
    sub: i64,
    #[serde(borrow)]
    put: Option<RecordPut<'a>>,
}

fn read_key_order(bytes: &[u8]) -> Result<Store, SnapshotError> {
    let snapshot: KeyOrder<'_> = decode(bytes)?;
    let meta = Meta {
        revision: snapshot.revision,
        compact_revision: snapshot.compact_revision,
        next_lease_id: snapshot.next_lease_id,
        leases: snapshot.leases,
    };
    check_meta(&meta)?;
    let mut rebuild = Rebuild {
        keys: OrdMap::new(),
        changes: OrdMap::new(),
    };
    for (key, history) in snapshot.keys {
        if history.is_empty() {
            return Err(bad("a key with no history".into()));
        }
        for c in history {
            let record = Record {
                main: c.main,
                sub: c.sub,
                key,
                put: c.put,
            };
            rebuild.push(record, &meta)?;
        }
    }
    rebuild.finish(meta)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::Command;
    use crate::request::{DeleteRangeRequest, PutRequest, RequestOp, TxnRequest};
    use proptest::prelude::*;

    fn put(key: &str, value: Vec<u8>, lease: i64) -> Command {
        Command::Put(PutRequest {
            key: key.as_bytes().to_vec(),
            value,
            lease,
            ..Default::default()
        })
    }

    /// A store with leases, deletes, a txn of several changes and a
    /// compaction.
    fn busy_store() -> Store {
        let mut store = Store::new();
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
        store
            .execute(&Command::Txn(TxnRequest {
                compare: Vec::new(),
                success: vec![
                    RequestOp::Put(PutRequest {
                        key: b"d".to_vec(),
                        value: vec![4],
                        ..Default::default()
                    }),
                    RequestOp::Put(PutRequest {
                        key: b"a".to_vec(),
                        value: vec![5],
                        ..Default::default()
                    }),
                ],
                failure: Vec::new(),
            }))
            .unwrap();
        store.execute(&Command::Compact { revision: 4 }).unwrap();
        store.execute(&put("e", vec![6; 10], 0)).unwrap();
        store
    }

    #[test]
    fn a_snapshot_reads_back_as_the_same_store() {
        let store = busy_store();
        for block in [1, 2, 3, BLOCK] {
            let bytes = write(&store, None, block);
            let back = read(&bytes).unwrap();
            assert_eq!(back, store, "block {block}");
            assert_eq!(back.approximate_size(), store.approximate_size());
        }
    }

    /// Format 2's bytes, as the previous version wrote them.
    fn key_order_bytes(store: &Store) -> Vec<u8> {
        let meta = Meta::of(store);
        let snapshot = KeyOrder {
            format: FORMAT_KEY_ORDER,
            revision: meta.revision,
            compact_revision: meta.compact_revision,
            next_lease_id: meta.next_lease_id,
            leases: meta.leases,
            keys: store
                .keys
                .iter()
                .map(|(key, history)| {
                    let changes = history
                        .oldest_first()
                        .into_iter()
                        .map(|c| KeyOrderChange {
                            main: c.rev.main,
                            sub: c.rev.sub,
                            put: record(key, c).put,
                        })
                        .collect();
                    (serde_bytes::Bytes::new(key), changes)
                })
                .collect(),
        };
        postcard::to_stdvec(&snapshot).unwrap()
    }

    #[test]
    fn a_snapshot_of_the_previous_format_is_still_read() {
        let store = busy_store();
        let back = read(&key_order_bytes(&store)).unwrap();
        assert_eq!(back, store);
        assert_eq!(back.approximate_size(), store.approximate_size());
    }

    #[test]
    fn damaged_snapshots_are_refused_with_a_reason() {
        let bytes = write(&busy_store(), None, 2);
        // Cut anywhere: never a panic, always an error (or, cut exactly
        // between frames, a store without its META frame: an error too).
        for cut in 0..bytes.len() {
            assert!(read(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut later_format = bytes.clone();
        later_format[0] = 9;
        let err = read(&later_format).unwrap_err();
        assert!(err.0.contains("format 9"), "{err}");
        // Two blocks swapped: out of order.
        let store = busy_store();
        let mut frames = Vec::new();
        let mut rest = &bytes[1..];
        while !rest.is_empty() {
            let len = u32::from_le_bytes(rest[1..5].try_into().unwrap()) as usize;
            frames.push(&rest[..5 + len]);
            rest = &rest[5 + len..];
        }
        assert!(frames.len() > 3, "{} frames", frames.len());
        frames.swap(1, 2);
        let swapped: Vec<u8> = std::iter::once(bytes[0]).chain(frames.concat()).collect();
        let err = read(&swapped).unwrap_err();
        assert!(err.0.contains("out of order"), "{err}");
        assert_eq!(read(&bytes).unwrap(), store);
    }

    fn command() -> impl Strategy<Value = Command> {
        let key = || prop::sample::select(vec!["a", "b", "c", "d"]);
        prop_oneof![
            6 => (key(), 0u8..4, 0i64..2).prop_map(|(k, v, lease)| put(k, vec![v], lease)),
            2 => key().prop_map(|k| Command::DeleteRange(DeleteRangeRequest {
                key: k.as_bytes().to_vec(),
                ..Default::default()
            })),
            1 => Just(Command::LeaseGrant { id: 1, ttl: 10 }),
            1 => Just(Command::LeaseRevoke { id: 1 }),
            1 => (0i64..60).prop_map(|revision| Command::Compact { revision }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Snapshots taken now and then from one live store, through its
        /// cache, are byte for byte what encoding afresh gives, and a
        /// snapshot taken later begins with every sealed block of an
        /// earlier one when no compaction came between.
        #[test]
        fn cached_snapshots_are_what_encoding_afresh_gives(
            cmds in prop::collection::vec((command(), any::<bool>()), 0..80),
            block in 1i64..5,
        ) {
            let mut live = Store::new();
            let cache = live.cache.0.clone().unwrap();
            let mut earlier: Option<(Vec<u8>, i64, usize)> = None;
            for (c, snapshot_now) in &cmds {
                let _ = live.execute(c);
                if !snapshot_now {
                    continue;
                }
                let capture = live.clone();
                let cached = write(&capture, Some(&cache), block);
                prop_assert_eq!(&cached, &write(&capture, None, block));
                prop_assert_eq!(read(&cached).unwrap(), capture.clone());
                // The bytes up to the end of the last sealed block: the
                // format's one byte, the base and the sealed blocks (what a
                // cache of its own keeps).
                let sealed = {
                    let own = Mutex::new(SnapshotCache::default());
                    let _ = write(&capture, Some(&own), block);
                    let own = own.into_inner().unwrap();
                    1 + own.base.map_or(0, |b| b.len())
                        + own.blocks.values().map(|b| b.len()).sum::<usize>()
                };
                if let Some((bytes, compacted, sealed_len)) = &earlier
                    && *compacted == capture.compact_revision
                {
                    prop_assert_eq!(&cached[..*sealed_len], &bytes[..*sealed_len]);
                }
                earlier = Some((cached, capture.compact_revision, sealed));
            }
        }
    }
}

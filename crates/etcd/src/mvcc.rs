//! The multi-version key space with etcd's semantics.
//!
//! Every committed write transaction takes the next main revision; its
//! changes are numbered by sub-revision in the order they were made. Each
//! key keeps its history: a put starts a generation (create_revision,
//! version 1) or continues it (version + 1); a delete ends it with a
//! tombstone. Reads at any revision from the compaction revision on see the
//! key space as it was then, and the changes themselves (the watch events)
//! are kept from the compaction revision on.
//!
//! The maps are persistent (`imbl`): cloning a `Store` is O(1) and shares
//! structure, which is how the state is captured for snapshots and read by
//! other threads while the original moves on.
//!
//! Nothing here validates requests (see `txn`) or knows about time.

use crate::error::EtcdError;
use crate::history::History;
use crate::key::Key;
use crate::lease::Leases;
use crate::request::{RangeRequest, RangeResult, SortOrder, SortTarget};
use crate::snapshot_cache::CacheSlot;
use crate::types::{Event, EventType, KeyRange, KeyValue};
use imbl::OrdMap;
use std::sync::Arc;

/// A change's position: its transaction's main revision and its place in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Revision {
    pub main: i64,
    pub sub: i64,
}

/// One change in a key's history: the pair it wrote, or `None` for a delete.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Change {
    pub rev: Revision,
    pub kv: Option<Arc<KeyValue>>,
}

/// Every change to every key from the compaction revision on, plus the
/// state at the compaction revision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Store {
    /// The last committed main revision; 1 for an empty store, as in etcd.
    pub(crate) revision: i64,
    /// Reads below this revision fail; 0 before any compaction.
    pub(crate) compact_revision: i64,
    /// Each key's changes in revision order. A key leaves the map once
    /// compaction has dropped all of its history.
    pub(crate) keys: OrdMap<Key, History>,
    /// Each change from the compaction revision on and the key it
    /// touched, in revision order: the watch log, and the order snapshots
    /// list history in (the change itself is here, not only its key, so
    /// neither looks each one up in its key's history).
    pub(crate) changes: OrdMap<Revision, (Key, Change)>,
    pub(crate) leases: Leases,
    /// `approximate_size`, kept as changes come and go: Status asks for it
    /// and checkpoints are spaced by it, and counting it afresh walks the
    /// whole history.
    pub(crate) size: i64,
    /// What this store's checkpoints encoded so far (`snapshot`); a clone
    /// starts without.
    pub(crate) cache: CacheSlot,
}

impl Default for Store {
    fn default() -> Store {
        Store::new()
    }
}

/// Events of a key range after a revision, complete through `through`:
/// every change to the range with a revision in `(after, through]` is here,
/// in revision order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventBatch {
    pub events: Vec<Event>,
    pub through: i64,
}

/// The history a watcher asked for has been compacted away.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Compacted {
    pub compact_revision: i64,
}

impl Store {
    pub fn new() -> Store {
        Store {
            revision: 1,
            compact_revision: 0,
            keys: OrdMap::new(),
            changes: OrdMap::new(),
            leases: Leases::default(),
            size: 0,
            cache: CacheSlot::fresh(),
        }
    }

    pub fn revision(&self) -> i64 {
        self.revision
    }

    pub fn compact_revision(&self) -> i64 {
        self.compact_revision
    }

    pub fn leases(&self) -> &Leases {
        &self.leases
    }

    /// The key's pair at `rev` (latest change at or before it), if live.
    pub fn get_at(&self, key: &[u8], rev: i64) -> Option<&KeyValue> {
        self.keys.get(key)?.at(rev)
    }

    /// The key's current pair, if live (a write transaction's own changes
    /// included).
    pub fn get(&self, key: &[u8]) -> Option<&KeyValue> {
        self.keys.get(key)?.last().kv.as_deref()
    }

    /// Every live pair in `range` at `rev`, in key order.
    pub fn scan_at(&self, range: &KeyRange, rev: i64) -> Vec<&KeyValue> {
        let Some(bounds) = range.bounds() else {
            return Vec::new();
        };
        self.keys
            .range::<_, [u8]>(bounds)
            .filter_map(|(_, history)| history.at(rev))
            .collect()
    }

    /// Serves a range request against the state at its revision, where
    /// `current` is the revision a fresh read would see (the store's, or a
    /// write transaction's pending one). Validation (an empty key, sort
    /// options) is the caller's.
    pub fn range(&self, req: &RangeRequest, current: i64) -> Result<RangeResult, EtcdError> {
        if req.revision > current {
            return Err(EtcdError::FutureRev);
        }
        let rev = if req.revision <= 0 {
            current
        } else {
            req.revision
        };
        if rev < self.compact_revision {
            return Err(EtcdError::Compacted);
        }
        let range = KeyRange::new(&req.key, &req.range_end);
        let found = self.scan_at(&range, rev);
        let count = found.len() as i64;
        if req.count_only {
            return Ok(RangeResult {
                revision: current,
                kvs: Vec::new(),
                more: false,
                count,
            });
        }
        let mut kvs: Vec<&KeyValue> = found
            .into_iter()
            .filter(|kv| {
                (req.max_mod_revision == 0 || kv.mod_revision <= req.max_mod_revision)
                    && (req.min_mod_revision == 0 || kv.mod_revision >= req.min_mod_revision)
                    && (req.max_create_revision == 0
                        || kv.create_revision <= req.max_create_revision)
                    && (req.min_create_revision == 0
                        || kv.create_revision >= req.min_create_revision)
            })
            .collect();
        sort_kvs(&mut kvs, req.sort_target, req.sort_order);
        let mut more = false;
        if req.limit > 0 && kvs.len() as i64 > req.limit {
            kvs.truncate(req.limit as usize);
            more = true;
        }
        let kvs = kvs
            .into_iter()
            .map(|kv| {
                let mut kv = kv.clone();
                if req.keys_only {
                    kv.value.clear();
                }
                kv
            })
            .collect();
        Ok(RangeResult {
            revision: current,
            kvs,
            more,
            count,
        })
    }

    /// Writes `key` at `rev`, continuing its generation if it is live, and
    /// moves it between leases. The caller checked that `lease` exists.
    pub(crate) fn put_at(&mut self, rev: Revision, key: &[u8], value: Vec<u8>, lease: i64) {
        let prev_lease = self.record(rev, key, |prev| {
            // What the new version continues (not a copy of the pair: its
            // key and value would be two allocations per put, on every
            // node).
            let (create_revision, version) = match prev {
                Some(p) => (p.create_revision, p.version + 1),
                None => (rev.main, 1),
            };
            let kv = KeyValue {
                key: key.to_vec(),
                create_revision,
                mod_revision: rev.main,
                version,
                value,
                lease,
            };
            (Some(Arc::new(kv)), prev.map(|p| p.lease))
        });
        if let Some(prev_lease) = prev_lease
            && prev_lease != 0
            && prev_lease != lease
        {
            self.leases.detach(prev_lease, key);
        }
        if lease != 0 {
            self.leases.attach(lease, key);
        }
    }

    /// Deletes `key` at `rev` if it is live; says whether it was.
    pub(crate) fn delete_at(&mut self, rev: Revision, key: &[u8]) -> bool {
        let Some(prev_lease) = self.get(key).map(|kv| kv.lease) else {
            return false;
        };
        if prev_lease != 0 {
            self.leases.detach(prev_lease, key);
        }
        self.record(rev, key, |_| (None, ()));
        true
    }

    /// Appends a change at `rev` to `key`'s history and to the change log,
    /// looking the key up once (a put does this on every node): `change`
    /// makes the change's pair, if any, from the key's current one.
    fn record<T>(
        &mut self,
        rev: Revision,
        key: &[u8],
        change: impl FnOnce(Option<&KeyValue>) -> (Option<Arc<KeyValue>>, T),
    ) -> T {
        // Keys are held inline or shared, not copied (`Key`): the first
        // write to a node of these persistent maps after a capture (a
        // checkpoint's, or the copy a watcher asked for) copies the node,
        // and a `Vec<u8>` key was an allocation each (2026-12-03).
        let (key, change, out) = match self.keys.get_key_value_mut(key) {
            Some((shared, history)) => {
                let (kv, out) = change(history.last().kv.as_deref());
                let change = Change { rev, kv };
                history.push(change.clone());
                (shared.clone(), change, out)
            }
            None => {
                let (kv, out) = change(None);
                let change = Change { rev, kv };
                self.size += key.len() as i64;
                let new = Key::new(key);
                self.keys.insert(new.clone(), History::unit(change.clone()));
                (new, change, out)
            }
        };
        self.size += change_size(&change);
        self.changes.insert(rev, (key, change));
        out
    }

    /// Drops history below `rev`: afterwards reads at `rev` or later, and
    /// events from `rev` on, are still served. Returns the current revision.
    pub fn compact(&mut self, rev: i64) -> Result<i64, EtcdError> {
        if rev <= self.compact_revision {
            return Err(EtcdError::Compacted);
        }
        if rev > self.revision {
            return Err(EtcdError::FutureRev);
        }
        let mut updates = Vec::new();
        for (key, history) in self.keys.iter() {
            // The last change at or before `rev`, and how many there are.
            let Some((last, n)) = history.last_to(rev) else {
                continue;
            };
            // Keep the state at `rev` (its last change at or before it),
            // unless that is a delete made before `rev`: a delete exactly at
            // `rev` stays, as an event a watch from `rev` must see.
            let keep_from = if last.kv.is_none() && last.rev.main < rev {
                n
            } else {
                n - 1
            };
            if keep_from > 0 {
                let dropped: i64 = history
                    .newest_first()
                    .skip(history.len() - keep_from)
                    .map(change_size)
                    .sum();
                self.size -= dropped;
                updates.push((key.clone(), history.without_oldest(keep_from)));
            }
        }
        for (key, history) in updates {
            match history {
                Some(history) => {
                    self.keys.insert(key, history);
                }
                None => {
                    self.size -= key.len() as i64;
                    self.keys.remove(&key);
                }
            }
        }
        let first = Revision { main: rev, sub: 0 };
        let (_, at, mut kept) = self.changes.split_lookup(&first);
        if let Some(key) = at {
            kept.insert(first, key);
        }
        self.changes = kept;
        self.compact_revision = rev;
        Ok(self.revision)
    }

    /// The changes to `range` after revision `after`, at most about
    /// `max_events` of them (a revision's changes are never split, so a
    /// batch may run over by the rest of its last revision). Fails when
    /// revisions after `after` have been compacted. Each event carries the
    /// pair before it.
    pub fn events(
        &self,
        range: &KeyRange,
        after: i64,
        max_events: usize,
    ) -> Result<EventBatch, Compacted> {
        self.events_with(range, after, max_events, true)
    }

    /// [`Store::events`], with the pair before each event only if
    /// `prev_kv`: most watchers do not ask for it, and finding and copying
    /// it was most of an event's cost (without it the change log alone
    /// answers, the keys' histories are not looked up).
    pub fn events_with(
        &self,
        range: &KeyRange,
        after: i64,
        max_events: usize,
        prev_kv: bool,
    ) -> Result<EventBatch, Compacted> {
        if after.saturating_add(1) < self.compact_revision {
            return Err(Compacted {
                compact_revision: self.compact_revision,
            });
        }
        let mut events: Vec<Event> = Vec::new();
        let from = Revision {
            main: after.saturating_add(1),
            sub: 0,
        };
        for (rev, (key, change)) in self.changes.range(from..) {
            if events.len() >= max_events && events.last().is_some_and(|e| e.revision() != rev.main)
            {
                let through = rev.main - 1;
                return Ok(EventBatch { events, through });
            }
            if !range.contains(key) {
                continue;
            }
            let event = if prev_kv {
                self.event_at(key, *rev)
            } else {
                Some(event(key, change, None))
            };
            events.extend(event);
        }
        Ok(EventBatch {
            events,
            through: self.revision.max(after),
        })
    }

    fn event_at(&self, key: &[u8], rev: Revision) -> Option<Event> {
        let (change, before) = self.keys.get(key)?.change_at(rev)?;
        Some(event(key, change, before.cloned()))
    }

    /// A rough size of the data held, for Status's db size: each key, and
    /// each change in its history (kept up to date as they come and go).
    pub fn approximate_size(&self) -> i64 {
        self.size
    }

    /// `approximate_size` counted afresh from the whole history.
    pub(crate) fn count_size(&self) -> i64 {
        self.keys
            .iter()
            .map(|(key, history)| {
                key.len() as i64 + history.newest_first().map(change_size).sum::<i64>()
            })
            .sum()
    }
}

/// The watch event `change` to `key` makes, with `prev_kv` before it.
fn event(key: &[u8], change: &Change, prev_kv: Option<KeyValue>) -> Event {
    match &change.kv {
        Some(kv) => Event {
            kind: EventType::Put,
            kv: (**kv).clone(),
            prev_kv,
        },
        None => Event {
            kind: EventType::Delete,
            kv: KeyValue {
                key: key.to_vec(),
                mod_revision: change.rev.main,
                ..KeyValue::default()
            },
            prev_kv,
        },
    }
}

/// What one change adds to `approximate_size`.
fn change_size(change: &Change) -> i64 {
    16 + change
        .kv
        .as_ref()
        .map_or(0, |kv| kv.value.len() as i64 + 48)
}

/// etcd's ordering: a target other than KEY with order NONE sorts
/// ascending; KEY ascending (or NONE) is the scan order already. Sorting
/// is stable, so ties stay in key order on every replica.
fn sort_kvs(kvs: &mut [&KeyValue], target: SortTarget, order: SortOrder) {
    let order = match (target, order) {
        (SortTarget::Key, SortOrder::None) => return,
        (SortTarget::Key, SortOrder::Ascend) => return,
        (_, SortOrder::None) => SortOrder::Ascend,
        (_, order) => order,
    };
    let cmp = |a: &&KeyValue, b: &&KeyValue| match target {
        SortTarget::Key => a.key.cmp(&b.key),
        SortTarget::Version => a.version.cmp(&b.version),
        SortTarget::Create => a.create_revision.cmp(&b.create_revision),
        SortTarget::Mod => a.mod_revision.cmp(&b.mod_revision),
        SortTarget::Value => a.value.cmp(&b.value),
    };
    match order {
        SortOrder::Descend => kvs.sort_by(|a, b| cmp(b, a)),
        _ => kvs.sort_by(cmp),
    }
}

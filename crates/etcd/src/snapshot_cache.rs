//! What a live store keeps of the snapshots its checkpoints encoded: the
//! frames of sealed blocks (`snapshot` says what they are and why they
//! can be kept).

use bytes::Bytes;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// The frames of sealed blocks (and the base) a live store's snapshots
/// have encoded so far, valid for one compaction revision.
#[derive(Default)]
pub(crate) struct SnapshotCache {
    pub(crate) compact_revision: i64,
    pub(crate) base: Option<Bytes>,
    /// By block number (main revision / block size).
    pub(crate) blocks: BTreeMap<i64, Bytes>,
}

/// A live store's cache, shared with its captures (`Store::capture`) and
/// with nothing else: a clone of the store starts without one, since it
/// may go on to write a history of its own. Not part of the state (it
/// compares equal whatever it holds).
#[derive(Default)]
pub(crate) struct CacheSlot(pub(crate) Option<Arc<Mutex<SnapshotCache>>>);

impl CacheSlot {
    pub(crate) fn fresh() -> Self {
        CacheSlot(Some(Arc::default()))
    }
}

impl Clone for CacheSlot {
    fn clone(&self) -> Self {
        CacheSlot(None)
    }
}

impl PartialEq for CacheSlot {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for CacheSlot {}

impl std::fmt::Debug for CacheSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CacheSlot")
    }
}

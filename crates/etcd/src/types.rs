//! The typed values of the etcd key space: key-value pairs, events and key
//! ranges with etcd's `range_end` conventions. These are what the state
//! machine stores and returns; `convert` maps them to and from protobuf.

use serde::{Deserialize, Serialize};
use std::ops::Bound;

/// A key's state at one revision, as etcd's `mvccpb.KeyValue`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyValue {
    #[serde(with = "serde_bytes")]
    pub key: Vec<u8>,
    /// The revision of the put that created this generation of the key.
    pub create_revision: i64,
    /// The revision of the key's last change.
    pub mod_revision: i64,
    /// Puts in this generation, counting the creating one.
    pub version: i64,
    #[serde(with = "serde_bytes")]
    pub value: Vec<u8>,
    /// The attached lease, 0 for none.
    pub lease: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventType {
    Put,
    Delete,
}

/// One change to one key. A delete carries only the key and, as its
/// `mod_revision`, the deleting revision (as etcd sends it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub kind: EventType,
    pub kv: KeyValue,
    /// The pair before this change, if it existed and is still in history.
    pub prev_kv: Option<KeyValue>,
}

impl Event {
    pub fn revision(&self) -> i64 {
        self.kv.mod_revision
    }
}

/// A set of keys, from a request's `key` and `range_end`: an empty
/// `range_end` names the single key, `"\0"` every key from `key` on, and
/// anything else the half-open interval `[key, range_end)` (so a prefix `p`
/// is `[p, p with its last byte plus one)`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRange {
    #[serde(with = "serde_bytes")]
    pub start: Vec<u8>,
    pub end: RangeEnd,
}

/// A range's bounds, as an ordered map's range scan takes them.
pub type KeyBounds<'a> = (Bound<&'a [u8]>, Bound<&'a [u8]>);

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RangeEnd {
    /// Only `start` itself.
    Single,
    /// Every key from `start` on.
    Unbounded,
    /// Keys below this one (exclusive).
    Before(#[serde(with = "serde_bytes")] Vec<u8>),
}

impl KeyRange {
    pub fn new(key: &[u8], range_end: &[u8]) -> KeyRange {
        let end = match range_end {
            [] => RangeEnd::Single,
            [0] => RangeEnd::Unbounded,
            end => RangeEnd::Before(end.to_vec()),
        };
        KeyRange {
            start: key.to_vec(),
            end,
        }
    }

    pub fn single(key: &[u8]) -> KeyRange {
        KeyRange::new(key, &[])
    }

    /// Every key that starts with `prefix` (all keys for an empty prefix).
    pub fn prefix(prefix: &[u8]) -> KeyRange {
        if prefix.is_empty() {
            return KeyRange::new(&[0], &[0]);
        }
        KeyRange::new(prefix, &prefix_end(prefix))
    }

    pub fn contains(&self, key: &[u8]) -> bool {
        match &self.end {
            RangeEnd::Single => key == self.start.as_slice(),
            RangeEnd::Unbounded => key >= self.start.as_slice(),
            RangeEnd::Before(end) => key >= self.start.as_slice() && key < end.as_slice(),
        }
    }

    /// Bounds for a range scan over an ordered map; `None` when empty (an
    /// end at or below the start, which a `BTreeMap::range` would reject).
    pub fn bounds(&self) -> Option<KeyBounds<'_>> {
        let start = Bound::Included(self.start.as_slice());
        match &self.end {
            RangeEnd::Single => Some((start, Bound::Included(self.start.as_slice()))),
            RangeEnd::Unbounded => Some((start, Bound::Unbounded)),
            RangeEnd::Before(end) if end.as_slice() > self.start.as_slice() => {
                Some((start, Bound::Excluded(end.as_slice())))
            }
            RangeEnd::Before(_) => None,
        }
    }

    /// Whether two ranges share a key.
    pub fn intersects(&self, other: &KeyRange) -> bool {
        let (Some(_), Some(_)) = (self.bounds(), other.bounds()) else {
            return false;
        };
        // Two non-empty intervals meet iff each starts before the other ends.
        self.starts_before_end_of(other) && other.starts_before_end_of(self)
    }

    fn starts_before_end_of(&self, other: &KeyRange) -> bool {
        match &other.end {
            RangeEnd::Single => self.start.as_slice() <= other.start.as_slice(),
            RangeEnd::Unbounded => true,
            RangeEnd::Before(end) => self.start.as_slice() < end.as_slice(),
        }
    }
}

/// The `range_end` that selects every key with this prefix: the prefix with
/// its last byte below 0xff incremented and what follows dropped; `"\0"`
/// (every key) when all its bytes are 0xff.
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_end_conventions() {
        let single = KeyRange::new(b"a", b"");
        assert!(single.contains(b"a"));
        assert!(!single.contains(b"ab"));
        let from = KeyRange::new(b"b", b"\0");
        assert!(from.contains(b"b") && from.contains(b"zzz"));
        assert!(!from.contains(b"a"));
        let all = KeyRange::new(b"\0", b"\0");
        assert!(all.contains(b"\0") && all.contains(b"a"));
        let interval = KeyRange::new(b"b", b"d");
        assert!(interval.contains(b"b") && interval.contains(b"cz"));
        assert!(!interval.contains(b"d"));
        let empty = KeyRange::new(b"d", b"b");
        assert!(!empty.contains(b"c") && empty.bounds().is_none());
    }

    #[test]
    fn prefixes() {
        assert_eq!(prefix_end(b"abc"), b"abd".to_vec());
        assert_eq!(prefix_end(b"a\xff"), b"b".to_vec());
        assert_eq!(prefix_end(b"\xff\xff"), vec![0]);
        let p = KeyRange::prefix(b"foo");
        assert!(p.contains(b"foo") && p.contains(b"foo/bar"));
        assert!(!p.contains(b"fop") && !p.contains(b"fo"));
        assert!(KeyRange::prefix(b"").contains(b"anything"));
    }

    #[test]
    fn intersections() {
        let ab = KeyRange::new(b"a", b"b");
        assert!(ab.intersects(&KeyRange::single(b"a")));
        assert!(ab.intersects(&KeyRange::single(b"a\xff")));
        assert!(!ab.intersects(&KeyRange::single(b"b")));
        assert!(ab.intersects(&KeyRange::new(b"0", b"\0")));
        assert!(!ab.intersects(&KeyRange::new(b"b", b"\0")));
        assert!(!ab.intersects(&KeyRange::new(b"c", b"a")));
        assert!(KeyRange::single(b"x").intersects(&KeyRange::single(b"x")));
        assert!(!KeyRange::single(b"x").intersects(&KeyRange::single(b"y")));
    }
}

//! A key-value store on string keys: the workload for benchmarks and
//! linearizability checks.
//!
//! Values are written as byte strings (`serde_bytes`): in postcard that is
//! exactly the bytes a sequence of `u8` makes (a length, then the bytes),
//! so commands, results and snapshots read the same as before, but a value
//! is copied whole instead of passed to the serializer a byte at a time
//! (5% of the machine's time went there in checkpoint builds, 2026-12-04).

use imbl::OrdMap;
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum KvOp {
    Put {
        key: String,
        #[serde(with = "serde_bytes")]
        value: Vec<u8>,
    },
    Get {
        key: String,
    },
    /// Sets `key` to `new` only if its current value equals `expected`
    /// (`None` meaning "absent").
    Cas {
        key: String,
        #[serde(with = "serde_bytes")]
        expected: Option<Vec<u8>>,
        #[serde(with = "serde_bytes")]
        new: Vec<u8>,
    },
    Delete {
        key: String,
    },
}

impl KvOp {
    pub fn key(&self) -> &str {
        match self {
            KvOp::Put { key, .. }
            | KvOp::Get { key }
            | KvOp::Cas { key, .. }
            | KvOp::Delete { key } => key,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum KvResult {
    /// A put took effect.
    Stored,
    /// The value of a get (`None` if absent).
    Value(#[serde(with = "serde_bytes")] Option<Vec<u8>>),
    /// Whether a compare-and-set swapped.
    Swapped(bool),
    /// Whether a delete removed an existing key.
    Deleted(bool),
}

impl fmt::Display for KvResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KvResult::Stored => write!(f, "OK"),
            KvResult::Value(Some(v)) => write!(f, "{}", String::from_utf8_lossy(v)),
            KvResult::Value(None) => write!(f, "(absent)"),
            KvResult::Swapped(true) => write!(f, "swapped"),
            KvResult::Swapped(false) => write!(f, "not swapped (value differs)"),
            KvResult::Deleted(true) => write!(f, "deleted"),
            KvResult::Deleted(false) => write!(f, "(absent)"),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kv {
    /// A persistent map: a checkpoint's copy of the store shares it.
    #[serde(serialize_with = "entries_out", deserialize_with = "entries")]
    entries: OrdMap<String, Vec<u8>>,
}

/// Writes the map with each value as a byte string (the module comment
/// says why).
fn entries_out<S: serde::Serializer>(
    entries: &OrdMap<String, Vec<u8>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_map(entries.iter().map(|(k, v)| (k, serde_bytes::Bytes::new(v))))
}

/// Reads what `entries_out` wrote, entry by entry, as it arrives. imbl's
/// own `Deserialize` reserves room for
/// as many entries as the input says it holds before reading one, so a
/// damaged snapshot (or a peer's) stating billions of entries aborted the
/// process for want of memory instead of being refused (found by
/// `crates/node/tests/fuzz.rs`, 2026-12-04). Same bytes in either case.
fn entries<'de, D: serde::Deserializer<'de>>(d: D) -> Result<OrdMap<String, Vec<u8>>, D::Error> {
    struct Entries;
    impl<'de> serde::de::Visitor<'de> for Entries {
        type Value = OrdMap<String, Vec<u8>>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a map of keys to values")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> Result<Self::Value, A::Error> {
            let mut entries = OrdMap::new();
            while let Some((key, value)) = map.next_entry::<String, serde_bytes::ByteBuf>()? {
                entries.insert(key, value.into_vec());
            }
            Ok(entries)
        }
    }
    d.deserialize_map(Entries)
}

impl Kv {
    pub fn apply(&mut self, op: &KvOp) -> KvResult {
        match op {
            KvOp::Put { key, value } => {
                self.entries.insert(key.clone(), value.clone());
                KvResult::Stored
            }
            KvOp::Get { key } => KvResult::Value(self.entries.get(key).cloned()),
            KvOp::Cas { key, expected, new } => {
                if self.entries.get(key) == expected.as_ref() {
                    self.entries.insert(key.clone(), new.clone());
                    KvResult::Swapped(true)
                } else {
                    KvResult::Swapped(false)
                }
            }
            KvOp::Delete { key } => KvResult::Deleted(self.entries.remove(key).is_some()),
        }
    }

    pub fn get(&self, key: &str) -> Option<&[u8]> {
        self.entries.get(key).map(|v| v.as_slice())
    }

    pub fn entries(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_slice()))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Roughly the store's snapshot size in bytes (a function of the
    /// entries alone).
    pub fn size_hint(&self) -> u64 {
        self.entries
            .iter()
            .map(|(k, v)| 8 + k.len() as u64 + v.len() as u64)
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The layouts as they were before values became byte strings.
    mod before {
        #[derive(serde::Serialize)]
        pub enum KvOp {
            Put {
                key: String,
                value: Vec<u8>,
            },
            Get {
                key: String,
            },
            Cas {
                key: String,
                expected: Option<Vec<u8>>,
                new: Vec<u8>,
            },
        }
        #[derive(serde::Serialize)]
        pub enum KvResult {
            Stored,
            Value(Option<Vec<u8>>),
        }
        #[derive(serde::Serialize)]
        pub struct Kv {
            pub entries: std::collections::BTreeMap<String, Vec<u8>>,
        }
    }

    #[test]
    fn values_as_byte_strings_keep_the_bytes_of_before() {
        let same = |new: Vec<u8>, old: Vec<u8>| assert_eq!(new, old);
        let v = vec![0u8, 1, 127, 128, 255];
        same(
            postcard::to_stdvec(&KvOp::Put {
                key: "k".into(),
                value: v.clone(),
            })
            .unwrap(),
            postcard::to_stdvec(&before::KvOp::Put {
                key: "k".into(),
                value: v.clone(),
            })
            .unwrap(),
        );
        for expected in [None, Some(v.clone())] {
            same(
                postcard::to_stdvec(&KvOp::Cas {
                    key: "k".into(),
                    expected: expected.clone(),
                    new: v.clone(),
                })
                .unwrap(),
                postcard::to_stdvec(&before::KvOp::Cas {
                    key: "k".into(),
                    expected,
                    new: v.clone(),
                })
                .unwrap(),
            );
            let _ = before::KvOp::Get { key: String::new() };
        }
        same(
            postcard::to_stdvec(&KvResult::Value(Some(v.clone()))).unwrap(),
            postcard::to_stdvec(&before::KvResult::Value(Some(v.clone()))).unwrap(),
        );
        same(
            postcard::to_stdvec(&KvResult::Stored).unwrap(),
            postcard::to_stdvec(&before::KvResult::Stored).unwrap(),
        );
        let mut kv = Kv::default();
        let mut old = before::Kv {
            entries: Default::default(),
        };
        for (k, value) in [("a", v.clone()), ("b", vec![]), ("c", vec![9; 300])] {
            kv.apply(&KvOp::Put {
                key: k.into(),
                value: value.clone(),
            });
            old.entries.insert(k.into(), value);
        }
        let bytes = postcard::to_stdvec(&kv).unwrap();
        same(bytes.clone(), postcard::to_stdvec(&old).unwrap());
        assert_eq!(postcard::from_bytes::<Kv>(&bytes).unwrap(), kv);
    }

    #[test]
    fn a_snapshot_stating_more_entries_than_it_holds_is_refused() {
        let mut kv = Kv::default();
        kv.apply(&KvOp::Put {
            key: "k".into(),
            value: b"v".to_vec(),
        });
        let bytes = postcard::to_allocvec(&kv).unwrap();
        assert_eq!(postcard::from_bytes::<Kv>(&bytes).unwrap(), kv);
        // The entry count (a varint, first) says 2^40; one entry follows.
        let mut huge = vec![0x80, 0x80, 0x80, 0x80, 0x80, 0x20];
        huge.extend_from_slice(&bytes[1..]);
        assert!(postcard::from_bytes::<Kv>(&huge).is_err());
    }

    #[test]
    fn put_get_cas_delete() {
        let mut kv = Kv::default();
        let get = KvOp::Get { key: "k".into() };
        assert_eq!(kv.apply(&get), KvResult::Value(None));
        assert_eq!(
            kv.apply(&KvOp::Put {
                key: "k".into(),
                value: b"1".to_vec()
            }),
            KvResult::Stored
        );
        let cas = |e: &[u8], n: &[u8]| KvOp::Cas {
            key: "k".into(),
            expected: Some(e.to_vec()),
            new: n.to_vec(),
        };
        assert_eq!(kv.apply(&cas(b"0", b"2")), KvResult::Swapped(false));
        assert_eq!(kv.apply(&cas(b"1", b"2")), KvResult::Swapped(true));
        assert_eq!(kv.apply(&get), KvResult::Value(Some(b"2".to_vec())));
        assert_eq!(
            kv.apply(&KvOp::Delete { key: "k".into() }),
            KvResult::Deleted(true)
        );
        assert_eq!(
            kv.apply(&KvOp::Delete { key: "k".into() }),
            KvResult::Deleted(false)
        );
        let cas_absent = KvOp::Cas {
            key: "k".into(),
            expected: None,
            new: b"3".to_vec(),
        };
        assert_eq!(kv.apply(&cas_absent), KvResult::Swapped(true));
        assert_eq!(kv.get("k"), Some(&b"3"[..]));
    }
}

//! A key-value store on string keys: the workload for benchmarks and
//! linearizability checks.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum KvOp {
    Put { key: String, value: Vec<u8> },
    Get { key: String },
    /// Sets `key` to `new` only if its current value equals `expected`
    /// (`None` meaning "absent").
    Cas { key: String, expected: Option<Vec<u8>>, new: Vec<u8> },
    Delete { key: String },
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum KvResult {
    /// A put took effect.
    Stored,
    /// The value of a get (`None` if absent).
    Value(Option<Vec<u8>>),
    /// Whether a compare-and-set swapped.
    Swapped(bool),
    /// Whether a delete removed an existing key.
    Deleted(bool),
}

//! etcd's v3 API over synod: an MVCC key-value state machine with etcd's
//! semantics (`mvcc`, `txn`, `lease`, `machine`, its layout on disk in
//! `snapshot`), the commands that carry
//! it through the log (`command`), and the gRPC services (`service`) over
//! an abstract backend (`backend`) that a node runtime implements; `memory`
//! is a single-process backend for tests and tools; `node` the backend of
//! a synod node, and `on_node` runs such a node with its gRPC listener
//! (whose connections pass through `authority`, for etcd 3.4's clients).
//!
//! Where this differs from etcd, on purpose:
//! - A txn that deletes from a key onwards (`range_end` "\0") may not put
//!   a key in that range; etcd's interval check misses that case.
//! - `Compact`'s `physical` flag changes nothing: history is dropped when
//!   the compaction applies. Watch `fragment` is ignored (responses are
//!   sent whole).

pub mod authority;
pub mod backend;
pub mod command;
mod compactor;
mod convert;
pub mod error;
mod history;
mod key;
pub mod lease;
pub mod machine;
pub mod memory;
mod metrics;
pub mod mvcc;
pub mod node;
pub mod on_node;
pub mod pb;
pub mod request;
pub mod server;
pub mod service;
mod snapshot;
mod snapshot_cache;
pub mod txn;
pub mod types;
mod unary;

pub use backend::EtcdBackend;
pub use command::{Command, Outcome, Response};
pub use error::EtcdError;
pub use memory::MemoryBackend;
pub use mvcc::Store;
pub use service::EtcdOptions;

//! synod-node: a synod node over TCP, and the client side of the wire.
//!
//! - [`wire`]: the frame format and every message type that crosses a socket.
//! - [`config`]: the TOML cluster file; [`address`]: `host:port` as it names nodes.
//! - [`store`]: durable storage of the acceptor's state.
//! - [`server`]: the runtime that runs any application's replica
//!   ([`server::run`]): [`connections`] (listeners, handshakes, readers),
//!   the core task that drives the sans-IO replica, [`log_writer`] (the
//!   WAL's own thread), [`net`] (framing and outgoing links).
//! - [`metrics`]: the node's metrics and health, kept current by its tasks;
//!   [`http`] serves them on the node's `metrics_addr`.
//! - [`client`]: the async client library; [`admin`]: admin queries;
//!   [`local`]: clients in the node's own process (a front end such as the
//!   etcd API, started by [`server::run_with`]).
//! - [`tls`]: mutual TLS (or plain TCP) under every connection.
//! - [`embedded`]: nodes on threads of one's own program ([`NodeHandle`]).

pub mod address;
pub mod admin;
pub mod client;
pub mod config;
mod connections;
mod core_task;
mod disk;
pub mod embedded;
pub mod http;
pub mod local;
pub mod log_writer;
mod members;
pub mod metrics;
pub mod net;
mod protocol_log;
pub mod server;
pub mod snapshot_file;
pub mod store;
pub mod tls;
pub mod wire;

pub use config::ClusterFile;
pub use core_task::AppObserver;
pub use embedded::NodeHandle;
pub use server::{NodeError, Start};

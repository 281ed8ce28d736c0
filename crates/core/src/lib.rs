//! synod-core: Multi-Paxos as a pure, deterministic state machine.
//!
//! A [`Replica`] is one node: proposer ([`proposer`]), acceptor
//! ([`acceptor`]), learner ([`learner`]) and executor ([`executor`]), with
//! failure detection and the candidate order in [`election`]. It takes
//! inputs (a peer's [`Message`], a client's [`Request`], the time, a write
//! reported durable) and hands back a [`Ready`]: messages to send, replies,
//! events, and a [`Write`] to make durable. It holds back every message
//! that reveals an unsynced record itself; [`host::drive`] is the one piece
//! of host code that carries a `Ready` out, for the simulator and the node
//! alike. It never
//! reads a clock, opens a socket, spawns a thread or draws a random number,
//! so the simulator can run whole clusters deterministically and the tokio
//! runtime can drive the very same code over TCP. The contract between a
//! replica and its host is documented on [`replica`].
//!
//! The client's side ([`Client`]) is sans-IO too.

pub mod acceptor;
pub mod checkpoints;
pub mod client;
pub mod config;
pub mod durable;
pub mod election;
pub mod executor;
pub mod host;
pub mod learner;
pub mod liveness;
pub mod membership;
pub mod message;
pub mod partial;
pub mod proposer;
pub mod replica;
pub mod state_machine;
pub mod types;

pub use checkpoints::{Checkpoint, CheckpointJob};
pub use client::{Busy, Client, ClientAction, ClientConfig, Outcome, RequestKind};
#[cfg(feature = "planted-bugs")]
pub use config::PlantedBug;
pub use config::{Config, ConfigError};
pub use durable::{DurabilityGate, DurableState, Log, PersistOp, Write};
pub use executor::Execution;
pub use liveness::{Environment, FailoverBound, failover_bound};
pub use membership::{Change, ChangeError, Member, Membership};
pub use message::{AcceptedEntry, Envelope, Message};
pub use partial::Scenario;
pub use replica::{ChangeRefused, Event, Ready, Replica, Role, Status};
pub use state_machine::{AppCommand, Inspect, SnapshotError, StateMachine};
pub use types::*;

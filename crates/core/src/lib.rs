//! synod-core: Multi-Paxos as a pure, deterministic state machine.
pub mod state_machine;
pub mod types;

pub use state_machine::{SnapshotError, StateMachine};
pub use types::*;

//! The application contract: what a replicated service must provide.
//!
//! Every node applies the same chosen commands in the same order, so an
//! implementation must be deterministic: the result and the new state depend
//! only on the previous state and the command (no clocks, no randomness, no
//! iteration over hash maps). A command the application cannot decode is
//! still applied (it was chosen); it must leave the state unchanged and
//! return an error result.

use thiserror::Error;

/// Why a snapshot could not be restored.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("bad snapshot: {0}")]
pub struct SnapshotError(pub String);

/// A deterministic state machine over opaque command bytes.
pub trait StateMachine {
    /// Applies one chosen command and returns its result.
    fn apply(&mut self, command: &[u8]) -> Vec<u8>;

    /// Serialises the whole state. Equal states must give equal bytes, since
    /// replicas compare checkpoint digests computed over snapshots.
    fn snapshot(&self) -> Vec<u8>;

    /// Replaces the state with one produced by `snapshot`.
    fn restore(&mut self, snapshot: &[u8]) -> Result<(), SnapshotError>;
}

impl<S: StateMachine + ?Sized> StateMachine for Box<S> {
    fn apply(&mut self, command: &[u8]) -> Vec<u8> {
        (**self).apply(command)
    }
    fn snapshot(&self) -> Vec<u8> {
        (**self).snapshot()
    }
    fn restore(&mut self, snapshot: &[u8]) -> Result<(), SnapshotError> {
        (**self).restore(snapshot)
    }
}

/// What the admin views need to show an application to a person (and what a
/// node runtime asks of the state machine besides running it).
pub trait Inspect {
    /// One command, as a person would read it (`synod admin slot`, the
    /// views of NEW-VIEWs). Bytes that do not decode deserve a plain word
    /// saying so, not an error: they were chosen all the same.
    fn describe_command(command: &[u8]) -> String;

    /// The whole state, in whatever encoding the application's own tools
    /// read back (`synod admin db`).
    fn export(&self) -> Vec<u8>;
}

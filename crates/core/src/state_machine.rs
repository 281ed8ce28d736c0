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
    /// A frozen copy of the state, taken on the replica's path at every
    /// checkpoint and serialised elsewhere (another thread, later), so that
    /// a large state never stalls the replica. Taking it must be cheap: O(1)
    /// or close (persistent maps such as `imbl`'s, `Arc`s). A small state
    /// may simply clone itself.
    type Capture: Send + 'static;

    /// Applies one chosen command and returns its result.
    fn apply(&mut self, command: &[u8]) -> Vec<u8>;

    /// Freezes the current state for a checkpoint.
    fn capture(&self) -> Self::Capture;

    /// Serialises a capture. Equal states must give equal bytes, since
    /// replicas compare checkpoint digests computed over snapshots.
    fn serialize(capture: &Self::Capture) -> Vec<u8>;

    /// Appends `serialize`'s bytes to `out`: the replica puts the
    /// application's snapshot inside its own, and a state machine with a
    /// large state can write it there directly instead of into a vector
    /// that is then copied.
    fn serialize_into(capture: &Self::Capture, out: &mut Vec<u8>) {
        out.extend_from_slice(&Self::serialize(capture));
    }

    /// Replaces the state with one produced by `serialize`.
    fn restore(&mut self, snapshot: &[u8]) -> Result<(), SnapshotError>;

    /// Roughly how many bytes the state's snapshot takes. It spaces
    /// checkpoints (one waits until the commands executed since the last
    /// add up to a few times this), so it must be a function of the state
    /// alone: equal on every replica at the same slot. 0, the default,
    /// checkpoints every `checkpoint_interval` slots.
    fn size_hint(&self) -> u64 {
        0
    }

    /// The whole state serialised now.
    fn snapshot(&self) -> Vec<u8> {
        Self::serialize(&self.capture())
    }

    /// Answers a read-only command from the state as it is, without
    /// changing it: `None` if the command is not read-only (it then goes
    /// through the log like any other). Replicas answer linearizable reads
    /// this way once they are sure their state is recent enough (a read
    /// index), and serializable reads at once. The default answers none.
    fn query(&self, command: &[u8]) -> Option<Vec<u8>> {
        let _ = command;
        None
    }
}

impl<S: StateMachine> StateMachine for Box<S> {
    type Capture = S::Capture;
    fn apply(&mut self, command: &[u8]) -> Vec<u8> {
        (**self).apply(command)
    }
    fn capture(&self) -> S::Capture {
        (**self).capture()
    }
    fn serialize(capture: &S::Capture) -> Vec<u8> {
        S::serialize(capture)
    }
    fn serialize_into(capture: &S::Capture, out: &mut Vec<u8>) {
        S::serialize_into(capture, out)
    }
    fn restore(&mut self, snapshot: &[u8]) -> Result<(), SnapshotError> {
        (**self).restore(snapshot)
    }
    fn size_hint(&self) -> u64 {
        (**self).size_hint()
    }
    fn query(&self, command: &[u8]) -> Option<Vec<u8>> {
        (**self).query(command)
    }
}

/// A typed command of some application, as its clients see it: how it
/// travels to the replicas and how the reply reads. The client library is
/// generic over it, so any application gets typed clients; the bytes are
/// what [`StateMachine::apply`] receives and returns.
pub trait AppCommand {
    /// The application's answer to the command.
    type Outcome;

    /// The bytes the replicas apply.
    fn encode(&self) -> Vec<u8>;

    /// Reads a reply. A reply that does not decode (from a node of another
    /// version) must still give an outcome, the one the application gives
    /// a command it cannot decode, since the command did execute.
    fn decode_outcome(reply: &[u8]) -> Self::Outcome;

    /// Whether the application refused the command (it executed, changed
    /// nothing, and retrying would not help): an overdraft, say.
    fn refused(outcome: &Self::Outcome) -> bool;
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

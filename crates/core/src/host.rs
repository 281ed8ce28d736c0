//! The host's side of the replica contract, written once for every host:
//! the simulator and the node runtime both carry out a replica's output
//! through [`drive`], against their own [`Io`], so the simulator tests the
//! very order of effects that the node ships.
//!
//! What is left to a host is what only it can do: move bytes (`send`,
//! `reply`), keep a log ([`crate::Log`], written with
//! [`crate::Write::apply_to`]), sync it and report `Replica::persisted`,
//! build checkpoints on another thread and hand them back
//! (`Replica::checkpoint_built`), and tell people and checkers what happened
//! (`event`).

use crate::checkpoints::CheckpointJob;
use crate::durable::Write;
use crate::message::Envelope;
use crate::replica::{Event, Replica};
use crate::state_machine::StateMachine;
use crate::types::Reply;

/// What a host does with a replica's output.
pub trait Io<S: StateMachine> {
    /// Something worth telling a person or a checker.
    fn event(&mut self, event: Event);
    /// A message for a peer (never for this node itself).
    fn send(&mut self, envelope: Envelope);
    /// An answer for a client connected here.
    fn reply(&mut self, reply: Reply);
    /// Records to make durable: apply them to the log with
    /// [`Write::apply_to`] (writes in token order), sync, then report
    /// `Replica::persisted(write.token)`.
    fn write(&mut self, write: Write);
    /// A state frozen for a checkpoint: build it off the replica's path
    /// ([`CheckpointJob::build`]) and hand it back with
    /// `Replica::checkpoint_built`.
    fn checkpoint(&mut self, job: CheckpointJob<S>);
}

/// Takes the replica's output and carries it out through `io`: events,
/// then messages and replies (none of them depends on an unsynced record),
/// then the write, then the checkpoints to build.
pub fn drive<S: StateMachine>(replica: &mut Replica<S>, io: &mut impl Io<S>) {
    let ready = replica.ready();
    for event in ready.events {
        io.event(event);
    }
    for envelope in ready.messages {
        io.send(envelope);
    }
    for reply in ready.replies {
        io.reply(reply);
    }
    if let Some(write) = ready.write {
        io.write(write);
    }
    for job in ready.checkpoints {
        io.checkpoint(job);
    }
}

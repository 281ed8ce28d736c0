//! What a replica hands its host: [`Ready`] (and the [`Event`]s in it), and
//! the outbox it collects them in between two calls of `Replica::ready`.

use crate::checkpoints::CheckpointJob;
use crate::durable::{PersistOp, Write};
use crate::executor::Execution;
use crate::membership::Membership;
use crate::message::Envelope;
use crate::state_machine::StateMachine;
use crate::types::{Ballot, Digest, NodeId, Reply, Slot, Value};

/// Everything a batch of inputs produced. See the module documentation for
/// what the host must do with it.
#[derive(Debug)]
pub struct Ready<S: StateMachine> {
    /// Messages to send now; never addressed to this node.
    pub messages: Vec<Envelope>,
    pub replies: Vec<Reply>,
    pub events: Vec<Event>,
    /// Records to make durable, then report with [`Replica::persisted`].
    pub write: Option<Write>,
    /// States frozen at checkpoint slots: build each off the replica's path
    /// ([`CheckpointJob::build`]) and hand it back with
    /// [`Replica::checkpoint_built`].
    pub checkpoints: Vec<CheckpointJob<S>>,
}

impl<S: StateMachine> Ready<S> {
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
            && self.replies.is_empty()
            && self.events.is_empty()
            && self.write.is_none()
            && self.checkpoints.is_empty()
    }
}

/// What the replica produced since the last [`Replica::ready`].
pub(super) struct Outbox<S: StateMachine> {
    pub(super) messages: Vec<Envelope>,
    /// PROMISE and ACCEPTED (to peers or to ourselves): each reveals
    /// acceptor state, so it waits for the write of this turn (and every
    /// earlier one) to be durable.
    pub(super) votes: Vec<Envelope>,
    pub(super) persist: Vec<PersistOp>,
    pub(super) replies: Vec<Reply>,
    pub(super) events: Vec<Event>,
    pub(super) checkpoints: Vec<CheckpointJob<S>>,
}

impl<S: StateMachine> Default for Outbox<S> {
    fn default() -> Self {
        Outbox {
            messages: Vec::new(),
            votes: Vec::new(),
            persist: Vec::new(),
            replies: Vec::new(),
            events: Vec::new(),
            checkpoints: Vec::new(),
        }
    }
}

/// Things worth telling a person or a checker; the protocol does not need
/// the host to act on them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The leader timer expired.
    Suspected { leader: Option<NodeId> },
    /// This node sent PREPARE(b).
    Candidacy { ballot: Ballot },
    /// This node promised `ballot`.
    Promised { ballot: Ballot },
    /// This node became leader with `ballot`.
    Elected { ballot: Ballot },
    /// This node stopped leading or standing.
    SteppedDown { ballot: Ballot, why: &'static str },
    /// A NEW-VIEW this node sent or accepted.
    NewView {
        ballot: Ballot,
        start: Slot,
        entries: Vec<Value>,
    },
    /// This node executed `slot` (only with `record_executions`).
    Executed {
        slot: Slot,
        value: Value,
        executions: Vec<Execution>,
    },
    /// This node took a checkpoint after executing through `slot`; `digest`
    /// is the SHA-256 of its state (application and reply table) there.
    /// Equal slots must give equal digests on every replica.
    Checkpoint { slot: Slot, digest: Digest },
    /// A peer's checkpoint digest differs from ours at the same slot: the
    /// replicas diverged. Never expected; the host must make it loud.
    Divergence {
        slot: Slot,
        peer: NodeId,
        ours: Digest,
        theirs: Digest,
    },
    /// This node truncated its log through `slot` (a quorum holds a
    /// checkpoint there).
    Truncated { slot: Slot },
    /// This node installed a peer's snapshot and now stands at `slot`.
    SnapshotInstalled { slot: Slot },
    /// The reconfiguration chosen in `slot` executed: the slots after it
    /// belong to `membership`.
    Reconfigured { slot: Slot, membership: Membership },
}

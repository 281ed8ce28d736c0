//! The messages nodes exchange. This is the protocol's vocabulary; how the
//! bytes look on a wire is the runtime's business (see synod-node's `wire`).
//!
//! Every message carries the sender's ballot, so a receiver can always tell
//! whether the sender is ahead of it, behind it, or in its view.

use crate::types::{Ballot, Digest, NodeId, Request, Slot, Value};
use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// One entry of an acceptor's accept log, as a PROMISE reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcceptedEntry {
    pub slot: Slot,
    pub ballot: Ballot,
    pub value: Value,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    /// PREPARE(b): phase 1a. `from` is the first slot the candidate does not
    /// know to be chosen; acceptors report their accept log from there on.
    Prepare { ballot: Ballot, from: Slot },
    /// PROMISE(b, log): phase 1b. `commit` is the promiser's commit point.
    Promise {
        ballot: Ballot,
        /// The `from` of the PREPARE this answers: `accepted` holds the
        /// promiser's log from that slot on. A node that crashed while a
        /// candidate can stand again at the same ballot (its own promise of
        /// it may never have reached its disk) with an earlier `from`; a
        /// late promise to the first candidacy must not count for the
        /// second, whose NEW-VIEW would miss the slots in between.
        from: Slot,
        accepted: Vec<AcceptedEntry>,
        commit: Slot,
        /// The promiser truncated its log through this slot: a candidate
        /// that does not know every slot up to it must catch up first.
        truncated: Slot,
    },
    /// A refusal: `ballot` was below `promised`. Lets a deposed leader or a
    /// losing candidate learn of the higher ballot at once.
    Nack { ballot: Ballot, promised: Ballot },
    /// ACCEPT(b, s, v): phase 2a, carrying the leader's commit point.
    Accept {
        ballot: Ballot,
        slot: Slot,
        value: Value,
        commit: Slot,
    },
    /// ACCEPTED(b, s) for every slot in `first..=last`: phase 2b.
    Accepted {
        ballot: Ballot,
        first: Slot,
        last: Slot,
    },
    /// NEW-VIEW(b, log): the new leader's proposals for `start..`, one value
    /// per slot (`entries[i]` is for slot `start + i`).
    NewView {
        ballot: Ballot,
        start: Slot,
        entries: Vec<Value>,
        commit: Slot,
    },
    /// COMMIT: every slot up to `commit` is chosen. A slot a follower
    /// accepted with this same ballot is chosen with the value it holds.
    Commit { ballot: Ballot, commit: Slot },
    /// The leader's periodic sign of life; also a COMMIT. `round` numbers
    /// the leader's heartbeats: a linearizable read waits for a quorum to
    /// acknowledge a round sent after it arrived.
    Heartbeat {
        ballot: Ballot,
        commit: Slot,
        round: u64,
    },
    /// A follower's answer to a heartbeat, so the leader knows it still
    /// reaches a quorum. `truncated`: the follower votes only on slots above
    /// it (it truncated its log through it; a node that never votes, having
    /// lost its disk, reports `Slot::MAX`). A leader that needs a quorum
    /// below it must catch up first. `round`: the heartbeat's, which
    /// confirms the reads waiting for it; 0 from a node that lost its disk,
    /// which cannot vouch that it promised no higher ballot.
    HeartbeatAck {
        ballot: Ballot,
        commit: Slot,
        truncated: Slot,
        round: u64,
    },
    /// A follower asks its leader to confirm that it still leads and to
    /// name the slot that a linearizable read at the follower must wait
    /// for; `id` is the follower's name for the read.
    ReadIndex { id: u64 },
    /// The leader's answer: the read index, or `None` if it does not lead.
    ReadIndexReply { id: u64, index: Option<Slot> },
    /// The leader of `ballot` hands over to `to`: `to` stands at once, and
    /// the others promise its PREPARE without waiting to suspect anyone.
    Handover { ballot: Ballot, to: NodeId },
    /// A lagging node asks for the chosen values of `from..=to`.
    CatchUp { from: Slot, to: Slot },
    /// Chosen values, in slot order, and the sender's commit point.
    CatchUpReply {
        entries: Vec<(Slot, Value)>,
        commit: Slot,
    },
    /// A client request passed on to the leader by the node it reached.
    Forward { request: Request },
    /// CHECKPOINT(n, digest): the sender's state digest after executing
    /// through `slot`. A different digest at the same slot is a divergence.
    Checkpoint { slot: Slot, digest: Digest },
    /// One piece of a checkpoint's snapshot, for a peer behind the oldest
    /// retained entry (state transfer): `data` is `snapshot[offset..]`,
    /// `total` bytes in all, whose SHA-256 is `digest`.
    Snapshot {
        slot: Slot,
        digest: Digest,
        offset: u64,
        total: u64,
        data: Bytes,
    },
    /// The leader of `ballot` hears no quorum and has stepped down: the
    /// nodes that still hear it suspect at once rather than after their
    /// timer (docs/liveness.md, "Partial connectivity": quorum-loss).
    StepDown { ballot: Ballot },
}

impl Message {
    /// A short name for logs and traces.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Prepare { .. } => "PREPARE",
            Message::Promise { .. } => "PROMISE",
            Message::Nack { .. } => "NACK",
            Message::Accept { .. } => "ACCEPT",
            Message::Accepted { .. } => "ACCEPTED",
            Message::NewView { .. } => "NEW-VIEW",
            Message::Commit { .. } => "COMMIT",
            Message::Heartbeat { .. } => "HEARTBEAT",
            Message::HeartbeatAck { .. } => "HEARTBEAT-ACK",
            Message::ReadIndex { .. } => "READ-INDEX",
            Message::ReadIndexReply { .. } => "READ-INDEX-REPLY",
            Message::Handover { .. } => "HANDOVER",
            Message::CatchUp { .. } => "CATCH-UP",
            Message::CatchUpReply { .. } => "CATCH-UP-REPLY",
            Message::Forward { .. } => "FORWARD",
            Message::StepDown { .. } => "STEP-DOWN",
            Message::Checkpoint { .. } => "CHECKPOINT",
            Message::Snapshot { .. } => "SNAPSHOT",
        }
    }
}

/// A message and where it goes. A message to oneself is delivered back to
/// the same node by its host (the acceptor answering its own proposer).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    pub from: NodeId,
    pub to: NodeId,
    pub msg: Message,
}

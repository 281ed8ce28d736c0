//! The recovered-state invariant: whatever a node told its peers about its
//! acceptor, its disk must still say after a crash.
//!
//! A PROMISE(b) and an ACCEPTED(b, s) are votes: a leader counts them toward
//! a quorum, and a later candidate relies on the promiser to report them.
//! So at every crash the state recovered from the node's disk must cover
//! every such message it sent (in any earlier incarnation too): its promised
//! ballot is at least every ballot it promised or accepted in, and every slot
//! it acknowledged is there with that ballot or a higher one, or lies at or
//! below the checkpoint it recovered (chosen, executed, and never voted on
//! again). A node whose disk was lost cannot keep that promise, so it must
//! never vote again: a PROMISE or ACCEPTED from it is a violation of its own,
//! until a reconfiguration proposed after the loss makes it a voter again
//! (docs/membership.md), and then only on the slots after that one.

use std::collections::BTreeMap;
use synod_core::{Ballot, DurableState, Envelope, Message, NodeId, Slot};

/// What one node revealed of its acceptor state.
#[derive(Debug, Default)]
struct Revealed {
    promised: Ballot,
    accepted: BTreeMap<Slot, Ballot>,
}

#[derive(Debug, Default)]
pub struct DurabilityCheck {
    nodes: BTreeMap<NodeId, Revealed>,
    /// Nodes that lost their disk: they learn, and vote only on the slots
    /// above this one (`Slot::MAX`: never), which a reconfiguration that
    /// made them voters again after the loss sets.
    wiped: BTreeMap<NodeId, Slot>,
}

impl DurabilityCheck {
    /// A message left `env.from` (to a peer or to itself). Returns a
    /// violation if it is a vote from a node that lost its disk.
    pub fn on_sent(&mut self, env: &Envelope) -> Option<String> {
        let lowest = match env.msg {
            Message::Promise { from, .. } => Some(from),
            Message::Accepted { first, .. } => Some(first),
            _ => None,
        };
        if let (Some(lowest), Some(&above)) = (lowest, self.wiped.get(&env.from))
            && lowest <= above
        {
            let kind = env.msg.kind();
            let since = if above == Slot::MAX {
                String::new()
            } else {
                format!(" (made a voter again above slot {above} only)")
            };
            return Some(format!(
                "{} lost its disk but sent {kind} from slot {lowest}{since}",
                env.from
            ));
        }
        match &env.msg {
            Message::Promise { ballot, .. } => {
                let node = self.nodes.entry(env.from).or_default();
                node.promised = node.promised.max(*ballot);
            }
            Message::Accepted {
                ballot,
                first,
                last,
            } => {
                let node = self.nodes.entry(env.from).or_default();
                node.promised = node.promised.max(*ballot);
                for slot in *first..=*last {
                    let at = node.accepted.entry(slot).or_insert(*ballot);
                    *at = (*at).max(*ballot);
                }
            }
            _ => {}
        }
        None
    }

    /// `node` lost its disk: it cannot keep what it said before, and must
    /// not say anything of the kind again.
    pub fn on_wiped(&mut self, node: NodeId) {
        self.nodes.remove(&node);
        self.wiped.insert(node, Slot::MAX);
    }

    /// `node`, which lost its disk, was made a voter again by the
    /// reconfiguration chosen in `slot` (proposed after the loss): it may
    /// vote on the slots after it.
    pub fn votes_again_above(&mut self, node: NodeId, slot: Slot) {
        if let Some(above) = self.wiped.get_mut(&node) {
            *above = (*above).min(slot);
        }
    }

    /// Whether `node` lost its disk and has not been made a voter again.
    pub fn lost_vote(&self, node: NodeId) -> bool {
        self.wiped.get(&node) == Some(&Slot::MAX)
    }

    /// `node` crashed and would recover `state`: returns a description of
    /// every vote the state fails to cover.
    pub fn on_crash(&mut self, node: NodeId, state: &DurableState) -> Vec<String> {
        let Some(revealed) = self.nodes.get_mut(&node) else {
            return Vec::new();
        };
        let mut missing = Vec::new();
        if state.promised < revealed.promised {
            missing.push(format!(
                "{node} promised {} but recovers a promise of only {}",
                revealed.promised, state.promised
            ));
        }
        let checkpoint = state.checkpoint.as_ref().map_or(0, |(slot, _)| *slot);
        // Slots at or below the checkpoint are covered for good.
        revealed.accepted = revealed.accepted.split_off(&(checkpoint + 1));
        for (&slot, &ballot) in &revealed.accepted {
            match state.accepted.get(&slot) {
                Some((b, _)) if *b >= ballot => {}
                Some((b, _)) => missing.push(format!(
                    "{node} acknowledged slot {slot} at {ballot} but recovers it at {b}"
                )),
                None => missing.push(format!(
                    "{node} acknowledged slot {slot} at {ballot} but recovers no entry for it (checkpoint {checkpoint})"
                )),
            }
        }
        missing
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use synod_core::{PersistOp, Value};

    fn b(round: u64) -> Ballot {
        Ballot::new(round, NodeId(1))
    }

    fn sent(msg: Message) -> Envelope {
        Envelope {
            from: NodeId(2),
            to: NodeId(1),
            msg,
        }
    }

    fn accept(slot: Slot, round: u64) -> PersistOp {
        PersistOp::Accept {
            slot,
            ballot: b(round),
            value: Value::Noop,
        }
    }

    #[test]
    fn a_disk_that_kept_every_vote_passes() {
        let mut check = DurabilityCheck::default();
        let _ = check.on_sent(&sent(Message::Accepted {
            ballot: b(3),
            first: 4,
            last: 6,
        }));
        let state = DurableState::replay(&[accept(4, 3), accept(5, 3), accept(6, 4)]);
        assert!(check.on_crash(NodeId(2), &state).is_empty());
    }

    #[test]
    fn catches_a_lost_acceptance() {
        let mut check = DurabilityCheck::default();
        let _ = check.on_sent(&sent(Message::Accepted {
            ballot: b(3),
            first: 4,
            last: 5,
        }));
        let state = DurableState::replay(&[accept(4, 3)]);
        let missing = check.on_crash(NodeId(2), &state);
        assert_eq!(missing.len(), 1, "{missing:?}");
        assert!(missing[0].contains("slot 5"), "{missing:?}");
    }

    #[test]
    fn catches_a_lost_promise_and_an_entry_at_a_lower_ballot() {
        let mut check = DurabilityCheck::default();
        let _ = check.on_sent(&sent(Message::Accepted {
            ballot: b(3),
            first: 4,
            last: 4,
        }));
        let _ = check.on_sent(&sent(Message::Promise {
            ballot: b(7),
            from: 1,
            accepted: Vec::new(),
            commit: 0,
            truncated: 0,
        }));
        let state = DurableState::replay(&[accept(4, 2)]);
        let missing = check.on_crash(NodeId(2), &state);
        assert_eq!(missing.len(), 2, "{missing:?}");
    }

    #[test]
    fn a_checkpoint_covers_the_slots_below_it_and_a_wipe_clears_everything() {
        let mut check = DurabilityCheck::default();
        let _ = check.on_sent(&sent(Message::Accepted {
            ballot: b(3),
            first: 1,
            last: 10,
        }));
        let ops = [
            PersistOp::Checkpoint {
                slot: 10,
                snapshot: Bytes::new(),
            },
            PersistOp::Promise(b(3)),
        ];
        assert!(
            check
                .on_crash(NodeId(2), &DurableState::replay(&ops))
                .is_empty()
        );
        let _ = check.on_sent(&sent(Message::Accepted {
            ballot: b(3),
            first: 11,
            last: 11,
        }));
        check.on_wiped(NodeId(2));
        assert!(
            check
                .on_crash(NodeId(2), &DurableState::default())
                .is_empty()
        );
    }

    #[test]
    fn catches_a_vote_from_a_node_that_lost_its_disk() {
        let mut check = DurabilityCheck::default();
        let promise = sent(Message::Promise {
            ballot: b(7),
            from: 1,
            accepted: Vec::new(),
            commit: 0,
            truncated: 0,
        });
        assert_eq!(check.on_sent(&promise), None);
        check.on_wiped(NodeId(2));
        let heartbeat_ack = sent(Message::HeartbeatAck {
            ballot: b(7),
            commit: 0,
            truncated: u64::MAX,
            round: 1,
        });
        assert_eq!(check.on_sent(&heartbeat_ack), None, "a learner may follow");
        let violation = check.on_sent(&promise);
        assert!(
            violation
                .as_ref()
                .is_some_and(|v| v.contains("lost its disk")),
            "{violation:?}"
        );
    }
}

//! Invariants checked while a simulation runs (the history checks that need
//! the whole run, like linearizability, run at the end in `world.rs`).
//!
//! - agreement: at most one value is ever executed for a slot, cluster-wide;
//! - validity: every executed request was submitted by a client, with the
//!   same bytes (a no-op is always valid);
//! - order: each node executes slots 1, 2, 3, ... with no gap or repeat
//!   (per incarnation: a restarted node starts over from its recovery point);
//! - exactly-once: no request is applied in two different slots, nor twice
//!   by one node;
//! - replicas agree: equal state digests at equal executed slots;
//! - replies: a client's result is the result its request produced;
//! - quorum ([`QuorumCheck`]): when a slot first executes anywhere, a
//!   majority of the voters of its epoch had accepted its value in one
//!   ballot (written it to their logs): the definition of chosen, checked
//!   against the membership that really decides the slot.

use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet};
use synod_core::{Ballot, ClientId, Digest, Execution, NodeId, Request, Slot, Time, Value};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub at: Time,
    pub invariant: &'static str,
    pub detail: String,
}

#[derive(Debug, Default)]
pub struct Checker {
    chosen: BTreeMap<Slot, (NodeId, Value)>,
    digests: BTreeMap<Slot, (NodeId, Digest)>,
    submitted: BTreeMap<(ClientId, u64), Bytes>,
    applied: BTreeMap<(ClientId, u64), (Slot, Bytes)>,
    /// Per node incarnation: the last executed slot, and what it applied.
    nodes: BTreeMap<(NodeId, u64), NodeRecord>,
    violations: Vec<Violation>,
}

#[derive(Debug, Default)]
struct NodeRecord {
    last: Slot,
    applied: BTreeSet<(ClientId, u64)>,
}

impl Checker {
    pub fn violations(&self) -> &[Violation] {
        &self.violations
    }

    pub fn fail(&mut self, at: Time, invariant: &'static str, detail: String) {
        self.violations.push(Violation {
            at,
            invariant,
            detail,
        });
    }

    /// Requests applied in distinct slots: the commands the cluster executed.
    pub fn committed(&self) -> u64 {
        self.applied.len() as u64
    }

    pub fn highest_slot(&self) -> Slot {
        self.chosen.keys().next_back().copied().unwrap_or(0)
    }

    pub fn on_submit(&mut self, request: &Request) {
        self.submitted
            .insert((request.client, request.timestamp), request.command.clone());
    }

    /// Node `node` (in its `incarnation`) starts executing after `from`
    /// (0 for a fresh or restarted node without a checkpoint).
    pub fn on_start(&mut self, node: NodeId, incarnation: u64, from: Slot) {
        self.nodes.insert(
            (node, incarnation),
            NodeRecord {
                last: from,
                applied: BTreeSet::new(),
            },
        );
    }

    /// Node `node` installed a snapshot and stands at `slot`: its next
    /// execution is `slot + 1`.
    pub fn on_snapshot(&mut self, node: NodeId, incarnation: u64, slot: Slot) {
        let record = self.nodes.entry((node, incarnation)).or_default();
        record.last = record.last.max(slot);
    }

    pub fn on_executed(
        &mut self,
        at: Time,
        node: NodeId,
        incarnation: u64,
        slot: Slot,
        value: &Value,
        executions: &[Execution],
    ) {
        let record = self.nodes.entry((node, incarnation)).or_default();
        let last = std::mem::replace(&mut record.last, slot);
        if slot != last + 1 {
            let detail = format!("{node} executed slot {slot} right after slot {last}");
            self.fail(at, "execution order", detail);
        }

        match self.chosen.get(&slot) {
            Some((other, v)) if v != value => {
                let detail =
                    format!("slot {slot}: {other} executed {v:?} but {node} executed {value:?}");
                self.fail(at, "agreement", detail);
            }
            Some(_) => {}
            None => {
                self.chosen.insert(slot, (node, value.clone()));
            }
        }

        for request in value.requests() {
            match self.submitted.get(&(request.client, request.timestamp)) {
                Some(command) if *command == request.command => {}
                _ => {
                    let detail =
                        format!("slot {slot} holds {request:?}, which no client submitted");
                    self.fail(at, "validity", detail);
                }
            }
        }

        for execution in executions {
            let Execution::Applied {
                client,
                timestamp,
                result,
            } = execution
            else {
                continue;
            };
            let key = (*client, *timestamp);
            let record = self.nodes.entry((node, incarnation)).or_default();
            if !record.applied.insert(key) {
                let detail =
                    format!("{node} applied {client:?}@{timestamp} twice (again in slot {slot})");
                self.fail(at, "exactly-once", detail);
            }
            match self.applied.get(&key) {
                Some((first, _)) if *first != slot => {
                    let detail = format!(
                        "{client:?}@{timestamp} was applied in slot {first} and again in slot {slot}"
                    );
                    self.fail(at, "exactly-once", detail);
                }
                Some((_, r)) if r != result => {
                    let detail = format!(
                        "{client:?}@{timestamp} in slot {slot} gave different results on different nodes"
                    );
                    self.fail(at, "determinism", detail);
                }
                Some(_) => {}
                None => {
                    self.applied.insert(key, (slot, result.clone()));
                }
            }
        }
    }

    pub fn on_checkpoint(&mut self, at: Time, node: NodeId, slot: Slot, digest: Digest) {
        match self.digests.get(&slot) {
            Some((other, d)) if *d != digest => {
                let detail =
                    format!("at slot {slot} {other} and {node} have different state digests");
                self.fail(at, "replica state", detail);
            }
            Some(_) => {}
            None => {
                self.digests.insert(slot, (node, digest));
            }
        }
    }

    pub fn on_reply(&mut self, at: Time, client: ClientId, timestamp: u64, result: &Bytes) {
        match self.applied.get(&(client, timestamp)) {
            Some((_, r)) if r == result => {}
            Some((slot, _)) => {
                let detail = format!(
                    "{client:?}@{timestamp} got a result other than the one slot {slot} produced"
                );
                self.fail(at, "reply", detail);
            }
            None => {
                let detail = format!("{client:?}@{timestamp} got a reply but was never applied");
                self.fail(at, "reply", detail);
            }
        }
    }
}

/// Chosen means accepted by a quorum: every acceptance any node wrote to
/// its log (its vote exists only once written), per slot, until the slot
/// first executes somewhere; then a majority of the voters of the slot's
/// epoch must have accepted the executed value in one ballot. Slots first
/// execute in order (a node executes in order, and a snapshot comes from a
/// node that executed every slot it covers), so one watermark says which
/// slots were checked.
#[derive(Debug, Default)]
pub struct QuorumCheck {
    accepted: BTreeMap<Slot, Vec<(Ballot, Value, Vec<NodeId>)>>,
    checked: Slot,
}

impl QuorumCheck {
    /// `node` wrote its acceptance of `value` in `slot` at `ballot`.
    pub fn on_accept(&mut self, node: NodeId, slot: Slot, ballot: Ballot, value: &Value) {
        if slot <= self.checked {
            return;
        }
        let entries = self.accepted.entry(slot).or_default();
        match entries
            .iter_mut()
            .find(|(b, v, _)| *b == ballot && v == value)
        {
            Some((_, _, nodes)) => {
                if !nodes.contains(&node) {
                    nodes.push(node);
                }
            }
            None => entries.push((ballot, value.clone(), vec![node])),
        }
    }

    /// `slot` executed `value`; `voters` decide the slot (the voters of the
    /// membership after the latest reconfiguration before it). At the
    /// slot's first execution anywhere, returns what is wrong if no
    /// majority of them had accepted `value` in one ballot.
    pub fn on_executed(&mut self, slot: Slot, value: &Value, voters: &[NodeId]) -> Option<String> {
        if slot <= self.checked {
            return None;
        }
        self.checked = slot;
        let entries = self.accepted.remove(&slot).unwrap_or_default();
        self.accepted = self.accepted.split_off(&(slot + 1));
        let quorum = voters.len() / 2 + 1;
        let (best, ballot, nodes) = entries
            .iter()
            .filter(|(_, v, _)| v == value)
            .map(|(b, _, nodes)| {
                let counted: Vec<NodeId> = nodes
                    .iter()
                    .copied()
                    .filter(|n| voters.contains(n))
                    .collect();
                (counted.len(), Some(*b), nodes.clone())
            })
            .max_by_key(|(count, _, _)| *count)
            .unwrap_or((0, None, Vec::new()));
        if best >= quorum {
            return None;
        }
        let ballot = ballot.map_or("no ballot".into(), |b| format!("ballot {b:?}"));
        Some(format!(
            "slot {slot} executed with {best} of the {} voters {voters:?} (a quorum is {quorum}) having accepted its value in one ballot (best: {ballot}, accepted by {nodes:?})",
            voters.len()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catches_a_slot_executed_without_a_quorum_of_its_epochs_voters() {
        let (n1, n2, n3, n4) = (NodeId(1), NodeId(2), NodeId(3), NodeId(4));
        let b = Ballot::new(2, n1);
        let mut q = QuorumCheck::default();
        q.on_accept(n1, 1, b, &Value::Noop);
        q.on_accept(n2, 1, b, &Value::Noop);
        assert_eq!(q.on_executed(1, &Value::Noop, &[n1, n2, n3]), None);
        assert_eq!(q.on_executed(1, &Value::Noop, &[n1, n2, n3]), None, "once");
        // Two acceptances, but one from a node that is not a voter of the
        // slot's epoch (removed, or a learner).
        q.on_accept(n1, 2, b, &Value::Noop);
        q.on_accept(n4, 2, b, &Value::Noop);
        let why = q.on_executed(2, &Value::Noop, &[n1, n2, n3]).unwrap();
        assert!(why.contains("1 of the 3 voters"), "{why}");
        // A majority of three, but of a smaller epoch than the slot's.
        for n in [n1, n2] {
            q.on_accept(n, 3, b, &Value::Noop);
        }
        assert!(q.on_executed(3, &Value::Noop, &[n1, n2, n3, n4]).is_some());
        // Acceptances in different ballots do not add up.
        q.on_accept(n1, 4, b, &Value::Noop);
        q.on_accept(n2, 4, Ballot::new(3, n2), &Value::Noop);
        assert!(q.on_executed(4, &Value::Noop, &[n1, n2, n3]).is_some());
    }

    fn req(client: u64, ts: u64) -> Request {
        Request {
            client: ClientId(client),
            timestamp: ts,
            command: Bytes::from(vec![client as u8, ts as u8]),
        }
    }

    fn applied(r: &Request) -> Execution {
        Execution::Applied {
            client: r.client,
            timestamp: r.timestamp,
            result: Bytes::from_static(b"ok"),
        }
    }

    fn checker_with(requests: &[Request]) -> Checker {
        let mut c = Checker::default();
        for r in requests {
            c.on_submit(r);
        }
        c
    }

    #[test]
    fn catches_two_values_executed_for_one_slot() {
        let (a, b) = (req(1, 1), req(2, 1));
        let mut c = checker_with(&[a.clone(), b.clone()]);
        c.on_executed(
            0,
            NodeId(1),
            0,
            1,
            &Value::Batch(vec![a.clone()]),
            &[applied(&a)],
        );
        c.on_executed(
            0,
            NodeId(2),
            0,
            1,
            &Value::Batch(vec![a.clone()]),
            &[applied(&a)],
        );
        assert!(c.violations().is_empty());
        c.on_executed(
            0,
            NodeId(3),
            0,
            1,
            &Value::Batch(vec![b.clone()]),
            &[applied(&b)],
        );
        assert_eq!(c.violations()[0].invariant, "agreement");
    }

    #[test]
    fn catches_a_value_no_client_proposed() {
        let mut c = checker_with(&[req(1, 1)]);
        let forged = Request {
            command: Bytes::from_static(b"forged"),
            ..req(1, 1)
        };
        c.on_executed(0, NodeId(1), 0, 1, &Value::Batch(vec![forged]), &[]);
        assert_eq!(c.violations()[0].invariant, "validity");
        let mut c = checker_with(&[]);
        c.on_executed(0, NodeId(1), 0, 1, &Value::Noop, &[]);
        assert!(c.violations().is_empty(), "a no-op is always valid");
    }

    #[test]
    fn catches_a_gap_in_execution_order() {
        let mut c = checker_with(&[]);
        c.on_executed(0, NodeId(1), 0, 1, &Value::Noop, &[]);
        c.on_executed(0, NodeId(1), 0, 3, &Value::Noop, &[]);
        assert_eq!(c.violations()[0].invariant, "execution order");
    }

    #[test]
    fn a_restarted_node_may_execute_again_from_its_recovery_point() {
        let a = req(1, 1);
        let mut c = checker_with(std::slice::from_ref(&a));
        c.on_executed(
            0,
            NodeId(1),
            0,
            1,
            &Value::Batch(vec![a.clone()]),
            &[applied(&a)],
        );
        c.on_start(NodeId(1), 1, 0);
        c.on_executed(
            0,
            NodeId(1),
            1,
            1,
            &Value::Batch(vec![a.clone()]),
            &[applied(&a)],
        );
        assert!(c.violations().is_empty());
    }

    #[test]
    fn catches_a_request_applied_in_two_slots() {
        let a = req(1, 1);
        let mut c = checker_with(std::slice::from_ref(&a));
        c.on_executed(
            0,
            NodeId(1),
            0,
            1,
            &Value::Batch(vec![a.clone()]),
            &[applied(&a)],
        );
        c.on_executed(
            0,
            NodeId(1),
            0,
            2,
            &Value::Batch(vec![a.clone()]),
            &[applied(&a)],
        );
        let kinds: Vec<_> = c.violations().iter().map(|v| v.invariant).collect();
        assert!(kinds.contains(&"exactly-once"), "{kinds:?}");
    }

    #[test]
    fn catches_replicas_with_different_state_at_one_slot() {
        let mut c = checker_with(&[]);
        c.on_checkpoint(0, NodeId(1), 10, Digest([1; 32]));
        c.on_checkpoint(0, NodeId(2), 10, Digest([1; 32]));
        assert!(c.violations().is_empty());
        c.on_checkpoint(0, NodeId(3), 10, Digest([2; 32]));
        assert_eq!(c.violations()[0].invariant, "replica state");
    }

    #[test]
    fn catches_a_reply_that_does_not_match_the_execution() {
        let a = req(1, 1);
        let mut c = checker_with(std::slice::from_ref(&a));
        c.on_reply(0, a.client, 1, &Bytes::from_static(b"ok"));
        assert_eq!(c.violations()[0].invariant, "reply", "never applied");
        let mut c = checker_with(std::slice::from_ref(&a));
        c.on_executed(
            0,
            NodeId(1),
            0,
            1,
            &Value::Batch(vec![a.clone()]),
            &[applied(&a)],
        );
        c.on_reply(0, a.client, 1, &Bytes::from_static(b"other"));
        assert_eq!(c.violations()[0].invariant, "reply");
    }
}

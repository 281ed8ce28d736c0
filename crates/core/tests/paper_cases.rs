//! The classic cases of Multi-Paxos, each played out on a few replicas in
//! the test harness: a view change carries an accepted value forward, a
//! hole becomes a no-op, a stale leader is fenced, and a duplicate request
//! is answered from the replicated reply table.

mod harness;

use harness::{Cluster, commands};
use synod_core::{MS, NodeId, Role, Value};

const N1: NodeId = NodeId(1);
const N2: NodeId = NodeId(2);
const N3: NodeId = NodeId(3);

fn running() -> Cluster {
    Cluster::running(3)
}

#[test]
fn a_view_change_carries_an_accepted_value_forward() {
    let mut c = running();
    let slot = c.replica(N1).status().commit + 1;
    // n1 proposes v; only n2 hears it, and n1 never hears n2 accept.
    c.cut(N1, N3);
    c.cut(N2, N1);
    c.submit(N1, 2, 1, b"v");
    c.settle();
    let (_, held) = c.replica(N2).accepted(slot).cloned().expect("n2 accepted");
    assert_eq!(commands(&held), vec![b"v".to_vec()]);
    assert!(
        c.replica(N1).status().commit < slot,
        "not chosen: no quorum"
    );
    assert!(c.replica(N3).accepted(slot).is_none());
    // n1 dies; n2 and n3 elect a new leader, whose NEW-VIEW must carry v.
    c.crash(N1);
    c.heal();
    let leader = c.wait_for_leader(2000 * MS);
    assert_ne!(leader, N1);
    c.advance(100 * MS);
    for node in [N2, N3] {
        let value = c.executed(node, slot).expect("the slot executed");
        assert_eq!(commands(&value), vec![b"v".to_vec()], "at {node}");
    }
    c.assert_agreement();
}

#[test]
fn a_hole_no_promise_reported_becomes_a_no_op() {
    let mut c = running();
    let hole = c.replica(N1).status().commit + 1;
    // n1 proposes "lost" in the next slot, but nobody hears it...
    c.cut(N1, N2);
    c.cut(N1, N3);
    c.submit(N1, 2, 1, b"lost");
    c.settle();
    // ...then "kept" in the slot after, which n2 and n3 accept.
    c.heal();
    c.submit(N1, 3, 1, b"kept");
    // With "lost" in flight it waits to fill a batch, and goes in a slot of
    // its own once the batching delay has run out.
    c.advance(5 * MS);
    c.settle();
    assert!(c.replica(N2).accepted(hole).is_none());
    assert!(c.replica(N2).accepted(hole + 1).is_some());
    // n1 dies before resending the first proposal.
    c.crash(N1);
    c.wait_for_leader(2000 * MS);
    c.advance(100 * MS);
    for node in [N2, N3] {
        assert_eq!(c.executed(node, hole), Some(Value::Noop), "at {node}");
        let after = c.executed(node, hole + 1).expect("the next slot executed");
        assert_eq!(commands(&after), vec![b"kept".to_vec()]);
    }
    let ran: Vec<Vec<u8>> = c.replica(N2).app().0.clone();
    assert!(!ran.contains(&b"lost".to_vec()), "{ran:?}");
    c.assert_agreement();
}

#[test]
fn a_stale_leader_is_fenced_by_the_higher_ballot() {
    let mut c = running();
    let old = c.replica(N1).status().view;
    // n1 stops taking steps; the others elect a leader with a higher ballot.
    c.freeze(N1);
    let new = c.wait_for_leader(2000 * MS);
    assert_ne!(new, N1);
    let higher = c.replica(new).status().view;
    assert!(higher > old);
    // n1 wakes up still believing it leads, and proposes at once.
    c.thaw(N1);
    let slot = c.replica(N1).status().commit + 1;
    assert!(c.replica(N1).is_leader(), "n1 has not noticed yet");
    c.submit(N1, 5, 1, b"stale");
    c.settle();
    // Nobody accepted n1's proposal in its old ballot: every acceptor had
    // promised the higher one. n1 has learned of it and no longer leads.
    for node in [N2, N3] {
        if let Some((ballot, _)) = c.replica(node).accepted(slot) {
            assert!(*ballot >= higher, "{node} accepted {ballot} < {higher}");
        }
    }
    assert!(!c.replica(N1).is_leader() || c.replica(N1).status().view > higher);
    c.advance(200 * MS);
    c.assert_agreement();
    assert_eq!(
        c.replica(N1).status().executed,
        c.replica(new).status().executed
    );
}

#[test]
fn a_duplicate_request_is_answered_from_the_reply_table() {
    let mut c = running();
    c.submit(N1, 9, 1, b"once");
    c.settle();
    let (_, first) = c
        .replies
        .iter()
        .rfind(|(_, r)| r.client.0 == 9)
        .cloned()
        .expect("answered");
    let applied = c.replica(N2).app().0.len();
    // The leader changes; the client, unsure, sends the same request again.
    c.crash(N1);
    let leader = c.wait_for_leader(2000 * MS);
    c.replies.clear();
    c.submit(leader, 9, 1, b"once");
    c.settle();
    let (node, again) = c
        .replies
        .iter()
        .find(|(_, r)| r.client.0 == 9)
        .cloned()
        .expect("answered again");
    assert_eq!(node, leader);
    assert_eq!(again.result, first.result, "the same result");
    assert_eq!(again.timestamp, 1);
    c.advance(100 * MS);
    assert_eq!(c.replica(N2).app().0.len(), applied, "applied once");
    assert_eq!(
        c.replica(N2)
            .app()
            .0
            .iter()
            .filter(|e| e.as_slice() == b"once")
            .count(),
        1
    );
}

#[test]
fn a_restarted_acceptor_remembers_its_votes() {
    let mut c = running();
    let slot = c.replica(N1).status().commit + 1;
    c.cut(N2, N1);
    c.cut(N1, N3);
    c.submit(N1, 2, 1, b"v");
    c.settle();
    // n2 accepted v and crashes; it comes back from its disk alone.
    c.crash(N2);
    c.restart(N2);
    let (_, value) = c.replica(N2).accepted(slot).cloned().expect("remembered");
    assert_eq!(commands(&value), vec![b"v".to_vec()]);
    c.crash(N1);
    c.heal();
    c.wait_for_leader(2000 * MS);
    c.advance(100 * MS);
    let value = c.executed(N3, slot).expect("executed");
    assert_eq!(commands(&value), vec![b"v".to_vec()]);
}

#[test]
fn a_request_chosen_in_two_slots_is_applied_once() {
    let mut c = running();
    let slot = c.replica(N1).status().commit + 1;
    // n1 proposes r; n2 and n3 accept it, but n1 never hears them, and
    // they never hear that n1 accepted it too (which would tell them it
    // is chosen).
    c.cut(N2, N1);
    c.cut(N3, N1);
    c.cut_kind(N1, N2, "ACCEPTED");
    c.cut_kind(N1, N3, "ACCEPTED");
    c.submit(N1, 9, 1, b"r");
    c.settle();
    assert!(c.replica(N3).accepted(slot).is_some());
    c.crash(N1);
    c.heal();
    // n2 stands; its PREPARE is lost while n3 is frozen.
    c.freeze(N3);
    while c.replica(N2).status().role != Role::Candidate {
        c.advance(5 * MS);
        assert!(c.now < 2000 * MS, "n2 never stood");
    }
    // The client, unsure, sends r to n2, which holds it while it stands,
    // and once elected proposes it again after the NEW-VIEW that carries it.
    c.submit(N2, 9, 1, b"r");
    c.thaw(N3);
    assert_eq!(c.wait_for_leader(2000 * MS), N2);
    c.advance(100 * MS);
    let chosen_in: Vec<u64> = (slot..=slot + 3)
        .filter(|s| {
            c.executed(N3, *s)
                .is_some_and(|v| commands(&v).contains(&b"r".to_vec()))
        })
        .collect();
    assert_eq!(chosen_in.len(), 2, "r was chosen twice: {chosen_in:?}");
    let journal = &c.replica(N3).app().0;
    let applied = journal.iter().filter(|e| e.as_slice() == b"r").count();
    assert_eq!(applied, 1, "{journal:?}");
    c.assert_agreement();
}

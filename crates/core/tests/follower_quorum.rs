//! Followers counting acceptances (docs/protocol.md): with three voters a
//! follower learns a slot is chosen from its own acceptance and its
//! leader's, without the leader's COMMIT; with five nothing changes.

mod harness;

use harness::{Cluster, commands};
use synod_core::{MS, NodeId};

const N1: NodeId = NodeId(1);
const N2: NodeId = NodeId(2);
const N3: NodeId = NodeId(3);

fn running(n: u32) -> Cluster {
    Cluster::running(n)
}

/// No COMMIT or heartbeat reaches n2, and no time passes (no next ACCEPT
/// carries the commit point either): n2 still executes the slot, having
/// accepted it and heard that n1 did.
#[test]
fn a_follower_of_three_learns_a_slot_chosen_without_a_commit() {
    let mut c = running(3);
    let slot = c.replica(N1).status().commit + 1;
    c.cut_kind(N1, N2, "COMMIT");
    c.cut_kind(N1, N2, "HEARTBEAT");
    c.submit(N1, 5, 1, b"v");
    c.settle();
    let value = c.executed(N2, slot).expect("n2 executed the slot");
    assert_eq!(commands(&value), vec![b"v".to_vec()]);
    c.assert_agreement();
}

/// A request that reached a follower is answered there once the follower
/// has counted the two acceptances, the COMMIT still on its way.
#[test]
fn a_follower_answers_its_own_client_before_the_commit() {
    let mut c = running(3);
    c.cut_kind(N1, N3, "COMMIT");
    c.cut_kind(N1, N3, "HEARTBEAT");
    c.submit(N3, 6, 1, b"w");
    c.settle();
    let (from, _) = c.reply(6, 1).expect("answered");
    assert_eq!(from, N3);
    c.assert_agreement();
}

/// The leader's acceptance alone is not a quorum: a follower that did not
/// accept the slot itself (its ACCEPT lost) does not learn it from the
/// leader's ACCEPTED, and learns it from the next COMMIT as before.
#[test]
fn the_leaders_acceptance_alone_teaches_nothing() {
    let mut c = running(3);
    let slot = c.replica(N1).status().commit + 1;
    c.cut_kind(N1, N2, "ACCEPT");
    c.cut_kind(N1, N2, "COMMIT");
    c.cut_kind(N1, N2, "HEARTBEAT");
    c.submit(N1, 5, 1, b"v");
    c.settle();
    assert!(c.executed(N1, slot).is_some(), "chosen by n1 and n3");
    assert!(c.executed(N2, slot).is_none(), "n2 never accepted it");
    c.heal();
    c.advance(100 * MS);
    assert!(
        c.executed(N2, slot).is_some(),
        "learned later, and caught up"
    );
    c.assert_agreement();
}

/// With three voters, one slot costs an ACCEPTED from each follower and
/// one from the leader to each follower; with five, only the followers'
/// (two acceptances are not a quorum there, so nothing extra is sent).
#[test]
fn the_leader_sends_its_acceptance_only_where_two_make_a_quorum() {
    for (n, expected) in [(3, 4), (5, 4)] {
        let mut c = running(n);
        let before = c.count_sent("ACCEPTED");
        c.submit(N1, 5, 1, b"v");
        c.settle();
        assert_eq!(c.count_sent("ACCEPTED") - before, expected, "{n} nodes");
        c.assert_agreement();
    }
}

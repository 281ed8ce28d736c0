//! Requests that reach a follower: forwarded to its leader, and forwarded
//! again to the next leader when the first died with them. No client
//! retries here (the harness has no clients): a request the cluster loses
//! is never answered.

mod harness;

use harness::{Cluster, commands};
use synod_core::{MS, NodeId};

const N1: NodeId = NodeId(1);
const N2: NodeId = NodeId(2);
const N3: NodeId = NodeId(3);

fn running() -> Cluster {
    Cluster::running(3)
}

/// How many slots executed at `node` hold `command`.
fn executed_count(c: &Cluster, node: NodeId, command: &[u8]) -> usize {
    let executed = c.replica(node).status().executed;
    (1..=executed)
        .filter_map(|slot| c.executed(node, slot))
        .map(|value| commands(&value).iter().filter(|x| *x == command).count())
        .sum()
}

#[test]
fn a_request_forwarded_to_a_leader_that_died_reaches_the_next_leader() {
    let mut c = running();
    // n1 dies; n3 does not suspect it yet and forwards the request to it.
    c.crash(N1);
    c.submit(N3, 7, 1, b"lost?");
    assert!(!c.replica(N3).status().suspecting);
    // n2 stands first after n1: n3 only follows the new leader.
    assert_eq!(c.wait_for_leader_other_than(N1, 2000 * MS), N2);
    c.advance(50 * MS);
    let (from, _) = c.reply(7, 1).expect("answered without a client retry");
    assert_eq!(from, N3, "the node the client is connected to answers");
    assert_eq!(executed_count(&c, N3, b"lost?"), 1);
    c.assert_agreement();
}

#[test]
fn a_follower_that_becomes_leader_proposes_what_it_forwarded_to_the_dead_one() {
    let mut c = running();
    c.crash(N1);
    c.submit(N2, 7, 1, b"lost?");
    assert_eq!(c.wait_for_leader_other_than(N1, 2000 * MS), N2);
    c.advance(50 * MS);
    assert!(c.reply(7, 1).is_some(), "answered without a client retry");
    assert_eq!(executed_count(&c, N2, b"lost?"), 1);
    c.assert_agreement();
}

#[test]
fn a_request_both_forwarded_and_held_executes_once() {
    let mut c = running();
    c.crash(N1);
    c.submit(N3, 7, 1, b"twice");
    // With n2 frozen no new leader can be elected. The client resends the
    // request (its timer expired) once n3 suspects n1: n3 holds that copy,
    // and remembers the one it forwarded.
    c.freeze(N2);
    let end = c.now + 2000 * MS;
    while !c.replica(N3).status().suspecting {
        assert!(c.now < end, "n3 never suspected n1");
        c.advance(5 * MS);
    }
    c.submit(N3, 7, 1, b"twice");
    c.thaw(N2);
    c.wait_for_leader_other_than(N1, 2000 * MS);
    c.advance(100 * MS);
    assert!(c.reply(7, 1).is_some());
    for node in [N2, N3] {
        assert_eq!(executed_count(&c, node, b"twice"), 1, "at {node}");
    }
    c.assert_agreement();
}

#[test]
fn a_forwarded_request_is_not_sent_again_once_executed() {
    let mut c = running();
    c.submit(N3, 7, 1, b"once");
    c.settle();
    assert!(c.reply(7, 1).is_some());
    let forwards = c.count_sent("FORWARD");
    c.crash(N1);
    c.wait_for_leader_other_than(N1, 2000 * MS);
    c.advance(50 * MS);
    assert_eq!(c.count_sent("FORWARD"), forwards, "nothing to resend");
    assert_eq!(executed_count(&c, N3, b"once"), 1);
}

#[test]
fn a_newer_request_of_the_client_replaces_the_forwarded_one() {
    let mut c = running();
    c.crash(N1);
    // The client gave up on timestamp 1 and sent timestamp 2: only that
    // one is sent on (timestamp 1 is stale for the executor anyway).
    c.submit(N3, 7, 1, b"old");
    c.submit(N3, 7, 2, b"new");
    c.wait_for_leader_other_than(N1, 2000 * MS);
    c.advance(50 * MS);
    assert!(c.reply(7, 2).is_some());
    assert_eq!(executed_count(&c, N3, b"old"), 0);
    assert_eq!(executed_count(&c, N3, b"new"), 1);
}

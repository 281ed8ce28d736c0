//! Linearizable reads by read index, and serializable reads, on replicas in
//! the test harness.

mod harness;

use harness::Cluster;
use synod_core::{Change, MS, NodeId};

const N1: NodeId = NodeId(1);
const N2: NodeId = NodeId(2);
const N3: NodeId = NodeId(3);
const N4: NodeId = NodeId(4);

fn len(result: &[u8]) -> u64 {
    u64::from_le_bytes(result.try_into().expect("8 bytes"))
}

/// Three nodes, n1 leading, `writes` commands committed everywhere.
fn cluster_with(writes: u64) -> Cluster {
    let mut c = Cluster::new(3, |_| {});
    assert_eq!(c.wait_for_leader(1000 * MS), N1);
    for ts in 1..=writes {
        c.submit(N1, 1, ts, b"w");
        c.settle();
    }
    c
}

#[test]
fn a_read_at_the_leader_waits_for_a_quorum_and_writes_nothing() {
    let mut c = cluster_with(3);
    let accepts = c.count_sent("ACCEPT");
    c.read(N1, 9, 1, b"?len", false);
    assert!(c.reply(9, 1).is_none(), "not before a quorum confirms");
    c.settle();
    let (node, reply) = c.reply(9, 1).expect("answered");
    assert_eq!(node, N1);
    assert_eq!(len(&reply.result), 3, "every write acknowledged before");
    assert_eq!(c.count_sent("ACCEPT"), accepts, "no log write");
    assert_eq!(c.replica(N1).status().reads_served, 1);
}

#[test]
fn a_read_at_a_follower_asks_the_leader_for_the_index() {
    let mut c = cluster_with(2);
    c.read(N3, 9, 1, b"?len", false);
    c.settle();
    let (node, reply) = c.reply(9, 1).expect("answered");
    assert_eq!(node, N3);
    assert_eq!(len(&reply.result), 2);
    assert!(c.count_sent("READ-INDEX") >= 1);
}

/// n1 leads and commits write 1, then stops taking steps; n2 and n3 elect
/// a leader (returned) and commit writes 2 to 4.
fn deposed_n1() -> (Cluster, NodeId) {
    let mut c = cluster_with(1);
    c.freeze(N1);
    let leader = c.wait_for_leader_other_than(N1, 2000 * MS);
    for ts in 2..=4 {
        c.submit(leader, 1, ts, b"w");
        c.settle();
    }
    (c, leader)
}

#[test]
fn a_deposed_leader_never_answers_a_linearizable_read() {
    let (mut c, leader) = deposed_n1();
    // n1 wakes up cut off, still believing it leads, and gets a read: it
    // must not answer from its old state.
    c.thaw(N1);
    c.isolate(N1);
    assert!(c.replica(N1).is_leader(), "n1 has not noticed yet");
    c.read(N1, 9, 1, b"?len", false);
    c.advance(500 * MS);
    assert!(c.reply(9, 1).is_none(), "a stale read was answered");
    // A serializable read is answered at once, from n1's own (stale) state.
    c.read(N1, 9, 2, b"?len", true);
    let (_, stale) = c.reply(9, 2).expect("answered locally");
    assert_eq!(len(&stale.result), 1);
    // At the new leader the linearizable read sees every write.
    c.read(leader, 9, 3, b"?len", false);
    c.settle();
    let (_, fresh) = c.reply(9, 3).expect("answered");
    assert_eq!(len(&fresh.result), 4);
}

#[test]
fn a_node_that_lost_its_disk_does_not_confirm_a_deposed_leaders_read() {
    let (mut c, leader) = deposed_n1();
    // The follower of the new leader loses its disk: the writes are now
    // only on the new leader, and the wiped node forgot what it promised.
    let wiped = if leader == N2 { N3 } else { N2 };
    c.wipe(wiped);
    // n1 wakes up reaching only the wiped node, still believing it leads.
    c.thaw(N1);
    c.cut(N1, leader);
    c.cut(leader, N1);
    assert!(c.replica(N1).is_leader(), "n1 has not noticed yet");
    // Its heartbeat round goes out at once, before any timer of n1's
    // fires (a paused process that resumes does the same).
    c.read(N1, 9, 1, b"?len", false);
    c.settle();
    // n1 and the wiped node make two of three, but the wiped node's
    // acknowledgement vouches for nothing: answering would miss writes
    // 2 to 4, all acknowledged.
    assert!(c.reply(9, 1).is_none(), "a stale read was answered");
    c.advance(500 * MS);
    assert!(c.reply(9, 1).is_none(), "a stale read was answered");
}

#[test]
fn a_leader_whose_view_stops_at_a_reconfiguration_serves_no_read() {
    let mut c = cluster_with(1);
    c.add_node(N4, &[N1, N2, N3]);
    // n2 hears nothing while n1 and n3 choose a reconfiguration (adding
    // learner n4: the epoch ends there) and then, in the next epoch,
    // write 2. n3 accepts both but learns neither chosen.
    c.isolate(N2);
    for kind in ["COMMIT", "HEARTBEAT", "ACCEPTED", "CATCH-UP-REPLY"] {
        c.cut_kind(N1, N3, kind);
    }
    let learner = Change::AddLearner {
        id: N4,
        peer_addr: "h4:1".into(),
        client_addr: "h4:2".into(),
    };
    c.change(N1, learner).expect("n1 leads");
    c.settle();
    let stop_sign = c.replica(N1).status().commit;
    c.submit(N1, 1, 2, b"w");
    c.settle();
    assert!(c.reply(1, 2).is_some(), "write 2 acknowledged");
    assert!(c.replica(N3).status().commit < stop_sign);
    // n1 stops; n2 comes back and is elected with n3's promise, which
    // reports the reconfiguration and write 2 accepted. n2's NEW-VIEW
    // stops at the reconfiguration: write 2 is the next epoch's. n2 does
    // not learn the reconfiguration chosen yet, nor does n3 (their
    // acceptances are held back), and n3 never stands.
    c.freeze(N1);
    c.heal();
    for (kind, to) in [("PREPARE", N1), ("PREPARE", N2), ("ACCEPTED", N2)] {
        c.cut_kind(N3, to, kind);
    }
    c.cut_kind(N2, N3, "ACCEPTED");
    assert_eq!(c.wait_for_leader_other_than(N1, 3000 * MS), N2);
    assert!(c.replica(N2).status().commit < stop_sign);
    // A read at n2 now would take the stop-sign as its index and miss
    // write 2, acknowledged before the read was sent.
    c.read(N2, 9, 1, b"?len", false);
    c.settle();
    // n2 then learns the reconfiguration chosen, and executes it.
    c.heal();
    c.advance(500 * MS);
    if let Some((_, reply)) = c.reply(9, 1) {
        assert_eq!(len(&reply.result), 2, "a stale read was answered");
    }
    // With n1 back, the client's retry reaches the next epoch's leader,
    // which sees write 2.
    c.thaw(N1);
    c.advance(1000 * MS);
    let leader = c.leader().expect("a leader");
    c.read(leader, 9, 2, b"?len", false);
    c.advance(500 * MS);
    let (_, reply) = c.reply(9, 2).expect("answered in the next epoch");
    assert_eq!(len(&reply.result), 2);
}

#[test]
fn a_command_that_is_not_a_query_goes_through_the_log() {
    let mut c = cluster_with(1);
    c.read(N2, 9, 1, b"not a query", false);
    c.settle();
    let (_, reply) = c.reply(9, 1).expect("answered once executed");
    assert_eq!(len(&reply.result), 2, "applied as the second command");
    assert_eq!(c.replica(N3).app().0.len(), 2);
}

#[test]
fn reads_arriving_together_share_one_confirmation_round() {
    let mut c = cluster_with(1);
    let heartbeats = c.count_sent("HEARTBEAT");
    let reads: Vec<(u64, u64)> = (10..20).map(|client| (client, 1)).collect();
    c.reads_together(N1, &reads, b"?len", false);
    c.settle();
    for client in 10..20 {
        assert!(c.reply(client, 1).is_some(), "client {client}");
    }
    // One round: a heartbeat to each of the two followers.
    assert_eq!(c.count_sent("HEARTBEAT") - heartbeats, 2);
}

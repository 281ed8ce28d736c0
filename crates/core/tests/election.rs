//! Who stands, and when (docs/protocol.md, "Election"): a follower that
//! suspected a leader the others still follow goes back to following it
//! once it hears it again, instead of standing against it for ever.

mod harness;

use harness::Cluster;
use synod_core::{MS, NodeId, Role};

const N1: NodeId = NodeId(1);
const N2: NodeId = NodeId(2);

#[test]
fn a_follower_that_suspected_a_live_leader_follows_it_again_once_it_hears_it() {
    let mut c = Cluster::new(3, |_| {});
    assert_eq!(c.wait_for_leader(1000 * MS), N1);
    // n2 stops hearing n1 (one way): it suspects and stands, but n1 and n3
    // still follow n1 and keep its PREPAREs unanswered.
    c.cut(N1, N2);
    c.advance(500 * MS);
    assert!(c.replica(N2).status().suspecting);
    assert!(c.count_sent("PREPARE") > 0, "n2 stood while cut off");
    c.heal();
    // Its candidacy runs out; from then on it follows n1 again.
    c.advance(200 * MS);
    let prepares = c.count_sent("PREPARE");
    c.advance(1000 * MS);
    assert_eq!(
        c.count_sent("PREPARE"),
        prepares,
        "n2 kept standing against a leader it hears"
    );
    assert_eq!(c.leader(), Some(N1));
    let status = c.replica(N2).status();
    assert_eq!(status.role, Role::Follower);
    assert!(!status.suspecting);
    // And it passes its clients' requests on again.
    c.submit(N2, 9, 1, b"after");
    c.advance(50 * MS);
    assert!(c.reply(9, 1).is_some());
}

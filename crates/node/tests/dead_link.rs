//! A client whose node refuses the connection does not wait out its timer
//! on it: the link reports itself down and the client broadcasts at once.

use std::time::Duration;
use synod_apps::{Command, KvOp, Services};
use synod_node::client::{ClientOptions, CommandResult, SynodClient};
use synod_node::{ClusterFile, NodeHandle, Start};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_to_a_node_that_refuses_goes_to_the_others_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = ClusterFile::on_free_ports("dead-link", dir.path().to_path_buf(), 3).unwrap();
    // Node 1, every client's first contact, never starts: its port refuses.
    let _nodes: Vec<NodeHandle> = [2, 3]
        .into_iter()
        .map(|id| {
            let mut node =
                NodeHandle::spawn(cluster.clone(), id, Start::Init, Services::default()).unwrap();
            // Listening before the client starts: a broadcast refused by
            // both would wait out the timer (this test's flake once).
            assert!(node.wait_serving());
            node
        })
        .collect();
    // One try, with a timer far longer than the test: only the report of
    // the refused connection can send the request anywhere else (without
    // it the outcome is unknown once the timer expires).
    let mut client = SynodClient::new(
        &cluster,
        ClientOptions {
            timeout: Duration::from_secs(30),
            retries: 0,
            ..ClientOptions::default()
        },
    )
    .unwrap();
    assert_eq!(client.leader().0, 1);
    let put = Command::Kv(KvOp::Put {
        key: "k".into(),
        value: "v".into(),
    });
    match client.execute(&put).await {
        CommandResult::Ok(_) => {}
        other => panic!("{other:?}"),
    }
    assert_ne!(client.leader().0, 1, "the reply named the live leader");
}

/// A node handle says when the node listens: before it, a connection is
/// refused (what made the test above flaky while it did not wait).
#[test]
fn a_node_that_says_it_serves_listens() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = ClusterFile::on_free_ports("listening", dir.path().to_path_buf(), 3).unwrap();
    let mut node = NodeHandle::spawn(cluster.clone(), 1, Start::Init, Services::default()).unwrap();
    assert!(node.wait_serving());
    assert!(node.wait_serving(), "asked again, it still serves");
    let me = &cluster.nodes[0];
    for addr in [&me.client_addr, &me.addr] {
        std::net::TcpStream::connect(addr.as_str())
            .unwrap_or_else(|e| panic!("{addr} refused a connection after wait_serving: {e}"));
    }
    node.stop().unwrap();
}

//! Nodes named by hostnames, and a node that binds one address while it
//! advertises another: what a deployment across machines needs
//! (docs/deploy.md).

use std::time::Duration;
use synod_apps::{Command, KvOp, Services};
use synod_node::client::{ClientOptions, CommandResult, SynodClient};
use synod_node::{ClusterFile, NodeHandle, Start};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_named_by_hostnames_with_a_wildcard_listener_serves() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = ClusterFile::on_free_ports("names", dir.path().to_path_buf(), 3).unwrap();
    for node in &mut cluster.nodes {
        // "localhost:<port>": resolved by each node at start and by each
        // link at every connection.
        node.addr = format!("localhost:{}", node.addr.port()).parse().unwrap();
        node.client_addr = format!("localhost:{}", node.client_addr.port())
            .parse()
            .unwrap();
    }
    // Node 1 binds every interface and advertises its name.
    let n1 = &mut cluster.nodes[0];
    n1.listen_addr = Some(format!("0.0.0.0:{}", n1.addr.port()).parse().unwrap());
    n1.client_listen_addr = Some(
        format!("0.0.0.0:{}", n1.client_addr.port())
            .parse()
            .unwrap(),
    );
    cluster.validate().unwrap();
    let text = cluster.to_toml();
    assert!(text.contains("addr = \"localhost:"), "{text}");
    assert_eq!(ClusterFile::parse(&text).unwrap(), cluster, "round trip");

    let _nodes: Vec<NodeHandle> = cluster
        .nodes
        .iter()
        .map(|n| {
            NodeHandle::spawn(cluster.clone(), n.id, Start::Init, Services::default()).unwrap()
        })
        .collect();
    let mut client = SynodClient::new(
        &cluster,
        ClientOptions {
            timeout: Duration::from_millis(300),
            retries: 30,
            ..ClientOptions::default()
        },
    )
    .expect("a plain cluster needs no certificate");
    let put = Command::Kv(KvOp::Put {
        key: "k".into(),
        value: "v".into(),
    });
    assert!(matches!(client.execute(&put).await, CommandResult::Ok(_)));
    // The first contact is node 1, over its wildcard listener; a second
    // client starting at node 3 reads the write back through the names.
    let mut other = SynodClient::new(
        &cluster,
        ClientOptions {
            timeout: Duration::from_millis(300),
            retries: 30,
            first_contact: Some(3),
            ..ClientOptions::default()
        },
    )
    .unwrap();
    let get = Command::Kv(KvOp::Get { key: "k".into() });
    match other.execute(&get).await {
        CommandResult::Ok(outcome) => assert!(format!("{outcome}").contains('v'), "{outcome}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_name_that_does_not_resolve_stops_the_node_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = ClusterFile::on_free_ports("names", dir.path().to_path_buf(), 3).unwrap();
    cluster.nodes[0].addr = "no-such-host.invalid:7001".parse().unwrap();
    let node = NodeHandle::spawn(cluster.clone(), 1, Start::Init, Services::default()).unwrap();
    // It stops by itself before the shutdown is looked at.
    let error = match node.stop() {
        Err(e) => e.to_string(),
        Ok(()) => panic!("a node started on an address that does not resolve"),
    };
    assert!(
        error.contains("cannot resolve this node's address no-such-host.invalid:7001"),
        "{error}"
    );
    assert!(!dir.path().join("n1").exists(), "a data directory was made");
}

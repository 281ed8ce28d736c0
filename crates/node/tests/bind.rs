//! A node restarted onto a port that is still held for a moment (a killed
//! process's last thread, a connection's source port) waits for it, within
//! a bound, instead of failing at once; a port held for good still fails,
//! and the node has made nothing on disk by then.

use std::time::{Duration, Instant};
use synod_apps::Services;
use synod_node::admin::query;
use synod_node::tls::Security;
use synod_node::wire::{AdminReply, AdminRequest};
use synod_node::{ClusterFile, NodeHandle, Start};

fn one_node(dir: &std::path::Path) -> ClusterFile {
    ClusterFile::on_free_ports("bind", dir.to_path_buf(), 1).unwrap()
}

#[test]
fn a_node_whose_port_is_freed_within_moments_comes_up() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = one_node(dir.path());
    let node = &cluster.nodes[0];
    // Someone holds the node's client port as it starts.
    let held = std::net::TcpListener::bind(&node.client_addr).unwrap();
    let handle = NodeHandle::spawn(cluster.clone(), 1, Start::Init, Services::default()).unwrap();
    std::thread::sleep(Duration::from_millis(400));
    assert!(handle.is_running(), "the node gave up at once");
    assert!(
        !cluster.node_dir(1).exists(),
        "a data directory was made before the listeners were bound"
    );
    drop(held);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let answered = loop {
        let status = runtime.block_on(query(
            &cluster,
            &Security::plain(),
            1,
            AdminRequest::Status,
            Duration::from_millis(500),
        ));
        if let Ok(AdminReply::Status(_)) = status {
            break true;
        }
        if Instant::now() > deadline || !handle.is_running() {
            break false;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(answered, "the node never served");
    handle.stop().unwrap();
}

#[test]
fn a_node_whose_port_stays_taken_fails_with_the_bind_error() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = one_node(dir.path());
    let node = &cluster.nodes[0];
    let _held = std::net::TcpListener::bind(&node.addr).unwrap();
    let started = Instant::now();
    let mut handle =
        NodeHandle::spawn(cluster.clone(), 1, Start::Init, Services::default()).unwrap();
    while handle.is_running() && started.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!handle.wait_serving(), "a node that never bound served");
    let e = handle.stop().expect_err("the node must fail").to_string();
    assert!(
        e.starts_with(&format!("cannot listen on {} (peers): ", node.addr)),
        "{e}"
    );
    // It retried for a bounded while, not for ever (the loop above would
    // have given up after 20 s).
    assert!(
        !cluster.node_dir(1).exists(),
        "a node that could not bind made a data directory"
    );
}

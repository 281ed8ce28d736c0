//! Hostile connections cost a node little and it keeps serving: frames that
//! claim 16 MiB before any hello, and more connections than a listener
//! holds.

use std::time::Duration;
use synod_apps::{Command, KvOp, Services};
use synod_node::client::{ClientOptions, CommandResult, SynodClient};
use synod_node::wire::{HEADER_LEN, MAGIC, VERSION};
use synod_node::{ClusterFile, NodeHandle, Start};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// This process's resident memory (`VmRSS`) or its peak so far (`VmHWM`),
/// in bytes.
fn memory(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap();
    kib * 1024
}

fn cluster(dir: &std::path::Path) -> (ClusterFile, Vec<NodeHandle>) {
    let cluster = ClusterFile::on_free_ports("hostile", dir.to_path_buf(), 3).unwrap();
    let nodes = cluster
        .nodes
        .iter()
        .map(|n| {
            NodeHandle::spawn(cluster.clone(), n.id, Start::Init, Services::default()).unwrap()
        })
        .collect();
    (cluster, nodes)
}

async fn put(cluster: &ClusterFile, key: &str) -> bool {
    let mut client = SynodClient::new(
        cluster,
        ClientOptions {
            timeout: Duration::from_millis(300),
            retries: 30,
            ..ClientOptions::default()
        },
    )
    .expect("a plain cluster needs no certificate");
    let put = Command::Kv(KvOp::Put {
        key: key.into(),
        value: "v".into(),
    });
    matches!(client.execute(&put).await, CommandResult::Ok(_))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_frames_before_the_hello_cost_no_memory() {
    let dir = tempfile::tempdir().unwrap();
    let (cluster, _nodes) = cluster(dir.path());
    assert!(put(&cluster, "before").await, "the cluster serves");

    // 150 connections to a client port and 60 to a peer port, each
    // announcing a 16 MiB frame before any hello and sending all of it
    // but its last byte, then holding the connection open.
    let mut frame = Vec::with_capacity(HEADER_LEN + (16 << 20));
    frame.extend_from_slice(&MAGIC);
    frame.push(VERSION);
    frame.extend_from_slice(&(16u32 << 20).to_be_bytes());
    frame.resize(HEADER_LEN + (16 << 20) - 1, 0xAB);
    let frame = std::sync::Arc::new(frame);
    let before = memory("VmRSS:");
    let node = &cluster.nodes[0];
    let targets = std::iter::repeat_n(node.client_addr.to_string(), 150)
        .chain(std::iter::repeat_n(node.addr.to_string(), 60));
    let attacks: Vec<_> = targets
        .map(|addr| {
            let frame = frame.clone();
            tokio::spawn(async move {
                if let Ok(mut stream) = TcpStream::connect(addr.as_str()).await {
                    // The node closes the connection once it reads the
                    // header: the rest fails to send, as it should.
                    let _ = tokio::time::timeout(Duration::from_secs(4), stream.write_all(&frame))
                        .await;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            })
        })
        .collect();
    for attack in attacks {
        attack.await.unwrap();
    }
    let grown = memory("VmHWM:").saturating_sub(before);
    assert!(
        grown < 100 << 20,
        "the nodes' process peaked {} MiB above its size before the attack",
        grown >> 20
    );
    assert!(
        put(&cluster, "after").await,
        "the node serves after the attack"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_holds_only_so_many_connections() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = ClusterFile::on_free_ports("hostile", dir.path().to_path_buf(), 3).unwrap();
    cluster.limits.client_connections = 16;
    let _nodes: Vec<NodeHandle> = cluster
        .nodes
        .iter()
        .map(|n| {
            NodeHandle::spawn(cluster.clone(), n.id, Start::Init, Services::default()).unwrap()
        })
        .collect();
    assert!(put(&cluster, "before").await);
    // Idle connections that never say hello: the first 16 are held (until
    // the handshake deadline), the rest closed at once.
    let mut idle = Vec::new();
    for _ in 0..40 {
        idle.push(
            TcpStream::connect(cluster.nodes[0].client_addr.as_str())
                .await
                .unwrap(),
        );
    }
    // All watched at once, for well under the 5 s handshake deadline.
    let watches: Vec<_> = idle
        .into_iter()
        .map(|mut stream| {
            tokio::spawn(async move {
                let mut byte = [0u8; 1];
                use tokio::io::AsyncReadExt;
                let read = tokio::time::timeout(Duration::from_secs(1), stream.read(&mut byte));
                let closed = matches!(read.await, Ok(Ok(0) | Err(_)));
                (closed, stream)
            })
        })
        .collect();
    let mut closed = 0;
    let mut idle = Vec::new();
    for watch in watches {
        let (was_closed, stream) = watch.await.unwrap();
        closed += usize::from(was_closed);
        idle.push(stream);
    }
    assert!(
        (24..=26).contains(&closed),
        "{closed} of 40 connections were closed at once (16 held)"
    );
    // The other nodes serve meanwhile; and once the idle ones are gone,
    // node 1 serves clients again.
    drop(idle);
    assert!(put(&cluster, "after").await);
}

//! The metrics endpoint of live nodes (in-process, on loopback): its
//! counters follow the writes, fsyncs and checkpoints are timed (across log
//! compactions too), every node sees the leader, `/health` says 200 while a
//! quorum lives and 503 once a majority is gone; and the endpoint bounds
//! what a connection can cost.

use std::time::{Duration, Instant};
use synod_apps::{Command, KvOp, Services};
use synod_node::client::{ClientOptions, CommandResult, SynodClient};
use synod_node::{ClusterFile, NodeHandle, Start};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long a condition the test waits for may take at most.
const DEADLINE: Duration = Duration::from_secs(15);

fn start(dir: &std::path::Path, nodes: usize) -> (ClusterFile, Vec<NodeHandle>) {
    let mut cluster = ClusterFile::on_free_ports("metrics", dir.to_path_buf(), nodes).unwrap();
    // Checkpoints, truncations and log compactions within a few writes.
    cluster.checkpoints.interval = 5;
    let handles = cluster
        .nodes
        .iter()
        .map(|n| {
            NodeHandle::spawn(cluster.clone(), n.id, Start::Init, Services::default()).unwrap()
        })
        .collect();
    (cluster, handles)
}

/// Sends `head` (and nothing after it) and returns the status code and
/// body of the answer; `None` if the connection closed without one.
async fn try_exchange(addr: std::net::SocketAddr, head: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(addr).await.ok()?;
    stream.write_all(head.as_bytes()).await.ok()?;
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer))
        .await
        .ok()?
        .ok()?;
    let answer = String::from_utf8(answer).ok()?;
    let status = answer.split(' ').nth(1)?.parse().ok()?;
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or_default();
    Some((status, body))
}

async fn exchange(addr: std::net::SocketAddr, head: &str) -> (u16, String) {
    try_exchange(addr, head)
        .await
        .unwrap_or_else(|| panic!("no HTTP answer from {addr} to {head:?}"))
}

async fn try_get(addr: std::net::SocketAddr, path: &str) -> Option<(u16, String)> {
    try_exchange(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"),
    )
    .await
}

async fn get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    try_get(addr, path)
        .await
        .unwrap_or_else(|| panic!("no HTTP answer from {addr}{path}"))
}

/// The value of the sample named `series` (labels included) in a scrape.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
}

/// One node's scrape.
async fn scrape(cluster: &ClusterFile, id: u32) -> String {
    let addr = cluster.node(id).unwrap().metrics_addr.unwrap();
    let (status, body) = get(addr, "/metrics").await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn value(cluster: &ClusterFile, id: u32, series: &str) -> f64 {
    let text = scrape(cluster, id).await;
    sample(&text, series).unwrap_or_else(|| panic!("n{id} has no {series}:\n{text}"))
}

/// The one node that says it leads, once exactly one does (0 if none
/// does by the deadline).
async fn leader(cluster: &ClusterFile, ids: &[u32]) -> u32 {
    let mut found = 0;
    eventually(async || {
        let mut leading = Vec::new();
        for &id in ids {
            if value(cluster, id, "etcd_server_is_leader").await == 1.0 {
                leading.push(id);
            }
        }
        found = if leading.len() == 1 { leading[0] } else { 0 };
        found != 0
    })
    .await;
    found
}

/// Checks `ready` every 20 ms until it holds; false if [`DEADLINE`] passes
/// first.
async fn eventually(mut ready: impl AsyncFnMut() -> bool) -> bool {
    let start = Instant::now();
    while !ready().await {
        if start.elapsed() > DEADLINE {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_follow_the_writes_and_health_follows_the_quorum() {
    let dir = tempfile::tempdir().unwrap();
    let (cluster, mut nodes) = start(dir.path(), 3);
    let ids: Vec<u32> = cluster.nodes.iter().map(|n| n.id).collect();

    // Every node comes to see a leader (its port may not even be bound
    // yet at first), and says it is healthy.
    for &id in &ids {
        let addr = cluster.node(id).unwrap().metrics_addr.unwrap();
        let sees_leader = eventually(async || {
            try_get(addr, "/metrics")
                .await
                .is_some_and(|(_, text)| sample(&text, "etcd_server_has_leader") == Some(1.0))
        })
        .await;
        assert!(
            sees_leader,
            "n{id} never saw a leader:\n{}",
            scrape(&cluster, id).await
        );
    }
    for &id in &ids {
        let addr = cluster.node(id).unwrap().metrics_addr.unwrap();
        let (status, body) = get(addr, "/health").await;
        assert_eq!(status, 200, "n{id}: {body}");
        assert!(body.contains(r#""health":"true""#), "n{id}: {body}");
    }
    assert_ne!(leader(&cluster, &ids).await, 0, "no single node leads");

    let mut before = Vec::new();
    for &id in &ids {
        before.push((
            value(&cluster, id, "etcd_server_proposals_committed_total").await,
            value(&cluster, id, "etcd_server_proposals_applied_total").await,
        ));
    }
    // One client, one write at a time: each write executes in a slot after
    // the previous one's, so every node's commit and execution advance by
    // at least as many slots as there were writes.
    const WRITES: u32 = 20;
    let mut client = SynodClient::new(
        &cluster,
        ClientOptions {
            timeout: Duration::from_millis(500),
            retries: 20,
            ..ClientOptions::default()
        },
    )
    .expect("a plain cluster needs no certificate");
    for i in 0..WRITES {
        let put = Command::Kv(KvOp::Put {
            key: format!("k{i}"),
            value: "v".into(),
        });
        assert!(matches!(client.execute(&put).await, CommandResult::Ok(_)));
    }
    for (&id, &(committed, applied)) in ids.iter().zip(&before) {
        let grew = eventually(async || {
            let text = scrape(&cluster, id).await;
            let now = |series| sample(&text, series).unwrap_or(0.0);
            now("etcd_server_proposals_committed_total") >= committed + f64::from(WRITES)
                && now("etcd_server_proposals_applied_total") >= applied + f64::from(WRITES)
        })
        .await;
        assert!(
            grew,
            "n{id}: committed and applied did not grow by {WRITES} from {committed} and {applied}:\n{}",
            scrape(&cluster, id).await
        );
        let text = scrape(&cluster, id).await;
        assert!(
            sample(&text, "etcd_disk_wal_fsync_duration_seconds_count").unwrap_or(0.0) > 0.0,
            "n{id} never timed an fsync:\n{text}"
        );
    }
    // Checkpoints are timed; once a quorum holds one, each node truncates
    // and compacts its log, and the syncs of the new log are timed too.
    let mut fsyncs = Vec::new();
    for &id in &ids {
        let compacted = eventually(async || {
            let text = scrape(&cluster, id).await;
            sample(&text, "synod_log_truncated_slot").unwrap_or(0.0) > 0.0
                && sample(&text, "synod_checkpoint_duration_seconds_count").unwrap_or(0.0) > 0.0
        })
        .await;
        assert!(
            compacted,
            "n{id} never checkpointed and truncated:\n{}",
            scrape(&cluster, id).await
        );
        fsyncs.push(value(&cluster, id, "etcd_disk_wal_fsync_duration_seconds_count").await);
    }
    for i in 0..5 {
        let put = Command::Kv(KvOp::Put {
            key: format!("after{i}"),
            value: "v".into(),
        });
        assert!(matches!(client.execute(&put).await, CommandResult::Ok(_)));
    }
    for (&id, &before) in ids.iter().zip(&fsyncs) {
        assert!(
            eventually(
                async || value(&cluster, id, "etcd_disk_wal_fsync_duration_seconds_count").await
                    > before
            )
            .await,
            "n{id} timed no fsync after its log was compacted"
        );
    }
    // The writes reached the replicas through client connections: counted
    // where they arrived (retries included, so at least as many).
    let mut requests = 0.0;
    for &id in &ids {
        requests += sample(
            &scrape(&cluster, id).await,
            r#"synod_client_requests_total{outcome="replica"}"#,
        )
        .unwrap_or(0.0);
    }
    assert!(requests >= f64::from(WRITES), "{requests} requests counted");
    // The leader times its heartbeats' round trips to each peer.
    let leader = leader(&cluster, &ids).await;
    assert_ne!(leader, 0, "no single node leads");
    for &peer in ids.iter().filter(|&&p| p != leader) {
        let series = format!(r#"etcd_network_peer_round_trip_time_seconds_count{{To="{peer}"}}"#);
        assert!(
            eventually(
                async || sample(&scrape(&cluster, leader).await, &series).is_some_and(|n| n > 0.0)
            )
            .await,
            "the leader n{leader} timed no round trip to n{peer}:\n{}",
            scrape(&cluster, leader).await
        );
    }

    // A majority stops (the leader among it): the last node loses its
    // leader, and /health says so.
    let last = nodes.pop().unwrap();
    let last_id = last.id();
    tokio::task::spawn_blocking(move || {
        for node in nodes {
            node.stop().unwrap();
        }
    })
    .await
    .unwrap();
    let addr = cluster.node(last_id).unwrap().metrics_addr.unwrap();
    let mut answer = (0, String::new());
    let unhealthy = eventually(async || {
        answer = get(addr, "/health").await;
        answer.0 == 503
    })
    .await;
    assert!(
        unhealthy,
        "n{last_id} stayed healthy without a quorum: {answer:?}"
    );
    assert!(
        answer.1.contains(r#""health":"false""#) && answer.1.contains("NO LEADER"),
        "{answer:?}"
    );
    assert_eq!(
        value(&cluster, last_id, "etcd_server_has_leader").await,
        0.0
    );
    tokio::task::spawn_blocking(move || last.stop().unwrap())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_endpoint_bounds_connections_and_refuses_what_it_does_not_serve() {
    let dir = tempfile::tempdir().unwrap();
    let (cluster, _nodes) = start(dir.path(), 1);
    let addr = cluster.nodes[0].metrics_addr.unwrap();
    assert!(
        eventually(async || try_get(addr, "/health")
            .await
            .is_some_and(|(status, _)| status == 200))
        .await
    );

    assert_eq!(get(addr, "/nothing").await.0, 404);
    // A body is never read: the answer comes though the gigabyte never
    // does.
    let post =
        format!("POST /metrics HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 1000000000\r\n\r\n");
    assert_eq!(exchange(addr, &post).await.0, 405);
    // A request head beyond the buffer is refused, not buffered.
    let huge = format!(
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nX-Filler: {}\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    assert_eq!(exchange(addr, &huge).await.0, 431);

    // Connections that say nothing hold their slots (until the 5 s head
    // timeout); one more is closed as it arrives.
    let mut idle = Vec::new();
    for _ in 0..synod_node::http::MAX_CONNECTIONS {
        idle.push(TcpStream::connect(addr).await.unwrap());
    }
    let mut extra = TcpStream::connect(addr).await.unwrap();
    let _ = extra
        .write_all(format!("GET /health HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await;
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_secs(2), extra.read(&mut byte)).await;
    assert!(
        matches!(read, Ok(Ok(0) | Err(_))),
        "a connection beyond the limit was served: {read:?}"
    );
    // Their slots free as they close: the endpoint serves again.
    drop(idle);
    assert!(
        eventually(async || try_get(addr, "/health")
            .await
            .is_some_and(|(status, _)| status == 200))
        .await
    );
}

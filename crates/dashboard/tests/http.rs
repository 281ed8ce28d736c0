//! The dashboard's HTTP surface without a running cluster: the page and
//! its assets, the snapshot of nodes that do not answer, the credential
//! and the fault-injection switch on the control endpoint, and the cap on
//! event-stream clients.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;
use synod_dashboard::{Dashboard, DashboardOptions, MAX_SSE_CLIENTS};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A cluster file for three nodes on ports nothing listens on.
fn cluster_file(dir: &Path, fault_injection: bool) -> std::path::PathBuf {
    let ports: Vec<(u16, u16)> = (0..3)
        .map(|_| {
            let a = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let b = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            (
                a.local_addr().unwrap().port(),
                b.local_addr().unwrap().port(),
            )
        })
        .collect();
    let mut file = synod_node::ClusterFile::local("dash-test", "data".into(), &ports);
    file.testing.fault_injection = fault_injection;
    let path = dir.join("other.toml");
    std::fs::write(&path, file.to_toml()).unwrap();
    path
}

async fn dashboard(dir: &Path, fault_injection: bool) -> Dashboard {
    Dashboard::start(DashboardOptions {
        cluster: cluster_file(dir, fault_injection),
        listen: "127.0.0.1:0".parse().unwrap(),
        binary: "/nonexistent/synod".into(),
        poll: Duration::from_millis(100),
    })
    .await
    .unwrap()
}

/// One HTTP/1.1 request; the status code and the body.
async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

const KILL: &str = r#"{"action":"kill","node":1}"#;

#[tokio::test]
async fn a_stranger_is_refused_and_so_is_everyone_without_fault_injection() {
    let dir = tempfile::tempdir().unwrap();
    let d = dashboard(dir.path(), true).await;
    let addr = d.addr();
    assert!(d.url().contains(&format!("?token={}", d.token())));
    assert_eq!(d.token().len(), 32);

    // No token, a wrong token (header or query): 401, nothing done.
    let (status, body) = http(addr, "POST", "/api/control", &[], KILL).await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("token"), "{body}");
    let (status, _) = http(
        addr,
        "POST",
        "/api/control",
        &[("x-synod-token", "0123456789abcdef0123456789abcdef")],
        KILL,
    )
    .await;
    assert_eq!(status, 401);
    let (status, _) = http(addr, "POST", "/api/control?token=nope", &[], KILL).await;
    assert_eq!(status, 401);

    // With the token: the request reaches the cluster, which refuses it
    // (this cluster is not run from a directory here).
    let token = d.token().to_string();
    let (status, body) = http(
        addr,
        "POST",
        "/api/control",
        &[("x-synod-token", &token)],
        KILL,
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("not run by this tool"), "{body}");
    let (status, body) = http(
        addr,
        "POST",
        &format!("/api/control?token={token}"),
        &[],
        r#"{"action":"kill","node":9}"#,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("n9 is not in this cluster"), "{body}");
    let (status, body) = http(
        addr,
        "POST",
        "/api/control",
        &[("x-synod-token", &token)],
        "{oops",
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = http(
        addr,
        "POST",
        "/api/control",
        &[("x-synod-token", &token)],
        r#"{"action":"explode"}"#,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("unknown action"), "{body}");

    // The page's event log says what was refused.
    // Asked until the snapshot that carries them is out, within 5 s.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let events = loop {
        let (_, snap) = http(addr, "GET", "/api/snapshot", &[], "").await;
        let v: serde_json::Value =
            serde_json::from_str(&snap).unwrap_or_else(|e| panic!("{e}: {snap}"));
        let events = v["events"].to_string();
        if events.contains("kill n1 refused") || tokio::time::Instant::now() > deadline {
            break events;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(events.contains("without the token was refused"), "{events}");
    assert!(events.contains("kill n1 refused"), "{events}");
    d.stop().await;

    // Fault injection off: refused with the token, and without it.
    let d = dashboard(dir.path(), false).await;
    let token = d.token().to_string();
    let (status, body) = http(
        d.addr(),
        "POST",
        "/api/control",
        &[("x-synod-token", &token)],
        KILL,
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("fault_injection = true"), "{body}");
    let (status, body) = http(d.addr(), "POST", "/api/control", &[], KILL).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("fault_injection = true"), "{body}");
    d.stop().await;
}

#[tokio::test]
async fn the_page_is_served_and_the_snapshot_says_who_does_not_answer() {
    let dir = tempfile::tempdir().unwrap();
    let d = dashboard(dir.path(), false).await;
    let addr = d.addr();
    let (status, page) = http(addr, "GET", "/", &[], "").await;
    assert_eq!(status, 200);
    assert!(page.contains("id=\"leader\""), "{page}");
    assert!(page.contains("src=\"app.js\""));
    for asset in ["/app.js", "/style.css", "/snapshot.js"] {
        let (status, body) = http(addr, "GET", asset, &[], "").await;
        assert_eq!(status, 200, "{asset}");
        assert!(!body.is_empty(), "{asset}");
    }
    let (_, js) = http(addr, "GET", "/snapshot.js", &[], "").await;
    assert!(js.starts_with("synodRender({"), "{js}");
    let (_, snap) = http(addr, "GET", "/api/snapshot", &[], "").await;
    let v: serde_json::Value = serde_json::from_str(&snap).unwrap();
    assert_eq!(v["cluster"], "dash-test");
    assert_eq!(v["fault_injection"], false);
    assert!(v["leader"].is_null());
    let nodes = v["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 3);
    assert!(
        nodes
            .iter()
            .all(|n| n["answering"] == false && n["error"].is_string()),
        "{snap}"
    );
    d.stop().await;
}

#[tokio::test]
async fn event_stream_clients_are_capped() {
    let dir = tempfile::tempdir().unwrap();
    let d = dashboard(dir.path(), false).await;
    let addr = d.addr();
    let mut open = Vec::new();
    for _ in 0..MAX_SSE_CLIENTS {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(format!("GET /events HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
            .await
            .unwrap();
        // Each gets the current snapshot at once.
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while !String::from_utf8_lossy(&got).contains("data: {") {
            let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
                .await
                .unwrap()
                .unwrap();
            assert!(n > 0, "the stream closed");
            got.extend_from_slice(&buf[..n]);
        }
        let head = String::from_utf8_lossy(&got);
        assert!(head.contains("text/event-stream"), "{head}");
        open.push(s);
    }
    let (status, body) = http(addr, "GET", "/events", &[], "").await;
    assert_eq!(status, 503, "{body}");
    // A page that goes away frees its place.
    drop(open.pop());
    let mut freed = false;
    for _ in 0..50 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(format!("GET /events HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut buf = [0u8; 64];
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        if String::from_utf8_lossy(&buf[..n]).contains(" 200 ") {
            freed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(freed, "a closed page's place was not given back");
    d.stop().await;
}

//! Mutual TLS on real node processes (docs/security.md): local clusters use
//! it by default; strangers (no certificate, another cluster's CA) are
//! refused with a log line; a client certificate cannot speak as a peer or
//! change the cluster; the admin certificate can.

mod common;

use common::{Cluster, eventually, synod, text};
use std::path::Path;
use std::time::Duration;
use synod_core::NodeId;
use synod_node::ClusterFile;
use synod_node::admin::query;
use synod_node::net::FrameReader;
use synod_node::tls::Security;
use synod_node::wire::{AdminReply, AdminRequest, Caller, Frame, encode};
use tokio::io::AsyncWriteExt;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn load(c: &Cluster) -> ClusterFile {
    ClusterFile::load(Path::new(&c.file())).unwrap()
}

/// The certificate named `name` (admin, client, n1...) of cluster `c`.
fn identity(c: &Cluster, file: &ClusterFile, name: &str) -> Security {
    let certs = c.dir.path().join("certs");
    let (cert, key) = (
        certs.join(format!("{name}.crt")),
        certs.join(format!("{name}.key")),
    );
    Security::client_with(file, Some((&cert, &key))).unwrap()
}

/// Opens a connection to node 1 as `caller` over `security` and returns
/// the node's first answer (a welcome or a refusal), or the error.
async fn hello(file: &ClusterFile, security: &Security, caller: Caller) -> Result<Frame, String> {
    let node = &file.nodes[0];
    let (read, mut write) = security
        .connect(&node.client_addr, node.id)
        .await
        .map_err(|e| e.to_string())?;
    let hello = encode(&Frame::Hello {
        cluster: file.cluster_id.clone(),
        caller,
    });
    write.write_all(&hello).await.map_err(|e| e.to_string())?;
    write.flush().await.map_err(|e| e.to_string())?;
    let mut reader = FrameReader::new(read, 1 << 20);
    tokio::time::timeout(Duration::from_secs(5), reader.next())
        .await
        .map_err(|_| "no answer".to_string())?
        .map_err(|e| e.to_string())
}

#[test]
fn local_clusters_use_mutual_tls_and_refuse_strangers() {
    let c = Cluster::up(3);
    let file = load(&c);
    assert!(file.tls.is_some(), "cluster up writes a [tls] section");
    // The tools work through TLS with the cluster file's certificate.
    let put = c.client(&["kv", "put", "k", "v"]);
    assert_eq!(put["result"], "ok", "{put}");

    // Another cluster's certificates are refused at the handshake, and the
    // node says why in its log.
    let other = Cluster::up(3);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_synod"))
        .args(["admin", "--cluster", &c.file(), "status"])
        .env("SYNOD_CERT", other.dir.path().join("certs/admin.crt"))
        .env("SYNOD_KEY", other.dir.path().join("certs/admin.key"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(
        eventually(Duration::from_secs(5), || c
            .log(1)
            .contains("TLS handshake refused: invalid peer certificate")),
        "{}",
        c.log(1)
    );

    // So is a client without TLS at all.
    let rt = runtime();
    let plain = rt.block_on(hello(&file, &Security::plain(), Caller::Admin));
    assert!(
        !matches!(plain, Ok(Frame::Welcome { .. })),
        "a plain connection was welcomed"
    );

    // And a stranger's node certificate cannot join as a peer.
    let other_file = load(&other);
    let impostor = identity(&other, &other_file, "n2");
    let refused = rt.block_on(hello(&file, &impostor, Caller::Peer(NodeId(2))));
    assert!(!matches!(refused, Ok(Frame::Welcome { .. })), "{refused:?}");
}

#[test]
fn a_client_certificate_cannot_speak_as_a_peer_or_change_the_cluster() {
    let c = Cluster::up_with(3, &["--fault-injection"]);
    let file = load(&c);
    let rt = runtime();
    let client = identity(&c, &file, "client");
    let admin = identity(&c, &file, "admin");
    let n3 = identity(&c, &file, "n3");

    // Speaking as node 2 takes node 2's certificate: a client's or node
    // 3's is refused, node 2's own is welcomed.
    for (who, security) in [("client", &client), ("n3", &n3)] {
        match rt.block_on(hello(&file, security, Caller::Peer(NodeId(2)))) {
            Ok(Frame::Refused { reason }) => {
                assert!(reason.contains("not n2's"), "{who}: {reason}")
            }
            other => panic!("{who} as n2: {other:?}"),
        }
    }
    let n2 = identity(&c, &file, "n2");
    assert!(matches!(
        rt.block_on(hello(&file, &n2, Caller::Peer(NodeId(2)))),
        Ok(Frame::Welcome { .. })
    ));

    // A client certificate reads status but cannot partition; the admin
    // certificate can.
    let ask = |security: &Security, request| {
        rt.block_on(query(&file, security, 1, request, Duration::from_secs(2)))
    };
    let partition = || AdminRequest::Partition {
        drop_from: vec![NodeId(2)],
        drop_to: Vec::new(),
        serve_clients: true,
    };
    assert!(matches!(
        ask(&client, AdminRequest::Status),
        Ok(AdminReply::Status(_))
    ));
    let refused = ask(&client, partition()).unwrap_err();
    assert!(refused.contains("needs an admin certificate"), "{refused}");
    assert_eq!(ask(&admin, partition()), Ok(AdminReply::Done));
    let heal = AdminRequest::Partition {
        drop_from: Vec::new(),
        drop_to: Vec::new(),
        serve_clients: true,
    };
    assert_eq!(ask(&admin, heal), Ok(AdminReply::Done));
}

#[test]
fn certs_writes_what_is_missing_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cluster.toml");
    std::fs::write(&file, synod_node::config::EXAMPLE).unwrap();
    let cluster = file.to_str().unwrap();
    let first = synod(&["certs", "--cluster", cluster]);
    assert!(first.status.success(), "{}", text(&first));
    let certs = dir.path().join("certs");
    for name in ["ca", "n1", "n2", "n3", "admin", "client"] {
        assert!(certs.join(format!("{name}.crt")).exists(), "{name}.crt");
        assert!(certs.join(format!("{name}.key")).exists(), "{name}.key");
    }
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(certs.join("ca.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, "keys are the owner's alone");
    let ca = std::fs::read(certs.join("ca.crt")).unwrap();

    // Two nodes added to the file: run again, only their files are new,
    // signed by the same CA (the command checks each against it).
    let mut grown = synod_node::config::EXAMPLE.to_string();
    for id in [4, 5] {
        grown.push_str(&format!(
            "\n[[nodes]]\nid = {id}\naddr = \"127.0.0.1:700{id}\"\nclient_addr = \"127.0.0.1:710{id}\"\n"
        ));
    }
    std::fs::write(&file, grown).unwrap();
    let second = synod(&["certs", "--cluster", cluster]);
    assert!(second.status.success(), "{}", text(&second));
    let out = text(&second);
    let written: Vec<&str> = out.lines().filter(|l| l.starts_with("wrote")).collect();
    assert_eq!(written.len(), 2, "{out}");
    assert!(written.iter().any(|l| l.ends_with("n4.crt")), "{out}");
    assert!(written.iter().any(|l| l.ends_with("n5.crt")), "{out}");
    assert_eq!(
        std::fs::read(certs.join("ca.crt")).unwrap(),
        ca,
        "the CA is kept"
    );

    // Half a pair is refused rather than papered over.
    std::fs::remove_file(certs.join("ca.key")).unwrap();
    let third = synod(&["certs", "--cluster", cluster]);
    assert!(!third.status.success());
    assert!(
        text(&third).contains("without the other"),
        "{}",
        text(&third)
    );
}

#[test]
fn a_paused_tls_cluster_is_one_nothing_was_sent_to() {
    // The handshake needs the node's process: with every node paused no
    // connection completes, so no request left the client, and it says so
    // rather than "it may still commit".
    let c = Cluster::up(3);
    for n in ["1", "2", "3"] {
        let out = synod(&["cluster", "pause", "--dir", c.dir(), "--node", n]);
        assert!(out.status.success(), "{}", text(&out));
    }
    let file = c.file();
    let out = synod(&[
        "client",
        "--cluster",
        &file,
        "--timeout-ms",
        "100",
        "--retries",
        "2",
        "kv",
        "put",
        "k",
        "v",
    ]);
    for n in ["1", "2", "3"] {
        synod(&["cluster", "resume", "--dir", c.dir(), "--node", n]);
    }
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(text(&out).contains("nothing was sent"), "{}", text(&out));
}

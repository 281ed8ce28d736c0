//! Real node processes on loopback, driven through the `synod` binary.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;
use synod_node::ClusterFile;
use synod_node::wire::{self, Caller, Frame};

mod common;
use common::{Cluster, eventually, http_get, json, synod, text};

#[test]
fn the_demo_survives_a_leader_kill() {
    let out = synod(&["demo", "--phase-seconds", "2"]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("took over"), "{t}");
    assert!(t.contains("all replicas agree"), "{t}");
}

#[test]
fn commands_commit_the_leader_fails_over_and_a_restarted_node_catches_up() {
    let c = Cluster::up(3);
    assert_eq!(c.client(&["kv", "put", "k1", "v1"])["result"], "ok");
    assert_eq!(
        c.client(&["bank", "transfer", "A", "B", "3"])["result"],
        "ok"
    );
    let r = c.client(&["bank", "transfer", "A", "B", "30"]);
    assert_eq!(r["result"], "failed", "{r}");
    assert!(
        r["reason"].as_str().unwrap().contains("insufficient"),
        "{r}"
    );

    let old = c.leader();
    let out = synod(&[
        "cluster",
        "kill",
        "--dir",
        c.dir(),
        "--node",
        &old.to_string(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(c.client(&["kv", "put", "k2", "v2"])["result"], "ok");
    let new = c.leader();
    assert_ne!(new, old);

    let out = synod(&[
        "cluster",
        "restart",
        "--dir",
        c.dir(),
        "--node",
        &old.to_string(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(c.client(&["kv", "put", "k3", "v3"])["result"], "ok");
    // The restarted node relearns everything it missed.
    let db_of_old = || {
        json(&synod(&[
            "admin",
            "--cluster",
            &c.file(),
            "--json",
            "db",
            "--node",
            &old.to_string(),
        ]))
    };
    let caught_up = eventually(Duration::from_secs(15), || db_of_old()["kv"]["k3"] == "v3");
    let db = db_of_old();
    assert!(caught_up, "n{old} did not catch up: {db}");
    assert_eq!(db["kv"]["k1"], "v1");
    assert_eq!(db["kv"]["k2"], "v2");
    assert_eq!(db["balances"]["A"], 7);
    assert_eq!(db["balances"]["B"], 13);
    let get = c.client(&["kv", "get", "k2"]);
    assert_eq!(get["text"], "v2", "{get}");
}

/// Opens a raw connection to node 1's client port, sends `bytes`, and
/// returns what the node answered before closing.
fn poke(file: &ClusterFile, bytes: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(&file.nodes[0].client_addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(bytes).unwrap();
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    answer
}

fn refused_reason(answer: &[u8]) -> String {
    let mut buf = bytes::BytesMut::from(answer);
    match wire::Decoder::new(1 << 20).decode(&mut buf) {
        Ok(Some(Frame::Refused { reason })) => reason,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn strangers_and_bad_frames_are_refused_while_the_node_keeps_serving() {
    // Plain TCP, to poke at the framing with raw bytes: the frames are the
    // same under TLS, whose handshake tests/tls.rs checks.
    let c = Cluster::up_with(3, &["--plain"]);
    let file = ClusterFile::load(Path::new(&c.file())).unwrap();

    let reason = refused_reason(&poke(&file, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    assert!(reason.contains("not a synod frame"), "{reason}");

    let mut oversized = Vec::from(wire::MAGIC);
    oversized.push(wire::VERSION);
    oversized.extend_from_slice(&(1u32 << 30).to_be_bytes());
    let reason = refused_reason(&poke(&file, &oversized));
    assert!(reason.contains("exceeds the limit"), "{reason}");

    let stranger = wire::encode(&Frame::Hello {
        cluster: "someone-else".into(),
        caller: Caller::Admin,
    });
    let reason = refused_reason(&poke(&file, &stranger));
    assert!(reason.contains("not ours"), "{reason}");

    let impostor = wire::encode(&Frame::Hello {
        cluster: file.cluster_id.clone(),
        caller: Caller::Peer(synod_core::NodeId(9)),
    });
    let reason = refused_reason(&poke(&file, &impostor));
    assert!(reason.contains("not a peer"), "{reason}");

    // A truncated frame: a valid header promising more than ever comes.
    let mut s = TcpStream::connect(&file.nodes[0].client_addr).unwrap();
    s.write_all(
        &wire::encode(&Frame::Hello {
            cluster: file.cluster_id.clone(),
            caller: Caller::Admin,
        })[..6],
    )
    .unwrap();
    drop(s);

    // Node 1 still serves, and says why it refused each one.
    assert_eq!(c.client(&["kv", "put", "after", "garbage"])["result"], "ok");
    let status = c.status();
    assert!(
        status["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["up"] == true),
        "{status}"
    );
    let log = c.log(1);
    for expected in [
        "not a synod frame",
        "exceeds the limit",
        "not ours",
        "not a peer",
    ] {
        assert!(
            log.contains(expected),
            "n1's log lacks {expected:?}:\n{log}"
        );
    }
}

#[test]
fn a_bad_cluster_file_is_rejected_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let example = text(&synod(&["config", "example"]));
    let good = dir.path().join("good.toml");
    std::fs::write(&good, &example).unwrap();
    assert!(
        synod(&["config", "check", good.to_str().unwrap()])
            .status
            .success()
    );

    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        example.replace("election_timeout_ms = 150", "election_timeout_ms = 5"),
    )
    .unwrap();
    for args in [
        vec!["config", "check", bad.to_str().unwrap()],
        vec!["node", "--config", bad.to_str().unwrap(), "--id", "1"],
    ] {
        let out = synod(&args);
        assert!(!out.status.success());
        assert!(
            text(&out).contains("timers.election_timeout_ms"),
            "{}",
            text(&out)
        );
    }
    std::fs::write(
        &bad,
        example.replace("addr = \"127.0.0.1:7002\"", "adr = \"127.0.0.1:7002\""),
    )
    .unwrap();
    let out = synod(&["config", "check", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(text(&out).contains("adr"), "{}", text(&out));

    // Without its certificates the node says where they come from.
    let out = synod(&["node", "--config", good.to_str().unwrap(), "--id", "1"]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("synod certs --cluster"),
        "{}",
        text(&out)
    );
    // A node whose data directory is missing refuses to start empty, and
    // names both ways to make one.
    let certs = synod(&["certs", "--cluster", good.to_str().unwrap()]);
    assert!(certs.status.success(), "{}", text(&certs));
    let out = synod(&["node", "--config", good.to_str().unwrap(), "--id", "1"]);
    assert!(!out.status.success());
    let message = text(&out);
    assert!(
        message.contains("--init") && message.contains("--rejoin"),
        "{message}"
    );
}

#[test]
fn a_node_is_initialised_once_and_a_lost_disk_comes_back_as_a_learner() {
    let c = Cluster::up(3);
    assert_eq!(c.client(&["kv", "put", "before", "1"])["result"], "ok");
    let run = |args: &[&str]| {
        let file = c.file();
        let mut all = vec!["node", "--config", &file];
        all.extend_from_slice(args);
        synod(&all)
    };
    // --init only ever makes a new node: a live node's log is refused, and
    // left as it was.
    let out = run(&["--id", "1", "--init"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("refusing --init"), "{}", text(&out));

    // n3 loses its disk.
    let out = synod(&["cluster", "kill", "--dir", c.dir(), "--node", "3"]);
    assert!(out.status.success(), "{}", text(&out));
    std::fs::remove_dir_all(c.dir.path().join("data").join("n3")).unwrap();
    // Started as before, it refuses to come back empty (as a voter).
    let out = run(&["--id", "3"]);
    assert!(!out.status.success());
    let message = text(&out);
    assert!(
        message.contains("no synod data") && message.contains("--rejoin"),
        "{message}"
    );
    // --rejoin prepares its directory and exits; a normal start then runs
    // it as a learner, which catches up and never votes.
    let out = run(&["--id", "3", "--rejoin"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("learner"), "{}", text(&out));
    let out = synod(&["cluster", "restart", "--dir", c.dir(), "--node", "3"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(c.client(&["kv", "put", "after", "2"])["result"], "ok");
    let n3 = || {
        c.status()["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["node"] == 3)
            .cloned()
            .unwrap()
    };
    let learner = eventually(Duration::from_secs(10), || n3()["role"] == "learner");
    assert!(learner, "n3: {}", n3());
    let db = || {
        json(&synod(&[
            "admin",
            "--cluster",
            &c.file(),
            "--json",
            "db",
            "--node",
            "3",
        ]))
    };
    let caught_up = eventually(Duration::from_secs(15), || db()["kv"]["after"] == "2");
    assert!(caught_up, "n3 did not catch up: {}", db());
    assert_eq!(db()["kv"]["before"], "1");
    // --rejoin never turns a voter's log into a learner's.
    let out = synod(&["cluster", "kill", "--dir", c.dir(), "--node", "2"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = run(&["--id", "2", "--rejoin"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("refusing --rejoin"), "{}", text(&out));
    let out = synod(&["cluster", "restart", "--dir", c.dir(), "--node", "2"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(c.client(&["kv", "put", "last", "3"])["result"], "ok");
}

#[test]
fn a_node_restarted_after_the_others_truncated_catches_up_by_state_transfer() {
    let c = Cluster::up(3);
    let out = synod(&["cluster", "kill", "--dir", c.dir(), "--node", "3"]);
    assert!(out.status.success(), "{}", text(&out));
    // Enough load for checkpoints, and for n1 and n2 to truncate their logs.
    let out = synod(&[
        "bench",
        "--cluster",
        &c.file(),
        "--clients",
        "8",
        "--seconds",
        "2",
        "--warmup",
        "0",
        "--quiet",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(json(&out)["ops"].as_u64().unwrap() > 500, "{}", text(&out));
    let out = synod(&["cluster", "restart", "--dir", c.dir(), "--node", "3"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(c.client(&["kv", "put", "after", "restart"])["result"], "ok");
    let caught_up = eventually(Duration::from_secs(20), || {
        let status = c.status();
        let nodes = status["nodes"].as_array().unwrap();
        let executed: Vec<u64> = nodes
            .iter()
            .map(|n| n["executed"].as_u64().unwrap_or(0))
            .collect();
        executed.iter().all(|e| *e == executed[0]) && executed[0] > 0
    });
    assert!(caught_up, "n3 did not catch up: {}", c.status());
    let db3 = json(&synod(&[
        "admin",
        "--cluster",
        &c.file(),
        "--json",
        "db",
        "--node",
        "3",
    ]));
    let db1 = json(&synod(&[
        "admin",
        "--cluster",
        &c.file(),
        "--json",
        "db",
        "--node",
        "1",
    ]));
    assert_eq!(db3["kv"], db1["kv"]);
    assert_eq!(db3["kv"]["after"], "restart");
    assert!(
        c.log(3).contains("installed a snapshot"),
        "n3 should have caught up by snapshot:\n{}",
        c.log(3)
    );
}

#[test]
fn the_tools_never_wipe_a_cluster_nor_share_a_log() {
    let c = Cluster::up(3);
    assert_eq!(c.client(&["kv", "put", "kept", "yes"])["result"], "ok");
    let down = synod(&["cluster", "down", "--dir", c.dir()]);
    assert!(down.status.success(), "{}", text(&down));

    // `cluster up` on the stopped cluster resumes it, data and all.
    let up = synod(&["cluster", "up", "--nodes", "3", "--dir", c.dir()]);
    assert!(up.status.success(), "{}", text(&up));
    assert!(text(&up).contains("resuming"), "{}", text(&up));
    let get = c.client(&["kv", "get", "kept"]);
    assert_eq!(get["text"], "yes", "{get}");
    assert_eq!(get["value"], "yes", "{get}");
    // Compare-and-set on an absent key needs no placeholder argument.
    let cas = c.client(&["kv", "cas", "fresh", "one", "--absent"]);
    assert_eq!(cas["text"], "swapped", "{cas}");
    let cas = c.client(&["kv", "cas", "fresh", "two", "--expected", "one"]);
    assert_eq!(cas["text"], "swapped", "{cas}");

    // Another size is refused, and the cluster is untouched.
    let down = synod(&["cluster", "down", "--dir", c.dir()]);
    assert!(down.status.success(), "{}", text(&down));
    let other = synod(&["cluster", "up", "--nodes", "5", "--dir", c.dir()]);
    assert!(!other.status.success());
    assert!(text(&other).contains("3 nodes, not 5"), "{}", text(&other));
    let up = synod(&["cluster", "up", "--nodes", "3", "--dir", c.dir()]);
    assert!(up.status.success(), "{}", text(&up));

    // A second process on a live node's directory is refused by its lock,
    // naming the holder, before it touches the log.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("cluster.toml");
    let file = std::fs::read_to_string(c.file()).unwrap();
    // Same data directory and certificates, other ports.
    let data = c.dir.path().join("data");
    let certs = c.dir.path().join("certs");
    let mut moved = file
        .replace(
            "data_dir = \"data\"",
            &format!("data_dir = {:?}", data.to_str().unwrap()),
        )
        .replace("\"certs/", &format!("\"{}/", certs.to_str().unwrap()));
    for (i, port) in synod_node::config::free_local_ports(3)
        .unwrap()
        .iter()
        .enumerate()
    {
        let parsed = synod_node::ClusterFile::parse(&file).unwrap();
        let node = &parsed.nodes[i];
        moved = moved
            .replace(&node.addr.to_string(), &format!("127.0.0.1:{}", port.0))
            .replace(
                &node.client_addr.to_string(),
                &format!("127.0.0.1:{}", port.1),
            );
    }
    // No metrics endpoints: theirs are the live nodes'.
    let moved: String = moved
        .lines()
        .filter(|l| !l.starts_with("metrics_addr"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&copy, moved).unwrap();
    let second = synod(&["node", "--config", copy.to_str().unwrap(), "--id", "1"]);
    assert!(!second.status.success());
    assert!(
        text(&second).contains("in use by another process (pid "),
        "{}",
        text(&second)
    );
    assert_eq!(c.client(&["kv", "get", "kept"])["text"], "yes");
}

#[test]
fn cluster_up_prints_each_nodes_metrics_endpoint_and_every_node_is_healthy() {
    let dir = tempfile::tempdir().unwrap();
    let up = synod(&[
        "cluster",
        "up",
        "--nodes",
        "3",
        "--dir",
        dir.path().to_str().unwrap(),
    ]);
    // Brought down when the test ends, pass or fail.
    let _cluster = Cluster { dir };
    assert!(up.status.success(), "{}", text(&up));
    let out = text(&up);
    let health: Vec<&str> = out
        .lines()
        .filter_map(|l| l.split("health http://").nth(1))
        .collect();
    assert_eq!(health.len(), 3, "{out}");
    for addr in health {
        let mut answer = None;
        let healthy = eventually(Duration::from_secs(10), || {
            answer = http_get(addr);
            answer.as_ref().is_some_and(|(status, _)| *status == 200)
        });
        assert!(healthy, "{addr}: {answer:?}");
        let body = answer.map(|(_, body)| body).unwrap_or_default();
        assert!(body.contains(r#""health":"true""#), "{body}");
        let metrics = addr.replace("/health", "/metrics");
        let (status, text) = http_get(&metrics).unwrap_or_default();
        assert_eq!(status, 200);
        assert!(text.contains("\netcd_server_has_leader 1\n"), "{text}");
    }
    // Every node runs without transparent huge pages (main.rs says why),
    // where the kernel reports it (Linux 5.0 on).
    for id in 1..=3 {
        let pid = std::fs::read_to_string(_cluster.dir.path().join(format!("n{id}.pid"))).unwrap();
        let status = std::fs::read_to_string(format!("/proc/{}/status", pid.trim())).unwrap();
        if let Some(line) = status.lines().find(|l| l.starts_with("THP_enabled:")) {
            assert_eq!(line.split_whitespace().nth(1), Some("0"), "n{id}: {line}");
        }
    }
}

#[test]
fn even_sizes_are_refused_and_a_node_that_cannot_bind_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let even = synod(&[
        "cluster",
        "up",
        "--nodes",
        "4",
        "--dir",
        dir.path().to_str().unwrap(),
    ]);
    assert!(!even.status.success());
    assert!(
        text(&even).contains("4 nodes tolerate 1 failure(s), as 3 do"),
        "{}",
        text(&even)
    );

    // A node whose port stays taken gives up (after its bounded retry),
    // saying which address and why, once.
    let example = text(&synod(&["config", "example"]));
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let file = dir.path().join("cluster.toml");
    std::fs::write(
        &file,
        example.replace("127.0.0.1:7001", &format!("127.0.0.1:{port}")),
    )
    .unwrap();
    let certs = synod(&["certs", "--cluster", file.to_str().unwrap()]);
    assert!(certs.status.success(), "{}", text(&certs));
    let node = |extra: &str| {
        let mut args = vec!["node", "--config", file.to_str().unwrap(), "--id", "1"];
        if !extra.is_empty() {
            args.push(extra);
        }
        synod(&args)
    };
    let out = node("--init");
    assert!(out.status.success(), "{}", text(&out));
    let out = node("");
    assert!(!out.status.success());
    let message = text(&out);
    assert!(message.contains("cannot listen on"), "{message}");
    assert_eq!(
        message.matches("Address already in use").count(),
        1,
        "{message}"
    );
}

/// Starts `synod demo`, waits for its first line (which names its
/// directory), and returns the child and that directory.
fn demo_started() -> (std::process::Child, std::path::PathBuf) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_synod"))
        .arg("demo")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    let stdout = child.stdout.take().unwrap();
    let mut reader = std::io::BufReader::new(stdout);
    reader.read_line(&mut first).unwrap();
    let dir = first
        .split_whitespace()
        .last()
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| panic!("no directory in {first:?}"));
    assert!(dir.exists(), "{first}");
    // Keep the pipe open until the caller decides.
    child.stdout = Some(reader.into_inner());
    (child, dir)
}

#[test]
fn an_interrupted_demo_stops_its_nodes_and_cleans_up() {
    let (mut child, dir) = demo_started();
    let pid = child.id().to_string();
    assert!(synod_kill("INT", &pid));
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{status:?}");
    assert!(!dir.exists(), "{} left behind", dir.display());
}

#[test]
fn a_demo_whose_reader_goes_away_stops_its_nodes_quietly() {
    let (mut child, dir) = demo_started();
    // `synod demo | head -1`: the reader closes the pipe.
    drop(child.stdout.take());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(141), "{status:?}");
    assert!(!dir.exists(), "{} left behind", dir.display());
}

fn synod_kill(signal: &str, pid: &str) -> bool {
    std::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid)
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn exit_codes_tell_ok_refused_and_unreachable_apart() {
    let c = Cluster::up(3);
    let file = c.file();
    let run = |args: &[&str]| {
        let mut all = vec!["client", "--cluster", &file];
        all.extend_from_slice(args);
        synod(&all).status.code()
    };
    assert_eq!(run(&["bank", "transfer", "A", "B", "3"]), Some(0));
    assert_eq!(
        run(&["bank", "transfer", "A", "B", "300"]),
        Some(1),
        "refused"
    );
    let status = || synod(&["admin", "--cluster", &file, "status"]);
    assert_eq!(status().status.code(), Some(0));
    // Node logs written to files carry no colour codes.
    let log = std::fs::read_to_string(c.dir.path().join("n1.log")).unwrap();
    assert!(log.contains("node up"), "{log}");
    assert!(!log.contains('\x1b'), "colour codes in a log file:\n{log}");
    let down = synod(&["cluster", "down", "--dir", c.dir()]);
    assert!(down.status.success(), "{}", text(&down));
    let out = status();
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(text(&out).contains("no node of the cluster answered"));
}

#[test]
fn a_client_tells_an_unknown_outcome_from_nothing_sent() {
    // Plain TCP: a paused node's kernel completes the connection, so the
    // request is written. (Under TLS the handshake needs the node itself,
    // so a paused cluster is one nothing was sent to: see tests/tls.rs.)
    let c = Cluster::up_with(3, &["--plain"]);
    let file = c.file();
    let client = |extra: &[&str]| {
        let mut all = vec![
            "client",
            "--cluster",
            &file,
            "--timeout-ms",
            "100",
            "--retries",
            "2",
        ];
        all.extend_from_slice(extra);
        synod(&all)
    };
    // Every node paused: connections are made (the kernel accepts them),
    // the request is written, and nobody answers: it may still commit.
    for n in ["1", "2", "3"] {
        let out = synod(&["cluster", "pause", "--dir", c.dir(), "--node", n]);
        assert!(out.status.success(), "{}", text(&out));
    }
    let out = client(&["kv", "put", "k", "v"]);
    for n in ["1", "2", "3"] {
        synod(&["cluster", "resume", "--dir", c.dir(), "--node", n]);
    }
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("it may still commit"), "{}", text(&out));

    // Every node down: nothing was ever sent, and the client says so.
    let down = synod(&["cluster", "down", "--dir", c.dir()]);
    assert!(down.status.success(), "{}", text(&down));
    let out = client(&["kv", "put", "k", "v"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    let message = text(&out);
    assert!(
        message.contains("no node reachable: nothing was sent"),
        "{message}"
    );
    assert!(!message.contains("may still commit"), "{message}");
    let out = client(&["--json", "kv", "get", "k"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert_eq!(json(&out)["result"], "unreachable");
}

#[test]
fn partitions_need_a_cluster_file_that_enables_fault_injection() {
    use synod_core::NodeId;
    use synod_node::admin::query;
    use synod_node::tls::Security;
    use synod_node::wire::{AdminReply, AdminRequest};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let partition = || AdminRequest::Partition {
        drop_from: vec![NodeId(2)],
        drop_to: Vec::new(),
        serve_clients: true,
    };
    let ask = |file: &ClusterFile, request| {
        let security = Security::client(file).unwrap();
        rt.block_on(query(file, &security, 1, request, Duration::from_secs(2)))
    };

    let plain = Cluster::up(3);
    let file = ClusterFile::load(Path::new(&plain.file())).unwrap();
    let refused = ask(&file, partition()).unwrap_err();
    assert!(refused.contains("fault injection is off"), "{refused}");
    assert!(
        matches!(ask(&file, AdminRequest::Status), Ok(AdminReply::Status(_))),
        "reading stays open"
    );

    let testing = Cluster::up_with(3, &["--fault-injection"]);
    let file = ClusterFile::load(Path::new(&testing.file())).unwrap();
    assert_eq!(ask(&file, partition()), Ok(AdminReply::Done));
}

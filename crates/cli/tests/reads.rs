//! Reads without a log write on real node processes (docs/protocol.md,
//! "Reads"): a linearizable read sees every write acknowledged before it,
//! at any node; a leader cut off from its peers answers no linearizable
//! read (it would be stale) while a serializable read is answered from its
//! own state, stale as it is; once healed it answers linearizable reads
//! again, with the latest value. (Here the cut-off leader soon steps down,
//! so this shows that no node answers a linearizable read on its own; that
//! a leader never answers before a quorum confirms it still leads is the
//! harness's and the simulator's to show, on virtual time.)

mod common;

use common::{Cluster, eventually};
use std::path::Path;
use std::time::Duration;
use synod_apps::{Command, KvOp, KvResult, Outcome};
use synod_core::{NodeId, RequestKind};
use synod_node::ClusterFile;
use synod_node::admin::query;
use synod_node::client::{ClientOptions, CommandResult, SynodClient};
use synod_node::tls::Security;
use synod_node::wire::{AdminReply, AdminRequest};

fn get(key: &str) -> Command {
    Command::Kv(KvOp::Get { key: key.into() })
}

fn value(result: &CommandResult<Outcome>) -> Option<String> {
    match result {
        CommandResult::Ok(Outcome::Kv(KvResult::Value(Some(v)))) => {
            Some(String::from_utf8_lossy(v).into_owned())
        }
        _ => None,
    }
}

/// A client that knows node `only` alone: nothing it asks reaches another.
fn client_of(file: &ClusterFile, only: u32) -> SynodClient {
    let mut one = file.clone();
    one.nodes.retain(|n| n.id == only);
    let options = ClientOptions {
        timeout: Duration::from_millis(300),
        retries: 2,
        ..ClientOptions::default()
    };
    SynodClient::new(&one, options).unwrap()
}

#[test]
fn a_cut_off_leader_answers_no_linearizable_read_and_serializable_reads_may_be_stale() {
    let c = Cluster::up_with(3, &["--fault-injection"]);
    let file = ClusterFile::load(Path::new(&c.file())).unwrap();
    assert_eq!(c.client(&["kv", "put", "k", "v1"])["result"], "ok");
    // Read back through the CLI, both ways, at whichever node it asks.
    assert_eq!(c.client(&["kv", "get", "k"])["value"], "v1");
    assert_eq!(
        c.client(&["--serializable", "kv", "get", "k"])["value"],
        "v1"
    );

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // Every node has executed the write before the partition, so the stale
    // leader's state holds v1 for sure.
    let old = c.leader() as u32;
    let mut at_old = rt.block_on(async { client_of(&file, old) });
    assert!(eventually(Duration::from_secs(10), || {
        value(&rt.block_on(at_old.read(&get("k"), RequestKind::Read))).as_deref() == Some("v1")
    }));

    // Cut the leader off from its peers; it still serves its clients.
    let admin = {
        let certs = c.dir.path().join("certs");
        Security::client_with(
            &file,
            Some((&certs.join("admin.crt"), &certs.join("admin.key"))),
        )
        .unwrap()
    };
    let others: Vec<NodeId> = file
        .nodes
        .iter()
        .filter(|n| n.id != old)
        .map(|n| NodeId(n.id))
        .collect();
    let partition = |drop: Vec<NodeId>| AdminRequest::Partition {
        drop_from: drop.clone(),
        drop_to: drop,
        serve_clients: true,
    };
    let timeout = Duration::from_secs(5);
    assert_eq!(
        rt.block_on(query(
            &file,
            &admin,
            old,
            partition(others.clone()),
            timeout
        )),
        Ok(AdminReply::Done)
    );
    // The others elect a leader and take a write the old one never sees.
    assert!(
        eventually(Duration::from_secs(20), || {
            c.client(&["kv", "put", "k", "v2"])["result"] == "ok"
        }),
        "the majority side took no write"
    );
    let majority = others[0].0;
    let mut at_majority = rt.block_on(async { client_of(&file, majority) });
    assert_eq!(
        value(&rt.block_on(at_majority.read(&get("k"), RequestKind::Read))).as_deref(),
        Some("v2")
    );

    // The old leader cannot confirm that it leads: no answer, never v1.
    for _ in 0..3 {
        let result = rt.block_on(at_old.read(&get("k"), RequestKind::Read));
        assert_eq!(result, CommandResult::Unknown, "a cut-off leader answered");
    }
    // Asked for a serializable read, it answers from its own state: stale.
    assert_eq!(
        value(&rt.block_on(at_old.read(&get("k"), RequestKind::LocalRead))).as_deref(),
        Some("v1")
    );

    // Healed, it learns of the new leader and answers with the latest.
    assert_eq!(
        rt.block_on(query(&file, &admin, old, partition(Vec::new()), timeout)),
        Ok(AdminReply::Done)
    );
    assert!(
        eventually(Duration::from_secs(20), || {
            value(&rt.block_on(at_old.read(&get("k"), RequestKind::Read))).as_deref() == Some("v2")
        }),
        "the healed node never answered a linearizable read with the latest value"
    );
}

#[test]
fn serializable_is_refused_for_a_write() {
    let out = common::synod(&[
        "client",
        "--cluster",
        "/nonexistent/cluster.toml",
        "--serializable",
        "kv",
        "put",
        "k",
        "v",
    ]);
    assert!(!out.status.success());
    let said = common::text(&out);
    assert!(said.contains("--serializable is for reads"), "{said}");
}

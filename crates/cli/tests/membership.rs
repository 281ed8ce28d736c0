//! Membership changes on real node processes (docs/membership.md,
//! "Operating it"): `synod cluster add | promote | remove` grow a 3-node TLS
//! cluster to 5, remove its leader, and replace a node whose data directory
//! was deleted, while bank transfers go on; at the end every member holds
//! the same balances and the bank's total is unchanged, and the cluster file
//! lists exactly the executed membership. A client certificate may not
//! change the membership.

mod common;

use common::{Cluster, eventually, json, synod, text};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use synod_node::ClusterFile;

/// Bank transfers of one unit between random accounts, one `synod client`
/// process at a time, each reading the cluster file as it is then (the
/// file follows the membership, so the load follows it too).
struct Load {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(file: String) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicU64::new(0));
        let thread = std::thread::spawn({
            let (stop, ok) = (stop.clone(), ok.clone());
            move || {
                let accounts = ["A", "B", "C", "D", "E", "F", "G", "H", "I", "J"];
                let mut i = 0usize;
                while !stop.load(Ordering::SeqCst) {
                    i += 1;
                    let from = accounts[i % 10];
                    let to = accounts[(i * 7 + 3) % 10];
                    if from == to {
                        continue;
                    }
                    let out = synod(&[
                        "client",
                        "--cluster",
                        &file,
                        "--json",
                        "bank",
                        "transfer",
                        from,
                        to,
                        "1",
                    ]);
                    let stdout = String::from_utf8_lossy(&out.stdout);
                    if out.status.success() && stdout.contains("\"result\":\"ok\"") {
                        ok.fetch_add(1, Ordering::SeqCst);
                    }
                }
            }
        });
        Load {
            stop,
            ok,
            thread: Some(thread),
        }
    }

    fn done(&self) -> u64 {
        self.ok.load(Ordering::SeqCst)
    }

    /// Waits until more transfers than `before` have succeeded: writes go
    /// on after the step just taken.
    fn goes_on(&self, before: u64, step: &str) {
        assert!(
            eventually(Duration::from_secs(30), || self.done() > before + 2),
            "no transfer succeeded after {step} ({} in all)",
            self.done()
        );
    }

    fn stop(mut self) -> u64 {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        self.done()
    }
}

fn change(c: &Cluster, action: &str, id: u32) -> serde_json::Value {
    let file = c.file();
    let id = id.to_string();
    let out = synod(&["cluster", action, "--cluster", &file, "--id", &id, "--json"]);
    assert!(
        out.status.success(),
        "cluster {action} n{id}: {}",
        text(&out)
    );
    json(&out)
}

fn members(c: &Cluster) -> serde_json::Value {
    json(&synod(&[
        "admin",
        "--cluster",
        &c.file(),
        "--json",
        "members",
    ]))
}

fn voters(c: &Cluster) -> Vec<u64> {
    members(c)["members"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["voter"] == true)
        .map(|m| m["id"].as_u64().unwrap())
        .collect()
}

fn file_ids(c: &Cluster) -> Vec<u32> {
    let file = ClusterFile::load(std::path::Path::new(&c.file())).unwrap();
    file.nodes.iter().map(|n| n.id).collect()
}

#[test]
fn a_live_cluster_grows_loses_its_leader_and_replaces_a_lost_disk_under_bank_load() {
    let c = Cluster::up(3);
    let load = Load::start(c.file());
    load.goes_on(0, "the start");

    // Grow from 3 voters to 5: add a learner, promote it, twice.
    for id in [4, 5] {
        let before = load.done();
        let added = change(&c, "add", id);
        assert!(added["members"].as_array().unwrap().contains(&id.into()));
        assert!(!added["voters"].as_array().unwrap().contains(&id.into()));
        let promoted = change(&c, "promote", id);
        assert!(promoted["voters"].as_array().unwrap().contains(&id.into()));
        load.goes_on(before, &format!("adding n{id}"));
    }
    assert_eq!(voters(&c), [1, 2, 3, 4, 5]);
    assert_eq!(file_ids(&c), [1, 2, 3, 4, 5]);

    // Remove the leader: it hands over, and the others lead on.
    let leader = c.leader() as u32;
    let before = load.done();
    let removed = change(&c, "remove", leader);
    assert!(
        !removed["members"]
            .as_array()
            .unwrap()
            .contains(&leader.into())
    );
    let next = c.leader() as u32;
    assert_ne!(next, leader);
    load.goes_on(before, &format!("removing the leader n{leader}"));
    assert!(!file_ids(&c).contains(&leader));

    // A node whose data directory was deleted: kill it, delete its data,
    // remove it, and add a fresh node under a new id in its place.
    let lost = *file_ids(&c).iter().find(|&&id| id != next).unwrap();
    let out = synod(&[
        "cluster",
        "kill",
        "--dir",
        c.dir(),
        "--node",
        &lost.to_string(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let data = c.dir.path().join("data").join(format!("n{lost}"));
    std::fs::remove_dir_all(&data).unwrap();
    let before = load.done();
    change(&c, "remove", lost);
    change(&c, "add", 6);
    change(&c, "promote", 6);
    load.goes_on(before, &format!("replacing n{lost} by n6"));
    assert!(!data.exists(), "the tools never make a removed node's data");

    let transfers = load.stop();
    assert!(transfers > 10, "{transfers} transfers");

    // The file follows the executed membership, voters all.
    let expected: Vec<u32> = [1, 2, 3, 4, 5, 6]
        .into_iter()
        .filter(|id| *id != leader && *id != lost)
        .collect();
    assert_eq!(file_ids(&c), expected);
    let v: Vec<u32> = voters(&c).into_iter().map(|v| v as u32).collect();
    assert_eq!(v, expected);
    let file = ClusterFile::load(std::path::Path::new(&c.file())).unwrap();
    assert!(file.nodes.iter().all(|n| !n.learner), "{file:?}");

    // Every member executes the same log and holds the same balances,
    // which still add up to the bank's 100 units.
    assert_eq!(c.client(&["kv", "put", "end", "1"])["result"], "ok");
    let mut balances: BTreeMap<u32, serde_json::Value> = BTreeMap::new();
    let agreed = eventually(Duration::from_secs(30), || {
        balances.clear();
        for id in &expected {
            let db = json(&synod(&[
                "admin",
                "--cluster",
                &c.file(),
                "--json",
                "db",
                "--node",
                &id.to_string(),
            ]));
            if db["kv"]["end"] != "1" {
                return false;
            }
            balances.insert(*id, db["balances"].clone());
        }
        balances.values().all(|b| *b == balances[&expected[0]])
    });
    assert!(agreed, "the members disagree: {balances:?}");
    let total: u64 = balances[&expected[0]]
        .as_object()
        .unwrap()
        .values()
        .map(|b| b.as_u64().unwrap())
        .sum();
    assert_eq!(total, 100, "{balances:?}");
}

#[test]
fn a_client_certificate_may_not_change_the_membership() {
    let c = Cluster::up(3);
    let certs = c.dir.path().join("certs");
    let refused = std::process::Command::new(env!("CARGO_BIN_EXE_synod"))
        .args(["cluster", "remove", "--cluster", &c.file(), "--id", "2"])
        .env("SYNOD_CERT", certs.join("client.crt"))
        .env("SYNOD_KEY", certs.join("client.key"))
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let said = text(&refused);
    assert!(said.contains("needs an admin certificate"), "{said}");
    assert_eq!(voters(&c), [1, 2, 3]);
    assert_eq!(file_ids(&c), [1, 2, 3]);
    assert_eq!(members(&c)["epoch"], 0);
}

#[test]
fn a_removed_node_restarted_from_an_old_cluster_file_is_refused_by_name() {
    let c = Cluster::up(3);
    assert_eq!(c.client(&["kv", "put", "k", "1"])["result"], "ok");
    let leader = c.leader() as u32;
    let gone = [1, 2, 3].into_iter().find(|id| *id != leader).unwrap();
    let old = c.dir.path().join("old.toml");
    std::fs::copy(c.file(), &old).unwrap();
    // Down while it is removed: it still believes itself a voter, so once
    // back it stands and calls on the others.
    let out = synod(&[
        "cluster",
        "kill",
        "--dir",
        c.dir(),
        "--node",
        &gone.to_string(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    change(&c, "remove", gone);
    assert!(!file_ids(&c).contains(&gone));

    let log = std::fs::File::create(c.dir.path().join("removed.log")).unwrap();
    let mut node = std::process::Command::new(env!("CARGO_BIN_EXE_synod"))
        .args([
            "node",
            "--config",
            old.to_str().unwrap(),
            "--id",
            &gone.to_string(),
        ])
        .env("RUST_LOG", "info")
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let refused = eventually(Duration::from_secs(20), || {
        file_ids(&c).iter().any(|id| {
            c.log(*id)
                .contains(&format!("n{gone} was removed from the cluster"))
        })
    });
    let _ = node.kill();
    let _ = node.wait();
    assert!(refused, "no member refused the removed n{gone} by name");
    // The cluster carries on without it, and its membership is unchanged.
    assert_eq!(c.client(&["kv", "put", "k", "2"])["result"], "ok");
    let v: Vec<u32> = voters(&c).into_iter().map(|v| v as u32).collect();
    assert_eq!(v, file_ids(&c));
}

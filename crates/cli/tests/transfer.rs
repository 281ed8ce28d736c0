//! Leader transfer and the membership view on real node processes
//! (docs/membership.md): `synod admin transfer-leader --to N` hands the
//! leadership over and writes go on; a client certificate may read the
//! membership but not move the leader.

mod common;

use common::{Cluster, json, synod, text};

#[test]
fn the_leader_hands_over_on_request_and_only_an_admin_may_ask() {
    let c = Cluster::up(3);
    let file = c.file();
    let members = json(&synod(&["admin", "--cluster", &file, "--json", "members"]));
    assert_eq!(members["epoch"], 0);
    let voters: Vec<u64> = members["members"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["voter"] == true)
        .map(|m| m["id"].as_u64().unwrap())
        .collect();
    assert_eq!(voters, [1, 2, 3]);

    assert_eq!(c.client(&["kv", "put", "before", "1"])["result"], "ok");
    let leader = c.leader();
    let to = if leader == 3 { 2 } else { 3 };
    let to_arg = to.to_string();

    // A client certificate is refused, and the leader stays.
    let certs = c.dir.path().join("certs");
    let refused = std::process::Command::new(env!("CARGO_BIN_EXE_synod"))
        .args([
            "admin",
            "--cluster",
            &file,
            "transfer-leader",
            "--to",
            &to_arg,
        ])
        .env("SYNOD_CERT", certs.join("client.crt"))
        .env("SYNOD_KEY", certs.join("client.key"))
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let said = text(&refused);
    assert!(said.contains("needs an admin certificate"), "{said}");
    assert_eq!(c.leader(), leader);

    // The admin certificate (the cluster file's) is obeyed.
    let moved = json(&synod(&[
        "admin",
        "--cluster",
        &file,
        "--json",
        "transfer-leader",
        "--to",
        &to_arg,
    ]));
    assert_eq!(moved["from"], leader);
    assert_eq!(moved["to"], to);
    assert_eq!(c.leader(), to);
    assert_eq!(c.client(&["kv", "put", "after", "2"])["result"], "ok");
    assert_eq!(c.client(&["kv", "get", "before"])["value"], "1");

    // Asking the leader to hand over to itself is refused by the tool.
    let itself = synod(&[
        "admin",
        "--cluster",
        &file,
        "transfer-leader",
        "--to",
        &to_arg,
    ]);
    assert!(!itself.status.success());
    assert!(text(&itself).contains("leads already"), "{}", text(&itself));
}

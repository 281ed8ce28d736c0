//! etcd's own Rust client (the `etcd-client` crate) against a local 3-node
//! synod cluster serving etcd's API: every RPC synod serves, checked by
//! `crates/etcd/compat` (KV with every range option, Txn on every compare,
//! Watch, Lease, MemberList, Status, Compact, writes through every
//! endpoint). The checker is built apart from the workspace: etcd-client's
//! build script needs a system `protoc`, which synod's build does not.
//! Without `protoc` the test says it is skipped, unless
//! `SYNOD_REQUIRE_ETCD_CLIENT` is set (CI sets it and installs
//! protobuf-compiler): then it fails.

mod common;

use common::{Cluster, have_tool, text};
use std::path::{Path, PathBuf};
use std::process::Command;
use synod_node::ClusterFile;

fn have_protoc() -> bool {
    let protoc = std::env::var_os("PROTOC").unwrap_or_else(|| "protoc".into());
    let mut probe = Command::new(protoc);
    probe.arg("--version");
    have_tool(
        probe,
        "SYNOD_REQUIRE_ETCD_CLIENT",
        "apt-get install protobuf-compiler",
    )
}

/// Builds the checker; the path of its binary.
fn build_checker() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = here.join("../etcd/compat/Cargo.toml");
    let target = here.join("../../target/etcd-compat");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let built = Command::new(cargo)
        .args(["build", "--locked", "--quiet", "--manifest-path"])
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target)
        .output()
        .expect("cargo runs");
    assert!(
        built.status.success(),
        "building the etcd-client checker failed: {}",
        text(&built)
    );
    target.join("debug/synod-etcd-compat")
}

#[test]
fn etcd_client_drives_every_rpc_synod_serves() {
    if !have_protoc() {
        return;
    }
    let checker = build_checker();
    // Plain: the client speaks h2c to each endpoint; TLS is etcdctl's test.
    let c = Cluster::up_with(3, &["--etcd", "--plain"]);
    let file = ClusterFile::load(Path::new(&c.file())).unwrap();
    let endpoints = synod_etcd::on_node::endpoints(&file).join(",");
    let out = Command::new(&checker).arg(&endpoints).output().unwrap();
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("all checks passed"), "{said}");
    // Every RPC the checker names was exercised and held (each line
    // starts `ok ` and the check's name).
    for what in [
        "put prev_kv",
        "get at an older revision",
        "get --prefix",
        "get from a key",
        "count only",
        "keys only",
        "sorted descending",
        "put ignore_value",
        "put ignore_lease",
        "delete with prev_kv",
        "txn: six compares",
        "txn: failure branch",
        "watch a prefix",
        "progress notification",
        "cancel",
        "watch from a past revision, NOPUT filter",
        "lease grant",
        "lease time-to-live",
        "lease keep-alive",
        "lease list",
        "a revoked lease takes its keys",
        "member list",
        "status",
        "endpoint ",
        "a read below the compaction revision is refused",
    ] {
        assert!(
            said.contains(&format!("ok {what}")),
            "no `ok {what}`: {said}"
        );
    }
}

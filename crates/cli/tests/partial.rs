//! The partial-connectivity scenarios from the command line: `synod sim
//! --partial` runs one and reports recovery against its bound, and `synod
//! config bound --partial` derives that bound for a cluster file; bad
//! names and combinations are refused with a reason.

mod common;
use common::{synod, text};

#[test]
fn the_simulator_holds_a_scenario_and_reports_recovery_against_its_bound() {
    let out = synod(&[
        "sim",
        "--partial",
        "chained",
        "--nodes",
        "5",
        "--seeds",
        "6",
        "--threads",
        "1",
    ]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    let line = t
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .expect("a summary line");
    let v: serde_json::Value = serde_json::from_str(line).expect("JSON");
    assert_eq!(v["scenario"], "chained");
    assert_eq!(v["seeds"], 6);
    assert_eq!(v["violations"], 0);
    assert_eq!(v["within_bound"], true);
    let max = v["max_recovery_ms"].as_f64().expect("a recovery");
    // On 5 nodes the chain leaves the leader without a quorum: something
    // had to be elected, so recovery took more than a commit.
    assert!(max > 50.0 && max <= v["bound_ms"].as_f64().unwrap(), "{v}");
}

#[test]
fn a_scenario_takes_no_drawn_faults_and_unknown_names_are_refused() {
    let out = synod(&[
        "sim",
        "--partial",
        "bridge",
        "--faults",
        "loss",
        "--seeds",
        "1",
    ]);
    assert!(!out.status.success());
    assert!(text(&out).contains("no --faults"), "{}", text(&out));
    let out = synod(&["sim", "--partial", "split-brain", "--seeds", "1"]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("not a partial-connectivity scenario"),
        "{}",
        text(&out)
    );
}

#[test]
fn the_bound_of_a_scenario_comes_from_the_cluster_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cluster.toml");
    let example = synod(&["config", "example"]);
    assert!(example.status.success());
    std::fs::write(&file, &example.stdout).unwrap();
    let file = file.to_str().unwrap();
    // The example has 3 nodes: in quorum-loss the leader keeps a quorum
    // through the hub, and the bound is a next command.
    let out = synod(&[
        "config",
        "bound",
        "--config",
        file,
        "--partial",
        "quorum-loss",
    ]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("the leader keeps a quorum"), "{t}");
    assert!(t.contains("n1 (leader) hears n3"), "{t}");
    let out = synod(&[
        "config",
        "bound",
        "--config",
        file,
        "--partial",
        "constrained-election",
        "--json",
    ]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    let v: serde_json::Value = serde_json::from_str(t.trim()).expect("JSON");
    assert_eq!(v["scenario"], "constrained-election");
    assert!(v["elected_ms"].as_f64().unwrap() > 0.0, "{v}");
    let out = synod(&["config", "bound", "--config", file, "--partial", "nope"]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("not a partial-connectivity scenario"),
        "{}",
        text(&out)
    );
}

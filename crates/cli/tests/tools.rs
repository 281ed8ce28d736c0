//! The people-facing tools against real clusters: the scenario runner
//! (seed C's test sets) and the order desk (seed A).

mod common;
use common::{Cluster, json, synod, text};
use std::io::Write;
use std::process::{Command, Stdio};

#[test]
fn the_sample_test_sets_end_with_the_expected_balances_everywhere() {
    let sample = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scenarios/sample-sets.csv"
    );
    let out = synod(&["scenario", sample, "--yes", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let last = lines.last().unwrap();
    assert_eq!(last["sets"], 5);

    // Set 1: A->B 2, B->C 1, C->A 4. Set 2: D->E 3, E->F 15 fails, F->D 1.
    // Set 3: G->H 5, then the leader is cut off and no quorum is left, so
    // H->G 2 waits; set 4 has no quorum (I->J 1, J->I 1 wait); set 5 brings
    // everyone back: A->J 1, B->I 30 fails, C->H 1, and the three waiting
    // transfers commit, once each.
    let expected = [
        ("A", 11),
        ("B", 11),
        ("C", 6),
        ("D", 8),
        ("E", 13),
        ("F", 9),
        ("G", 7),
        ("H", 14),
        ("I", 10),
        ("J", 11),
    ];
    for n in 1..=5 {
        for (account, balance) in expected {
            assert_eq!(
                last["nodes"][format!("n{n}")][account],
                balance,
                "n{n} {account}: {last}"
            );
        }
    }
    let txs = last["transactions"].as_array().unwrap();
    let find = |tx: &str| {
        txs.iter()
            .find(|t| t["tx"] == tx)
            .unwrap_or_else(|| panic!("{tx} missing"))
    };
    assert_eq!(find("(A, B, 2)")["outcome"], "success");
    assert_eq!(find("(E, F, 15)")["outcome"], "failed");
    assert_eq!(find("(B, I, 30)")["outcome"], "failed");
    for tx in ["(H, G, 2)", "(I, J, 1)", "(J, I, 1)"] {
        assert_eq!(find(tx)["outcome"], "unknown", "{tx}");
        assert_eq!(find(tx)["final_outcome"], "success", "{tx}");
        assert_eq!(find(tx)["committed_in_set"], 5, "{tx}");
    }
    assert_eq!(find("(G, H, 5)")["committed_in_set"], 3);
    // Set 3, the one with LF, shows a view change.
    let set3 = lines.iter().find(|l| l["set"] == 3).unwrap();
    assert!(!set3["new_views"].as_array().unwrap().is_empty(), "{set3}");
    assert!(set3["leader_failed"].is_u64(), "{set3}");
}

#[test]
fn the_scenario_runner_reports_a_bad_row_by_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        "Set Number,Transactions,Live Nodes\n1,\"(A, B, 2)\",\"[n1, n2, n3]\"\n,\"(B, C)\",\n",
    )
    .unwrap();
    let out = synod(&["scenario", bad.to_str().unwrap(), "--yes"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("line 3"), "{}", text(&out));
}

fn desk(cluster: &Cluster, node: u32, site: &str, script: &str) -> std::process::Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_synod"))
        .args([
            "desk",
            "--cluster",
            &cluster.file(),
            "--site",
            site,
            "--node",
            &node.to_string(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    child
}

#[test]
fn two_desks_compete_for_the_last_units_and_exactly_one_wins() {
    let c = Cluster::up(3);
    let setup = desk(&c, 1, "depot", "order bulk 470,0,0,0\n")
        .wait_with_output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&setup.stdout).trim(),
        "Order submitted for bulk."
    );
    // 30 masks left; both desks ask for 20 at once.
    let a = desk(&c, 1, "north", "order alice 20,0,0,0\n");
    let b = desk(&c, 2, "south", "order bob 20,0,0,0\n");
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let answers = [
        String::from_utf8_lossy(&a.stdout).trim().to_string(),
        String::from_utf8_lossy(&b.stdout).trim().to_string(),
    ];
    let won = answers
        .iter()
        .filter(|a| a.starts_with("Order submitted for"))
        .count();
    let lost: Vec<&String> = answers
        .iter()
        .filter(|a| a.starts_with("Cannot place order for"))
        .collect();
    assert_eq!((won, lost.len()), (1, 1), "{answers:?}");
    assert!(
        lost[0].contains("not enough masks (asked 20, 10 in stock)"),
        "{answers:?}"
    );
    // Both desks see the same inventory.
    let north = desk(&c, 1, "north", "inventory\n")
        .wait_with_output()
        .unwrap();
    let south = desk(&c, 2, "south", "inventory\n")
        .wait_with_output()
        .unwrap();
    assert_eq!(north.stdout, south.stdout);
    assert!(
        String::from_utf8_lossy(&north.stdout).contains("masks: 10"),
        "{}",
        String::from_utf8_lossy(&north.stdout)
    );
    let db = json(&synod(&[
        "admin",
        "--cluster",
        &c.file(),
        "--json",
        "db",
        "--node",
        "3",
    ]));
    assert_eq!(db["stock"]["masks"], 10, "{db}");
}

#[test]
fn the_benchmark_reports_figures_and_plots_a_leader_kill() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("run.svg");
    let out = synod(&[
        "bench",
        "--local",
        "3",
        "--clients",
        "4",
        "--seconds",
        "4",
        "--warmup",
        "0",
        "--workload",
        "smallbank",
        "--kill-leader-at",
        "1",
        "--plot",
        svg.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let line = json(&out);
    assert!(line["ops"].as_u64().unwrap() > 0, "{line}");
    for key in ["ops_per_sec", "p50_us", "p99_us", "p999_us", "errors"] {
        assert!(line[key].is_number(), "{key} missing: {line}");
    }
    let events = line["events"].as_array().unwrap();
    assert!(
        events
            .iter()
            .any(|e| e["event"].as_str().unwrap().starts_with("kill -9 leader")),
        "{line}"
    );
    let picture = std::fs::read_to_string(&svg).unwrap();
    assert!(
        picture.starts_with("<svg")
            && picture.contains("kill -9 leader")
            && picture.contains("<polyline")
    );
}

//! The nemesis against real processes, one short run per workload, and the
//! saved history re-checked (and, tampered with, rejected) by `synod check`.

mod common;
use common::{synod, text};

fn run(workload: &str, seed: &str) -> (serde_json::Value, std::path::PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("history.json");
    let out = synod(&[
        "nemesis",
        "--seconds",
        "6",
        "--workload",
        workload,
        "--seed",
        seed,
        "--clients",
        "6",
        "--history",
        history.to_str().unwrap(),
    ]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    let last = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_string();
    let summary: serde_json::Value =
        serde_json::from_str(&last).unwrap_or_else(|e| panic!("{e}: {t}"));
    assert_eq!(summary["anomalies"], 0, "{summary}");
    assert_eq!(summary["linearizable"], true, "{summary}");
    assert_eq!(summary["replicas_identical"], true, "{summary}");
    assert!(summary["faults"].as_u64().unwrap() >= 1, "{summary}");
    assert!(summary["ok"].as_u64().unwrap() > 100, "{summary}");
    (summary, history, dir)
}

fn recheck(history: &std::path::Path) -> std::process::Output {
    synod(&["check", history.to_str().unwrap()])
}

#[test]
fn kv_under_faults_is_linearizable_and_a_planted_stale_read_is_caught() {
    let (_, history, _dir) = run("kv", "11");
    assert!(recheck(&history).status.success());
    // Plant an anomaly: the final read of some key returns a value nobody wrote.
    let mut h: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&history).unwrap()).unwrap();
    let ops = h["ops"].as_array_mut().unwrap();
    let last = ops.last_mut().unwrap();
    last["outcome"] = serde_json::json!({"Kv": {"Value": [120, 120, 120]}});
    std::fs::write(&history, h.to_string()).unwrap();
    let out = recheck(&history);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("linearizability"), "{}", text(&out));
}

#[test]
fn read_heavy_kv_is_linearizable_and_a_planted_stale_read_is_caught() {
    let (summary, history, _dir) = run("kv-reads", "14");
    assert_eq!(summary["workload"], "kv-reads", "{summary}");
    // Most operations were reads answered without a log write.
    let (ops, reads) = (
        summary["ops"].as_u64().unwrap(),
        summary["reads"].as_u64().unwrap(),
    );
    assert!(reads * 2 > ops, "{summary}");
    assert!(recheck(&history).status.success());
    // Plant an anomaly: a client's read (not the final one) returns a
    // value nobody wrote.
    let mut h: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&history).unwrap()).unwrap();
    let read = h["ops"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|o| {
            o["client"].as_u64() != Some(u64::MAX)
                && o["command"]["Kv"]["Get"].is_object()
                && o["outcome"]["Kv"]["Value"].is_array()
        })
        .expect("a client's read of a value");
    read["outcome"] = serde_json::json!({"Kv": {"Value": [120, 120, 120]}});
    std::fs::write(&history, h.to_string()).unwrap();
    let out = recheck(&history);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("linearizability"), "{}", text(&out));
}

#[test]
fn bank_under_faults_conserves_money_and_a_planted_doubled_transfer_is_caught() {
    let (_, history, _dir) = run("bank", "12");
    assert!(recheck(&history).status.success());
    // Plant an anomaly: the final balances show one acknowledged transfer twice.
    let mut h: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&history).unwrap()).unwrap();
    let ops = h["ops"].as_array().unwrap().clone();
    let done = ops
        .iter()
        .find(|o| o["outcome"] == serde_json::json!({"Bank": "Transferred"}))
        .expect("an acknowledged transfer");
    let t = &done["command"]["Bank"]["Transfer"];
    let (from, to, amount) = (
        t["from"].as_str().unwrap(),
        t["to"].as_str().unwrap(),
        t["amount"].as_u64().unwrap(),
    );
    for entry in h["final_balances"].as_array_mut().unwrap() {
        let account = entry[0].as_str().unwrap().to_string();
        let balance = entry[1].as_u64().unwrap();
        if account == from {
            entry[1] = serde_json::json!(balance.saturating_sub(amount));
        } else if account == to {
            entry[1] = serde_json::json!(balance + amount);
        }
    }
    std::fs::write(&history, h.to_string()).unwrap();
    let out = recheck(&history);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("bank"), "{}", text(&out));
}

#[test]
fn inventory_under_faults_keeps_the_books_and_a_lost_order_is_caught() {
    let (_, history, _dir) = run("inventory", "13");
    assert!(recheck(&history).status.success());
    // Plant an anomaly: a submitted order vanishes from the books.
    let mut h: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&history).unwrap()).unwrap();
    let orders = h["final_orders"].as_array_mut().unwrap();
    assert!(!orders.is_empty());
    orders.remove(0);
    std::fs::write(&history, h.to_string()).unwrap();
    let out = recheck(&history);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("inventory"), "{}", text(&out));
}

#[test]
fn sigkill_and_restart_many_times_lose_no_acknowledged_transfer() {
    // Crash-recovery from the write-ahead log: only SIGKILLs (the leader
    // half the time) and restarts, many over the run.
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("history.json");
    let out = synod(&[
        "nemesis",
        "--seconds",
        "8",
        "--workload",
        "bank",
        "--faults",
        "kill,restart",
        "--seed",
        "21",
        "--history",
        history.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let last = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_string();
    let summary: serde_json::Value = serde_json::from_str(&last).unwrap();
    assert_eq!(summary["anomalies"], 0, "{summary}");
    assert!(summary["faults"].as_u64().unwrap() >= 3, "{summary}");
    assert!(recheck(&history).status.success());
}

#[test]
fn membership_changes_under_load_leave_no_anomaly() {
    // The membership fault alone, so that each strike is one: with seed 5
    // the schedule grows, shrinks and replaces nodes.
    for workload in ["kv", "bank"] {
        let out = synod(&[
            "nemesis",
            "--seconds",
            "8",
            "--workload",
            workload,
            "--faults",
            "membership",
            "--seed",
            "5",
            "--clients",
            "4",
        ]);
        let t = text(&out);
        assert!(out.status.success(), "{t}");
        assert!(t.contains("membership: "), "no membership change: {t}");
        let last = String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .unwrap_or_default()
            .to_string();
        let summary: serde_json::Value =
            serde_json::from_str(&last).unwrap_or_else(|e| panic!("{e}: {t}"));
        assert_eq!(summary["anomalies"], 0, "{summary}");
        assert_eq!(summary["replicas_identical"], true, "{summary}");
        assert!(summary["faults"].as_u64().unwrap() >= 2, "{summary}");
        assert!(summary["ok"].as_u64().unwrap() > 100, "{summary}");
    }
}

#[test]
fn a_partial_connectivity_scenario_held_in_rounds_leaves_no_anomaly() {
    // Chained around the leader: the leader loses its quorum, the node at
    // the far end stands first and cannot win, the leader's neighbour can.
    let out = synod(&[
        "nemesis",
        "--partial",
        "chained",
        "--seconds",
        "8",
        "--clients",
        "4",
        "--seed",
        "31",
    ]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(
        t.contains("partial: round 1, chained around leader n"),
        "{t}"
    );
    assert!(t.contains("partial connectivity: chained"), "{t}");
    let summary = common::json(&out);
    assert_eq!(summary["anomalies"], 0, "{summary}");
    assert_eq!(summary["linearizable"], true, "{summary}");
    assert_eq!(summary["replicas_identical"], true, "{summary}");
    let partial = &summary["partial"];
    assert_eq!(partial["scenario"], "chained", "{summary}");
    let rounds = partial["rounds"].as_u64().unwrap();
    assert!(rounds >= 1, "{summary}");
    assert_eq!(summary["faults"].as_u64(), Some(rounds), "{summary}");
    assert!(
        !partial["recovery_ms"].as_array().unwrap().is_empty(),
        "{summary}"
    );
    assert!(partial["bound_ms"].as_f64().unwrap() > 0.0, "{summary}");
    assert_eq!(partial["client_timeout_ms"], 200.0, "{summary}");
}

#[test]
fn partial_refuses_faults_and_unknown_scenarios() {
    let out = synod(&["nemesis", "--partial", "chained", "--faults", "kill"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("not both"), "{}", text(&out));
    let out = synod(&["nemesis", "--partial", "split-brain"]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("not a partial-connectivity scenario"),
        "{}",
        text(&out)
    );
}

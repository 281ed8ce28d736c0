//! Helpers shared by the tests that drive real node processes.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

pub fn synod(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_synod"))
        .args(args)
        .output()
        .expect("the synod binary runs")
}

/// Whether a tool a test needs runs (`probe` succeeds). If not, the test
/// says it is skipped, unless the environment variable `require` is set
/// (CI sets it): then it fails.
pub fn have_tool(mut probe: Command, require: &str, install: &str) -> bool {
    let found = probe.output().is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os(require).is_none(),
            "{probe:?} is required here ({require} is set) but does not run"
        );
        eprintln!("{probe:?} does not run: skipped ({install})");
    }
    found
}

pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub fn json(out: &Output) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(out)))
}

/// A local cluster that is stopped when the test ends, pass or fail.
pub struct Cluster {
    pub dir: tempfile::TempDir,
}

impl Cluster {
    pub fn up(nodes: usize) -> Self {
        Cluster::up_with(nodes, &[])
    }
    /// `synod cluster up` with more options (`--fault-injection`).
    pub fn up_with(nodes: usize, extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let nodes = nodes.to_string();
        let mut args = vec![
            "cluster",
            "up",
            "--nodes",
            &nodes,
            "--dir",
            dir.path().to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let out = synod(&args);
        assert!(out.status.success(), "cluster up failed: {}", text(&out));
        Cluster { dir }
    }
    pub fn file(&self) -> String {
        self.dir
            .path()
            .join("cluster.toml")
            .to_string_lossy()
            .into_owned()
    }
    pub fn dir(&self) -> &str {
        self.dir.path().to_str().unwrap()
    }
    pub fn client(&self, args: &[&str]) -> serde_json::Value {
        let file = self.file();
        let mut all = vec!["client", "--cluster", &file, "--json"];
        all.extend_from_slice(args);
        json(&synod(&all))
    }
    pub fn status(&self) -> serde_json::Value {
        json(&synod(&[
            "admin",
            "--cluster",
            &self.file(),
            "--json",
            "status",
        ]))
    }
    pub fn leader(&self) -> u64 {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let s = self.status();
            if let Some(l) = s["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|n| n["role"] == "leader")
            {
                return l["node"].as_u64().unwrap();
            }
        }
        panic!("no leader: {}", self.status());
    }
    pub fn log(&self, node: u32) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("n{node}.log"))).unwrap_or_default()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = synod(&["cluster", "down", "--dir", self.dir()]);
    }
}

/// Checks `ready` every 50 ms until it holds; false if `limit` passes first.
pub fn eventually(limit: Duration, mut ready: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while !ready() {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    true
}

/// The status code of `GET http://{addr_path}` (plain HTTP/1.1) and its
/// body; `None` if nothing answers.
pub fn http_get(addr_path: &str) -> Option<(u16, String)> {
    let (addr, path) = addr_path.split_once('/')?;
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET /{path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut answer = String::new();
    s.read_to_string(&mut answer).ok()?;
    let status = answer.split(' ').nth(1)?.parse().ok()?;
    let body = answer.split_once("\r\n\r\n")?.1.to_string();
    Some((status, body))
}

//! The dashboard in a real browser: a local 3-node cluster, `synod
//! dashboard`, and headless Chromium loading the page. The page must name
//! the leader; after the leader is killed through the page's control
//! endpoint (the request its Kill button sends), it must name another
//! within the failover bound. Screenshots before, during and after the
//! failover go to a temporary directory, or to `SYNOD_SCREENSHOTS` when it
//! is set (`SYNOD_SCREENSHOTS=docs/img cargo test -p synod --test dashboard`
//! makes the README's pictures), so a test run leaves the checkout as it was.
//!
//! Needs Chromium (`chromium`, Debian's package; .ci/run installs it, or
//! set SYNOD_CHROMIUM). Without one the test says so and passes.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{Cluster, synod, text};

/// The dashboard's polling period in this test.
const POLL_MS: u64 = 100;

fn chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("SYNOD_CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        for name in [
            "chromium",
            "chromium-browser",
            "google-chrome",
            "google-chrome-stable",
        ] {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    None
}

/// A `synod dashboard` process, killed when the test ends.
struct DashboardProcess {
    child: Child,
    url: String,
}

impl DashboardProcess {
    fn start(cluster_file: &str) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_synod"))
            .args([
                "dashboard",
                "--cluster",
                cluster_file,
                "--listen",
                "127.0.0.1:0",
                "--poll-ms",
                &POLL_MS.to_string(),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("synod dashboard starts");
        let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let first = lines
            .next()
            .and_then(|l| l.ok())
            .unwrap_or_else(|| panic!("synod dashboard printed nothing"));
        let url = first
            .strip_prefix("dashboard: ")
            .unwrap_or_else(|| panic!("unexpected first line: {first}"))
            .to_string();
        // Keep draining its output so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        DashboardProcess { child, url }
    }

    fn addr(&self) -> String {
        let rest = self.url.strip_prefix("http://").expect("an http URL");
        rest.split('/').next().expect("host:port").to_string()
    }

    fn token(&self) -> String {
        self.url
            .split("token=")
            .nth(1)
            .expect("a token")
            .to_string()
    }
}

impl Drop for DashboardProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP request to the dashboard; the status and the body.
fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("the dashboard accepts");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// Runs headless Chromium with `args` on `url`; its stdout.
fn browser(chromium: &Path, profile: &Path, args: &[&str], url: &str) -> String {
    // At the lowest priority: the browser must not slow the nodes'
    // election it is watching (the machine may have two cores).
    let nice = Path::new("/usr/bin/nice");
    let mut command = if nice.is_file() {
        let mut c = Command::new(nice);
        c.args(["-n", "19"]).arg(chromium);
        c
    } else {
        Command::new(chromium)
    };
    let mut child = command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--hide-scrollbars",
            "--timeout=15000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromium starts");
    let mut stdout = child.stdout.take().expect("piped stdout");
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        let _ = stdout.read_to_string(&mut out);
        out
    });
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if child.try_wait().ok().flatten().is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 90 s ({args:?})");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    reader.join().unwrap_or_default()
}

/// The leader the rendered page names, if any.
fn page_leader(dom: &str) -> Option<u32> {
    let id: u32 = dom
        .split("data-leader=\"")
        .nth(1)?
        .split('"')
        .next()?
        .parse()
        .ok()?;
    // The heading says it in words too.
    assert!(
        dom.contains(&format!("id=\"leader\">n{id}<")),
        "data-leader n{id} but not in the heading"
    );
    Some(id)
}

fn attribute(dom: &str, element_id: &str, attribute: &str) -> Option<String> {
    let element = dom.split(&format!("id=\"{element_id}\"")).nth(1)?;
    let tag = element.split('>').next()?;
    Some(
        tag.split(&format!("{attribute}=\""))
            .nth(1)?
            .split('"')
            .next()?
            .to_string(),
    )
}

/// "a new leader is in place by  176.0 ms" from `synod config bound`.
fn failover_bound_ms(cluster_file: &str) -> f64 {
    let out = synod(&["config", "bound", "--config", cluster_file]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    t.lines()
        .find(|l| l.contains("a new leader is in place by"))
        .and_then(|l| l.split_whitespace().rev().nth(1))
        .and_then(|ms| ms.parse().ok())
        .unwrap_or_else(|| panic!("no bound in: {t}"))
}

#[test]
fn the_page_names_the_leader_and_a_new_one_after_it_is_killed_from_the_page() {
    let Some(chromium) = chromium() else {
        println!("SKIPPED: no chromium found (apt-get install -y chromium, or set SYNOD_CHROMIUM)");
        return;
    };
    let cluster = Cluster::up_with(3, &["--fault-injection"]);
    let file = cluster.file();
    let dash = DashboardProcess::start(&file);
    let addr = dash.addr();
    let token = dash.token();
    let profile = tempfile::tempdir().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let img = match std::env::var_os("SYNOD_SCREENSHOTS") {
        Some(dir) => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(dir),
        None => scratch.path().to_path_buf(),
    };
    std::fs::create_dir_all(&img).unwrap();
    let dump = |url: &str| browser(&chromium, profile.path(), &["--dump-dom"], url);
    let screenshot = |name: &str| {
        let path = img.join(name);
        let _ = std::fs::remove_file(&path);
        browser(
            &chromium,
            profile.path(),
            &[
                &format!("--screenshot={}", path.display()),
                "--window-size=1600,1700",
            ],
            &dash.url,
        );
        let png = std::fs::read(&path).unwrap_or_default();
        assert!(
            png.starts_with(b"\x89PNG"),
            "no screenshot at {}",
            path.display()
        );
    };

    // A stranger cannot use the controls.
    let kill = |node: u64| format!(r#"{{"action":"kill","node":{node}}}"#);
    let (status, body) = http(&addr, "POST", "/api/control", &[], &kill(1));
    assert_eq!(status, 401, "{body}");
    let (status, _) = http(
        &addr,
        "POST",
        "/api/control",
        &[("x-synod-token", "not-the-token")],
        &kill(1),
    );
    assert_eq!(status, 401);

    // The page names the leader the nodes name.
    let leader = cluster.leader();
    let mut dom = String::new();
    let named = common::eventually(Duration::from_secs(60), || {
        dom = dump(&dash.url);
        page_leader(&dom) == Some(leader as u32)
    });
    assert!(named, "the page does not name n{leader}:\n{dom}");
    assert!(dom.contains("class=\"cell s-"), "no log grid:\n{dom}");
    assert!(
        dom.contains(">Kill<"),
        "no controls on the page with the token:\n{dom}"
    );

    // Some load, so the log, the chart and the state have something.
    let headers = [("x-synod-token", token.as_str())];
    let (status, body) = http(
        &addr,
        "POST",
        "/api/control",
        &headers,
        r#"{"action":"load-start"}"#,
    );
    assert_eq!(status, 200, "{body}");
    std::thread::sleep(Duration::from_secs(4));
    screenshot("dashboard-before.png");

    // Kill the leader (the nodes may have moved on under the load; the one
    // leading now) as the Kill button does, and watch the page.
    let leader = cluster.leader();
    let (status, body) = http(&addr, "POST", "/api/control", &headers, &kill(leader));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(&format!("n{leader} killed")), "{body}");
    // Wait for the dashboard to see the failover without starting a
    // browser meanwhile (one would compete with the election for the CPU),
    // then check what the page shows.
    let mut snapshot = String::new();
    let seen = common::eventually(Duration::from_secs(60), || {
        snapshot = http(&addr, "GET", "/api/snapshot", &[], "").1;
        snapshot.contains("\"failover\":{")
    });
    let events = snapshot
        .split("\"events\":")
        .nth(1)
        .unwrap_or(&snapshot)
        .to_string();
    assert!(
        seen,
        "the dashboard saw no failover after n{leader} was killed; its events: {events}"
    );
    screenshot("dashboard-failover.png");
    let mut new = None;
    let moved = common::eventually(Duration::from_secs(60), || {
        dom = dump(&dash.url);
        new = page_leader(&dom).filter(|n| *n as u64 != leader);
        new.is_some() && attribute(&dom, "failover", "data-after-ms").is_some()
    });
    assert!(
        moved,
        "the page names no new leader after n{leader} was killed:\n{dom}"
    );
    let new = new.unwrap_or_default();
    let after_ms: f64 = attribute(&dom, "failover", "data-after-ms")
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::MAX);
    let bound = failover_bound_ms(&file);
    println!(
        "n{leader} killed; the page named n{new} {after_ms} ms later (bound {bound} ms, polled every {POLL_MS} ms)"
    );
    // The dashboard looks every POLL_MS: it sees a leader up to one
    // period (and one round of queries) after the leader is in place.
    let elections: Vec<String> = (1..=3)
        .flat_map(|n| {
            cluster
                .log(n)
                .lines()
                .filter(|l| l.contains("elected") || l.contains("suspects"))
                .map(|l| format!("n{n}: {l}"))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(
        after_ms <= bound + 2.0 * POLL_MS as f64,
        "the page named n{new} {after_ms} ms after the kill; the bound is {bound} ms plus {} ms of polling; the nodes logged:\n{}",
        2 * POLL_MS,
        elections.join("\n")
    );
    assert!(
        dom.contains(&format!("n{leader} stopped answering")),
        "the event log misses the kill:\n{dom}"
    );
    // Under load the grid shows executed slots (the admin view Slots).
    assert!(
        dom.contains("cell s-E"),
        "no executed slot in the grid:\n{dom}"
    );
    std::thread::sleep(Duration::from_secs(2));
    screenshot("dashboard-after.png");
    let (status, _) = http(
        &addr,
        "POST",
        "/api/control",
        &headers,
        r#"{"action":"load-stop"}"#,
    );
    assert_eq!(status, 200);
}

//! A local cluster of node processes on loopback, managed through a
//! directory: `cluster.toml` (the cluster file), `n<id>.pid` and
//! `n<id>.log` per node, the certificates under `certs/`, and the nodes'
//! data under `data/`. This file
//! starts, signals and stops the processes; `queries.rs` asks the running
//! nodes. `synod cluster` and every engine here share it.

use anyhow::{Context, bail};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use synod_node::ClusterFile;
use synod_node::config::TlsFiles;
use synod_node::tls::Security;

/// How often the tools look again while waiting for a condition.
pub const POLL: Duration = Duration::from_millis(10);

/// Checks `check` every [`POLL`] until it yields a value or `limit` passes.
pub async fn poll<T>(limit: Duration, mut check: impl AsyncFnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    loop {
        if let Some(value) = check().await {
            return Some(value);
        }
        if start.elapsed() > limit {
            return None;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// A cluster the tools drive: its directory, its cluster file, and the
/// `synod` binary its nodes run as (`synod node`).
pub struct LocalCluster {
    pub dir: PathBuf,
    pub file: ClusterFile,
    /// What this tool presents to the nodes: the cluster file's client
    /// certificate (a local cluster's is the admin's), or plain TCP.
    pub security: Security,
    binary: PathBuf,
    /// A cluster run by someone else (containers, other machines): only
    /// what goes through the network works, not process control.
    external: bool,
}

/// The clusters this process started and has not stopped (see
/// [`stop_every_cluster`]).
static STARTED: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());
/// Directories that are a tool's scratch space: removed when the tool is
/// interrupted (a user's directory is kept).
static SCRATCH: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

/// Set once [`stop_every_cluster`] has run: no cluster is made after it.
static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn started() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    STARTED.lock().unwrap_or_else(|e| e.into_inner())
}

fn scratch_dirs() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    SCRATCH.lock().unwrap_or_else(|e| e.into_inner())
}

/// Marks `dir` (which must exist) as a tool's scratch directory, before
/// the cluster in it starts: interrupted, the tool stops its nodes and
/// removes the directory.
pub fn scratch(dir: &Path) {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    scratch_dirs().push(dir);
}

/// Stops every node of every cluster this process started and has not yet
/// brought down (for a command interrupted by a signal or a closed pipe):
/// nodes run in process groups of their own and would outlive it. Scratch
/// directories are removed; others are kept. Returns what it did, a line a
/// cluster.
pub fn stop_every_cluster() -> Vec<String> {
    let mut registry = started();
    INTERRUPTED.store(true, std::sync::atomic::Ordering::SeqCst);
    let clusters = std::mem::take(&mut *registry);
    drop(registry);
    let scratch = std::mem::take(&mut *scratch_dirs());
    let mut done = Vec::new();
    for dir in &clusters {
        if let Ok(cluster) = LocalCluster::open(dir, PathBuf::from("synod")) {
            let _ = cluster.down();
        }
        if !scratch.contains(dir) {
            done.push(format!(
                "stopped the nodes in {} (its files are kept)",
                dir.display()
            ));
        }
    }
    for dir in scratch {
        if std::fs::remove_dir_all(&dir).is_ok() {
            done.push(format!(
                "stopped the nodes in {} and removed it",
                dir.display()
            ));
        }
    }
    done
}

/// Whether a process holds on to its resources, from its `/proc/PID/stat`
/// line and the number of its threads: it exists and is not a zombie, or it
/// is a zombie whose other threads have not yet exited (see
/// [`LocalCluster::running`]).
fn process_alive(stat: &str, threads: usize) -> bool {
    let zombie = stat
        .split(") ")
        .nth(1)
        .is_some_and(|rest| rest.starts_with('Z'));
    !stat.is_empty() && (!zombie || threads > 1)
}

impl LocalCluster {
    pub fn cluster_file(dir: &Path) -> PathBuf {
        dir.join("cluster.toml")
    }

    /// Writes a cluster file for `nodes` nodes into `dir` and starts every
    /// node. The cluster uses mutual TLS with certificates written into
    /// `dir/certs` unless `tune` sets `file.tls = None` (plain TCP). A
    /// directory that already holds a stopped cluster is resumed (its nodes
    /// restart from their logs, `tune` is not applied), never wiped; one
    /// whose cluster runs, or has another size, is refused.
    pub fn create(
        dir: &Path,
        nodes: usize,
        binary: PathBuf,
        tune: impl FnOnce(&mut ClusterFile),
    ) -> anyhow::Result<Self> {
        if nodes == 0 || nodes > 64 {
            bail!("--nodes must be between 1 and 64, got {nodes}");
        }
        // Held until every node has started: an interruption meanwhile
        // waits for this, then stops them all and removes a scratch
        // directory no file is still being written into; after one, no
        // cluster is made (it would outlive the process).
        let mut registry = started();
        if INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst) {
            bail!("interrupted");
        }
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let dir = dir.canonicalize()?;
        let existing = LocalCluster::cluster_file(&dir);
        if existing.exists() {
            if let Ok(old) = LocalCluster::open(&dir, binary.clone())
                && old.ids().into_iter().any(|id| old.running(id))
            {
                bail!(
                    "{} already holds a running cluster; run `synod cluster down --dir {}` first",
                    dir.display(),
                    dir.display()
                );
            }
            let old = LocalCluster::open(&dir, binary)?;
            let held = old.file.nodes.len();
            if held != nodes {
                bail!(
                    "{} holds a cluster of {held} nodes, not {nodes}: resume it with --nodes {held}, \
                     or delete the directory to start afresh (its data is lost then)",
                    dir.display()
                );
            }
            registry.push(old.dir.clone());
            for id in old.ids() {
                old.start(id, false)?;
            }
            return Ok(old);
        }
        let id = format!("local-{:08x}", rand::random::<u32>());
        // With a metrics endpoint on each node.
        let mut file = ClusterFile::on_free_ports(&id, PathBuf::from("data"), nodes)
            .context("finding free ports")?;
        file.tls = Some(TlsFiles::in_dir(Path::new("certs")));
        tune(&mut file);
        file.validate()?;
        if file.tls.is_some() {
            let ids: Vec<u32> = file.nodes.iter().map(|n| n.id).collect();
            // The nodes are reached at 127.0.0.1 (or localhost): tools
            // that check the host name (etcdctl) find it in the certificate.
            let hosts = ["localhost".to_string(), "127.0.0.1".to_string()];
            crate::certs::write_certs(&dir.join("certs"), &id, &ids, &hosts)?;
        }
        std::fs::write(&existing, file.to_toml())?;
        let file = ClusterFile::load(&existing)?;
        let cluster = LocalCluster {
            dir,
            security: Security::client(&file)?,
            file,
            binary,
            external: false,
        };
        registry.push(cluster.dir.clone());
        for id in 1..=nodes as u32 {
            cluster.start(id, true)?;
        }
        drop(registry);
        Ok(cluster)
    }

    /// A cluster previously created in `dir`.
    pub fn open(dir: &Path, binary: PathBuf) -> anyhow::Result<Self> {
        let dir = dir
            .canonicalize()
            .with_context(|| format!("no cluster directory {}", dir.display()))?;
        let file = ClusterFile::load(&LocalCluster::cluster_file(&dir))?;
        Ok(LocalCluster {
            dir,
            security: Security::client(&file)?,
            file,
            binary,
            external: false,
        })
    }

    /// The `synod` binary the nodes run as.
    pub fn binary(&self) -> &Path {
        &self.binary
    }

    /// The same cluster with its cluster file read again (after a
    /// membership change rewrote it).
    pub fn reopen(&self) -> anyhow::Result<Self> {
        if self.external {
            return LocalCluster::external(self.file.clone());
        }
        LocalCluster::open(&self.dir, self.binary.clone())
    }

    /// A cluster this tool does not run: admin queries and partitions
    /// work, process control does not.
    /// Whether this tool runs the cluster's processes (not an external one).
    pub fn is_local(&self) -> bool {
        !self.external
    }

    pub fn external(file: ClusterFile) -> anyhow::Result<Self> {
        Ok(LocalCluster {
            dir: PathBuf::new(),
            security: Security::client(&file)?,
            file,
            binary: PathBuf::new(),
            external: true,
        })
    }

    fn pid_file(&self, id: u32) -> PathBuf {
        self.dir.join(format!("n{id}.pid"))
    }

    pub fn log_file(&self, id: u32) -> PathBuf {
        self.dir.join(format!("n{id}.log"))
    }

    /// The ids of the nodes in the cluster file. After membership changes
    /// (`synod cluster add | remove`) they need not be 1..=n.
    pub fn ids(&self) -> Vec<u32> {
        self.file.nodes.iter().map(|n| n.id).collect()
    }

    fn check_id(&self, id: u32) -> anyhow::Result<()> {
        if self.file.node(id).is_none() {
            let ids: Vec<String> = self.ids().iter().map(|id| id.to_string()).collect();
            bail!(
                "node {id} is not in this cluster (nodes {})",
                ids.join(", ")
            );
        }
        Ok(())
    }

    /// Starts node `id` (in its own process group, so a Ctrl-C meant for
    /// the tool does not reach it); with `init`, a node of a new cluster
    /// whose data directory is initialised first (`synod node --init`).
    pub fn start(&self, id: u32, init: bool) -> anyhow::Result<()> {
        use std::os::unix::process::CommandExt;
        self.check_id(id)?;
        if self.external {
            bail!("n{id} is not run by this tool");
        }
        if self.running(id) {
            bail!("n{id} is already running");
        }
        if init {
            synod_node::server::prepare(&self.file, id, synod_node::server::Prepare::Init)?;
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_file(id))?;
        let mut cmd = Command::new(&self.binary);
        cmd.arg("node")
            .arg("--config")
            .arg(LocalCluster::cluster_file(&self.dir))
            .arg("--id")
            .arg(id.to_string());
        let child = cmd
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0)
            .spawn()
            .with_context(|| format!("starting {}", self.binary.display()))?;
        std::fs::write(self.pid_file(id), child.id().to_string())?;
        // Not waited for: the node outlives `synod cluster up`. (Dropping a
        // Child neither kills nor waits.)
        drop(child);
        Ok(())
    }

    pub fn pid(&self, id: u32) -> Option<u32> {
        std::fs::read_to_string(self.pid_file(id))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Whether node `id`'s process exists (stopped counts as running).
    pub fn running(&self, id: u32) -> bool {
        if self.external {
            return true;
        }
        match self.pid(id) {
            Some(pid) => {
                // A zombie (exited, not reaped) is not running, once all its
                // threads are gone: the main thread turns zombie first, and a
                // thread still finishing an fsync keeps the process's files,
                // and so its ports, open until it exits.
                let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
                let threads = std::fs::read_dir(format!("/proc/{pid}/task"))
                    .map(|d| d.count())
                    .unwrap_or(0);
                process_alive(&stat, threads)
            }
            None => false,
        }
    }

    fn signal(&self, id: u32, signal: &str) -> anyhow::Result<()> {
        self.check_id(id)?;
        if self.external {
            bail!("n{id} is not run by this tool");
        }
        let Some(pid) = self.pid(id).filter(|_| self.running(id)) else {
            bail!("n{id} is not running")
        };
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .status()?;
        if !status.success() {
            bail!("kill -{signal} {pid} (n{id}) failed");
        }
        Ok(())
    }

    /// SIGKILL: the node dies at once, losing nothing it had synced.
    pub fn kill(&self, id: u32) -> anyhow::Result<()> {
        self.signal(id, "KILL")?;
        self.wait_exit(id, Duration::from_secs(5));
        let _ = std::fs::remove_file(self.pid_file(id));
        Ok(())
    }

    pub fn pause(&self, id: u32) -> anyhow::Result<()> {
        self.signal(id, "STOP")
    }

    pub fn resume(&self, id: u32) -> anyhow::Result<()> {
        self.signal(id, "CONT")
    }

    /// Kills node `id` if it runs, then starts it from its data.
    pub fn restart(&self, id: u32) -> anyhow::Result<()> {
        if self.running(id) {
            let _ = self.signal(id, "CONT");
            self.kill(id)?;
        }
        self.start(id, false)
    }

    fn wait_exit(&self, id: u32, limit: Duration) -> bool {
        let start = Instant::now();
        while self.running(id) {
            if start.elapsed() > limit {
                return false;
            }
            std::thread::sleep(POLL);
        }
        true
    }

    /// Stops node `id`: SIGTERM (a clean shutdown), SIGKILL after 3 s.
    pub fn stop(&self, id: u32) -> anyhow::Result<()> {
        let _ = self.signal(id, "CONT");
        self.signal(id, "TERM")?;
        if !self.wait_exit(id, Duration::from_secs(3)) {
            let _ = self.signal(id, "KILL");
            self.wait_exit(id, Duration::from_secs(2));
        }
        let _ = std::fs::remove_file(self.pid_file(id));
        Ok(())
    }

    /// Stops every node: SIGTERM (a clean shutdown), SIGKILL after 3 s.
    pub fn down(&self) -> anyhow::Result<()> {
        if self.external {
            return Ok(());
        }
        started().retain(|dir| *dir != self.dir);
        scratch_dirs().retain(|dir| *dir != self.dir);
        for id in self.ids() {
            if self.running(id) {
                let _ = self.signal(id, "CONT");
                let _ = self.signal(id, "TERM");
            }
        }
        for id in self.ids() {
            if self.running(id) && !self.wait_exit(id, Duration::from_secs(3)) {
                let _ = self.signal(id, "KILL");
                self.wait_exit(id, Duration::from_secs(2));
            }
            let _ = std::fs::remove_file(self.pid_file(id));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::process_alive;

    #[test]
    fn a_zombie_is_gone_only_once_its_last_thread_is() {
        let zombie = "4242 (synod) Z 1 4242 4242 0 -1";
        let running = "4242 (synod) S 1 4242 4242 0 -1";
        assert!(process_alive(running, 3));
        assert!(
            process_alive(zombie, 2),
            "a thread still in fsync holds the node's ports"
        );
        assert!(!process_alive(zombie, 1));
        assert!(!process_alive("", 0), "no such process");
    }
}

//! The cluster file: one TOML document shared by every node and client of a
//! cluster. Validation names the offending field; unknown fields are errors
//! (a typo must not silently fall back to a default).

pub use crate::address::Address;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use synod_core::{Config, MS, NodeId};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ConfigFileError {
    // Not named `source`: the io error is part of this message, and
    // anyhow's `{:#}` would print it a second time as the cause.
    #[error("cannot read cluster file {path}: {cause}")]
    Read {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("cluster file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("cluster file {path}: {field}: {why}")]
    Invalid {
        path: PathBuf,
        field: String,
        why: String,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterFile {
    /// Checked at every handshake: nodes and clients of another cluster are refused.
    pub cluster_id: String,
    /// Each node keeps its log under `<data_dir>/n<id>`. Relative paths are
    /// relative to the cluster file.
    pub data_dir: PathBuf,
    #[serde(default = "default_max_frame")]
    pub max_frame_bytes: usize,
    /// An even number of nodes tolerates no more failures than one node
    /// fewer (a majority of 4 is 3), so it is refused unless allowed.
    #[serde(default)]
    pub allow_even_size: bool,
    /// What the nodes replicate: synod's own applications, or an etcd v3
    /// key-value store served over etcd's gRPC API on each node's
    /// `etcd_addr` (docs/etcd.md). The same for every node, for good.
    #[serde(default, skip_serializing_if = "Application::is_default")]
    pub application: Application,
    #[serde(default)]
    pub timers: Timers,
    #[serde(default)]
    pub batching: Batching,
    #[serde(default)]
    pub checkpoints: Checkpoints,
    #[serde(default)]
    pub storage: Storage,
    #[serde(default)]
    pub runtime: Runtime,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub testing: Testing,
    /// The etcd front end's settings (`application = "etcd"` only).
    #[serde(default, skip_serializing_if = "EtcdSettings::is_default")]
    pub etcd: EtcdSettings,
    /// Mutual TLS on every connection (docs/security.md); without this
    /// section the cluster runs plain TCP and authenticates nobody.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsFiles>,
    /// The voters the cluster was created with (epoch 0 of the membership),
    /// once the file no longer says it by itself: `synod cluster add |
    /// promote | remove` writes it the first time it changes the file.
    /// Without it, the founding voters are the entries without `learner`.
    /// A node starts from it (before it has executed anything, its
    /// membership is epoch 0, whose voters are part of the replicated
    /// state and its digest); the node learns the real membership from
    /// the log or a snapshot (docs/membership.md).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub founders: Vec<u32>,
    pub nodes: Vec<NodeEntry>,
}

/// The state machine a cluster replicates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Application {
    /// The bank, the inventory, the key-value store and SmallBank, for
    /// synod's own clients and tools.
    #[default]
    Services,
    /// etcd's MVCC store, for etcd's clients (`etcdctl`, client libraries).
    Etcd,
}

impl Application {
    fn is_default(&self) -> bool {
        *self == Application::Services
    }
}

fn default_max_frame() -> usize {
    crate::wire::DEFAULT_MAX_FRAME
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeEntry {
    pub id: u32,
    /// Where peers connect: `host:port`, a name or an IP address.
    pub addr: Address,
    /// Where clients and admin tools connect.
    pub client_addr: Address,
    /// What the node binds for peers, where that differs from `addr` (a
    /// container or NAT: bind `0.0.0.0:7001`, advertise `db1.example:7001`).
    /// Default: `addr`, resolved at start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen_addr: Option<SocketAddr>,
    /// What the node binds for clients, where that differs from
    /// `client_addr`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_listen_addr: Option<SocketAddr>,
    /// Where the node serves `GET /metrics` (Prometheus text) and `GET
    /// /health` over HTTP (docs/observability.md); none if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_addr: Option<SocketAddr>,
    /// Where the node serves etcd's v3 gRPC API (`application = "etcd"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etcd_addr: Option<Address>,
    /// What the node binds for etcd clients, where that differs from
    /// `etcd_addr`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etcd_listen_addr: Option<SocketAddr>,
    /// A learner: it follows the log without voting. A node joining a
    /// running cluster starts with its own entry so marked
    /// (docs/membership.md); `synod cluster` keeps the flag in step with
    /// the committed membership.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub learner: bool,
}

impl NodeEntry {
    /// Every address the file names for this node, by field name (as
    /// written: two fields naming one address clash). A metrics address on
    /// every interface (`0.0.0.0:9100`) is each machine's own, so nodes on
    /// separate machines may share it; it is left out.
    pub fn addresses(&self) -> impl Iterator<Item = (&'static str, String)> {
        [
            ("addr", self.addr.to_string()),
            ("client_addr", self.client_addr.to_string()),
        ]
        .into_iter()
        .chain(
            self.metrics_addr
                .filter(|a| !a.ip().is_unspecified())
                .map(|a| ("metrics_addr", a.to_string())),
        )
        .chain(
            self.etcd_addr
                .as_ref()
                .map(|a| ("etcd_addr", a.to_string())),
        )
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Timers {
    pub tick_ms: u64,
    pub heartbeat_ms: u64,
    pub election_timeout_ms: u64,
    pub candidate_stagger_ms: u64,
    pub prepare_throttle_ms: u64,
    pub candidacy_timeout_ms: u64,
    pub retransmit_ms: u64,
}

impl Default for Timers {
    fn default() -> Self {
        let c = Config::cluster(1, 1);
        Timers {
            tick_ms: 5,
            heartbeat_ms: c.heartbeat_interval / MS,
            election_timeout_ms: c.election_timeout / MS,
            candidate_stagger_ms: c.candidate_stagger / MS,
            prepare_throttle_ms: c.prepare_throttle / MS,
            candidacy_timeout_ms: c.candidacy_timeout / MS,
            retransmit_ms: c.retransmit_interval / MS,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Batching {
    pub window: usize,
    pub max_batch_size: usize,
    pub max_batch_delay_us: u64,
}

impl Default for Batching {
    fn default() -> Self {
        let c = Config::cluster(1, 1);
        Batching {
            window: c.window,
            max_batch_size: c.max_batch_size,
            max_batch_delay_us: c.max_batch_delay,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Checkpoints {
    pub interval: u64,
    /// A checkpoint falls due once this much log has executed since the
    /// last, however large the state (at most half of `max_frame_bytes`).
    pub max_log_bytes: u64,
}

impl Default for Checkpoints {
    fn default() -> Self {
        let core = Config::cluster(1, 1);
        Checkpoints {
            interval: core.checkpoint_interval,
            max_log_bytes: core.checkpoint_max_log_bytes,
        }
    }
}

/// How each node uses its disk.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Storage {
    /// While syncs queue up back to back, start one at most every this many
    /// microseconds, so more turns share it (0: sync flat out). A lone
    /// request never waits. Worth it where several nodes share one disk:
    /// their syncs together can exceed what the disk takes without
    /// stalling. A node with a disk of its own only pays latency for it.
    pub sync_pacing_us: u64,
}

impl Storage {
    /// For nodes that share one disk (a local cluster): measured on a
    /// throttled virtual disk in docs/performance.md.
    pub const SHARED_DISK_PACING_US: u64 = 1500;
}

/// How each node process runs (not part of the protocol).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Runtime {
    /// Threads for the sockets and the replica. One wakes no other thread
    /// per message (best when nodes share cores, as on one small machine);
    /// more spread the socket work of a node that has a machine to itself.
    pub threads: usize,
}

impl Default for Runtime {
    fn default() -> Self {
        Runtime { threads: 1 }
    }
}

/// What one node's listeners hold at once (see `connections.rs`): more
/// connections are closed as they arrive, so a flood costs the node little.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// On the peer port: a few per peer (links reconnect).
    pub peer_connections: usize,
    /// On the client port: client processes and admin tools (a load
    /// generator shares a handful of connections among hundreds of clients).
    pub client_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            peer_connections: 64,
            client_connections: 1024,
        }
    }
}

/// Where the certificates are (relative paths: to the cluster file). `{id}`
/// in a node's path stands for its id. `synod certs` writes them all.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// The cluster's CA: every certificate must be signed by it.
    pub ca: PathBuf,
    /// Each node's certificate and key, e.g. `certs/n{id}.crt`.
    pub node_cert: PathBuf,
    pub node_key: PathBuf,
    /// What clients and tools present unless `SYNOD_CERT`/`SYNOD_KEY` say
    /// otherwise (an operator's file names the admin certificate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cert: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_key: Option<PathBuf>,
}

impl TlsFiles {
    /// The conventional layout `synod certs` writes under `dir`, with the
    /// admin certificate as the client's.
    pub fn in_dir(dir: &Path) -> Self {
        TlsFiles {
            ca: dir.join("ca.crt"),
            node_cert: dir.join("n{id}.crt"),
            node_key: dir.join("n{id}.key"),
            client_cert: Some(dir.join("admin.crt")),
            client_key: Some(dir.join("admin.key")),
        }
    }

    pub fn node_cert(&self, id: u32) -> PathBuf {
        with_id(&self.node_cert, id)
    }

    pub fn node_key(&self, id: u32) -> PathBuf {
        with_id(&self.node_key, id)
    }

    fn resolve(&mut self, base: &Path) {
        for path in [&mut self.ca, &mut self.node_cert, &mut self.node_key]
            .into_iter()
            .chain(self.client_cert.as_mut())
            .chain(self.client_key.as_mut())
        {
            if path.is_relative() {
                *path = base.join(&*path);
            }
        }
    }
}

fn with_id(template: &Path, id: u32) -> PathBuf {
    PathBuf::from(template.to_string_lossy().replace("{id}", &id.to_string()))
}

/// The etcd front end (docs/etcd.md).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EtcdSettings {
    /// How `auto_compaction_retention` is read, as etcd's
    /// `--auto-compaction-mode`: "periodic" (a duration) or "revision" (a
    /// number of revisions).
    pub auto_compaction_mode: AutoCompactionMode,
    /// As etcd's `--auto-compaction-retention`: how much of the store's
    /// history the leader keeps when it compacts by itself. "periodic": a
    /// duration ("1h", "30m", "1h30m"; a bare number counts hours, as in
    /// etcd); "revision": how many revisions. Empty or "0": never (the
    /// default, as etcd's), so history goes only when a client compacts.
    pub auto_compaction_retention: String,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AutoCompactionMode {
    #[default]
    Periodic,
    Revision,
}

/// What the leader of an etcd cluster keeps of the history when it
/// compacts by itself (`[etcd] auto_compaction_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AutoCompaction {
    /// Keep at least this long a stretch of history.
    Periodic(std::time::Duration),
    /// Keep at least this many revisions.
    Revisions(u64),
}

impl EtcdSettings {
    fn is_default(&self) -> bool {
        *self == EtcdSettings::default()
    }

    /// The retention as set; `None` when automatic compaction is off.
    pub fn auto_compaction(&self) -> Result<Option<AutoCompaction>, String> {
        let text = self.auto_compaction_retention.trim();
        if text.is_empty() || text == "0" {
            return Ok(None);
        }
        match self.auto_compaction_mode {
            AutoCompactionMode::Revision => match text.parse::<u64>() {
                Ok(n) => Ok(Some(AutoCompaction::Revisions(n))),
                Err(_) => Err(format!(
                    "{text:?} is not a number of revisions (auto_compaction_mode = \"revision\")"
                )),
            },
            AutoCompactionMode::Periodic => {
                let period = match text.parse::<u64>() {
                    // A bare number counts hours, as in etcd.
                    Ok(hours) => hours
                        .checked_mul(3600)
                        .map(std::time::Duration::from_secs)
                        .ok_or_else(|| format!("{text} hours is too long"))?,
                    Err(_) => humantime::parse_duration(text).map_err(|e| {
                        format!("{text:?} is not a duration such as \"1h\" or \"30m\" ({e})")
                    })?,
                };
                if period < std::time::Duration::from_secs(1) {
                    return Err(format!("{text:?} is shorter than a second"));
                }
                Ok(Some(AutoCompaction::Periodic(period)))
            }
        }
    }
}

/// Switches for classes and tests, off by default.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Testing {
    /// Lets tools with a user interface (the dashboard) kill, pause,
    /// resume, restart and partition this cluster's nodes and load it. The
    /// command line tools (`synod cluster kill`, the nemesis) do not ask.
    pub fault_injection: bool,
}

/// A commented example, printed by `synod config example`.
pub const EXAMPLE: &str = r#"# A synod cluster file: shared by every node, client and admin tool.
# Initialise a node once: synod node --config cluster.toml --id 1 --init
# then run it (every start): synod node --config cluster.toml --id 1

# Checked at every handshake: a node or client of another cluster is refused.
cluster_id = "example"
# Each node keeps its write-ahead log under <data_dir>/n<id>
# (relative to this file).
data_dir = "data"
# The largest frame a node accepts (bytes).
max_frame_bytes = 16777216

[timers]
tick_ms = 5                 # how often the node's timers are checked
heartbeat_ms = 20           # leader heartbeat period
election_timeout_ms = 150   # silence before a follower suspects its leader
candidate_stagger_ms = 40   # wait per place in the candidate order
prepare_throttle_ms = 60    # tp: at most one PREPARE per tp
candidacy_timeout_ms = 100  # a candidate gives up without a quorum of promises
retransmit_ms = 40          # resend unacknowledged ACCEPTs and catch-up requests

[batching]
window = 256                # slots in flight (pipelining)
max_batch_size = 512        # requests per slot
max_batch_delay_us = 1000   # while slots are in flight, wait up to this to fill a batch (0: never)

[checkpoints]
interval = 100              # K: digest the state every K executed slots
max_log_bytes = 8388608     # ... and at the latest once this much log executed since the last

[storage]
sync_pacing_us = 0          # under sustained load, start an fsync at most every N µs
                            # (local clusters, whose nodes share a disk, use 1500)

[runtime]
threads = 1                 # per node: sockets and replica (the disk has its own thread)

[limits]
peer_connections = 64       # connections each listener holds at once; more are closed
client_connections = 1024

[testing]
fault_injection = false     # true: partitions, and the dashboard's fault buttons, work

# With application = "etcd" (docs/etcd.md), etcd's automatic compaction:
# [etcd]
# auto_compaction_mode = "periodic"   # or "revision"
# auto_compaction_retention = "1h"    # history kept ("revision": a count); "0": never

# Mutual TLS on every connection (docs/security.md); `synod certs` writes
# these files. Without this section the cluster runs plain TCP and
# authenticates nobody.
[tls]
ca = "certs/ca.crt"
node_cert = "certs/n{id}.crt"     # {id}: each node's own
node_key = "certs/n{id}.key"
client_cert = "certs/admin.crt"   # what clients and tools present
client_key = "certs/admin.key"    # (SYNOD_CERT / SYNOD_KEY override)

[[nodes]]
id = 1
addr = "127.0.0.1:7001"           # peers connect here (host:port; a name is resolved at each connection)
client_addr = "127.0.0.1:7101"    # clients and admin tools connect here
# listen_addr = "0.0.0.0:7001"    # bind this instead of addr (containers, NAT)
# client_listen_addr = "0.0.0.0:7101"
metrics_addr = "127.0.0.1:7201"   # optional: HTTP GET /metrics (Prometheus text) and /health

[[nodes]]
id = 2
addr = "127.0.0.1:7002"
client_addr = "127.0.0.1:7102"
metrics_addr = "127.0.0.1:7202"

[[nodes]]
id = 3
addr = "127.0.0.1:7003"
client_addr = "127.0.0.1:7103"
metrics_addr = "127.0.0.1:7203"
"#;

impl ClusterFile {
    pub fn load(path: &Path) -> Result<Self, ConfigFileError> {
        let text = std::fs::read_to_string(path).map_err(|cause| ConfigFileError::Read {
            path: path.to_path_buf(),
            cause,
        })?;
        let mut file = Self::parse(&text).map_err(|e| match e {
            ConfigFileError::Parse { message, .. } => ConfigFileError::Parse {
                path: path.to_path_buf(),
                message,
            },
            ConfigFileError::Invalid { field, why, .. } => ConfigFileError::Invalid {
                path: path.to_path_buf(),
                field,
                why,
            },
            other => other,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        if file.data_dir.is_relative() {
            file.data_dir = base.join(&file.data_dir);
        }
        if let Some(tls) = &mut file.tls {
            tls.resolve(base);
        }
        Ok(file)
    }

    /// Parses and validates (paths in errors are left empty).
    pub fn parse(text: &str) -> Result<Self, ConfigFileError> {
        let file: ClusterFile = toml::from_str(text).map_err(|e| ConfigFileError::Parse {
            path: PathBuf::new(),
            message: e.to_string(),
        })?;
        file.validate()?;
        Ok(file)
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("a cluster file always serialises")
    }

    fn invalid(field: impl Into<String>, why: impl Into<String>) -> ConfigFileError {
        ConfigFileError::Invalid {
            path: PathBuf::new(),
            field: field.into(),
            why: why.into(),
        }
    }

    pub fn validate(&self) -> Result<(), ConfigFileError> {
        if self.cluster_id.trim().is_empty() {
            return Err(Self::invalid("cluster_id", "must not be empty"));
        }
        if self.limits.peer_connections < 2 * self.nodes.len() {
            return Err(Self::invalid(
                "limits.peer_connections",
                "must be at least twice the number of nodes",
            ));
        }
        if self.limits.client_connections == 0 {
            return Err(Self::invalid(
                "limits.client_connections",
                "must be at least 1",
            ));
        }
        if self.cluster_id.len() > 255 {
            // It travels in every hello, which must stay small.
            return Err(Self::invalid("cluster_id", "must be at most 255 bytes"));
        }
        if self.nodes.is_empty() {
            return Err(Self::invalid("nodes", "the cluster has no members"));
        }
        if self.nodes.iter().all(|n| n.learner) {
            return Err(Self::invalid(
                "nodes",
                "every node is a learner: a cluster needs at least one voter \
                 (learner = true is for a node joining a running cluster)",
            ));
        }
        for (i, f) in self.founders.iter().enumerate() {
            if *f == 0 {
                return Err(Self::invalid(
                    format!("founders[{i}]"),
                    "node ids start at 1",
                ));
            }
            if self.founders[..i].contains(f) {
                return Err(Self::invalid(
                    format!("founders[{i}]"),
                    format!("id {f} is listed twice"),
                ));
            }
        }
        // The size rule is about the cluster as created: a change of
        // membership passes through even sizes (3 voters to 5 is four
        // changes), and the log, not this file, decides the voters then.
        let n = self.founding_voters().len();
        if n.is_multiple_of(2) && !self.allow_even_size {
            return Err(Self::invalid(
                "nodes",
                format!(
                    "{n} nodes tolerate {} failure(s), as {} do: use an odd number of nodes, \
                     or set allow_even_size = true",
                    (n - 1) / 2,
                    n - 1
                ),
            ));
        }
        for (i, n) in self.nodes.iter().enumerate() {
            if n.id == 0 {
                return Err(Self::invalid(
                    format!("nodes[{i}].id"),
                    "node ids start at 1",
                ));
            }
            if let Some(j) = self.nodes[..i].iter().position(|m| m.id == n.id) {
                return Err(Self::invalid(
                    format!("nodes[{i}].id"),
                    format!("id {} is also nodes[{j}]'s", n.id),
                ));
            }
            for (k, (field, addr)) in n.addresses().enumerate() {
                let clash = self.nodes[..i]
                    .iter()
                    .flat_map(NodeEntry::addresses)
                    .chain(n.addresses().take(k))
                    .any(|(_, other)| other == addr);
                if clash {
                    return Err(Self::invalid(
                        format!("nodes[{i}].{field}"),
                        format!("address {addr} is used twice"),
                    ));
                }
                if addr.ends_with(":0") {
                    return Err(Self::invalid(
                        format!("nodes[{i}].{field}"),
                        "port 0 is not a fixed address",
                    ));
                }
            }
        }
        for (i, n) in self.nodes.iter().enumerate() {
            match (self.application, &n.etcd_addr) {
                (Application::Etcd, None) => {
                    return Err(Self::invalid(
                        format!("nodes[{i}].etcd_addr"),
                        "application = \"etcd\" needs every node's etcd_addr",
                    ));
                }
                (Application::Services, Some(_)) => {
                    return Err(Self::invalid(
                        format!("nodes[{i}].etcd_addr"),
                        "set only with application = \"etcd\"",
                    ));
                }
                _ => {}
            }
        }
        match self.etcd.auto_compaction() {
            Err(why) => return Err(Self::invalid("etcd.auto_compaction_retention", why)),
            Ok(Some(_)) if self.application != Application::Etcd => {
                return Err(Self::invalid(
                    "etcd.auto_compaction_retention",
                    "set only with application = \"etcd\"",
                ));
            }
            Ok(_) => {}
        }
        if self.max_frame_bytes < 1024 {
            return Err(Self::invalid("max_frame_bytes", "must be at least 1024"));
        }
        // A PROMISE carries the accepted log since the last truncation in
        // one frame; the log between checkpoints must leave it room.
        let half_frame = (self.max_frame_bytes / 2) as u64;
        if self.checkpoints.max_log_bytes == 0 || self.checkpoints.max_log_bytes > half_frame {
            return Err(Self::invalid(
                "checkpoints.max_log_bytes",
                format!("must be between 1 and half of max_frame_bytes ({half_frame})"),
            ));
        }
        if self.timers.tick_ms == 0 {
            return Err(Self::invalid("timers.tick_ms", "must be greater than zero"));
        }
        if self.storage.sync_pacing_us > 1_000_000 {
            return Err(Self::invalid(
                "storage.sync_pacing_us",
                "must be at most 1000000 (1 s)",
            ));
        }
        if self.runtime.threads == 0 || self.runtime.threads > 256 {
            return Err(Self::invalid(
                "runtime.threads",
                "must be between 1 and 256",
            ));
        }
        if let Some(tls) = &self.tls {
            if !tls.node_cert.to_string_lossy().contains("{id}")
                || !tls.node_key.to_string_lossy().contains("{id}")
            {
                return Err(Self::invalid(
                    "tls.node_cert",
                    "node_cert and node_key must contain {id} (each node has its own)",
                ));
            }
            if tls.client_cert.is_some() != tls.client_key.is_some() {
                return Err(Self::invalid(
                    "tls.client_cert",
                    "client_cert and client_key go together",
                ));
            }
        }
        let first = self.nodes[0].id;
        self.core_config(first).validate().map_err(|e| {
            let text = e.to_string();
            let (field, why) = text.split_once(": ").unwrap_or(("config", text.as_str()));
            let field = match field {
                "heartbeat_interval" => "timers.heartbeat_ms",
                "election_timeout" => "timers.election_timeout_ms",
                "prepare_throttle" => "timers.prepare_throttle_ms",
                "candidacy_timeout" => "timers.candidacy_timeout_ms",
                "retransmit_interval" => "timers.retransmit_ms",
                "window" => "batching.window",
                "max_batch_size" => "batching.max_batch_size",
                "checkpoint_interval" => "checkpoints.interval",
                other => other,
            };
            Self::invalid(field, why)
        })?;
        Ok(())
    }

    pub fn node(&self, id: u32) -> Option<&NodeEntry> {
        self.nodes.iter().find(|n| n.id == id)
    }

    pub fn node_ids(&self) -> Vec<NodeId> {
        self.nodes.iter().map(|n| NodeId(n.id)).collect()
    }

    /// The voters of epoch 0: `founders` if set, else every entry that is
    /// not a learner.
    pub fn founding_voters(&self) -> Vec<NodeId> {
        if self.founders.is_empty() {
            self.nodes
                .iter()
                .filter(|n| !n.learner)
                .map(|n| NodeId(n.id))
                .collect()
        } else {
            self.founders.iter().map(|&id| NodeId(id)).collect()
        }
    }

    /// The protocol configuration of node `id`: the founding voters as
    /// `nodes`, every other entry as a learner of epoch 0.
    pub fn core_config(&self, id: u32) -> Config {
        let voters = self.founding_voters();
        let mut c = Config::new(NodeId(id), voters.clone());
        c.learners = self
            .nodes
            .iter()
            .map(|n| NodeId(n.id))
            .filter(|id| !voters.contains(id))
            .collect();
        let t = &self.timers;
        c.heartbeat_interval = t.heartbeat_ms * MS;
        c.election_timeout = t.election_timeout_ms * MS;
        c.candidate_stagger = t.candidate_stagger_ms * MS;
        c.prepare_throttle = t.prepare_throttle_ms * MS;
        c.candidacy_timeout = t.candidacy_timeout_ms * MS;
        c.retransmit_interval = t.retransmit_ms * MS;
        c.window = self.batching.window;
        c.max_batch_size = self.batching.max_batch_size;
        c.max_batch_delay = self.batching.max_batch_delay_us;
        c.checkpoint_interval = self.checkpoints.interval;
        c.checkpoint_max_log_bytes = self.checkpoints.max_log_bytes;
        c
    }

    pub fn node_dir(&self, id: u32) -> PathBuf {
        self.data_dir.join(format!("n{id}"))
    }

    /// A cluster of `n` nodes on loopback, on free ports outside the
    /// kernel's ephemeral range ([`free_local_ports`]), each node with a
    /// metrics endpoint as well.
    pub fn on_free_ports(
        cluster_id: &str,
        data_dir: PathBuf,
        nodes: usize,
    ) -> std::io::Result<Self> {
        let ports = free_ports(3 * nodes)?;
        let pairs: Vec<(u16, u16)> = ports.chunks(3).map(|p| (p[0], p[1])).collect();
        let mut file = ClusterFile::local(cluster_id, data_dir, &pairs);
        for (node, p) in file.nodes.iter_mut().zip(ports.chunks(3)) {
            node.metrics_addr = Some(SocketAddr::from(([127, 0, 0, 1], p[2])));
        }
        Ok(file)
    }

    /// A cluster of `n` nodes on loopback with the given ports (peers,
    /// clients), without metrics endpoints.
    pub fn local(cluster_id: &str, data_dir: PathBuf, ports: &[(u16, u16)]) -> Self {
        ClusterFile {
            cluster_id: cluster_id.to_string(),
            data_dir,
            max_frame_bytes: default_max_frame(),
            allow_even_size: false,
            application: Application::Services,
            timers: Timers::default(),
            batching: Batching::default(),
            checkpoints: Checkpoints::default(),
            // Its nodes share this machine's disk.
            storage: Storage {
                sync_pacing_us: if ports.len() > 1 {
                    Storage::SHARED_DISK_PACING_US
                } else {
                    0
                },
            },
            runtime: Runtime::default(),
            limits: Limits::default(),
            testing: Testing::default(),
            etcd: EtcdSettings::default(),
            tls: None,
            founders: Vec::new(),
            nodes: ports
                .iter()
                .enumerate()
                .map(|(i, (peer, client))| NodeEntry {
                    id: i as u32 + 1,
                    addr: SocketAddr::from(([127, 0, 0, 1], *peer)).into(),
                    client_addr: SocketAddr::from(([127, 0, 0, 1], *client)).into(),
                    listen_addr: None,
                    client_listen_addr: None,
                    metrics_addr: None,
                    etcd_addr: None,
                    etcd_listen_addr: None,
                    learner: false,
                })
                .collect(),
        }
    }
}

/// Ports that only a listener takes: below the kernel's ephemeral range
/// (`/proc/sys/net/ipv4/ip_local_port_range`, 32768-60999 by default), where
/// the kernel never picks a connection's local port. A port from that range
/// can be taken by some outgoing connection while its node is down, and the
/// node then cannot restart (`Address already in use`).
fn listener_ports() -> std::ops::Range<u16> {
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let low = 10_000.min(ephemeral_low.saturating_sub(1_000)).max(1024);
    low..ephemeral_low.max(low + 1)
}

impl ClusterFile {
    /// Makes a loopback cluster an etcd cluster: `application = "etcd"`,
    /// each node serving etcd's API on a free port of its own.
    pub fn serve_etcd_on_free_ports(&mut self) -> std::io::Result<()> {
        let ports = free_ports(self.nodes.len())?;
        for (node, port) in self.nodes.iter_mut().zip(ports) {
            node.etcd_addr = Some(SocketAddr::from(([127, 0, 0, 1], port)).into());
        }
        self.application = Application::Etcd;
        Ok(())
    }
}

/// Two free loopback ports (peers, clients) for each of `nodes` nodes
/// ([`free_ports`]).
pub fn free_local_ports(nodes: usize) -> std::io::Result<Vec<(u16, u16)>> {
    Ok(free_ports(2 * nodes)?
        .chunks(2)
        .map(|p| (p[0], p[1]))
        .collect())
}

/// `count` distinct free loopback ports, drawn at random below the
/// ephemeral range ([`listener_ports`]) and checked free by binding them.
/// Another program may still take one before the node binds it; the node
/// then fails with a clear error.
fn free_ports(count: usize) -> std::io::Result<Vec<u16>> {
    let range = listener_ports();
    let mut held = Vec::new();
    let mut ports = Vec::new();
    for _ in 0..count.max(1) * 50 {
        if ports.len() == count {
            break;
        }
        let port = rand::random_range(range.clone());
        if ports.contains(&port) {
            continue;
        }
        if let Ok(listener) = std::net::TcpListener::bind(("127.0.0.1", port)) {
            held.push(listener);
            ports.push(port);
        }
    }
    if ports.len() < count {
        return Err(std::io::Error::new(
            std::io::ErrorKind::AddrInUse,
            format!("found only {} free ports in {range:?}", ports.len()),
        ));
    }
    Ok(ports)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_ports_are_distinct_and_outside_the_ephemeral_range() {
        let ports = free_local_ports(5).unwrap();
        let mut all: Vec<u16> = ports.iter().flat_map(|(a, b)| [*a, *b]).collect();
        let range = listener_ports();
        assert!(
            all.iter().all(|p| range.contains(p)),
            "{all:?} not in {range:?}"
        );
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 10);
    }

    fn err(text: &str) -> String {
        ClusterFile::parse(text).unwrap_err().to_string()
    }

    #[test]
    fn fault_injection_is_off_unless_the_file_says_so() {
        let file = ClusterFile::parse(EXAMPLE).unwrap();
        assert!(!file.testing.fault_injection);
        let without = EXAMPLE.replace("[testing]\nfault_injection = false", "");
        assert!(
            !ClusterFile::parse(&without)
                .unwrap()
                .testing
                .fault_injection
        );
        let on = EXAMPLE.replace("fault_injection = false", "fault_injection = true");
        assert!(ClusterFile::parse(&on).unwrap().testing.fault_injection);
        let e = err(&EXAMPLE.replace("fault_injection = false", "fault_injections = true"));
        assert!(e.contains("fault_injections"), "{e}");
    }

    #[test]
    fn metrics_addr_is_optional_and_must_not_clash() {
        let file = ClusterFile::parse(EXAMPLE).unwrap();
        assert_eq!(
            file.nodes[1].metrics_addr,
            Some("127.0.0.1:7202".parse().unwrap())
        );
        // Absent: no endpoint, and a file without it still parses.
        let without = EXAMPLE.replace("metrics_addr = \"127.0.0.1:7202\"\n", "");
        let file = ClusterFile::parse(&without).unwrap();
        assert_eq!(file.nodes[1].metrics_addr, None);
        assert!(file.nodes[0].metrics_addr.is_some());
        assert_eq!(ClusterFile::parse(&file.to_toml()).unwrap(), file);
        // The same node's peer address, another node's client address,
        // another node's metrics address: each is named.
        for taken in ["127.0.0.1:7002", "127.0.0.1:7101", "127.0.0.1:7201"] {
            let e = err(&EXAMPLE.replace("\"127.0.0.1:7202\"", &format!("\"{taken}\"")));
            assert!(
                e.contains("nodes[1].metrics_addr") && e.contains("used twice"),
                "{taken}: {e}"
            );
        }
        // A later node's address that clashes with an earlier metrics
        // address is named at the later field.
        let e = err(&EXAMPLE.replace("\"127.0.0.1:7103\"", "\"127.0.0.1:7201\""));
        assert!(e.contains("nodes[2].client_addr"), "{e}");
        let e = err(&EXAMPLE.replace("\"127.0.0.1:7202\"", "\"127.0.0.1:0\""));
        assert!(
            e.contains("nodes[1].metrics_addr") && e.contains("port 0"),
            "{e}"
        );
        let e = err(&EXAMPLE.replace("\"127.0.0.1:7202\"", "\"localhost\""));
        assert!(
            e.contains("metrics_addr") || e.contains("socket address"),
            "{e}"
        );
    }

    #[test]
    fn auto_compaction_is_read_as_etcd_reads_it_and_only_for_etcd() {
        use std::time::Duration;
        let mut file = ClusterFile::on_free_ports("t", PathBuf::from("data"), 3).unwrap();
        let set = |file: &mut ClusterFile, mode, retention: &str| {
            file.etcd = EtcdSettings {
                auto_compaction_mode: mode,
                auto_compaction_retention: retention.into(),
            };
        };
        set(&mut file, AutoCompactionMode::Periodic, "1h");
        let e = file.validate().unwrap_err().to_string();
        assert!(
            e.contains("etcd.auto_compaction_retention") && e.contains("application"),
            "{e}"
        );
        file.serve_etcd_on_free_ports().unwrap();
        use AutoCompaction as A;
        use AutoCompactionMode as M;
        for (mode, text, want) in [
            (M::Periodic, "", None),
            (M::Periodic, "0", None),
            (M::Revision, "0", None),
            (
                M::Periodic,
                "1h30m",
                Some(A::Periodic(Duration::from_secs(5400))),
            ),
            (
                M::Periodic,
                "2",
                Some(A::Periodic(Duration::from_secs(7200))),
            ),
            (
                M::Periodic,
                "90s",
                Some(A::Periodic(Duration::from_secs(90))),
            ),
            (M::Revision, "1000", Some(A::Revisions(1000))),
        ] {
            set(&mut file, mode, text);
            file.validate().unwrap();
            assert_eq!(file.etcd.auto_compaction(), Ok(want), "{mode:?} {text:?}");
            assert_eq!(ClusterFile::parse(&file.to_toml()).unwrap(), file);
        }
        for (mode, text, says) in [
            (M::Revision, "1h", "number of revisions"),
            (M::Periodic, "soon", "not a duration"),
            (M::Periodic, "500ms", "shorter than a second"),
            (M::Revision, "-5", "number of revisions"),
        ] {
            set(&mut file, mode, text);
            let e = file.validate().unwrap_err().to_string();
            assert!(
                e.contains("etcd.auto_compaction_retention") && e.contains(says),
                "{text}: {e}"
            );
        }
        file.etcd = EtcdSettings::default();
        let e = err(&format!(
            "{}\n[etcd]\nauto_compaction_mode = \"hourly\"\n",
            file.to_toml()
        ));
        assert!(e.contains("hourly"), "{e}");
    }

    #[test]
    fn local_clusters_on_free_ports_serve_metrics_on_ports_of_their_own() {
        let file = ClusterFile::on_free_ports("t", PathBuf::from("data"), 3).unwrap();
        assert!(file.nodes.iter().all(|n| n.metrics_addr.is_some()));
        file.validate().unwrap();
    }

    #[test]
    fn the_example_parses_and_round_trips() {
        let file = ClusterFile::parse(EXAMPLE).unwrap();
        assert_eq!(file.nodes.len(), 3);
        assert_eq!(file.core_config(2).election_timeout, 150 * MS);
        assert_eq!(ClusterFile::parse(&file.to_toml()).unwrap(), file);
    }

    #[test]
    fn hostnames_and_listen_addresses_are_accepted() {
        let file = ClusterFile::parse(
            &EXAMPLE
                .replace("\"127.0.0.1:7003\"", "\"localhost:7003\"")
                .replace(
                    "# listen_addr = \"0.0.0.0:7001\"",
                    "listen_addr = \"0.0.0.0:7001\"",
                ),
        )
        .unwrap();
        assert_eq!(file.nodes[2].addr.host(), "localhost");
        assert_eq!(
            file.nodes[0].listen_addr,
            Some("0.0.0.0:7001".parse().unwrap())
        );
        // A wildcard metrics address on every node: one per machine.
        let mut wild = file.clone();
        for node in &mut wild.nodes {
            node.metrics_addr = Some("0.0.0.0:9100".parse().unwrap());
        }
        wild.validate().unwrap();
        let e = err(&EXAMPLE.replace("\"127.0.0.1:7003\"", "\"localhost\""));
        assert!(e.contains("not host:port"), "{e}");
    }

    #[test]
    fn bad_fields_are_named() {
        let e = err(&EXAMPLE.replace("addr = \"127.0.0.1:7002\"", "addr = \"nowhere\""));
        assert!(
            e.contains("addr") && e.contains("nowhere") || e.contains("invalid socket address"),
            "{e}"
        );
        let e = err(&EXAMPLE.replace("election_timeout_ms = 150", "election_timeout_ms = 10"));
        assert!(e.contains("timers.election_timeout_ms"), "{e}");
        let e = err(&EXAMPLE.replace("id = 3", "id = 2"));
        assert!(e.contains("nodes[2].id"), "{e}");
        let e = err(&EXAMPLE.replace("window = 256", "windw = 256"));
        assert!(e.contains("windw"), "{e}");
        let e = err(&EXAMPLE.replace("window = 256", "window = 0"));
        assert!(e.contains("batching.window"), "{e}");
        let e = err(&EXAMPLE.replace("\"127.0.0.1:7103\"", "\"127.0.0.1:7001\""));
        assert!(e.contains("nodes[2].client_addr"), "{e}");
        let e = err(&EXAMPLE.replace("threads = 1 ", "threads = 0 "));
        assert!(e.contains("runtime.threads"), "{e}");
        let e = err(&EXAMPLE.replace("sync_pacing_us = 0 ", "sync_pacing_us = 5000000 "));
        assert!(e.contains("storage.sync_pacing_us"), "{e}");
        let e = err(&EXAMPLE.replace("max_log_bytes = 8388608 ", "max_log_bytes = 9000000 "));
        assert!(e.contains("checkpoints.max_log_bytes"), "{e}");
        let e = err(&EXAMPLE.replace("max_log_bytes = 8388608 ", "max_log_bytes = 0 "));
        assert!(e.contains("checkpoints.max_log_bytes"), "{e}");
    }

    /// Three founding voters (a cluster as created), for the membership tests.
    fn three() -> ClusterFile {
        ClusterFile::local(
            "c",
            "/tmp/x".into(),
            &[(17001, 17101), (17002, 17102), (17003, 17103)],
        )
    }

    fn entry(id: u32, learner: bool) -> NodeEntry {
        NodeEntry {
            id,
            addr: SocketAddr::from(([127, 0, 0, 1], 17000 + id as u16)).into(),
            client_addr: SocketAddr::from(([127, 0, 0, 1], 17100 + id as u16)).into(),
            listen_addr: None,
            client_listen_addr: None,
            metrics_addr: None,
            etcd_addr: None,
            etcd_listen_addr: None,
            learner,
        }
    }

    #[test]
    fn learner_entries_join_as_learners_of_the_founding_voters() {
        let mut file = three();
        file.nodes.push(entry(4, true));
        file.validate().unwrap();
        let text = file.to_toml();
        assert_eq!(text.matches("learner = true").count(), 1, "{text}");
        let back = ClusterFile::parse(&text).unwrap();
        assert_eq!(back, file);
        let c = back.core_config(4);
        assert_eq!(c.nodes, [NodeId(1), NodeId(2), NodeId(3)]);
        assert_eq!(c.learners, [NodeId(4)]);
        // Four entries, three founding voters: not an even cluster.
        assert_eq!(back.founding_voters().len(), 3);

        // After changes: founders keep epoch 0's voters even when some are
        // gone from the file, and a promoted entry is a learner of epoch 0.
        let mut changed = file.clone();
        changed.founders = vec![1, 2, 3];
        changed.nodes.retain(|n| n.id != 1);
        changed.nodes.iter_mut().for_each(|n| n.learner = false);
        changed.validate().unwrap();
        let c = changed.core_config(4);
        assert_eq!(c.nodes, [NodeId(1), NodeId(2), NodeId(3)]);
        assert_eq!(c.learners, [NodeId(4)]);
    }

    #[test]
    fn a_cluster_of_learners_only_and_bad_founders_are_refused() {
        let mut file = three();
        file.nodes.iter_mut().for_each(|n| n.learner = true);
        let e = file.validate().unwrap_err().to_string();
        assert!(e.contains("every node is a learner"), "{e}");

        let mut file = three();
        file.nodes.truncate(1);
        file.nodes[0].learner = true;
        let e = file.validate().unwrap_err().to_string();
        assert!(e.contains("at least one voter"), "{e}");

        let mut file = three();
        file.founders = vec![1, 2, 2];
        let e = file.validate().unwrap_err().to_string();
        assert!(e.contains("founders[2]"), "{e}");
        file.founders = vec![0];
        let e = file.validate().unwrap_err().to_string();
        assert!(e.contains("founders[0]"), "{e}");

        // Two founding voters and a learner: an even cluster as created.
        let mut file = three();
        file.nodes[2].learner = true;
        let e = file.validate().unwrap_err().to_string();
        assert!(e.contains("odd number"), "{e}");
    }
}

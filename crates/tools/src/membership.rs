//! Membership changes on a running cluster (`synod cluster add | promote |
//! remove`, docs/membership.md): asks the leader for one change, waits until
//! the cluster has executed it, and keeps the cluster file in step.
//!
//! Contract:
//! - One change per call, asked of the leader over the admin channel
//!   (`AdminRequest::Change`, which needs the admin certificate). A refusal
//!   that passes (no leader yet, another change under way, a learner not
//!   caught up) is asked again until the deadline; any other refusal (an id
//!   already a member, the last voter) ends the call with the node's reason.
//! - A call is done when a node of the cluster reports the membership with
//!   the change executed; asking again after a lost answer is harmless,
//!   since each round first looks whether the change is in already.
//! - The cluster file follows the committed membership: `add` appends the
//!   node as a learner before asking (the new node starts from it), and
//!   `promote`/`remove` rewrite it only once the change is executed. The
//!   file is replaced whole (written aside, then renamed), and the first
//!   change records the founding voters (`founders`). A removed node's data
//!   directory is never touched.
//! - On a local cluster (the file's directory holds its nodes' pid files,
//!   `synod cluster up`), `add` issues what is missing of the certificates,
//!   picks free loopback ports, and starts the node as a process; `remove`
//!   stops the removed node's process once a quorum of the new voters has
//!   executed the removal (before that, the old epoch may still need it to
//!   finish choosing the change). Elsewhere `add` writes the file and
//!   certificate and says how to start the node.

use crate::local::{LocalCluster, POLL};
use anyhow::{Context, bail};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use synod_core::{Change, Membership, NodeId};
use synod_node::ClusterFile;
use synod_node::admin::query;
use synod_node::config::{Address, NodeEntry};
use synod_node::tls::Security;
use synod_node::wire::{AdminReply, AdminRequest};

/// How long one admin question may take.
const ASK: Duration = Duration::from_secs(2);
/// How long one asked change is given to show up before it is asked again.
const SETTLE: Duration = Duration::from_secs(5);

/// Where a node to add listens; `None` fields are picked (free loopback
/// ports), which only a local cluster can use.
#[derive(Clone, Debug, Default)]
pub struct AddOptions {
    pub id: u32,
    pub addr: Option<Address>,
    pub client_addr: Option<Address>,
    /// Start the node as a process of the local cluster (else: print how).
    pub start: bool,
    /// The `synod` binary a local node runs as.
    pub binary: PathBuf,
    pub timeout: Duration,
}

/// What a change did.
#[derive(Clone, Debug)]
pub struct ChangeReport {
    /// The membership the cluster executed with the change in.
    pub membership: Membership,
    /// The node whose view says so.
    pub from: u32,
    /// How long from the first question until the change was seen executed.
    pub took: Duration,
    /// Refusals that passed on the way (not caught up, busy, no leader).
    pub retries: u32,
    /// For an added node nobody started: the commands that start it.
    pub start_commands: Vec<String>,
    /// Certificate files written (a new node's).
    pub certificates: Vec<PathBuf>,
}

/// The cluster behind one cluster file, as the change tools see it.
struct Target {
    path: PathBuf,
    file: ClusterFile,
    security: Security,
}

impl Target {
    fn load(path: &Path) -> anyhow::Result<Self> {
        let file = ClusterFile::load(path)?;
        Ok(Target {
            path: path.to_path_buf(),
            security: Security::client(&file)?,
            file,
        })
    }

    /// The membership with the highest epoch among the nodes that answer.
    async fn membership(&self) -> Option<(u32, Membership)> {
        let mut best: Option<(u32, Membership)> = None;
        for n in &self.file.nodes {
            if let Ok(AdminReply::Members(m)) =
                query(&self.file, &self.security, n.id, AdminRequest::Members, ASK).await
                && best.as_ref().is_none_or(|(_, b)| m.epoch > b.epoch)
            {
                best = Some((n.id, m));
            }
        }
        best
    }

    /// The node that says it leads, if one answers.
    async fn leader(&self) -> Option<u32> {
        for n in &self.file.nodes {
            if let Ok(AdminReply::Status(s)) =
                query(&self.file, &self.security, n.id, AdminRequest::Status, ASK).await
                && s.role == synod_core::Role::Leader
            {
                return Some(n.id);
            }
        }
        None
    }

    /// Asks for `change` until `done` holds of an executed membership.
    async fn change(
        &self,
        change: Change,
        done: impl Fn(&Membership) -> bool,
        timeout: Duration,
    ) -> anyhow::Result<ChangeReport> {
        let started = Instant::now();
        let deadline = started + timeout;
        let mut retries = 0;
        let mut last = String::from("no node answered");
        loop {
            if let Some((from, membership)) = self.membership().await
                && done(&membership)
            {
                return Ok(ChangeReport {
                    membership,
                    from,
                    took: started.elapsed(),
                    retries,
                    start_commands: Vec::new(),
                    certificates: Vec::new(),
                });
            }
            if Instant::now() > deadline {
                bail!("the change was not executed within {timeout:?}: {last}");
            }
            let Some(leader) = self.leader().await else {
                last = "no leader answered".into();
                retries += 1;
                tokio::time::sleep(POLL * 10).await;
                continue;
            };
            let request = AdminRequest::Change(change.clone());
            match query(&self.file, &self.security, leader, request, ASK).await {
                Ok(AdminReply::Done) => {
                    // Under way: give it time to be chosen and executed.
                    let settle = Instant::now() + SETTLE;
                    while Instant::now() < settle.min(deadline) {
                        if let Some((_, m)) = self.membership().await
                            && done(&m)
                        {
                            break;
                        }
                        tokio::time::sleep(POLL * 5).await;
                    }
                    last = format!("n{leader} took the change, not yet seen executed");
                }
                Ok(AdminReply::Refused(why)) if passing(&why) => {
                    last = format!("n{leader} refused: {why}");
                    retries += 1;
                    tokio::time::sleep(POLL * 10).await;
                }
                Ok(AdminReply::Refused(why)) => bail!("n{leader} refused: {why}"),
                Ok(other) => bail!("n{leader} gave an unexpected answer: {other:?}"),
                // A refused connection (a client certificate) is final.
                Err(e) if e.contains(" refused: ") => bail!("{e}"),
                Err(e) => {
                    last = e;
                    retries += 1;
                }
            }
        }
    }

    /// Waits until a quorum of `m`'s voters report `m`'s epoch or a later
    /// one.
    async fn wait_quorum_executed(&self, m: &Membership, limit: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + limit;
        let voters = m.voters();
        let have = loop {
            let mut have = 0;
            for v in &voters {
                if let Ok(AdminReply::Members(at)) =
                    query(&self.file, &self.security, v.0, AdminRequest::Members, ASK).await
                    && at.epoch >= m.epoch
                {
                    have += 1;
                }
            }
            if have >= m.quorum() {
                return Ok(());
            }
            if Instant::now() > deadline {
                break have;
            }
            tokio::time::sleep(POLL * 5).await;
        };
        bail!(
            "{have} of the {} new voters executed it by the deadline ({} needed)",
            voters.len(),
            m.quorum()
        )
    }

    /// Replaces the cluster file on disk with `file` (written aside, then
    /// renamed: a reader sees the old file or the new one, never half).
    fn write(&mut self, mut file: ClusterFile) -> anyhow::Result<()> {
        if file.founders.is_empty() {
            // The first change: epoch 0's voters are no longer the file's.
            file.founders = self.file.founding_voters().iter().map(|n| n.0).collect();
        }
        file.validate()?;
        // Paths as they were written, not as loaded (which resolved them).
        let text = relative_text(&self.path, &file)?;
        let aside = self.path.with_extension("toml.new");
        std::fs::write(&aside, text).with_context(|| format!("writing {}", aside.display()))?;
        std::fs::rename(&aside, &self.path)
            .with_context(|| format!("replacing {}", self.path.display()))?;
        self.file = ClusterFile::load(&self.path)?;
        Ok(())
    }
}

/// The cluster file's text for `file`, with the entries and founders of
/// `file` but every other field as the file on disk has it (its relative
/// paths stay relative).
fn relative_text(path: &Path, file: &ClusterFile) -> anyhow::Result<String> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut on_disk: ClusterFile = ClusterFile::parse(&text)?;
    on_disk.nodes = file.nodes.clone();
    on_disk.founders = file.founders.clone();
    Ok(on_disk.to_toml())
}

/// A refusal that passes if asked again later.
fn passing(why: &str) -> bool {
    ["does not lead", "under way", "has not caught up"]
        .iter()
        .any(|p| why.contains(p))
}

/// Whether the cluster file's directory is a local cluster's (`synod
/// cluster up`: node pid or log files beside it).
fn local_dir(path: &Path) -> Option<PathBuf> {
    let dir = path.parent()?.to_path_buf();
    let dir = if dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        dir
    };
    let local = std::fs::read_dir(&dir).ok()?.flatten().any(|e| {
        let name = e.file_name().to_string_lossy().into_owned();
        name.starts_with('n') && (name.ends_with(".pid") || name.ends_with(".log"))
    });
    (local && path.file_name()? == "cluster.toml").then_some(dir)
}

/// Adds node `opts.id` as a learner (`synod cluster add`).
pub async fn add(path: &Path, opts: AddOptions) -> anyhow::Result<ChangeReport> {
    let mut target = Target::load(path)?;
    let id = opts.id;
    if id == 0 {
        bail!("node ids start at 1");
    }
    if target.file.node(id).is_some() {
        bail!(
            "n{id} is in the cluster file already; a node that was removed, or whose disk \
             was lost, comes back under a new id (docs/membership.md)"
        );
    }
    if target.file.founding_voters().contains(&NodeId(id)) {
        bail!("n{id} was a founding voter of this cluster: use a new id");
    }
    if let Some((from, m)) = target.membership().await
        && m.is_member(NodeId(id))
    {
        bail!("n{id} is a member already (as n{from} sees it)");
    }
    let local = local_dir(path);
    let (addr, client_addr, metrics) = match (&opts.addr, &opts.client_addr) {
        (Some(a), Some(c)) => (a.clone(), c.clone(), None),
        (None, None) if local.is_some() => {
            let ports = synod_node::config::free_local_ports(2).context("finding free ports")?;
            let at = |port: u16| std::net::SocketAddr::from(([127, 0, 0, 1], port));
            (
                at(ports[0].0).into(),
                at(ports[0].1).into(),
                Some(at(ports[1].0)),
            )
        }
        (None, None) => bail!(
            "give the new node's --addr and --client-addr (free loopback ports are picked \
             only for a local cluster, whose directory holds its nodes' files)"
        ),
        _ => bail!("give both --addr and --client-addr, or neither"),
    };
    let mut certificates = Vec::new();
    if let Some(tls) = &target.file.tls {
        let dir = tls.ca.parent().unwrap_or(Path::new("."));
        let mut hosts = vec![addr.host().to_string(), client_addr.host().to_string()];
        if local.is_some() {
            hosts.push("localhost".into());
        }
        hosts.sort();
        hosts.dedup();
        let report = crate::certs::write_certs(dir, &target.file.cluster_id, &[id], &hosts)
            .context("issuing the new node's certificate")?;
        certificates = report.written;
        // `write_certs` uses `synod certs`' layout beside the CA: a file
        // naming node certificates elsewhere would not find this one.
        let (cert, key) = (tls.node_cert(id), tls.node_key(id));
        if !cert.exists() || !key.exists() {
            bail!(
                "n{id}'s certificate was issued in {}, but the cluster file's [tls] names {} \
                 and {}: put it there, or use `synod certs`' layout (n{{id}}.crt beside ca.crt)",
                dir.display(),
                cert.display(),
                key.display()
            );
        }
    }
    let mut next = target.file.clone();
    next.nodes.push(NodeEntry {
        id,
        addr: addr.clone(),
        client_addr: client_addr.clone(),
        listen_addr: None,
        client_listen_addr: None,
        metrics_addr: metrics,
        etcd_addr: None,
        etcd_listen_addr: None,
        learner: true,
    });
    target.write(next)?;
    let mut start_commands = Vec::new();
    match (&local, opts.start) {
        (Some(dir), true) => {
            let cluster = LocalCluster::open(dir, opts.binary.clone())?;
            cluster.start(id, true)?;
        }
        _ => {
            let file = path.display();
            start_commands.push(format!("synod node --config {file} --id {id} --init"));
            start_commands.push(format!("synod node --config {file} --id {id}"));
        }
    }
    let change = Change::AddLearner {
        id: NodeId(id),
        peer_addr: addr.to_string(),
        client_addr: client_addr.to_string(),
    };
    let mut report = target
        .change(change, |m| m.is_member(NodeId(id)), opts.timeout)
        .await?;
    report.start_commands = start_commands;
    report.certificates = certificates;
    Ok(report)
}

/// Makes learner `id` a voter once it has caught up (`synod cluster
/// promote`); the leader refuses until then, and is asked again.
pub async fn promote(path: &Path, id: u32, timeout: Duration) -> anyhow::Result<ChangeReport> {
    let mut target = Target::load(path)?;
    if target.file.node(id).is_none() {
        bail!("n{id} is not in the cluster file (add it first)");
    }
    let report = target
        .change(
            Change::Promote { id: NodeId(id) },
            |m| m.is_voter(NodeId(id)),
            timeout,
        )
        .await?;
    let mut next = target.file.clone();
    for n in &mut next.nodes {
        if n.id == id {
            n.learner = false;
        }
    }
    target.write(next)?;
    Ok(report)
}

/// Removes member `id`, the leader included (`synod cluster remove`); once
/// executed, its entry leaves the cluster file and, on a local cluster, its
/// process is stopped. Its data directory is kept.
pub async fn remove(
    path: &Path,
    id: u32,
    binary: PathBuf,
    timeout: Duration,
) -> anyhow::Result<ChangeReport> {
    let mut target = Target::load(path)?;
    if target.file.node(id).is_none() {
        bail!("n{id} is not in the cluster file");
    }
    let local = match local_dir(path) {
        Some(dir) => Some(LocalCluster::open(&dir, binary)?),
        None => None,
    };
    let report = target
        .change(
            Change::Remove { id: NodeId(id) },
            |m| !m.is_member(NodeId(id)),
            timeout,
        )
        .await?;
    // Stopped only once a quorum of the new voters executed the removal:
    // until then the old epoch may still have to finish choosing it, and
    // the removed node may be one of its quorum (docs/membership.md, "When
    // a removed node may stop").
    let executed = target
        .wait_quorum_executed(&report.membership, timeout.saturating_sub(report.took))
        .await;
    let mut next = target.file.clone();
    next.nodes.retain(|n| n.id != id);
    target.write(next)?;
    if let Some(cluster) = &local
        && cluster.running(id)
    {
        match executed {
            // Out of the cluster: nothing it says is heard any more.
            Ok(()) => cluster.stop(id)?,
            Err(e) => bail!(
                "n{id} is removed, but left running: {e}; stop it once a quorum of the new \
                 voters shows epoch {} (`synod admin members`)",
                report.membership.epoch
            ),
        }
    }
    Ok(report)
}

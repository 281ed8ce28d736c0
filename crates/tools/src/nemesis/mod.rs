//! The nemesis: Jepsen's method on real processes. Concurrent clients
//! record every operation (`clients.rs`) while a seeded schedule of faults
//! strikes the cluster (`schedule.rs`). At the end everything heals, the
//! state of every replica is read, and the history is checked by the same
//! checkers as the simulator's.
//!
//! With a partial-connectivity scenario (`partial.rs`) the faults are
//! rounds of that scenario around the leader instead, each timed from its
//! cuts to the first command sent after them completing.

mod clients;
mod partial;
mod schedule;

pub use clients::CLIENT_TIMEOUT;
pub use partial::{PartialSummary, node_cuts};
pub use schedule::{Fault, NemesisEvent};

use crate::local::LocalCluster;
use crate::queries::NodeState;
use anyhow::bail;
use clients::{Recorder, client_loop};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use schedule::Striker;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use synod_check::workload::AppKind;
use synod_check::{FINAL_READ_CLIENT, History};
use synod_node::ClusterFile;

pub struct NemesisOptions {
    /// The `synod` binary the nodes of a local cluster run as.
    pub binary: PathBuf,
    /// Nodes of the local cluster started for the run.
    pub nodes: usize,
    /// A running cluster to use instead (then only partitions, or no
    /// faults: its processes are not ours to kill).
    pub cluster: Option<ClusterFile>,
    /// How long faults strike (healing and the final read come after).
    pub duration: Duration,
    /// Empty with `partial`.
    pub faults: Vec<Fault>,
    /// Rounds of this partial-connectivity scenario instead of `faults`.
    pub partial: Option<synod_core::Scenario>,
    pub workload: AppKind,
    /// With the kv workload: read-heavy, every get a linearizable read
    /// without a log write (read index).
    pub reads: bool,
    pub clients: usize,
    pub seed: u64,
    /// Keep the local cluster's directory (node logs, data).
    pub keep: bool,
}

/// The figures of a run; serialised, the nemesis's JSON line.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NemesisSummary {
    pub workload: &'static str,
    pub seed: u64,
    pub seconds: u64,
    /// Operations the clients ran, and how many of them completed.
    pub ops: usize,
    pub ok: usize,
    pub unknown: usize,
    /// Linearizable reads answered without a log write (counted in `ok`).
    pub reads: usize,
    /// The log slots the cluster executed (each a batch of commands, or a
    /// no-op): reads take none.
    pub slots: u64,
    pub faults: u64,
    pub leader_losses: usize,
    pub anomalies: usize,
    pub linearizable: bool,
    pub replicas_identical: bool,
    /// After each leader loss, the time until the first operation invoked
    /// after it completed.
    pub max_unavailable_ms: f64,
    pub unavailable_ms: Vec<f64>,
    /// With a partial-connectivity scenario: its rounds and recoveries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partial: Option<PartialSummary>,
}

pub struct NemesisReport {
    pub summary: NemesisSummary,
    /// Every anomaly found: replicas that differ, and what the checkers saw.
    pub anomalies: Vec<String>,
    /// The recorded history with the final state, for `synod check`.
    pub history: History,
    /// Where the cluster's directory was kept, if asked to.
    pub kept: Option<PathBuf>,
}

/// Runs the nemesis; `on_event` hears each fault and heal as it happens,
/// with the time since the clients started.
pub async fn run(
    options: &NemesisOptions,
    on_event: &mut impl FnMut(Duration, &NemesisEvent),
) -> anyhow::Result<NemesisReport> {
    match options.partial {
        Some(_) if !options.faults.is_empty() => {
            bail!(
                "a partial-connectivity scenario is held alone: give --partial or --faults, not both"
            )
        }
        None if options.faults.is_empty() => bail!("need at least one fault kind"),
        _ => {}
    }
    if options.clients == 0 || options.nodes == 0 {
        bail!("need at least one client and one node");
    }
    let nodes = options
        .cluster
        .as_ref()
        .map_or(options.nodes, |f| f.nodes.len());
    if options.partial.is_some() && nodes < 3 {
        bail!("partial connectivity needs at least 3 nodes");
    }
    let dir = tempfile::Builder::new()
        .prefix("synod-nemesis-")
        .tempdir()?;
    let cluster = match &options.cluster {
        Some(file) => {
            if options
                .faults
                .iter()
                .any(|f| !matches!(f, Fault::None | Fault::Partition))
            {
                bail!(
                    "with --cluster only --faults partition or none apply (the processes are not ours \
                     to kill, nor its nodes ours to add)"
                );
            }
            if (options.faults.contains(&Fault::Partition) || options.partial.is_some())
                && !file.testing.fault_injection
            {
                bail!(
                    "the cluster's file does not enable fault injection ([testing] fault_injection = true): its nodes refuse partitions"
                );
            }
            LocalCluster::external(file.clone())?
        }
        None => {
            if !options.keep {
                crate::local::scratch(dir.path());
            }
            // Its own test cluster: partitions allowed.
            LocalCluster::create(dir.path(), options.nodes, options.binary.clone(), |file| {
                file.testing.fault_injection = true;
            })?
        }
    };
    let result = nemesis(&cluster, options, on_event).await;
    // A membership fault may have added nodes: the file says which run.
    let cluster = cluster.reopen().unwrap_or(cluster);
    cluster.down()?;
    let kept = options.keep.then(|| dir.keep());
    Ok(NemesisReport { kept, ..result? })
}

async fn nemesis(
    cluster: &LocalCluster,
    options: &NemesisOptions,
    on_event: &mut impl FnMut(Duration, &NemesisEvent),
) -> anyhow::Result<NemesisReport> {
    cluster.wait_leader(Duration::from_secs(15), None).await?;
    let start = Instant::now();
    let recorder = Arc::new(Recorder::new(start));
    let tasks: Vec<_> = (0..options.clients)
        .map(|n| {
            tokio::spawn(client_loop(
                cluster.file.clone(),
                cluster.security.clone(),
                n,
                options.workload,
                options.reads,
                options.seed,
                recorder.clone(),
            ))
        })
        .collect();
    let mut striker = Striker {
        cluster: cluster.reopen()?,
        founders: cluster.ids(),
        next_id: cluster.ids().into_iter().max().unwrap_or(0),
        rng: ChaCha8Rng::seed_from_u64(options.seed),
        kinds: options
            .faults
            .iter()
            .copied()
            .filter(|f| *f != Fault::None)
            .collect(),
        start,
        leader_losses: Vec::new(),
        on_event,
    };
    let mut faults = 0u64;
    let end = options.duration;
    if striker.kinds.is_empty() && options.partial.is_none() {
        tokio::time::sleep(end).await;
    }
    // Nodes that went down without our doing (or did not come back): a
    // finding, with their log's last line, not a reason to stop the run.
    let mut lost_nodes: Vec<String> = Vec::new();
    let mut rounds = (Vec::new(), 0);
    if let Some(scenario) = options.partial {
        rounds = partial::rounds(&mut striker, scenario, end, &recorder).await;
        faults = rounds.0.len() as u64;
    }
    while options.partial.is_none() && start.elapsed() < end {
        let calm = Duration::from_millis(striker.rng.random_range(500..1500));
        tokio::time::sleep(calm).await;
        if start.elapsed() >= end {
            break;
        }
        if cluster.is_local() {
            lost_nodes.extend(bring_back_lost_nodes(&striker.cluster));
        }
        let undo = striker.strike().await?;
        faults += 1;
        let hold = Duration::from_millis(striker.rng.random_range(500..2500));
        tokio::time::sleep(hold).await;
        striker.undo(undo).await?;
    }
    // Heal everything: partitions, paused and dead nodes; of the cluster
    // as its file says now (membership faults change it).
    let cluster = &striker.cluster.reopen()?;
    if cluster.is_local() {
        lost_nodes.extend(bring_back_lost_nodes(cluster));
    }
    striker.heal_partitions().await;
    for id in cluster.ids() {
        if cluster.running(id) {
            let _ = cluster.resume(id);
        } else {
            cluster.start(id, false)?;
        }
    }
    (striker.on_event)(start.elapsed(), &NemesisEvent::AllHealed);
    tokio::time::sleep(Duration::from_secs(2)).await;
    recorder.stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
    }
    // Every replica must reach the same slot with the same state.
    let all: Vec<u32> = cluster.file.nodes.iter().map(|n| n.id).collect();
    cluster
        .wait_converged(&all, Duration::from_secs(20))
        .await
        .map_err(|e| anyhow::anyhow!("replicas did not converge within 20 s of healing: {e}"))?;
    let mut states: Vec<(u32, NodeState)> = Vec::new();
    for &id in &all {
        states.push((id, cluster.state(id).await?));
    }
    let (first_id, first) = &states[0];
    if states.iter().any(|(_, s)| s.executed != first.executed) {
        bail!(
            "a node executed more while the replicas were read; the cluster should be idle by now"
        );
    }
    let mut anomalies: Vec<String> = states[1..]
        .iter()
        .filter(|(_, s)| s.services != first.services)
        .map(|(id, _)| {
            format!(
                "replicas differ: n{id} and n{first_id} executed the same slots into different states"
            )
        })
        .collect();
    let replicas_identical = anomalies.is_empty();
    anomalies.extend(lost_nodes);
    let mut history = History {
        ops: recorder.ops(),
        ..History::default()
    };
    history.add_final_state(&first.services, recorder.now_us());
    let found = synod_check::check(&history);
    let linearizable = !found.iter().any(|a| a.checker == "linearizability");
    anomalies.extend(found.iter().map(|a| a.to_string()));

    let ops: Vec<&synod_check::Op> = history
        .ops
        .iter()
        .filter(|o| o.client != FINAL_READ_CLIENT)
        .collect();
    let unavailable: Vec<f64> = striker
        .leader_losses
        .iter()
        .filter_map(|&t| {
            ops.iter()
                .filter(|o| o.invoke >= t)
                .filter_map(|o| o.complete)
                .min()
                .map(|c| (c - t) as f64 / 1000.0)
        })
        .collect();
    let ok = ops.iter().filter(|o| o.complete.is_some()).count();
    let summary = NemesisSummary {
        workload: if options.reads {
            "kv-reads"
        } else {
            options.workload.name()
        },
        seed: options.seed,
        seconds: options.duration.as_secs(),
        ops: ops.len(),
        ok,
        unknown: ops.len() - ok,
        reads: recorder.reads.load(Ordering::Relaxed),
        slots: first.executed,
        faults,
        leader_losses: striker.leader_losses.len(),
        anomalies: anomalies.len(),
        linearizable,
        replicas_identical,
        max_unavailable_ms: unavailable.iter().copied().fold(0.0, f64::max),
        unavailable_ms: unavailable,
        partial: options.partial.map(|scenario| {
            partial::summarise(scenario, &cluster.file, &rounds.0, rounds.1, &history.ops)
        }),
    };
    Ok(NemesisReport {
        summary,
        anomalies,
        history,
        kept: None,
    })
}

/// Every node of a local cluster should be running between faults (each
/// fault is undone before the next): restarts any that is not, and says
/// which, with the last line of its log (why it stopped, or why it could
/// not start).
fn bring_back_lost_nodes(cluster: &LocalCluster) -> Vec<String> {
    let mut lost = Vec::new();
    for id in cluster.ids() {
        if cluster.running(id) {
            continue;
        }
        let log = std::fs::read_to_string(cluster.log_file(id)).unwrap_or_default();
        let last = log
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("(empty log)");
        lost.push(format!(
            "n{id} was down without a fault; its log ends: {last}"
        ));
        let _ = cluster.start(id, false);
    }
    lost
}

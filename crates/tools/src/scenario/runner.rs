//! Runs test sets against a local cluster with the ten clients A..J.
//!
//! For each set the listed nodes are connected and every other node is cut
//! off (through the nodes' fault-injection switch, not killed, so a later set
//! can bring it back and it must catch up). Each client runs its own
//! transactions in order, different clients in parallel. `LF` cuts off the
//! current leader at that point of the set.
//!
//! A transaction that gets no answer (no quorum) has an unknown outcome: it
//! is neither lost nor doubled. Its client keeps it and tries it again, under
//! its original timestamp, before anything else in later sets; when a set
//! restores a quorum it commits then (if a minority accepted it earlier, the
//! next leader may even carry that value forward), and the report names the
//! set in which it committed. Later transactions of the same client wait
//! behind it, as a closed-loop client does.

use super::report::{
    Balances, Committed, FinalReport, LatencySummary, LeaderFailure, NewView, NodeBalances, Perf,
    SetLatency, SetReport, TxRecord,
};
use super::sets::{Set, Step, Tx};
use crate::local::{LocalCluster, poll};
use crate::queries::Cut;
use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use synod_apps::bank::DEFAULT_ACCOUNTS;
use synod_apps::{BankOp, Command, Outcome};
use synod_node::client::{ClientOptions, CommandResult, SynodClient};

pub struct ScenarioOptions {
    /// The `synod` binary the nodes run as.
    pub binary: PathBuf,
    pub nodes: usize,
    /// A client's wait for a reply before it broadcasts again.
    pub timeout: Duration,
    /// Broadcasts before a transaction counts as unknown (for this set).
    pub retries: u32,
}

/// One transaction's latency, from its first try in a segment to its answer.
struct Latency {
    set: u32,
    seconds: f64,
}

/// A transaction a client tried in a segment, and what it heard.
struct Tried {
    record: usize,
    result: CommandResult<Outcome>,
    took: Duration,
}

/// A transaction waiting in its client's queue.
struct Queued {
    record: usize,
    tx: Tx,
    /// Its first try went unknown: it is retried, never sent anew.
    unknown: bool,
}

/// A scenario in progress: its cluster, the ten clients, and every
/// transaction so far.
pub struct Scenario {
    /// Removed when the scenario is dropped.
    _dir: tempfile::TempDir,
    cluster: LocalCluster,
    clients: BTreeMap<String, SynodClient>,
    /// Per client: transactions not yet resolved (indices into `records`).
    queues: BTreeMap<String, VecDeque<usize>>,
    records: Vec<TxRecord>,
    latencies: Vec<Latency>,
}

impl Scenario {
    /// Starts the cluster and waits for its leader (stopping it again if
    /// none is elected).
    pub async fn start(options: &ScenarioOptions) -> anyhow::Result<Scenario> {
        let dir = tempfile::Builder::new()
            .prefix("synod-scenario-")
            .tempdir()?;
        crate::local::scratch(dir.path());
        let cluster =
            LocalCluster::create(dir.path(), options.nodes, options.binary.clone(), |file| {
                // Sets run with nodes cut off: partitions allowed.
                file.testing.fault_injection = true;
            })?;
        if let Err(e) = cluster.wait_leader(Duration::from_secs(15), None).await {
            cluster.down()?;
            return Err(e);
        }
        let client_options = ClientOptions {
            timeout: options.timeout,
            retries: options.retries,
            id: None,
            first_contact: None,
        };
        Ok(Scenario {
            clients: DEFAULT_ACCOUNTS
                .iter()
                .map(|a| {
                    (
                        a.to_string(),
                        SynodClient::with_security(
                            &cluster.file,
                            client_options.clone(),
                            cluster.security.clone(),
                        ),
                    )
                })
                .collect(),
            queues: DEFAULT_ACCOUNTS
                .iter()
                .map(|a| (a.to_string(), VecDeque::new()))
                .collect(),
            _dir: dir,
            cluster,
            records: Vec::new(),
            latencies: Vec::new(),
        })
    }

    pub fn cluster(&self) -> &LocalCluster {
        &self.cluster
    }

    pub fn dir(&self) -> &Path {
        &self.cluster.dir
    }

    /// Stops the cluster's nodes.
    pub fn stop(&self) -> anyhow::Result<()> {
        self.cluster.down()
    }

    /// Runs one set and reports it.
    pub async fn run_set(&mut self, set: &Set) -> anyhow::Result<SetReport> {
        let mut live = set.live.clone();
        self.connect(&live).await?;
        let views_before: BTreeMap<u32, usize> = self
            .cluster
            .views()
            .await
            .iter()
            .map(|(k, v)| (*k, v.len()))
            .collect();
        let set_start = Instant::now();
        let mut leader_failures = Vec::new();
        let first_record = self.records.len();
        // Segments split at LF; a last one after the final row.
        let mut segment: Vec<Tx> = Vec::new();
        let rows = set.steps.iter().map(Some).chain([None]);
        for step in rows {
            if let Some(Step::Tx(tx)) = step {
                segment.push(tx.clone());
                continue;
            }
            for tx in segment.drain(..) {
                self.records.push(TxRecord {
                    set: set.number,
                    tx: tx.clone(),
                    first_answer: None,
                    committed: None,
                });
                let i = self.records.len() - 1;
                if let Some(q) = self.queues.get_mut(&tx.from) {
                    q.push_back(i);
                }
            }
            if self.leader(&live, Duration::from_secs(3)).await.is_some()
                || self.queues.values().any(|q| !q.is_empty())
            {
                self.run_segment(set.number).await;
            }
            let Some(Step::FailLeader { line }) = step else {
                continue;
            };
            let cut = self.leader(&live, Duration::from_secs(3)).await;
            leader_failures.push(LeaderFailure {
                line: *line,
                cut,
                live: live.clone(),
            });
            if let Some(leader) = cut {
                live.retain(|n| *n != leader);
                self.connect(&live).await?;
            }
        }
        // Transactions never tried in this set (queued behind an unknown one).
        for r in &mut self.records[first_record..] {
            r.first_answer.get_or_insert(CommandResult::Unknown);
        }
        self.settle(&live).await;
        let seconds = set_start.elapsed().as_secs_f64();
        let balances = self.balances().await;
        let new_views = self
            .cluster
            .views()
            .await
            .into_iter()
            .flat_map(|(node, views)| {
                let skip = views_before.get(&node).copied().unwrap_or(0);
                views
                    .into_iter()
                    .skip(skip)
                    .map(move |view| NewView { node, view })
            })
            .collect();
        let from_earlier_sets = self
            .records
            .iter()
            .filter(|r| r.committed_in() == Some(set.number) && r.set != set.number)
            .cloned()
            .collect();
        Ok(SetReport {
            set: set.number,
            live: set.live.clone(),
            live_at_end: live,
            leader_failures,
            seconds,
            transactions: self.records[first_record..].to_vec(),
            from_earlier_sets,
            new_views,
            balances,
        })
    }

    /// Every node's balances (`None` for one that does not answer).
    pub async fn balances(&self) -> Vec<NodeBalances> {
        let mut out = Vec::new();
        for n in &self.cluster.file.nodes {
            let state = self.cluster.state(n.id).await.ok();
            out.push(NodeBalances {
                node: n.id,
                balances: state.map(|s| Balances {
                    executed: s.executed,
                    accounts: s.services.bank.balances(),
                }),
            });
        }
        out
    }

    /// Transaction latencies: of the last set that answered any, and overall.
    pub fn perf(&self) -> Perf {
        let summary = |pick: &dyn Fn(&Latency) -> bool| {
            let picked: Vec<f64> = self
                .latencies
                .iter()
                .filter(|l| pick(l))
                .map(|l| l.seconds)
                .collect();
            LatencySummary {
                transactions: picked.len(),
                mean_seconds: picked.iter().sum::<f64>() / picked.len().max(1) as f64,
            }
        };
        let last_set = self.latencies.iter().map(|l| l.set).max();
        Perf {
            last_set: last_set.map(|set| SetLatency {
                set,
                summary: summary(&|l| l.set == set),
            }),
            overall: summary(&|_| true),
        }
    }

    /// Every transaction so far, and the balances now.
    pub async fn summary(&self) -> FinalReport {
        FinalReport {
            balances: self.balances().await,
            transactions: self.records.clone(),
        }
    }

    /// Connects the `live` nodes and cuts every other node off from all
    /// (it stops serving clients too).
    async fn connect(&self, live: &[u32]) -> anyhow::Result<()> {
        let all: Vec<u32> = self.cluster.file.nodes.iter().map(|n| n.id).collect();
        for &n in &all {
            let cut = if live.contains(&n) {
                Cut::both_ways(all.iter().copied().filter(|m| !live.contains(m)).collect())
            } else {
                Cut {
                    serve_clients: false,
                    ..Cut::both_ways(all.iter().copied().filter(|m| *m != n).collect())
                }
            };
            self.cluster
                .cut(n, cut, Duration::from_secs(2))
                .await
                .map_err(anyhow::Error::msg)?;
        }
        Ok(())
    }

    /// The leader the live nodes follow, if a quorum of them elected one.
    async fn leader(&self, live: &[u32], wait: Duration) -> Option<u32> {
        if live.len() < self.cluster.file.nodes.len() / 2 + 1 {
            return None;
        }
        poll(wait, async || {
            let statuses = self.cluster.statuses().await;
            statuses
                .iter()
                .find(|s| live.contains(&s.id.0) && s.role == synod_core::Role::Leader)
                .map(|s| s.id.0)
        })
        .await
    }

    /// Runs every client's queue concurrently; returns when each client is
    /// done or stuck on an unknown outcome.
    async fn run_segment(&mut self, set: u32) {
        let mut tasks = Vec::new();
        for (name, mut client) in std::mem::take(&mut self.clients) {
            let queue: Vec<Queued> = self.queues[&name]
                .iter()
                .map(|&record| Queued {
                    record,
                    tx: self.records[record].tx.clone(),
                    unknown: self.records[record].first_answer == Some(CommandResult::Unknown),
                })
                .collect();
            tasks.push(tokio::spawn(async move {
                let mut tried = Vec::new();
                for Queued {
                    record,
                    tx,
                    unknown,
                } in queue
                {
                    let start = Instant::now();
                    let result = if unknown && client.has_unknown() {
                        client
                            .retry_unknown::<Command>()
                            .await
                            .unwrap_or(CommandResult::Unknown)
                    } else {
                        let op = Command::Bank(BankOp::Transfer {
                            from: tx.from,
                            to: tx.to,
                            amount: tx.amount,
                        });
                        client.execute(&op).await
                    };
                    let stuck = result == CommandResult::Unknown;
                    tried.push(Tried {
                        record,
                        result,
                        took: start.elapsed(),
                    });
                    if stuck {
                        break;
                    }
                }
                (name, client, tried)
            }));
        }
        for task in tasks {
            let Ok((name, client, tried)) = task.await else {
                continue;
            };
            for Tried {
                record,
                result,
                took,
            } in tried
            {
                let r = &mut self.records[record];
                if r.set == set && r.first_answer.is_none() {
                    r.first_answer = Some(result.clone());
                }
                if let Some(outcome) = result.outcome() {
                    r.committed = Some(Committed {
                        set,
                        outcome: outcome.clone(),
                    });
                    if let Some(q) = self.queues.get_mut(&name) {
                        q.retain(|&j| j != record);
                    }
                    self.latencies.push(Latency {
                        set,
                        seconds: took.as_secs_f64(),
                    });
                }
            }
            self.clients.insert(name, client);
        }
    }

    /// Waits (briefly) until the live nodes have executed the same slots.
    async fn settle(&self, live: &[u32]) {
        // Best effort: the balances reported next show any node still behind.
        let _ = self
            .cluster
            .wait_converged(live, Duration::from_secs(5))
            .await;
    }
}

//! `synod nemesis`: Jepsen's method on real processes. Concurrent clients
//! record every operation (invocation, completion, result) while a seeded
//! schedule of faults strikes the cluster: SIGKILL and restart, SIGSTOP and
//! SIGCONT, and network partitions cut inside the nodes' transport (majority
//! and minority, the leader alone, one-way, bridge). At the end everything
//! heals, the state of every replica is read, and the history is checked by
//! the same checkers as the simulator's.
//!
//! Partitions use the nodes' fault switch (`AdminRequest::Partition`): each
//! node drops the messages of the peers it is told to. It cuts exactly the
//! peer traffic, needs no privileges, and works the same in containers;
//! network namespaces would also cut the admin channel the nemesis needs.

use crate::cmd::admin::decode_db;
use crate::cmd::cluster::binary;
use crate::local::LocalCluster;
use anyhow::{Context, bail};
use clap::{Args as ClapArgs, ValueEnum};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use synod_apps::bank::DEFAULT_ACCOUNTS;
use synod_apps::{BankOp, Command, InventoryOp, KvOp, KvResult, Outcome, Services};
use synod_check::{History, Op};
use synod_core::NodeId;
use synod_node::admin::query;
use synod_node::client::{ClientOptions, CommandResult, SynodClient};
use synod_node::wire::AdminRequest;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Workload {
    Kv,
    Bank,
    Inventory,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Fault {
    /// No faults: a plain recorded and checked run.
    None,
    Kill,
    Pause,
    Partition,
    Restart,
}

#[derive(ClapArgs)]
pub struct Args {
    #[arg(long, default_value_t = 5)]
    nodes: usize,
    /// Use this running cluster instead of starting one (then only
    /// partition faults, or none: processes are not ours to kill).
    #[arg(long)]
    cluster: Option<PathBuf>,
    /// How long faults strike (healing and the final read come after).
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "kill,pause,partition,restart"
    )]
    faults: Vec<Fault>,
    #[arg(long, value_enum, default_value_t = Workload::Kv)]
    workload: Workload,
    #[arg(long, default_value_t = 8)]
    clients: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Write the recorded history here (JSON), for `synod check`.
    #[arg(long)]
    history: Option<PathBuf>,
    /// Keep the cluster directory (node logs, data).
    #[arg(long)]
    keep: bool,
}

struct Shared {
    stop: AtomicBool,
    history: Mutex<Vec<Op>>,
    start: Instant,
}

fn now_us(start: Instant) -> u64 {
    start.elapsed().as_micros() as u64
}

const KEYS: usize = 6;

fn next_command(workload: Workload, rng: &mut ChaCha8Rng, client: usize, seq: u64) -> Command {
    let unique = format!("c{client}-{seq}");
    match workload {
        Workload::Kv => {
            let key = format!("k{}", rng.random_range(0..KEYS));
            match rng.random_range(0..10) {
                0..4 => Command::Kv(KvOp::Put {
                    key,
                    value: unique.into_bytes(),
                }),
                4..8 => Command::Kv(KvOp::Get { key }),
                8 => Command::Kv(KvOp::Cas {
                    key,
                    expected: None,
                    new: unique.into_bytes(),
                }),
                _ => Command::Kv(KvOp::Delete { key }),
            }
        }
        Workload::Bank => {
            let from = rng.random_range(0..10);
            let to = (from + rng.random_range(1..10)) % 10;
            if rng.random_bool(0.8) {
                Command::Bank(BankOp::Transfer {
                    from: DEFAULT_ACCOUNTS[from].into(),
                    to: DEFAULT_ACCOUNTS[to].into(),
                    amount: rng.random_range(1..=4),
                })
            } else {
                Command::Bank(BankOp::Balance {
                    account: DEFAULT_ACCOUNTS[from].into(),
                })
            }
        }
        Workload::Inventory => match rng.random_range(0..10) {
            0..6 => Command::Inventory(InventoryOp::Order {
                name: unique,
                counts: [
                    rng.random_range(0..30),
                    rng.random_range(0..6),
                    rng.random_range(0..12),
                    rng.random_range(0..12),
                ],
            }),
            6..8 => Command::Inventory(InventoryOp::Cancel {
                name: format!("c{client}-{}", rng.random_range(1..=seq)),
            }),
            _ => Command::Inventory(InventoryOp::Stock),
        },
    }
}

async fn client_loop(
    file: synod_node::ClusterFile,
    n: usize,
    workload: Workload,
    seed: u64,
    shared: Arc<Shared>,
) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ (n as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let options = ClientOptions {
        timeout: Duration::from_millis(200),
        retries: 5,
        id: None,
        first_contact: None,
    };
    let mut client = SynodClient::new(&file, options);
    let mut seq = 0;
    while !shared.stop.load(Ordering::Relaxed) {
        seq += 1;
        let command = next_command(workload, &mut rng, n, seq);
        let invoke = now_us(shared.start);
        let mut result = client.execute(&command).await;
        // An unknown outcome is retried under its own timestamp until it
        // resolves: one operation, applied at most once, with a long latency.
        while result == CommandResult::Unknown && !shared.stop.load(Ordering::Relaxed) {
            result = client
                .retry_unknown()
                .await
                .unwrap_or(CommandResult::Unknown);
        }
        let outcome = result.outcome().cloned();
        let complete = outcome.as_ref().map(|_| now_us(shared.start));
        if let Ok(mut h) = shared.history.lock() {
            h.push(Op {
                client: client.id().0,
                invoke,
                complete,
                command,
                outcome,
            });
        }
    }
}

/// One fault in progress, and how to undo it.
enum Active {
    Killed(u32),
    Paused(u32),
    Partitioned,
}

struct Nemesis<'a> {
    cluster: &'a LocalCluster,
    rng: ChaCha8Rng,
    faults: Vec<Fault>,
    start: Instant,
    log: Vec<String>,
    /// (when the leader was killed or paused, which node)
    leader_losses: Vec<u64>,
}

impl Nemesis<'_> {
    fn say(&mut self, text: String) {
        let line = format!("[{:>6.2}s] {text}", self.start.elapsed().as_secs_f64());
        eprintln!("{line}");
        self.log.push(line);
    }

    async fn leader(&self) -> Option<u32> {
        self.cluster
            .statuses()
            .await
            .iter()
            .find(|s| s.role == "leader")
            .map(|s| s.id.0)
    }

    async fn partition(&self, node: u32, drop_from: Vec<u32>, drop_to: Vec<u32>) {
        let request = AdminRequest::Partition {
            drop_from: drop_from.into_iter().map(NodeId).collect(),
            drop_to: drop_to.into_iter().map(NodeId).collect(),
            serve_clients: true,
        };
        let _ = query(&self.cluster.file, node, request, Duration::from_secs(1)).await;
    }

    async fn heal_partitions(&self) {
        for n in &self.cluster.file.nodes {
            self.partition(n.id, vec![], vec![]).await;
        }
    }

    async fn strike(&mut self) -> anyhow::Result<Active> {
        let n = self.cluster.file.nodes.len() as u32;
        let kinds: Vec<Fault> = self
            .faults
            .iter()
            .copied()
            .filter(|f| *f != Fault::None)
            .collect();
        let fault = kinds[self.rng.random_range(0..kinds.len())];
        let leader = self.leader().await;
        let target = match leader {
            Some(l) if self.rng.random_bool(0.5) => l,
            _ => self.rng.random_range(1..=n),
        };
        let hits_leader = Some(target) == leader;
        let tag = if hits_leader { " (the leader)" } else { "" };
        Ok(match fault {
            Fault::None => Active::Partitioned,
            Fault::Kill | Fault::Restart => {
                self.cluster.kill(target)?;
                if hits_leader {
                    self.leader_losses.push(now_us(self.start));
                }
                if fault == Fault::Restart {
                    self.cluster.start(target, false)?;
                    self.say(format!("kill -9 and restart n{target}{tag}"));
                    Active::Partitioned // nothing left to undo but a no-op heal
                } else {
                    self.say(format!("kill -9 n{target}{tag}"));
                    Active::Killed(target)
                }
            }
            Fault::Pause => {
                self.cluster.pause(target)?;
                if hits_leader {
                    self.leader_losses.push(now_us(self.start));
                }
                self.say(format!("pause n{target}{tag}"));
                Active::Paused(target)
            }
            Fault::Partition => {
                let all: Vec<u32> = (1..=n).collect();
                match self.rng.random_range(0..4) {
                    0 => {
                        // majority / minority
                        let mut shuffled = all.clone();
                        for i in (1..shuffled.len()).rev() {
                            shuffled.swap(i, self.rng.random_range(0..=i));
                        }
                        let minority: Vec<u32> = shuffled[..(n as usize - 1) / 2].to_vec();
                        for &x in &all {
                            let other: Vec<u32> = if minority.contains(&x) {
                                all.iter()
                                    .copied()
                                    .filter(|y| !minority.contains(y))
                                    .collect()
                            } else {
                                minority.clone()
                            };
                            self.partition(x, other.clone(), other).await;
                        }
                        self.say(format!(
                            "partition: minority {minority:?} cut from the rest"
                        ));
                    }
                    1 => {
                        let alone = leader.unwrap_or(target);
                        if Some(alone) == leader {
                            self.leader_losses.push(now_us(self.start));
                        }
                        for &x in &all {
                            let other = if x == alone {
                                all.iter().copied().filter(|y| *y != alone).collect()
                            } else {
                                vec![alone]
                            };
                            self.partition(x, other.clone(), other).await;
                        }
                        self.say(format!(
                            "partition: n{alone} isolated{}",
                            if Some(alone) == leader {
                                " (the leader)"
                            } else {
                                ""
                            }
                        ));
                    }
                    2 => {
                        // one-way: target hears nobody, but everyone hears it
                        let others: Vec<u32> =
                            all.iter().copied().filter(|y| *y != target).collect();
                        self.partition(target, others, vec![]).await;
                        self.say(format!("partition: one-way, n{target} hears nobody{tag}"));
                    }
                    _ => {
                        // bridge: two halves that only the bridge node connects
                        let bridge = target;
                        let rest: Vec<u32> = all.iter().copied().filter(|y| *y != bridge).collect();
                        let (left, right) = rest.split_at(rest.len() / 2);
                        for &x in left {
                            self.partition(x, right.to_vec(), right.to_vec()).await;
                        }
                        for &x in right {
                            self.partition(x, left.to_vec(), left.to_vec()).await;
                        }
                        self.say(format!(
                            "partition: bridge n{bridge} between {left:?} and {right:?}"
                        ));
                    }
                }
                Active::Partitioned
            }
        })
    }

    async fn undo(&mut self, active: Active) -> anyhow::Result<()> {
        match active {
            Active::Killed(n) => {
                self.cluster.start(n, false)?;
                self.say(format!("restart n{n}"));
            }
            Active::Paused(n) => {
                self.cluster.resume(n)?;
                self.say(format!("resume n{n}"));
            }
            Active::Partitioned => {
                self.heal_partitions().await;
                self.say("heal partitions".into());
            }
        }
        Ok(())
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.faults.is_empty() || args.clients == 0 || args.nodes == 0 {
        bail!("need at least one fault kind, one client and one node");
    }
    let dir = tempfile::Builder::new()
        .prefix("synod-nemesis-")
        .tempdir()?;
    let cluster = match &args.cluster {
        Some(path) => {
            if args
                .faults
                .iter()
                .any(|f| !matches!(f, Fault::None | Fault::Partition))
            {
                bail!(
                    "with --cluster only --faults partition or none apply (the processes are not ours to kill)"
                );
            }
            LocalCluster::external(synod_node::ClusterFile::load(path)?)
        }
        None => LocalCluster::create(dir.path(), args.nodes, binary()?, |_| {})?,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let result = rt.block_on(nemesis(&cluster, &args));
    cluster.down()?;
    if args.keep {
        eprintln!("cluster directory kept: {}", dir.keep().display());
    }
    let (summary, history) = result?;
    if let Some(path) = &args.history {
        std::fs::write(path, serde_json::to_string(&history)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let anomalies = summary["anomalies"].as_u64().unwrap_or(1);
    println!("{summary}");
    Ok(if anomalies == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn nemesis(
    cluster: &LocalCluster,
    args: &Args,
) -> anyhow::Result<(serde_json::Value, History)> {
    cluster.wait_leader(Duration::from_secs(15), None).await?;
    let start = Instant::now();
    let shared = Arc::new(Shared {
        stop: AtomicBool::new(false),
        history: Mutex::new(Vec::new()),
        start,
    });
    let tasks: Vec<_> = (0..args.clients)
        .map(|n| {
            tokio::spawn(client_loop(
                cluster.file.clone(),
                n,
                args.workload,
                args.seed,
                shared.clone(),
            ))
        })
        .collect();
    let mut nem = Nemesis {
        cluster,
        rng: ChaCha8Rng::seed_from_u64(args.seed),
        faults: args.faults.clone(),
        start,
        log: Vec::new(),
        leader_losses: Vec::new(),
    };
    let mut faults = 0u64;
    let end = Duration::from_secs(args.seconds);
    if args.faults.iter().all(|f| *f == Fault::None) {
        tokio::time::sleep(end).await;
    }
    while start.elapsed() < end {
        let calm = Duration::from_millis(nem.rng.random_range(500..1500));
        tokio::time::sleep(calm).await;
        if start.elapsed() >= end {
            break;
        }
        let active = nem.strike().await?;
        faults += 1;
        let hold = Duration::from_millis(nem.rng.random_range(500..2500));
        tokio::time::sleep(hold).await;
        nem.undo(active).await?;
    }
    // Heal everything: partitions, paused and dead nodes.
    nem.heal_partitions().await;
    for id in 1..=cluster.file.nodes.len() as u32 {
        if cluster.running(id) {
            let _ = cluster.resume(id);
        } else {
            cluster.start(id, false)?;
        }
    }
    nem.say("healed; clients finish, then the final read".into());
    tokio::time::sleep(Duration::from_secs(2)).await;
    shared.stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
    }
    // Every replica must reach the same slot with the same state.
    let all: Vec<u32> = cluster.file.nodes.iter().map(|n| n.id).collect();
    cluster
        .wait_converged(&all, Duration::from_secs(20))
        .await
        .map_err(|e| anyhow::anyhow!("replicas did not converge within 20 s of healing: {e}"))?;
    let mut states: Vec<(u32, u64, Services)> = Vec::new();
    for &id in &all {
        let reply = query(&cluster.file, id, AdminRequest::Db, Duration::from_secs(2))
            .await
            .map_err(anyhow::Error::msg)?;
        let (executed, s) = decode_db(reply)?;
        states.push((id, executed, s));
    }
    if states.iter().any(|s| s.1 != states[0].1) {
        bail!(
            "a node executed more while the replicas were read; the cluster should be idle by now"
        );
    }
    let end_us = now_us(start);
    let mut anomalies: Vec<String> = Vec::new();
    for (id, _, s) in &states[1..] {
        if s != &states[0].2 {
            anomalies.push(format!(
                "replicas differ: n{id} and n{} executed the same slots into different states",
                states[0].0
            ));
        }
    }
    let final_state = &states[0].2;
    let mut history = History {
        ops: shared.history.lock().map(|h| h.clone()).unwrap_or_default(),
        final_balances: None,
        final_orders: None,
    };
    match args.workload {
        Workload::Kv => {
            for k in 0..KEYS {
                let key = format!("k{k}");
                history.ops.push(Op {
                    client: u64::MAX,
                    invoke: end_us,
                    complete: Some(end_us),
                    outcome: Some(Outcome::Kv(KvResult::Value(
                        final_state.kv.get(&key).map(|v| v.to_vec()),
                    ))),
                    command: Command::Kv(KvOp::Get { key }),
                });
            }
        }
        Workload::Bank => history.final_balances = Some(final_state.bank.balances()),
        Workload::Inventory => history.final_orders = Some(final_state.inventory.orders().to_vec()),
    }
    let found = synod_check::check(&history);
    let linearizable = !found.iter().any(|a| a.checker == "linearizability");
    anomalies.extend(found.iter().map(|a| a.to_string()));
    for a in &anomalies {
        eprintln!("ANOMALY: {a}");
    }
    // Unavailability after each leader loss: until the first operation
    // invoked after it completed.
    let ops = &history.ops;
    let unavailable: Vec<f64> = nem
        .leader_losses
        .iter()
        .filter_map(|&t| {
            ops.iter()
                .filter(|o| o.invoke >= t && o.client != u64::MAX)
                .filter_map(|o| o.complete)
                .min()
                .map(|c| (c - t) as f64 / 1000.0)
        })
        .collect();
    let real_ops: Vec<&Op> = ops.iter().filter(|o| o.client != u64::MAX).collect();
    let ok = real_ops.iter().filter(|o| o.complete.is_some()).count();
    let summary = json!({
        "workload": format!("{:?}", args.workload).to_lowercase(),
        "seed": args.seed,
        "seconds": args.seconds,
        "ops": real_ops.len(),
        "ok": ok,
        "unknown": real_ops.len() - ok,
        "faults": faults,
        "leader_losses": nem.leader_losses.len(),
        "anomalies": anomalies.len(),
        "linearizable": linearizable,
        "replicas_identical": states.iter().all(|s| s.2 == states[0].2),
        "max_unavailable_ms": unavailable.iter().cloned().fold(0.0, f64::max),
        "unavailable_ms": unavailable,
    });
    Ok((summary, history))
}

//! The load generator: closed-loop clients against a cluster, latency
//! percentiles from a histogram, figures per second, and (on a local
//! cluster) a leader kill to show the dip. [`plot::svg`] draws a report.

pub mod plot;
mod workload;

pub use workload::Workload;

use crate::local::LocalCluster;
use anyhow::bail;
use hdrhistogram::Histogram;
use rand::SeedableRng;
use serde::{Serialize, Serializer};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use synod_node::ClusterFile;
use synod_node::client::{ClientOptions, CommandResult, SynodClient, Transport};
use synod_node::tls::Security;
use workload::ClientLoad;

/// Where the load goes.
pub enum Target {
    /// A running cluster (not ours to kill).
    Cluster(Box<ClusterFile>),
    /// A local cluster started for the run and stopped after it; one node
    /// is the unreplicated baseline.
    Local {
        /// The `synod` binary the nodes run as.
        binary: PathBuf,
        nodes: usize,
        /// Threads per node process (runtime.threads of the cluster file).
        node_threads: Option<u16>,
        /// SIGKILL the leader this many seconds into the measurement, and
        /// restart it 2 s later.
        kill_leader_at: Option<u64>,
        /// Plain TCP instead of mutual TLS (to measure what TLS costs).
        plain: bool,
        /// Whether the nodes serve their metrics endpoint (and keep its
        /// values), as local clusters do; off, to measure what it costs.
        metrics: bool,
    },
}

pub struct BenchOptions {
    pub target: Target,
    /// Closed-loop clients (each has one request outstanding).
    pub clients: usize,
    /// Seconds measured.
    pub seconds: u64,
    /// Load before measuring starts.
    pub warmup: Duration,
    pub workload: Workload,
    pub value_size: usize,
    /// Connections per node shared by the clients (default: one per 8
    /// clients); 0: one per client.
    pub conns: Option<usize>,
}

/// How the measurement goes, for a progress display.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BenchProgress {
    /// The local cluster started for the run is up (its cluster file), before
    /// the warm-up: a dashboard can attach to it.
    ClusterUp { cluster_file: PathBuf },
    /// The warm-up is over; this many seconds are measured now.
    Measuring { seconds: u64 },
    /// One more second measured, with the operations completed in it.
    Second { ops: u64 },
}

/// A fault the load generator struck during the measurement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    LeaderKilled(u32),
    Restarted(u32),
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::LeaderKilled(n) => write!(f, "kill -9 leader n{n}"),
            Fault::Restarted(n) => write!(f, "restart n{n}"),
        }
    }
}

impl Serialize for Fault {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A fault, and when it struck (seconds into the measurement).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FaultAt {
    pub at_s: f64,
    pub event: Fault,
}

/// The figures of one run; serialised, the benchmark's JSON line.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BenchReport {
    pub workload: Workload,
    pub nodes: usize,
    pub clients: usize,
    pub conns: usize,
    pub value_size: usize,
    /// How long the measurement took.
    pub seconds: f64,
    pub ops: u64,
    pub ops_per_sec: f64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    /// Operations whose outcome stayed unknown.
    pub errors: u64,
    pub per_second_ops: Vec<u64>,
    #[serde(skip)]
    pub per_second_p99_us: Vec<u64>,
    pub events: Vec<FaultAt>,
}

/// Runs the benchmark; `on_progress` hears when measuring starts and each
/// second measured.
pub async fn run(
    options: &BenchOptions,
    on_progress: &mut impl FnMut(BenchProgress),
) -> anyhow::Result<BenchReport> {
    if options.clients == 0 {
        bail!("--clients must be at least 1");
    }
    let tmp;
    let (file, local, kill_leader_at) = match &options.target {
        Target::Cluster(file) => ((**file).clone(), None, None),
        Target::Local {
            binary,
            nodes,
            node_threads,
            kill_leader_at,
            plain,
            metrics,
        } => {
            tmp = tempfile::Builder::new().prefix("synod-bench-").tempdir()?;
            crate::local::scratch(tmp.path());
            let cluster = LocalCluster::create(tmp.path(), *nodes, binary.clone(), |file| {
                if let Some(threads) = node_threads {
                    file.runtime.threads = (*threads).into();
                }
                if *plain {
                    file.tls = None;
                }
                if !metrics {
                    for node in &mut file.nodes {
                        node.metrics_addr = None;
                    }
                }
            })?;
            if let Err(e) = cluster.wait_leader(Duration::from_secs(15), None).await {
                cluster.down()?;
                return Err(e);
            }
            on_progress(BenchProgress::ClusterUp {
                cluster_file: LocalCluster::cluster_file(&cluster.dir),
            });
            (cluster.file.clone(), Some(cluster), *kill_leader_at)
        }
    };
    let leader_kill = local.as_ref().zip(kill_leader_at);
    let result = measure(&file, leader_kill, options, on_progress).await;
    if let Some(cluster) = &local {
        cluster.down()?;
    }
    result
}

struct Counters {
    measuring: AtomicBool,
    stop: AtomicBool,
    ops: AtomicU64,
    errors: AtomicU64,
    start: Instant,
}

fn new_histogram() -> Histogram<u64> {
    Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

/// One latency sample of a client.
struct Sample {
    /// The second of the measurement it finished in.
    second: u32,
    micros: u32,
}

/// One closed-loop client; returns its latency samples. Plain samples, not
/// a histogram per client and second: at 1024 clients those (150 KB each)
/// cost the load generator gigabytes and the machine its CPU in page faults.
async fn client_loop(
    cluster: ClusterFile,
    security: Security,
    transport: Option<Transport>,
    load: ClientLoad,
    c: Arc<Counters>,
) -> Vec<Sample> {
    let mut samples = Vec::new();
    let options = ClientOptions {
        timeout: Duration::from_secs(1),
        retries: 5,
        id: None,
        first_contact: None,
    };
    let mut client = match &transport {
        Some(t) => SynodClient::with_transport(&cluster, options, t),
        None => SynodClient::with_security(&cluster, options, security),
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(load.client as u64);
    let mut seq = 0u64;
    while !c.stop.load(Ordering::Relaxed) {
        seq += 1;
        let command = load.command(&mut rng, seq);
        let start = Instant::now();
        let result = client.execute(&command).await;
        if c.measuring.load(Ordering::Relaxed) {
            if result == CommandResult::Unknown {
                c.errors.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let micros = u32::try_from(start.elapsed().as_micros()).unwrap_or(u32::MAX);
            let second = u32::try_from(c.start.elapsed().as_secs()).unwrap_or(u32::MAX);
            samples.push(Sample {
                second,
                micros: micros.max(1),
            });
            c.ops.fetch_add(1, Ordering::Relaxed);
        }
    }
    samples
}

async fn measure(
    file: &ClusterFile,
    leader_kill: Option<(&LocalCluster, u64)>,
    options: &BenchOptions,
    on_progress: &mut impl FnMut(BenchProgress),
) -> anyhow::Result<BenchReport> {
    let counters = Arc::new(Counters {
        measuring: AtomicBool::new(false),
        stop: AtomicBool::new(false),
        ops: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        start: Instant::now() + options.warmup,
    });
    let conns = options.conns.unwrap_or(options.clients.div_ceil(8));
    let security = Security::client(file)?;
    let transports: Vec<Transport> = (0..conns)
        .map(|_| Transport::shared_with(file, security.clone()))
        .collect();
    let value = vec![b'x'; options.value_size];
    let tasks: Vec<_> = (0..options.clients)
        .map(|n| {
            let transport =
                (!transports.is_empty()).then(|| transports[n % transports.len()].clone());
            let load = ClientLoad {
                workload: options.workload,
                client: n,
                value: value.clone(),
            };
            tokio::spawn(client_loop(
                file.clone(),
                security.clone(),
                transport,
                load,
                counters.clone(),
            ))
        })
        .collect();
    tokio::time::sleep(options.warmup).await;
    counters.measuring.store(true, Ordering::Relaxed);
    let start = Instant::now();
    on_progress(BenchProgress::Measuring {
        seconds: options.seconds,
    });
    let mut events = Vec::new();
    let mut killed = None;
    let mut last = 0;
    for second in 0..options.seconds {
        if let Some((cluster, at)) = leader_kill {
            if second == at
                && let Ok(leader) = cluster.wait_leader(Duration::from_secs(1), None).await
            {
                cluster.kill(leader)?;
                events.push(FaultAt {
                    at_s: start.elapsed().as_secs_f64(),
                    event: Fault::LeaderKilled(leader),
                });
                killed = Some(leader);
            }
            if second == at + 2
                && let Some(n) = killed.take()
            {
                cluster.restart(n)?;
                events.push(FaultAt {
                    at_s: start.elapsed().as_secs_f64(),
                    event: Fault::Restarted(n),
                });
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let ops = counters.ops.load(Ordering::Relaxed);
        on_progress(BenchProgress::Second { ops: ops - last });
        last = ops;
    }
    let elapsed = start.elapsed().as_secs_f64();
    counters.measuring.store(false, Ordering::Relaxed);
    counters.stop.store(true, Ordering::Relaxed);
    let mut all = new_histogram();
    let mut seconds: Vec<Histogram<u64>> = (0..options.seconds).map(|_| new_histogram()).collect();
    for t in tasks {
        for sample in t.await? {
            let _ = all.record(u64::from(sample.micros));
            if let Some(h) = seconds.get_mut(sample.second as usize) {
                let _ = h.record(u64::from(sample.micros));
            }
        }
    }
    let ops = counters.ops.load(Ordering::Relaxed);
    Ok(BenchReport {
        workload: options.workload,
        nodes: file.nodes.len(),
        clients: options.clients,
        conns,
        value_size: options.value_size,
        seconds: elapsed,
        ops,
        ops_per_sec: (ops as f64 / elapsed).round(),
        p50_us: all.value_at_quantile(0.5),
        p99_us: all.value_at_quantile(0.99),
        p999_us: all.value_at_quantile(0.999),
        errors: counters.errors.load(Ordering::Relaxed),
        per_second_ops: seconds.iter().map(|h| h.len()).collect(),
        per_second_p99_us: seconds
            .iter()
            .map(|h| {
                if h.is_empty() {
                    0
                } else {
                    h.value_at_quantile(0.99)
                }
            })
            .collect(),
        events,
    })
}

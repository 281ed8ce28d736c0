//! `synod bench`: closed-loop load against a cluster, with latency
//! percentiles from a histogram and one JSON line of figures at the end.

use crate::cmd::cluster::binary;
use crate::local::LocalCluster;
use anyhow::bail;
use clap::{Args as ClapArgs, ValueEnum};
use hdrhistogram::Histogram;
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use synod_apps::{BankOp, Command, KvOp};
use synod_node::ClusterFile;
use synod_node::client::{ClientOptions, CommandResult, SynodClient, Transport};

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Workload {
    /// Puts of `--value-size` bytes on distinct keys.
    Kv,
    /// Transfers between the ten accounts.
    Bank,
}

#[derive(ClapArgs)]
pub struct Args {
    /// Load an existing cluster.
    #[arg(long, conflicts_with_all = ["local", "unreplicated"])]
    cluster: Option<PathBuf>,
    /// Start a local cluster of N nodes for the run (default 3).
    #[arg(long)]
    local: Option<usize>,
    /// Run against a single node: the same binary, client protocol and
    /// durability, without replication (the baseline of the overhead).
    #[arg(long)]
    unreplicated: bool,
    /// Closed-loop clients (each has one request outstanding).
    #[arg(long, default_value_t = 64)]
    clients: usize,
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Load before measuring starts.
    #[arg(long, default_value_t = 1)]
    warmup: u64,
    #[arg(long, value_enum, default_value_t = Workload::Kv)]
    workload: Workload,
    #[arg(long, default_value_t = 256)]
    value_size: usize,
    /// Connections per node shared by the clients (default: one per 8
    /// clients, as etcd-bench's gRPC connections); 0: one per client.
    #[arg(long)]
    conns: Option<usize>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

struct Counters {
    measuring: AtomicBool,
    stop: AtomicBool,
    ops: AtomicU64,
    errors: AtomicU64,
}

async fn worker(
    cluster: ClusterFile,
    transport: Option<Transport>,
    n: usize,
    workload: Workload,
    value_size: usize,
    c: Arc<Counters>,
) -> Histogram<u64> {
    let mut hist =
        Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds");
    let options = ClientOptions {
        timeout: Duration::from_secs(1),
        retries: 5,
        id: None,
        first_contact: None,
    };
    let mut client = match &transport {
        Some(t) => SynodClient::with_transport(&cluster, options, t),
        None => SynodClient::new(&cluster, options),
    };
    let value = vec![b'x'; value_size];
    let accounts = synod_apps::bank::DEFAULT_ACCOUNTS;
    let mut seq = 0u64;
    while !c.stop.load(Ordering::Relaxed) {
        seq += 1;
        let command = match workload {
            Workload::Kv => Command::Kv(KvOp::Put {
                key: format!("bench-{n}-{}", seq % 1024),
                value: value.clone(),
            }),
            Workload::Bank => Command::Bank(BankOp::Transfer {
                from: accounts[n % 10].into(),
                to: accounts[(n + 1 + seq as usize % 9) % 10].into(),
                amount: 1,
            }),
        };
        let start = Instant::now();
        let result = client.execute(&command).await;
        if c.measuring.load(Ordering::Relaxed) {
            match result {
                CommandResult::Unknown => {
                    c.errors.fetch_add(1, Ordering::Relaxed);
                }
                _ => {
                    let _ = hist.record(start.elapsed().as_micros().max(1) as u64);
                    c.ops.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
    hist
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.clients == 0 {
        bail!("--clients must be at least 1");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let tmp;
    let (file, local) = match (&args.cluster, args.unreplicated, args.local) {
        (Some(path), _, _) => (ClusterFile::load(path)?, None),
        (None, unreplicated, local) => {
            let nodes = if unreplicated { 1 } else { local.unwrap_or(3) };
            tmp = tempfile::Builder::new().prefix("synod-bench-").tempdir()?;
            let cluster = LocalCluster::create(tmp.path(), nodes, binary()?, |_| {})?;
            rt.block_on(cluster.wait_leader(Duration::from_secs(15), None))?;
            (cluster.file.clone(), Some(cluster))
        }
    };
    let result = rt.block_on(measure(&file, &args));
    if let Some(cluster) = local {
        cluster.down()?;
    }
    let line = result?;
    println!("{line}");
    Ok(ExitCode::SUCCESS)
}

async fn measure(file: &ClusterFile, args: &Args) -> anyhow::Result<serde_json::Value> {
    let counters = Arc::new(Counters {
        measuring: AtomicBool::new(false),
        stop: AtomicBool::new(false),
        ops: AtomicU64::new(0),
        errors: AtomicU64::new(0),
    });
    let conns = args.conns.unwrap_or(args.clients.div_ceil(8));
    let transports: Vec<Transport> = (0..conns).map(|_| Transport::shared(file)).collect();
    let tasks: Vec<_> = (0..args.clients)
        .map(|n| {
            tokio::spawn(worker(
                file.clone(),
                (!transports.is_empty()).then(|| transports[n % transports.len()].clone()),
                n,
                args.workload,
                args.value_size,
                counters.clone(),
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(args.warmup)).await;
    counters.measuring.store(true, Ordering::Relaxed);
    let start = Instant::now();
    let bar = if args.quiet {
        indicatif::ProgressBar::hidden()
    } else {
        let bar = indicatif::ProgressBar::new(args.seconds);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len}s {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    };
    let mut last = 0;
    for _ in 0..args.seconds {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let ops = counters.ops.load(Ordering::Relaxed);
        bar.set_message(format!("{} ops/s", ops - last));
        bar.inc(1);
        last = ops;
    }
    let elapsed = start.elapsed().as_secs_f64();
    counters.measuring.store(false, Ordering::Relaxed);
    counters.stop.store(true, Ordering::Relaxed);
    bar.finish_and_clear();
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    for t in tasks {
        hist.add(t.await?)?;
    }
    let ops = counters.ops.load(Ordering::Relaxed);
    Ok(json!({
        "workload": format!("{:?}", args.workload).to_lowercase(),
        "nodes": file.nodes.len(),
        "clients": args.clients,
        "conns": conns,
        "value_size": args.value_size,
        "seconds": elapsed,
        "ops": ops,
        "ops_per_sec": (ops as f64 / elapsed).round(),
        "p50_us": hist.value_at_quantile(0.5),
        "p99_us": hist.value_at_quantile(0.99),
        "p999_us": hist.value_at_quantile(0.999),
        "errors": counters.errors.load(Ordering::Relaxed),
    }))
}

//! `synod bench`: closed-loop load against a cluster, with latency
//! percentiles from a histogram and one JSON line of figures at the end.
//! `--plot FILE.svg` draws throughput and p99 per second, with fault events
//! (`--kill-leader-at S`) marked.

use crate::cmd::cluster::binary;
use crate::local::LocalCluster;
use anyhow::bail;
use clap::{Args as ClapArgs, ValueEnum};
use hdrhistogram::Histogram;
use rand::{Rng, SeedableRng};
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use synod_apps::{BankOp, Command, KvOp, SmallBankOp};
use synod_node::ClusterFile;
use synod_node::client::{ClientOptions, CommandResult, SynodClient, Transport};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Workload {
    /// Puts of `--value-size` bytes on distinct keys.
    Kv,
    /// 90% gets, 10% puts; reads go through the log, so they are linearizable.
    KvRead,
    /// Transfers between the ten accounts.
    Bank,
    /// SmallBank's six transactions over 10,000 customers, 90% of them on
    /// the 100 hottest.
    Smallbank,
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
    /// With a local cluster: threads per node process (runtime.threads of
    /// the cluster file).
    #[arg(long, conflicts_with = "cluster", value_parser = clap::value_parser!(u16).range(1..=256))]
    node_threads: Option<u16>,
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
    /// With a local cluster: SIGKILL the leader this many seconds into the
    /// measurement (and restart it 2 s later), to show the dip.
    #[arg(long)]
    kill_leader_at: Option<u64>,
    /// Draw throughput and p99 per second into this SVG file.
    #[arg(long)]
    plot: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
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

fn command(
    workload: Workload,
    rng: &mut rand::rngs::StdRng,
    n: usize,
    seq: u64,
    value: &[u8],
) -> Command {
    match workload {
        Workload::Kv => Command::Kv(KvOp::Put {
            key: format!("bench-{n}-{}", seq % 1024),
            value: value.to_vec(),
        }),
        Workload::KvRead => {
            let key = format!("bench-{}", rng.random_range(0..10_000));
            if rng.random_bool(0.9) {
                Command::Kv(KvOp::Get { key })
            } else {
                Command::Kv(KvOp::Put {
                    key,
                    value: value.to_vec(),
                })
            }
        }
        Workload::Bank => {
            let accounts = synod_apps::bank::DEFAULT_ACCOUNTS;
            Command::Bank(BankOp::Transfer {
                from: accounts[n % 10].into(),
                to: accounts[(n + 1 + seq as usize % 9) % 10].into(),
                amount: 1,
            })
        }
        Workload::Smallbank => {
            let mut customer = || {
                if rng.random_bool(0.9) {
                    rng.random_range(0..100)
                } else {
                    rng.random_range(100..10_000)
                }
            };
            let (a, b) = (customer(), customer());
            let amount = rng.random_range(1..500);
            Command::SmallBank(match rng.random_range(0..6) {
                0 => SmallBankOp::Balance { customer: a },
                1 => SmallBankOp::DepositChecking {
                    customer: a,
                    amount,
                },
                2 => SmallBankOp::TransactSavings {
                    customer: a,
                    amount,
                },
                3 => SmallBankOp::Amalgamate { from: a, to: b },
                4 => SmallBankOp::WriteCheck {
                    customer: a,
                    amount,
                },
                _ => SmallBankOp::SendPayment {
                    from: a,
                    to: b,
                    amount,
                },
            })
        }
    }
}

/// One latency sample: the second of the run it finished in, and micros.
type Sample = (u32, u32);

/// One closed-loop client; returns its latency samples. Plain samples, not
/// a histogram per client and second: at 1024 clients those (150 KB each)
/// cost the load generator gigabytes and the machine its CPU in page faults.
async fn worker(
    cluster: ClusterFile,
    transport: Option<Transport>,
    n: usize,
    args: (Workload, usize),
    c: Arc<Counters>,
) -> Vec<Sample> {
    let (workload, value_size) = args;
    let mut samples = Vec::new();
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
    let mut rng = rand::rngs::StdRng::seed_from_u64(n as u64);
    let value = vec![b'x'; value_size];
    let mut seq = 0u64;
    while !c.stop.load(Ordering::Relaxed) {
        seq += 1;
        let command = command(workload, &mut rng, n, seq, &value);
        let start = Instant::now();
        let result = client.execute(&command).await;
        if c.measuring.load(Ordering::Relaxed) {
            if result == CommandResult::Unknown {
                c.errors.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let micros = u32::try_from(start.elapsed().as_micros()).unwrap_or(u32::MAX);
            let second = u32::try_from(c.start.elapsed().as_secs()).unwrap_or(u32::MAX);
            samples.push((second, micros.max(1)));
            c.ops.fetch_add(1, Ordering::Relaxed);
        }
    }
    samples
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
        (Some(path), _, _) => {
            if args.kill_leader_at.is_some() {
                bail!("--kill-leader-at needs a local cluster (--local N)");
            }
            (ClusterFile::load(path)?, None)
        }
        (None, unreplicated, local) => {
            let nodes = if unreplicated { 1 } else { local.unwrap_or(3) };
            tmp = tempfile::Builder::new().prefix("synod-bench-").tempdir()?;
            let cluster = LocalCluster::create(tmp.path(), nodes, binary()?, |file| {
                if let Some(threads) = args.node_threads {
                    file.runtime.threads = threads.into();
                }
            })?;
            rt.block_on(cluster.wait_leader(Duration::from_secs(15), None))?;
            (cluster.file.clone(), Some(cluster))
        }
    };
    let result = rt.block_on(measure(&file, local.as_ref(), &args));
    if let Some(cluster) = &local {
        cluster.down()?;
    }
    let (line, series) = result?;
    if let Some(path) = &args.plot {
        std::fs::write(path, plot_svg(&series, &line))?;
        eprintln!("plot written to {}", path.display());
    }
    println!("{line}");
    Ok(ExitCode::SUCCESS)
}

/// Per second of the measurement: operations, p99 in µs, and events.
pub struct Series {
    pub ops: Vec<u64>,
    pub p99: Vec<u64>,
    pub events: Vec<(f64, String)>,
}

async fn measure(
    file: &ClusterFile,
    local: Option<&LocalCluster>,
    args: &Args,
) -> anyhow::Result<(serde_json::Value, Series)> {
    let counters = Arc::new(Counters {
        measuring: AtomicBool::new(false),
        stop: AtomicBool::new(false),
        ops: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        start: Instant::now() + Duration::from_secs(args.warmup),
    });
    let conns = args.conns.unwrap_or(args.clients.div_ceil(8));
    let transports: Vec<Transport> = (0..conns).map(|_| Transport::shared(file)).collect();
    let tasks: Vec<_> = (0..args.clients)
        .map(|n| {
            let transport =
                (!transports.is_empty()).then(|| transports[n % transports.len()].clone());
            tokio::spawn(worker(
                file.clone(),
                transport,
                n,
                (args.workload, args.value_size),
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
    let mut events = Vec::new();
    let mut killed = None;
    let mut last = 0;
    for second in 0..args.seconds {
        if let (Some(at), Some(cluster)) = (args.kill_leader_at, local) {
            if second == at
                && let Ok(leader) = cluster.wait_leader(Duration::from_secs(1), None).await
            {
                cluster.kill(leader)?;
                events.push((
                    start.elapsed().as_secs_f64(),
                    format!("kill -9 leader n{leader}"),
                ));
                killed = Some(leader);
            }
            if second == at + 2
                && let Some(n) = killed.take()
            {
                cluster.restart(n)?;
                events.push((start.elapsed().as_secs_f64(), format!("restart n{n}")));
            }
        }
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
    let mut hist = new_histogram();
    let mut seconds: Vec<Histogram<u64>> = (0..args.seconds).map(|_| new_histogram()).collect();
    for t in tasks {
        for (second, micros) in t.await? {
            let _ = hist.record(u64::from(micros));
            if let Some(h) = seconds.get_mut(second as usize) {
                let _ = h.record(u64::from(micros));
            }
        }
    }
    let ops = counters.ops.load(Ordering::Relaxed);
    let series = Series {
        ops: seconds.iter().map(|h| h.len()).collect(),
        p99: seconds
            .iter()
            .map(|h| {
                if h.is_empty() {
                    0
                } else {
                    h.value_at_quantile(0.99)
                }
            })
            .collect(),
        events: events.clone(),
    };
    let line = json!({
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
        "per_second_ops": series.ops,
        "events": events.iter().map(|(t, e)| json!({"at_s": t, "event": e})).collect::<Vec<_>>(),
    });
    Ok((line, series))
}

/// Throughput (bars) and p99 (line, right axis) per second, events as
/// vertical red lines: a picture of the run.
pub fn plot_svg(series: &Series, summary: &serde_json::Value) -> String {
    let (w, h, left, right, top, bottom) = (900.0, 420.0, 70.0, 70.0, 50.0, 50.0);
    let n = series.ops.len().max(1) as f64;
    let max_ops = series.ops.iter().copied().max().unwrap_or(1).max(1) as f64 * 1.1;
    let max_p99 = series.p99.iter().copied().max().unwrap_or(1).max(1) as f64 / 1000.0 * 1.1;
    let x = |i: f64| left + i / n * (w - left - right);
    let y_ops = |v: f64| h - bottom - v / max_ops * (h - top - bottom);
    let y_p99 = |v: f64| h - bottom - v / max_p99 * (h - top - bottom);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    );
    svg += &format!(
        "<text x=\"{left}\" y=\"24\" font-size=\"15\">synod bench: {} clients, {} nodes, {} workload ({} ops/s mean, p99 {} µs)</text>\n",
        summary["clients"],
        summary["nodes"],
        summary["workload"].as_str().unwrap_or("?"),
        summary["ops_per_sec"],
        summary["p99_us"]
    );
    let bar_w = (w - left - right) / n * 0.8;
    for (i, ops) in series.ops.iter().enumerate() {
        let y = y_ops(*ops as f64);
        svg += &format!(
            "<rect x=\"{:.1}\" y=\"{y:.1}\" width=\"{bar_w:.1}\" height=\"{:.1}\" fill=\"#8ab4f8\"/>\n",
            x(i as f64),
            h - bottom - y
        );
    }
    let points: Vec<String> = series
        .p99
        .iter()
        .enumerate()
        .map(|(i, p)| format!("{:.1},{:.1}", x(i as f64 + 0.4), y_p99(*p as f64 / 1000.0)))
        .collect();
    svg += &format!(
        "<polyline points=\"{}\" fill=\"none\" stroke=\"#d93025\" stroke-width=\"2\"/>\n",
        points.join(" ")
    );
    for (t, label) in &series.events {
        let ex = x(*t);
        svg += &format!(
            "<line x1=\"{ex:.1}\" y1=\"{top}\" x2=\"{ex:.1}\" y2=\"{:.1}\" stroke=\"black\" stroke-dasharray=\"4 3\"/>\n<text x=\"{:.1}\" y=\"{:.1}\">{label}</text>\n",
            h - bottom,
            ex + 4.0,
            top + 14.0
        );
    }
    // Axes and labels.
    svg += &format!(
        "<line x1=\"{left}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"black\"/>\n",
        h - bottom,
        w - right,
        h - bottom
    );
    for k in 0..=4 {
        let v = max_ops * k as f64 / 4.0;
        let p = max_p99 * k as f64 / 4.0;
        svg += &format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#1a73e8\">{:.0}</text>\n",
            left - 6.0,
            y_ops(v) + 4.0,
            v
        );
        svg += &format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"#d93025\">{:.1} ms</text>\n",
            w - right + 6.0,
            y_p99(p) + 4.0,
            p
        );
    }
    for i in (0..series.ops.len()).step_by((series.ops.len() / 10).max(1)) {
        svg += &format!(
            "<text x=\"{:.1}\" y=\"{:.1}\">{i}s</text>\n",
            x(i as f64),
            h - bottom + 18.0
        );
    }
    svg += &format!(
        "<text x=\"{left}\" y=\"{:.1}\" fill=\"#1a73e8\">bars: ops per second</text><text x=\"{:.1}\" y=\"{:.1}\" fill=\"#d93025\">line: p99 latency</text>\n",
        h - 8.0,
        left + 200.0,
        h - 8.0
    );
    svg += "</svg>\n";
    svg
}

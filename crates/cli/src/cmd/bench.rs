//! `synod bench`: closed-loop load against a cluster (synod_tools::bench),
//! with a progress bar and one JSON line of figures at the end.
//! `--plot FILE.svg` draws throughput and p99 per second, with fault events
//! (`--kill-leader-at S`) marked.

use crate::cmd::cluster::binary;
use anyhow::bail;
use clap::{Args as ClapArgs, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use synod_node::ClusterFile;
use synod_tools::bench::{BenchOptions, BenchProgress, Target};

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

impl From<Workload> for synod_tools::bench::Workload {
    fn from(w: Workload) -> Self {
        match w {
            Workload::Kv => Self::Kv,
            Workload::KvRead => Self::KvRead,
            Workload::Bank => Self::Bank,
            Workload::Smallbank => Self::Smallbank,
        }
    }
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
    /// With a local cluster: its nodes serve no metrics endpoint (and keep
    /// no metrics), to measure what the endpoint costs.
    #[arg(long, conflicts_with = "cluster")]
    no_metrics: bool,
    /// Closed-loop clients (each has one request outstanding).
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Seconds of measurement (after the warm-up).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Load before measuring starts.
    #[arg(long, default_value_t = 1)]
    warmup: u64,
    /// The clients' commands.
    #[arg(long, value_enum, default_value_t = Workload::Kv)]
    workload: Workload,
    /// Bytes in each kv value.
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
    /// With a local cluster: plain TCP instead of mutual TLS (nobody is
    /// authenticated; to measure what TLS costs).
    #[arg(long, conflicts_with = "cluster")]
    plain: bool,
    /// Draw throughput and p99 per second into this SVG file.
    #[arg(long)]
    plot: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    /// With a local cluster: serve its dashboard on this address (default
    /// 127.0.0.1:8080) during the run, with one event-stream reader
    /// attached from the start, to measure what a connected page costs.
    #[arg(long, conflicts_with = "cluster", num_args = 0..=1, default_missing_value = crate::cmd::dashboard::DEFAULT_LISTEN, value_name = "ADDR")]
    dashboard: Option<std::net::SocketAddr>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let target = match (&args.cluster, args.unreplicated, args.local) {
        (Some(path), _, _) => {
            if args.kill_leader_at.is_some() {
                bail!("--kill-leader-at needs a local cluster (--local N)");
            }
            Target::Cluster(Box::new(ClusterFile::load(path)?))
        }
        (None, unreplicated, local) => Target::Local {
            binary: binary()?,
            nodes: if unreplicated { 1 } else { local.unwrap_or(3) },
            node_threads: args.node_threads,
            kill_leader_at: args.kill_leader_at,
            plain: args.plain,
            metrics: !args.no_metrics,
        },
    };
    let options = BenchOptions {
        target,
        clients: args.clients,
        seconds: args.seconds,
        warmup: Duration::from_secs(args.warmup),
        workload: args.workload.into(),
        value_size: args.value_size,
        conns: args.conns,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mut bar = None;
    let mut dashboard = None;
    let received = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let report = rt.block_on(synod_tools::bench::run(
        &options,
        &mut |progress| match progress {
            BenchProgress::ClusterUp { cluster_file } => {
                if let Some(listen) = args.dashboard {
                    // Before the warm-up: the dashboard and its reader are
                    // up for the whole measurement.
                    let started = tokio::task::block_in_place(|| {
                        tokio::runtime::Handle::current().block_on(async {
                            let d = synod_dashboard::Dashboard::start(
                                synod_dashboard::DashboardOptions {
                                    cluster: cluster_file,
                                    listen,
                                    binary: binary()?,
                                    poll: synod_dashboard::DEFAULT_POLL,
                                },
                            )
                            .await?;
                            let reader = tokio::spawn(synod_dashboard::follow_events(
                                d.addr(),
                                received.clone(),
                            ));
                            anyhow::Ok((d, reader))
                        })
                    });
                    match started {
                        Ok((d, reader)) => {
                            eprintln!("dashboard: {}", d.view_url());
                            dashboard = Some((d, reader));
                        }
                        Err(e) => eprintln!("the dashboard did not start: {e:#}"),
                    }
                }
            }
            BenchProgress::Measuring { seconds } => bar = Some(progress_bar(seconds, args.quiet)),
            BenchProgress::Second { ops } => {
                if let Some(bar) = &bar {
                    bar.set_message(format!("{ops} ops/s"));
                    bar.inc(1);
                }
            }
        },
    ));
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if let Some((d, reader)) = dashboard {
        let pages = d.pages();
        reader.abort();
        rt.block_on(d.stop());
        eprintln!(
            "dashboard: its event stream sent {} KiB to the reader; {pages} page(s) connected at the end, the reader included",
            received.load(std::sync::atomic::Ordering::Relaxed) / 1024
        );
    }
    let report = report?;
    if let Some(path) = &args.plot {
        std::fs::write(path, synod_tools::bench::plot::svg(&report))?;
        eprintln!("plot written to {}", path.display());
    }
    // As a JSON value, whose keys print sorted, as the line always has.
    println!("{}", serde_json::to_value(&report)?);
    Ok(ExitCode::SUCCESS)
}

fn progress_bar(seconds: u64, quiet: bool) -> indicatif::ProgressBar {
    if quiet {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(seconds);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len}s {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

//! `synod cluster`: a local cluster of node processes, for trying things
//! out and for fault injection by hand.

use anyhow::Context;
use clap::{Args as ClapArgs, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use synod_tools::local::LocalCluster;
use synod_tools::membership;

#[derive(ClapArgs)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Subcommand)]
enum Action {
    /// Start N nodes on free loopback ports; returns once a leader is elected.
    Up {
        /// Nodes in the cluster (odd: 3 tolerate 1 failure, 5 tolerate 2).
        #[arg(long, default_value_t = 5)]
        nodes: usize,
        /// The cluster's directory (cluster file, node logs, data); one
        /// holding a stopped cluster is resumed, never wiped.
        #[arg(long)]
        dir: PathBuf,
        /// Write `[testing] fault_injection = true` into the cluster file:
        /// the dashboard's kill, pause, partition and load buttons work.
        #[arg(long)]
        fault_injection: bool,
        /// Plain TCP instead of mutual TLS: nobody is authenticated (for
        /// benchmarks on a trusted machine).
        #[arg(long)]
        plain: bool,
        /// Replicate an etcd v3 store instead of synod's applications, each
        /// node serving etcd's gRPC API (etcdctl, etcd client libraries) on
        /// a port of its own (docs/etcd.md).
        #[arg(long)]
        etcd: bool,
        /// Then serve the dashboard on this address (default
        /// 127.0.0.1:8080) until Ctrl-C; the cluster keeps running.
        #[arg(long, num_args = 0..=1, default_missing_value = crate::cmd::dashboard::DEFAULT_LISTEN, value_name = "ADDR")]
        dashboard: Option<std::net::SocketAddr>,
    },
    /// Stop every node of the cluster in DIR.
    Down {
        /// The cluster's directory.
        #[arg(long)]
        dir: PathBuf,
    },
    /// SIGKILL one node.
    Kill(NodeArgs),
    /// SIGSTOP one node.
    Pause(NodeArgs),
    /// SIGCONT one node.
    Resume(NodeArgs),
    /// Restart one node from its data (killing it first if it runs).
    Restart(NodeArgs),
    /// Add node ID to a running cluster as a learner: issues its certificate
    /// (what is missing only), appends it to the cluster file, starts it
    /// (a local cluster; elsewhere prints how), and asks the leader to add
    /// it. It follows the log without voting until promoted.
    Add {
        #[command(flatten)]
        change: ChangeArgs,
        /// Where peers reach the new node (host:port); default, on a local
        /// cluster: a free loopback port.
        #[arg(long, requires = "client_addr")]
        addr: Option<synod_node::config::Address>,
        /// Where clients reach the new node (host:port).
        #[arg(long, requires = "addr")]
        client_addr: Option<synod_node::config::Address>,
        /// Do not start the node (print the commands that start it).
        #[arg(long)]
        no_start: bool,
    },
    /// Make learner ID a voter, once it has caught up (the leader refuses
    /// until then; asked again until the timeout).
    Promote {
        #[command(flatten)]
        change: ChangeArgs,
    },
    /// Remove member ID (the leader too: it hands over first). Once the
    /// removal is executed its entry leaves the cluster file and, on a
    /// local cluster, its process stops; its data directory is kept.
    Remove {
        #[command(flatten)]
        change: ChangeArgs,
    },
}

#[derive(ClapArgs)]
struct ChangeArgs {
    /// The cluster file (kept in step with the committed membership).
    #[arg(long)]
    cluster: PathBuf,
    /// The node to add, promote or remove.
    #[arg(long)]
    id: u32,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 60)]
    timeout_secs: u64,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(ClapArgs)]
struct NodeArgs {
    /// The cluster's directory.
    #[arg(long)]
    dir: PathBuf,
    /// The node's id.
    #[arg(long)]
    node: u32,
}

fn print_change(args: &ChangeArgs, what: &str, report: &membership::ChangeReport) {
    let m = &report.membership;
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "id": args.id,
                "epoch": m.epoch,
                "voters": m.voters().iter().map(|n| n.0).collect::<Vec<_>>(),
                "members": m.ids().iter().map(|n| n.0).collect::<Vec<_>>(),
                "ms": report.took.as_millis() as u64,
                "retries": report.retries,
                "start": report.start_commands,
            })
        );
        return;
    }
    for cert in &report.certificates {
        println!("wrote {}", cert.display());
    }
    if !report.start_commands.is_empty() {
        println!("start n{} on its machine:", args.id);
        for c in &report.start_commands {
            println!("  {c}");
        }
    }
    let voters: Vec<String> = m.voters().iter().map(|n| n.to_string()).collect();
    let learners: Vec<String> = m
        .members
        .iter()
        .filter(|x| !x.voter)
        .map(|x| x.id.to_string())
        .collect();
    println!(
        "n{} {what} in {} ms: epoch {}, voters [{}], learners [{}] (as n{} executed it); \
         {} follows it",
        args.id,
        report.took.as_millis(),
        m.epoch,
        voters.join(", "),
        learners.join(", "),
        report.from,
        args.cluster.display()
    );
}

pub fn binary() -> anyhow::Result<PathBuf> {
    std::env::current_exe().context("finding the synod binary")
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match args.action {
        Action::Up {
            nodes,
            dir,
            fault_injection,
            plain,
            etcd,
            dashboard,
        } => {
            let resuming = LocalCluster::cluster_file(&dir).exists();
            let mut ports = Ok(());
            let cluster = LocalCluster::create(&dir, nodes, binary()?, |file| {
                file.testing.fault_injection = fault_injection;
                if plain {
                    file.tls = None;
                }
                if etcd {
                    ports = file.serve_etcd_on_free_ports();
                }
            })?;
            ports.context("finding free ports for the etcd API")?;
            if resuming {
                println!(
                    "resuming the stopped cluster in {} from its logs (its cluster file unchanged)",
                    dir.display()
                );
            }
            let leader = rt.block_on(cluster.wait_leader(Duration::from_secs(15), None));
            match leader {
                Ok(leader) => {
                    println!(
                        "cluster of {nodes} nodes up in {} (leader n{leader})",
                        cluster.dir.display()
                    );
                    println!(
                        "cluster file: {}",
                        LocalCluster::cluster_file(&cluster.dir).display()
                    );
                    match &cluster.file.tls {
                        Some(tls) => println!(
                            "mutual TLS: certificates in {} (tools present admin.crt)",
                            tls.ca.parent().unwrap_or(&cluster.dir).display()
                        ),
                        None => println!("plain TCP: nobody is authenticated"),
                    }
                    let etcd = synod_etcd::on_node::endpoints(&cluster.file);
                    if !etcd.is_empty() {
                        println!("etcd API: --endpoints={}", etcd.join(","));
                        if let Some(tls) = &cluster.file.tls {
                            let certs = tls.ca.parent().unwrap_or(&cluster.dir);
                            println!(
                                "  etcdctl --cacert {0}/ca.crt --cert {0}/client.crt --key {0}/client.key --endpoints={1} ...",
                                certs.display(),
                                etcd.join(",")
                            );
                        }
                    }
                    for node in &cluster.file.nodes {
                        if let Some(addr) = node.metrics_addr {
                            println!(
                                "  n{}: metrics http://{addr}/metrics, health http://{addr}/health",
                                node.id
                            );
                        }
                    }
                }
                Err(e) => {
                    cluster.down()?;
                    return Err(e);
                }
            }
            if let Some(listen) = dashboard {
                let file = LocalCluster::cluster_file(&cluster.dir);
                rt.block_on(async {
                    let dashboard = crate::cmd::dashboard::start(
                        &file,
                        listen,
                        synod_dashboard::DEFAULT_POLL.as_millis() as u64,
                    )
                    .await?;
                    println!(
                        "  Ctrl-C stops the dashboard; `synod cluster down --dir {}` stops the cluster",
                        cluster.dir.display()
                    );
                    tokio::signal::ctrl_c().await?;
                    dashboard.stop().await;
                    anyhow::Ok(())
                })?;
            }
        }
        Action::Down { dir } => {
            LocalCluster::open(&dir, binary()?)?.down()?;
            println!("cluster in {} stopped", dir.display());
        }
        Action::Kill(a) => {
            LocalCluster::open(&a.dir, binary()?)?.kill(a.node)?;
            println!("n{} killed", a.node);
        }
        Action::Pause(a) => {
            LocalCluster::open(&a.dir, binary()?)?.pause(a.node)?;
            println!("n{} paused", a.node);
        }
        Action::Resume(a) => {
            LocalCluster::open(&a.dir, binary()?)?.resume(a.node)?;
            println!("n{} resumed", a.node);
        }
        Action::Restart(a) => {
            LocalCluster::open(&a.dir, binary()?)?.restart(a.node)?;
            println!("n{} restarted", a.node);
        }
        Action::Add {
            change,
            addr,
            client_addr,
            no_start,
        } => {
            let opts = membership::AddOptions {
                id: change.id,
                addr,
                client_addr,
                start: !no_start,
                binary: binary()?,
                timeout: Duration::from_secs(change.timeout_secs),
            };
            let report = rt.block_on(membership::add(&change.cluster, opts))?;
            print_change(&change, "added as a learner", &report);
        }
        Action::Promote { change } => {
            let timeout = Duration::from_secs(change.timeout_secs);
            let report = rt.block_on(membership::promote(&change.cluster, change.id, timeout))?;
            print_change(&change, "promoted to voter", &report);
        }
        Action::Remove { change } => {
            let timeout = Duration::from_secs(change.timeout_secs);
            let report = rt.block_on(membership::remove(
                &change.cluster,
                change.id,
                binary()?,
                timeout,
            ))?;
            print_change(&change, "removed", &report);
        }
    }
    Ok(ExitCode::SUCCESS)
}

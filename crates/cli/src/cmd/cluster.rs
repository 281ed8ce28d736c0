//! `synod cluster`: a local cluster of node processes, for trying things
//! out and for fault injection by hand.

use anyhow::Context;
use clap::{Args as ClapArgs, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use synod_tools::local::LocalCluster;

#[derive(ClapArgs)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Subcommand)]
enum Action {
    /// Start N nodes on free loopback ports; returns once a leader is elected.
    Up {
        #[arg(long, default_value_t = 5)]
        nodes: usize,
        #[arg(long)]
        dir: PathBuf,
    },
    /// Stop every node of the cluster in DIR.
    Down {
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
}

#[derive(ClapArgs)]
struct NodeArgs {
    #[arg(long)]
    dir: PathBuf,
    #[arg(long)]
    node: u32,
}

pub fn binary() -> anyhow::Result<PathBuf> {
    std::env::current_exe().context("finding the synod binary")
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match args.action {
        Action::Up { nodes, dir } => {
            let resuming = LocalCluster::cluster_file(&dir).exists();
            let cluster = LocalCluster::create(&dir, nodes, binary()?, |_| {})?;
            if resuming {
                println!(
                    "resuming the stopped cluster in {} from its logs",
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
                }
                Err(e) => {
                    cluster.down()?;
                    return Err(e);
                }
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
    }
    Ok(ExitCode::SUCCESS)
}

//! `synod config`: the cluster file.

use clap::{Args as ClapArgs, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use synod_node::ClusterFile;

#[derive(ClapArgs)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Subcommand)]
enum Action {
    /// Print a commented example cluster file.
    Example,
    /// Validate a cluster file.
    Check {
        /// The cluster file.
        file: PathBuf,
    },
    /// The worst-case failover time of a configuration (docs/liveness.md).
    Bound {
        /// The cluster file.
        #[arg(long)]
        config: PathBuf,
        /// δ: the bound on message delay.
        #[arg(long, default_value_t = 1.0)]
        delay_ms: f64,
        /// π: the bound on one processing step, fsync included.
        #[arg(long, default_value_t = 2.0)]
        processing_ms: f64,
        /// T_c: the clients' retry timeout (the client library's default is 500).
        #[arg(long, default_value_t = 500.0)]
        client_timeout_ms: f64,
        /// k: nodes right after the leader in the candidate order that are down too.
        #[arg(long, default_value_t = 0)]
        dead_successors: u64,
        /// Instead of a leader crash: the recovery bound of a
        /// partial-connectivity scenario (quorum-loss,
        /// constrained-election, chained, bridge).
        #[arg(long, conflicts_with = "dead_successors")]
        partial: Option<String>,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.action {
        Action::Example => print!("{}", synod_node::config::EXAMPLE),
        Action::Check { file } => {
            let c = ClusterFile::load(&file)?;
            println!(
                "{}: ok ({} nodes, cluster id {:?})",
                file.display(),
                c.nodes.len(),
                c.cluster_id
            );
        }
        Action::Bound {
            config,
            delay_ms,
            processing_ms,
            client_timeout_ms,
            dead_successors,
            partial,
            json,
        } => {
            let partial = match partial {
                Some(name) => Some(synod_core::Scenario::parse(&name).map_err(anyhow::Error::msg)?),
                None => None,
            };
            let c = ClusterFile::load(&config)?;
            let us = |ms: f64| (ms * 1000.0).round() as u64;
            let env = synod_core::Environment {
                tick: c.timers.tick_ms * 1000,
                delay: us(delay_ms),
                processing: us(processing_ms),
                client_timeout: us(client_timeout_ms),
                think: 0,
                dead_successors,
            };
            let first = c.nodes[0].id;
            let core = c.core_config(first);
            let b = match partial {
                Some(s) => synod_core::partial::recovery_bound(s, &core, &env),
                None => synod_core::failover_bound(&core, &env),
            };
            if partial.is_some() && !b.assumptions_hold && b.total == u64::MAX {
                anyhow::bail!(
                    "{}: no node hears a quorum while it holds on {} nodes, so nothing can recover before it ends",
                    partial.map_or("", |s| s.name()),
                    c.nodes.len()
                );
            }
            let ms = |t: u64| t as f64 / 1000.0;
            if json {
                let terms: serde_json::Map<String, serde_json::Value> = b
                    .terms
                    .iter()
                    .map(|(n, t)| (n.to_string(), serde_json::json!(ms(*t))))
                    .collect();
                println!(
                    "{}",
                    serde_json::json!({"bound_ms": ms(b.total), "elected_ms": ms(b.elected), "terms_ms": terms, "assumptions_hold": b.assumptions_hold, "scenario": partial.map(|s| s.name())})
                );
            } else {
                match partial {
                    Some(s) => println!(
                        "worst-case recovery from {s} for {} ({} nodes):",
                        config.display(),
                        c.nodes.len()
                    ),
                    None => println!(
                        "worst-case failover for {} ({} nodes):",
                        config.display(),
                        c.nodes.len()
                    ),
                }
                if let Some(s) = partial {
                    let ids: Vec<synod_core::NodeId> =
                        c.nodes.iter().map(|n| synod_core::NodeId(n.id)).collect();
                    for line in s.picture(&ids, ids[0]) {
                        println!("  | {line}");
                    }
                }
                for (name, t) in &b.terms {
                    println!("  {name:<30} {:>8.1} ms", ms(*t));
                }
                let keeps_leader =
                    partial.is_some_and(|s| s.reach(c.nodes.len()).leader_keeps_quorum);
                if keeps_leader {
                    println!(
                        "  {:<30} {:>8.1} ms  = next command + commit (the leader keeps a quorum)",
                        "first new command executed by",
                        ms(b.total)
                    );
                } else {
                    println!(
                        "  {:<30} {:>8.1} ms",
                        "a new leader is in place by",
                        ms(b.elected)
                    );
                    println!(
                        "  {:<30} {:>8.1} ms  = max(elected + commit, client retry) + next command + commit",
                        "first new command executed by",
                        ms(b.total)
                    );
                }
                if !b.assumptions_hold {
                    println!(
                        "  warning: candidacy_timeout is shorter than a phase 1, or k exceeds f-1: the bound does not hold"
                    );
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

//! `synod admin`: what each node knows (status, PrintDB, PrintLog,
//! PrintStatus, PrintView).

use anyhow::{anyhow, bail};
use clap::{Args as ClapArgs, Subcommand};
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use synod_apps::Services;
use synod_apps::inventory::ITEMS;
use synod_node::ClusterFile;
use synod_node::admin::query;
use synod_node::tls::Security;
use synod_node::wire::{AdminReply, AdminRequest};
use synod_tools::queries::{NodeState, decode_state};

#[derive(ClapArgs)]
pub struct Args {
    /// The cluster file.
    #[arg(long)]
    cluster: PathBuf,
    /// Print one JSON object instead of text (before or after the command).
    #[arg(long, global = true)]
    pub(crate) json: bool,
    #[command(subcommand)]
    what: What,
}

#[derive(Subcommand)]
pub enum What {
    /// Every node: role, ballot, leader, commit point and executed slot.
    Status,
    /// One node's application state: balances, stock, orders, kv (PrintDB).
    Db {
        /// The node to ask.
        #[arg(long)]
        node: u32,
    },
    /// The messages and slots one node handled recently (PrintLog).
    Log {
        /// The node to ask.
        #[arg(long)]
        node: u32,
    },
    /// Slot S on every node: A accepted, C committed, E executed, X nothing (PrintStatus).
    Slot {
        /// The slot number.
        slot: u64,
    },
    /// Every NEW-VIEW a node sent or accepted since it started (PrintView).
    View {
        /// The node to ask (0: every node).
        #[arg(long, default_value_t = 0)]
        node: u32,
    },
    /// The membership the cluster has executed: its epoch, the voters and
    /// the learners with their addresses.
    Members,
    /// Hand the leadership to node TO (before maintenance of the leader's
    /// machine): the leader stops proposing, waits until TO has its whole
    /// log, and hands over; TO stands at once. Needs the admin certificate.
    TransferLeader {
        /// The node to lead next (a voter).
        #[arg(long)]
        to: u32,
    },
}

const TIMEOUT: Duration = Duration::from_secs(2);

/// The node that says it leads.
async fn leader_of(cluster: &ClusterFile, security: &Security) -> anyhow::Result<u32> {
    for n in &cluster.nodes {
        if let Ok(AdminReply::Status(s)) =
            query(cluster, security, n.id, AdminRequest::Status, TIMEOUT).await
            && s.role == synod_core::Role::Leader
        {
            return Ok(n.id);
        }
    }
    bail!("no node leads now")
}

pub fn db_json(executed: u64, s: &Services) -> serde_json::Value {
    let balances: serde_json::Map<String, serde_json::Value> = s
        .bank
        .balances()
        .into_iter()
        .map(|(a, b)| (a, json!(b)))
        .collect();
    let stock: serde_json::Map<String, serde_json::Value> = ITEMS
        .iter()
        .zip(s.inventory.stock())
        .map(|(i, n)| (i.to_string(), json!(n)))
        .collect();
    let kv: serde_json::Map<String, serde_json::Value> =
        s.kv.entries()
            .map(|(k, v)| (k.to_string(), json!(String::from_utf8_lossy(v))))
            .collect();
    json!({"executed": executed, "balances": balances, "stock": stock, "orders": s.inventory.orders(), "kv": kv})
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let cluster = ClusterFile::load(&args.cluster)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(show(&cluster, args.what, args.json))?;
    Ok(ExitCode::SUCCESS)
}

/// Prints what `what` asks, for a person or (`json`) for a program.
pub async fn show(cluster: &ClusterFile, what: What, args_json: bool) -> anyhow::Result<()> {
    let security = Security::client(cluster)?;
    {
        match what {
            What::Status => {
                let mut rows = Vec::new();
                for n in &cluster.nodes {
                    rows.push((
                        n.id,
                        query(cluster, &security, n.id, AdminRequest::Status, TIMEOUT).await,
                    ));
                }
                let none_answered = rows.iter().all(|(_, r)| r.is_err());
                if args_json {
                    let nodes: Vec<serde_json::Value> = rows
                        .iter()
                        .map(|(id, r)| match r {
                            Ok(AdminReply::Status(s)) => {
                                json!({"node": id, "up": true, "role": s.role.to_string(),
                                "ballot": s.ballot.to_string(), "leader": s.leader.map(|l| l.0),
                                "commit": s.commit, "executed": s.executed})
                            }
                            Ok(_) => json!({"node": id, "up": true}),
                            Err(e) => json!({"node": id, "up": false, "error": e}),
                        })
                        .collect();
                    println!("{}", json!({ "nodes": nodes }));
                } else {
                    println!(
                        "{:<5} {:<10} {:<10} {:<7} {:>8} {:>9}",
                        "node", "role", "ballot", "leader", "commit", "executed"
                    );
                    for (id, r) in rows {
                        match r {
                            Ok(AdminReply::Status(s)) => println!(
                                "n{:<4} {:<10} {:<10} {:<7} {:>8} {:>9}",
                                id,
                                s.role.to_string(),
                                s.ballot.to_string(),
                                s.leader.map_or("-".into(), |l| l.to_string()),
                                s.commit,
                                s.executed
                            ),
                            Ok(_) => println!("n{id:<4} (unexpected answer)"),
                            Err(e) => println!("n{id:<4} down ({e})"),
                        }
                    }
                }
                if none_answered {
                    return Err(super::Unreachable("no node of the cluster answered".into()).into());
                }
            }
            What::Db { node } => {
                let NodeState {
                    executed,
                    services: s,
                } = decode_state(
                    query(cluster, &security, node, AdminRequest::Db, TIMEOUT)
                        .await
                        .map_err(|e| anyhow!(e))?,
                )?;
                if args_json {
                    println!("{}", db_json(executed, &s));
                } else {
                    println!("n{node} (executed through slot {executed})");
                    let balances: Vec<String> = s
                        .bank
                        .balances()
                        .iter()
                        .map(|(a, b)| format!("{a}={b}"))
                        .collect();
                    println!("balances: {}", balances.join(" "));
                    let stock: Vec<String> = ITEMS
                        .iter()
                        .zip(s.inventory.stock())
                        .map(|(i, n)| format!("{i}: {n}"))
                        .collect();
                    println!("stock:    {}", stock.join(", "));
                    println!("orders:   {}", s.inventory.orders().len());
                    println!("kv:       {} keys", s.kv.len());
                    for (k, v) in s.kv.entries().take(20) {
                        println!("  {k} = {}", String::from_utf8_lossy(v));
                    }
                }
            }
            What::Log { node } => match query(cluster, &security, node, AdminRequest::Log, TIMEOUT)
                .await
                .map_err(|e| anyhow!(e))?
            {
                AdminReply::Log(lines) => {
                    if args_json {
                        println!("{}", json!({ "node": node, "log": lines }));
                    } else {
                        for l in lines {
                            println!("{l}");
                        }
                    }
                }
                _ => bail!("unexpected answer"),
            },
            What::Slot { slot } => {
                let mut out = Vec::new();
                for n in &cluster.nodes {
                    match query(cluster, &security, n.id, AdminRequest::Slot(slot), TIMEOUT).await {
                        Ok(AdminReply::Slot(s)) => out.push((n.id, Some(s))),
                        _ => out.push((n.id, None)),
                    }
                }
                if args_json {
                    let nodes: Vec<serde_json::Value> = out
                        .iter()
                        .map(|(id, s)| match s {
                            Some(s) => json!({"node": id, "state": s.state.to_string(), "ballot": s.ballot.map(|b| b.to_string()), "value": s.value}),
                            None => json!({"node": id, "state": "down"}),
                        })
                        .collect();
                    println!("{}", json!({"slot": slot, "nodes": nodes}));
                } else {
                    println!("slot {slot}");
                    for (id, s) in out {
                        match s {
                            Some(s) => {
                                println!("  n{id}: {} {}", s.state, s.value.unwrap_or_default())
                            }
                            None => println!("  n{id}: down"),
                        }
                    }
                }
            }
            What::Members => {
                let mut answer = None;
                for n in &cluster.nodes {
                    if let Ok(AdminReply::Members(m)) =
                        query(cluster, &security, n.id, AdminRequest::Members, TIMEOUT).await
                    {
                        answer = Some((n.id, m));
                        break;
                    }
                }
                let Some((from, m)) = answer else {
                    return Err(super::Unreachable("no node of the cluster answered".into()).into());
                };
                if args_json {
                    println!(
                        "{}",
                        json!({"from": from, "epoch": m.epoch, "members": m.members})
                    );
                } else {
                    println!("epoch {} (as n{from} executed it)", m.epoch);
                    for member in &m.members {
                        // Epoch 0 carries no addresses: a founding
                        // member's are the cluster file's.
                        let entry = cluster.node(member.id.0);
                        let or_file = |addr: &str, file: Option<String>| match addr {
                            "" => file.map_or("?".into(), |a| format!("{a} (cluster file)")),
                            a => a.to_string(),
                        };
                        println!(
                            "  {} {:<7} peers {} clients {}",
                            member.id,
                            if member.voter { "voter" } else { "learner" },
                            or_file(&member.peer_addr, entry.map(|e| e.addr.to_string())),
                            or_file(
                                &member.client_addr,
                                entry.map(|e| e.client_addr.to_string())
                            )
                        );
                    }
                }
            }
            What::TransferLeader { to } => {
                if cluster.node(to).is_none() {
                    bail!("n{to} is not in the cluster file");
                }
                let leader = leader_of(cluster, &security).await?;
                if leader == to {
                    bail!("n{to} leads already");
                }
                let started = std::time::Instant::now();
                let request = AdminRequest::TransferLeader {
                    to: synod_core::NodeId(to),
                };
                match query(cluster, &security, leader, request, TIMEOUT)
                    .await
                    .map_err(|e| anyhow!(e))?
                {
                    AdminReply::Done => {}
                    AdminReply::Refused(why) => bail!("n{leader} refused: {why}"),
                    _ => bail!("unexpected answer"),
                }
                let deadline = started + Duration::from_secs(10);
                loop {
                    if let Ok(AdminReply::Status(s)) =
                        query(cluster, &security, to, AdminRequest::Status, TIMEOUT).await
                        && s.role == synod_core::Role::Leader
                    {
                        let ms = started.elapsed().as_millis();
                        if args_json {
                            println!(
                                "{}",
                                json!({"from": leader, "to": to, "ballot": s.ballot.to_string(), "ms": ms})
                            );
                        } else {
                            println!(
                                "n{to} leads (ballot {}), handed over by n{leader} in {ms} ms",
                                s.ballot
                            );
                        }
                        break;
                    }
                    if std::time::Instant::now() > deadline {
                        bail!(
                            "n{to} did not take over within 10 s (n{leader} leads on if n{to} did not catch up)"
                        );
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
            What::View { node } => {
                let ids: Vec<u32> = if node == 0 {
                    cluster.nodes.iter().map(|n| n.id).collect()
                } else {
                    vec![node]
                };
                let mut all = Vec::new();
                for id in ids {
                    if let Ok(AdminReply::Views(views)) =
                        query(cluster, &security, id, AdminRequest::Views, TIMEOUT).await
                    {
                        all.push((id, views));
                    }
                }
                if args_json {
                    let nodes: Vec<serde_json::Value> = all
                        .iter()
                        .map(|(id, views)| json!({"node": id, "views": views.iter().map(|v| json!({"ballot": v.ballot.to_string(), "start": v.start, "entries": v.entries, "uptime_ms": v.uptime_ms})).collect::<Vec<_>>()}))
                        .collect();
                    println!("{}", json!({ "nodes": nodes }));
                } else {
                    for (id, views) in all {
                        println!("n{id}: {} NEW-VIEW(s)", views.len());
                        for v in views {
                            println!(
                                "  NEW-VIEW{} from slot {}: {} entr{}",
                                v.ballot,
                                v.start,
                                v.entries.len(),
                                if v.entries.len() == 1 { "y" } else { "ies" }
                            );
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

//! `synod scenario FILE.csv`: bank test sets against a 5-node local cluster
//! and the ten clients A..J (synod_tools::scenario). Before each set it
//! prompts (the interactive shell is here); it prints each set's report as
//! text or, with `--json`, one object per set and the final state last.

use crate::cmd::admin::{self, What};
use crate::cmd::cluster::binary;
use anyhow::{Context, bail};
use clap::Args as ClapArgs;
use serde_json::json;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use synod_apps::bank::DEFAULT_ACCOUNTS;
use synod_tools::scenario::{
    FinalReport, NodeBalances, PROMPT_COMMANDS, PromptCommand, Scenario, ScenarioOptions, Set,
    SetReport, TxRecord,
};

#[derive(ClapArgs)]
pub struct Args {
    /// The test sets (CSV: set number, transaction, live nodes).
    file: PathBuf,
    /// Run every set without prompting.
    #[arg(long)]
    yes: bool,
    /// One JSON object per set, and the final state as the last line.
    #[arg(long)]
    json: bool,
    /// Nodes in the cluster.
    #[arg(long, default_value_t = 5)]
    nodes: usize,
    /// A client's wait for a reply before it broadcasts again.
    #[arg(long, default_value_t = 300)]
    timeout_ms: u64,
    /// Broadcasts before a transaction counts as unknown (for this set).
    #[arg(long, default_value_t = 5)]
    retries: u32,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("reading {}", args.file.display()))?;
    let sets = synod_tools::scenario::parse(&text, args.nodes)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.file.display()))?;
    let options = ScenarioOptions {
        binary: binary()?,
        nodes: args.nodes,
        timeout: Duration::from_millis(args.timeout_ms),
        retries: args.retries,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mut scenario = rt.block_on(Scenario::start(&options))?;
    if !args.json {
        println!(
            "{} test sets from {}; a {}-node cluster in {}",
            sets.len(),
            args.file.display(),
            args.nodes,
            scenario.dir().display()
        );
    }
    let outcome = rt.block_on(run_sets(&mut scenario, &sets, &args));
    scenario.stop()?;
    outcome?;
    Ok(ExitCode::SUCCESS)
}

async fn run_sets(scenario: &mut Scenario, sets: &[Set], args: &Args) -> anyhow::Result<()> {
    for set in sets {
        if !args.yes && !args.json && !prompt(scenario, set).await? {
            break;
        }
        let report = scenario.run_set(set).await?;
        if args.json {
            println!("{}", set_json(&report));
        } else {
            print_set(&report);
        }
    }
    let end = scenario.summary().await;
    let summary = final_json(sets.len(), &end);
    if args.json {
        println!("{summary}");
    } else {
        println!("\nfinal: {summary}");
        let unknown = end.unresolved();
        if unknown > 0 {
            println!("{unknown} transaction(s) still without a known outcome (no quorum since).");
        }
    }
    if end.transactions.is_empty() {
        bail!("no transactions ran");
    }
    Ok(())
}

/// Asks what to do before `set`; false to stop.
async fn prompt(scenario: &Scenario, set: &Set) -> anyhow::Result<bool> {
    let stdin = std::io::stdin();
    loop {
        print!(
            "\nset {} next (live {:?}). {PROMPT_COMMANDS} > ",
            set.number, set.live
        );
        std::io::stdout().flush()?;
        let mut line = String::new();
        if stdin.lock().read_line(&mut line)? == 0 {
            return Ok(true); // end of input: run the rest
        }
        let file = &scenario.cluster().file;
        let result = match PromptCommand::parse(&line) {
            Ok(PromptCommand::Next) => return Ok(true),
            Ok(PromptCommand::Quit) => return Ok(false),
            Ok(PromptCommand::Db) => {
                print_balances(&scenario.balances().await, &set.live);
                Ok(())
            }
            Ok(PromptCommand::Log { node }) => admin::show(file, What::Log { node }, false).await,
            Ok(PromptCommand::Slot { slot }) => admin::show(file, What::Slot { slot }, false).await,
            Ok(PromptCommand::View) => admin::show(file, What::View { node: 0 }, false).await,
            Ok(PromptCommand::Status) => admin::show(file, What::Status, false).await,
            Ok(PromptCommand::Perf) => {
                let perf = scenario.perf();
                if let Some(last) = perf.last_set {
                    println!("last set ({}): {}", last.set, last.summary);
                }
                println!("overall: {}", perf.overall);
                Ok(())
            }
            Err(e) => Err(anyhow::anyhow!(e)),
        };
        if let Err(e) = result {
            println!("{e}");
        }
    }
}

fn print_set(report: &SetReport) {
    for failure in &report.leader_failures {
        match failure.cut {
            Some(leader) => println!("  LF (line {}): leader n{leader} cut off", failure.line),
            None => println!(
                "  LF (line {}): no leader to fail (no quorum among {:?})",
                failure.line, failure.live
            ),
        }
    }
    let own = &report.transactions;
    let answered = report.answered();
    let mark = if answered == own.len() { "✔" } else { "…" };
    println!(
        "\n{mark} set {} (live {:?}) in {:.1}s: {answered}/{} transactions answered",
        report.set,
        report.live,
        report.seconds,
        own.len()
    );
    for r in own {
        let detail = match (r.first_word(), r.refusal()) {
            ("failed", Some(why)) => format!("failed: {why}"),
            ("unknown", _) => "unknown: no quorum yet (kept; retried in later sets)".to_string(),
            (word, _) => word.to_string(),
        };
        println!("  {:<14} {detail}", r.tx);
    }
    for r in &report.from_earlier_sets {
        println!(
            "  {:<14} from set {}: committed now ({})",
            r.tx,
            r.set,
            r.committed.as_ref().map_or("?", |c| c.word())
        );
    }
    if report.new_views.is_empty() {
        println!("  no new view");
    }
    for v in &report.new_views {
        println!(
            "  NEW-VIEW{} at n{} from slot {}: {} entries",
            v.view.ballot,
            v.node,
            v.view.start,
            v.view.entries.len()
        );
    }
    print_balances(&report.balances, &report.live_at_end);
}

fn print_balances(balances: &[NodeBalances], live: &[u32]) {
    print!("  balances  ");
    for a in DEFAULT_ACCOUNTS {
        print!("{a:>4}");
    }
    println!("   total  slot");
    for NodeBalances { node, balances } in balances {
        let tag = if live.contains(node) { "  " } else { "✂ " };
        match balances {
            Some(b) => {
                print!("  {tag}n{node:<6}");
                for (_, x) in &b.accounts {
                    print!("{x:>4}");
                }
                println!(
                    "   {:>5}  {:>4}",
                    b.accounts.iter().map(|(_, x)| x).sum::<u64>(),
                    b.executed
                );
            }
            None => println!("  {tag}n{node:<6} (unreachable)"),
        }
    }
}

fn balances_json(balances: &[NodeBalances]) -> serde_json::Value {
    let nodes: serde_json::Map<String, serde_json::Value> = balances
        .iter()
        .map(|NodeBalances { node, balances }| {
            let accounts = match balances {
                Some(b) => json!(
                    b.accounts
                        .iter()
                        .map(|(a, x)| (a.clone(), json!(x)))
                        .collect::<serde_json::Map<_, _>>()
                ),
                None => json!(null),
            };
            (format!("n{node}"), accounts)
        })
        .collect();
    json!(nodes)
}

fn set_json(report: &SetReport) -> serde_json::Value {
    let tx: Vec<serde_json::Value> = report
        .transactions
        .iter()
        .map(|r| json!({"tx": r.tx.to_string(), "outcome": r.first_word(), "reason": r.refusal()}))
        .collect();
    let late: Vec<serde_json::Value> = report
        .from_earlier_sets
        .iter()
        .map(|r| {
            json!({"set": r.set, "tx": r.tx.to_string(), "outcome": r.committed.as_ref().map(|c| c.word())})
        })
        .collect();
    let new_views: Vec<serde_json::Value> = report
        .new_views
        .iter()
        .map(|v| json!({"node": v.node, "ballot": v.view.ballot.to_string(), "start": v.view.start, "entries": v.view.entries}))
        .collect();
    json!({"set": report.set, "live": report.live, "leader_failed": report.leader_failed(),
        "seconds": report.seconds, "transactions": tx, "committed_from_earlier_sets": late,
        "new_views": new_views, "balances": balances_json(&report.balances)})
}

fn final_json(sets: usize, end: &FinalReport) -> serde_json::Value {
    let tx: Vec<serde_json::Value> = end
        .transactions
        .iter()
        .map(|r: &TxRecord| {
            json!({"set": r.set, "tx": r.tx.to_string(), "outcome": r.first_word(),
                "final_outcome": r.committed.as_ref().map_or("unknown", |c| c.word()),
                "committed_in_set": r.committed_in()})
        })
        .collect();
    json!({"sets": sets, "nodes": balances_json(&end.balances), "transactions": tx})
}

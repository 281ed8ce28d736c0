//! `synod scenario FILE.csv`: seed C's bank test sets against a 5-node
//! local cluster and the ten clients A..J.
//!
//! For each set the listed nodes are connected and every other node is cut
//! off (through the nodes' fault-injection switch, not killed, so a later set
//! can bring it back and it must catch up). Each client runs its own
//! transactions in order, different clients in parallel. `LF` cuts off the
//! current leader at that point of the set.
//!
//! A transaction that gets no answer (no quorum) has an unknown outcome: it
//! is neither lost nor doubled. Its client keeps it and tries it again, under
//! its original timestamp, before anything else in later sets; when a set
//! restores a quorum it commits then (if a minority accepted it earlier, the
//! next leader may even carry that value forward), and the runner reports the
//! set in which it committed. Later transactions of the same client wait
//! behind it, as a closed-loop client does.

use crate::cmd::admin::{self, What, decode_db};
use crate::cmd::cluster::binary;
use crate::local::{LocalCluster, poll};
use anyhow::{Context, bail};
use clap::Args as ClapArgs;
use serde_json::json;
use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use synod_apps::bank::DEFAULT_ACCOUNTS;
use synod_apps::{BankOp, Command};
use synod_core::NodeId;
use synod_node::client::{ClientOptions, CommandResult, SynodClient};
use synod_node::wire::{AdminReply, AdminRequest};

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

#[derive(Clone, Debug, PartialEq)]
pub struct Tx {
    pub line: usize,
    pub from: String,
    pub to: String,
    pub amount: u64,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    Tx(Tx),
    FailLeader { line: usize },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Set {
    pub number: u32,
    pub live: Vec<u32>,
    pub steps: Vec<Step>,
}

/// Splits one CSV line into fields, honouring double quotes.
fn fields(line: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(String::new()),
            c => out.last_mut().expect("never empty").push(c),
        }
    }
    out.into_iter().map(|f| f.trim().to_string()).collect()
}

fn parse_tx(text: &str, line: usize, nodes: usize) -> Result<Step, String> {
    let _ = nodes;
    if text.eq_ignore_ascii_case("lf") {
        return Ok(Step::FailLeader { line });
    }
    let inner = text
        .trim()
        .strip_prefix('(')
        .and_then(|t| t.strip_suffix(')'))
        .ok_or_else(|| {
            format!("line {line}: transaction {text:?} is not (Sender, Receiver, Amount) or LF")
        })?;
    let parts: Vec<&str> = inner.split(',').map(str::trim).collect();
    let [from, to, amount] = parts[..] else {
        return Err(format!(
            "line {line}: transaction {text:?} needs three parts"
        ));
    };
    let amount = amount
        .parse()
        .map_err(|_| format!("line {line}: amount {amount:?} is not a whole number"))?;
    for account in [from, to] {
        if !DEFAULT_ACCOUNTS.contains(&account) {
            return Err(format!(
                "line {line}: unknown client {account:?} (the clients are A..J)"
            ));
        }
    }
    Ok(Step::Tx(Tx {
        line,
        from: from.into(),
        to: to.into(),
        amount,
    }))
}

fn parse_live(text: &str, line: usize, nodes: usize) -> Result<Vec<u32>, String> {
    let inner = text.trim().trim_start_matches('[').trim_end_matches(']');
    let mut live = Vec::new();
    for part in inner
        .split([',', ' '])
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let digits = part.trim_start_matches(['n', 'N']);
        let id: u32 = digits
            .parse()
            .map_err(|_| format!("line {line}: {part:?} is not a node (n1..n{nodes})"))?;
        if id == 0 || id as usize > nodes {
            return Err(format!(
                "line {line}: node {part} is not in the cluster (n1..n{nodes})"
            ));
        }
        if !live.contains(&id) {
            live.push(id);
        }
    }
    Ok(live)
}

/// Parses the test sets, reporting a bad row by its line number.
pub fn parse(text: &str, nodes: usize) -> Result<Vec<Set>, String> {
    let mut sets: Vec<Set> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        if raw.trim().is_empty() || raw.trim_start().starts_with('#') {
            continue;
        }
        let f = fields(raw);
        if line == 1
            && f.first()
                .is_some_and(|h| h.parse::<u32>().is_err() && !h.is_empty())
        {
            continue; // the header
        }
        let get = |k: usize| f.get(k).map(String::as_str).unwrap_or("");
        if !get(0).is_empty() {
            let number = get(0)
                .parse()
                .map_err(|_| format!("line {line}: set number {:?} is not a number", get(0)))?;
            let live = parse_live(get(2), line, nodes)?;
            sets.push(Set {
                number,
                live,
                steps: Vec::new(),
            });
        }
        let Some(set) = sets.last_mut() else {
            return Err(format!(
                "line {line}: a transaction before the first set number"
            ));
        };
        if !get(1).is_empty() {
            set.steps.push(parse_tx(get(1), line, nodes)?);
        }
    }
    if sets.is_empty() {
        return Err("no test sets in the file".into());
    }
    Ok(sets)
}

/// A node, and (if it answered) its executed slot and balances.
type NodeBalances = (u32, Option<(u64, Vec<(String, u64)>)>);

#[derive(Debug)]
struct Record {
    set: u32,
    tx: Tx,
    outcome: &'static str,
    final_outcome: Option<&'static str>,
    committed_in_set: Option<u32>,
    reason: Option<String>,
}

fn tx_text(tx: &Tx) -> String {
    format!("({}, {}, {})", tx.from, tx.to, tx.amount)
}

struct Runner {
    cluster: LocalCluster,
    clients: BTreeMap<String, SynodClient>,
    /// Per client: transactions not yet resolved (indices into `records`).
    queues: BTreeMap<String, VecDeque<usize>>,
    records: Vec<Record>,
    json: bool,
    perf: Vec<(u32, usize, f64, f64)>,
}

impl Runner {
    async fn partition(&self, live: &[u32]) -> anyhow::Result<()> {
        for n in &self.cluster.file.nodes {
            let (blocked, serve) = if live.contains(&n.id) {
                (
                    self.cluster
                        .file
                        .nodes
                        .iter()
                        .map(|m| m.id)
                        .filter(|m| !live.contains(m))
                        .collect::<Vec<_>>(),
                    true,
                )
            } else {
                (
                    self.cluster
                        .file
                        .nodes
                        .iter()
                        .map(|m| m.id)
                        .filter(|m| *m != n.id)
                        .collect(),
                    false,
                )
            };
            let blocked: Vec<NodeId> = blocked.into_iter().map(NodeId).collect();
            let request = AdminRequest::Partition {
                drop_from: blocked.clone(),
                drop_to: blocked,
                serve_clients: serve,
            };
            synod_node::admin::query(&self.cluster.file, n.id, request, Duration::from_secs(2))
                .await
                .map_err(anyhow::Error::msg)?;
        }
        Ok(())
    }

    /// The leader the live nodes follow, if a quorum of them elected one.
    async fn leader(&self, live: &[u32], wait: Duration) -> Option<u32> {
        if live.len() < self.cluster.file.nodes.len() / 2 + 1 {
            return None;
        }
        poll(wait, async || {
            let statuses = self.cluster.statuses().await;
            statuses
                .iter()
                .find(|s| live.contains(&s.id.0) && s.role == "leader")
                .map(|s| s.id.0)
        })
        .await
    }

    /// Runs every client's queue concurrently; returns when each client is
    /// done or stuck on an unknown outcome.
    async fn run_segment(&mut self, set: u32) {
        let mut tasks = Vec::new();
        for (name, mut client) in std::mem::take(&mut self.clients) {
            let queue: Vec<(usize, Tx, bool)> = self.queues[&name]
                .iter()
                .map(|&i| {
                    (
                        i,
                        self.records[i].tx.clone(),
                        self.records[i].outcome == "unknown",
                    )
                })
                .collect();
            tasks.push(tokio::spawn(async move {
                let mut results = Vec::new();
                for (i, tx, tried) in queue {
                    let start = Instant::now();
                    let result = if tried && client.has_unknown() {
                        client
                            .retry_unknown()
                            .await
                            .unwrap_or(CommandResult::Unknown)
                    } else {
                        let op = Command::Bank(BankOp::Transfer {
                            from: tx.from,
                            to: tx.to,
                            amount: tx.amount,
                        });
                        client.execute(&op).await
                    };
                    let unknown = result == CommandResult::Unknown;
                    results.push((i, result, start.elapsed()));
                    if unknown {
                        break;
                    }
                }
                (name, client, results)
            }));
        }
        for task in tasks {
            let Ok((name, client, results)) = task.await else {
                continue;
            };
            for (i, result, took) in results {
                let r = &mut self.records[i];
                let first_try = r.set == set && r.outcome == "pending";
                let (word, reason) = match &result {
                    CommandResult::Ok(_) => ("success", None),
                    CommandResult::Failed(outcome) => {
                        ("failed", outcome.refusal().map(|why| why.to_string()))
                    }
                    CommandResult::Unknown => ("unknown", None),
                };
                if first_try {
                    r.outcome = word;
                }
                if word != "unknown" {
                    r.committed_in_set = Some(set);
                    r.final_outcome = Some(word);
                    r.reason = reason;
                    if let Some(q) = self.queues.get_mut(&name) {
                        q.retain(|&j| j != i);
                    }
                    self.perf.push((set, i, took.as_secs_f64(), 0.0));
                } else if r.outcome == "pending" {
                    r.outcome = "unknown";
                }
            }
            self.clients.insert(name, client);
        }
    }

    async fn balances(&self) -> Vec<NodeBalances> {
        let mut out = Vec::new();
        for n in &self.cluster.file.nodes {
            let reply = synod_node::admin::query(
                &self.cluster.file,
                n.id,
                AdminRequest::Db,
                Duration::from_secs(2),
            )
            .await;
            out.push((
                n.id,
                reply
                    .ok()
                    .and_then(|r| decode_db(r).ok())
                    .map(|(e, s)| (e, s.bank.balances())),
            ));
        }
        out
    }

    /// Waits (briefly) until the live nodes have executed the same slots.
    async fn settle(&self, live: &[u32]) {
        // Best effort: the balances printed next show any node still behind.
        let _ = self
            .cluster
            .wait_converged(live, Duration::from_secs(5))
            .await;
    }

    async fn views(&self) -> BTreeMap<u32, Vec<synod_node::wire::ViewRecord>> {
        let mut out = BTreeMap::new();
        for n in &self.cluster.file.nodes {
            if let Ok(AdminReply::Views(v)) = synod_node::admin::query(
                &self.cluster.file,
                n.id,
                AdminRequest::Views,
                Duration::from_secs(2),
            )
            .await
            {
                out.insert(n.id, v);
            }
        }
        out
    }
}

fn balances_json(balances: &[NodeBalances]) -> serde_json::Value {
    let nodes: serde_json::Map<String, serde_json::Value> = balances
        .iter()
        .map(|(id, b)| {
            let v = match b {
                Some((_, b)) => json!(
                    b.iter()
                        .map(|(a, x)| (a.clone(), json!(x)))
                        .collect::<serde_json::Map<_, _>>()
                ),
                None => json!(null),
            };
            (format!("n{id}"), v)
        })
        .collect();
    json!(nodes)
}

fn print_balances(balances: &[NodeBalances], live: &[u32]) {
    print!("  balances  ");
    for a in DEFAULT_ACCOUNTS {
        print!("{a:>4}");
    }
    println!("   total  slot");
    for (id, b) in balances {
        let tag = if live.contains(id) { "  " } else { "✂ " };
        match b {
            Some((executed, b)) => {
                print!("  {tag}n{id:<6}");
                for (_, x) in b {
                    print!("{x:>4}");
                }
                println!(
                    "   {:>5}  {executed:>4}",
                    b.iter().map(|(_, x)| x).sum::<u64>()
                );
            }
            None => println!("  {tag}n{id:<6} (unreachable)"),
        }
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("reading {}", args.file.display()))?;
    let sets =
        parse(&text, args.nodes).map_err(|e| anyhow::anyhow!("{}: {e}", args.file.display()))?;
    let dir = tempfile::Builder::new()
        .prefix("synod-scenario-")
        .tempdir()?;
    let cluster = LocalCluster::create(dir.path(), args.nodes, binary()?, |_| {})?;
    if !args.json {
        println!(
            "{} test sets from {}; a {}-node cluster in {}",
            sets.len(),
            args.file.display(),
            args.nodes,
            dir.path().display()
        );
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let result = rt.block_on(async {
        if let Err(e) = cluster.wait_leader(Duration::from_secs(15), None).await {
            return (cluster, Err(e));
        }
        let options = ClientOptions {
            timeout: Duration::from_millis(args.timeout_ms),
            retries: args.retries,
            id: None,
            first_contact: None,
        };
        let mut runner = Runner {
            clients: DEFAULT_ACCOUNTS
                .iter()
                .map(|a| {
                    (
                        a.to_string(),
                        SynodClient::new(&cluster.file, options.clone()),
                    )
                })
                .collect(),
            queues: DEFAULT_ACCOUNTS
                .iter()
                .map(|a| (a.to_string(), VecDeque::new()))
                .collect(),
            cluster,
            records: Vec::new(),
            json: args.json,
            perf: Vec::new(),
        };
        let outcome = scenario(&mut runner, &sets, args.yes).await;
        (runner.cluster, outcome)
    });
    let (cluster, outcome) = result;
    cluster.down()?;
    outcome?;
    Ok(ExitCode::SUCCESS)
}

async fn prompt(runner: &Runner, set: &Set, first_set: bool) -> anyhow::Result<bool> {
    let stdin = std::io::stdin();
    loop {
        print!(
            "\nset {} next (live {:?}). next | db | log N | slot S | view | perf | status | quit > ",
            set.number, set.live
        );
        std::io::stdout().flush()?;
        let mut line = String::new();
        if stdin.lock().read_line(&mut line)? == 0 {
            return Ok(true); // end of input: run the rest
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let file = &runner.cluster.file;
        let result = match words.as_slice() {
            [] | ["next"] | ["n"] => return Ok(true),
            ["quit"] | ["q"] => return Ok(false),
            ["db"] => {
                print_balances(&runner.balances().await, &set.live);
                Ok(())
            }
            ["log", n] => match n.trim_start_matches('n').parse() {
                Ok(node) => admin::show(file, What::Log { node }, false).await,
                Err(_) => Err(anyhow::anyhow!("usage: log N")),
            },
            ["slot", s] => match s.parse() {
                Ok(slot) => admin::show(file, What::Slot { slot }, false).await,
                Err(_) => Err(anyhow::anyhow!("usage: slot S")),
            },
            ["view"] => admin::show(file, What::View { node: 0 }, false).await,
            ["status"] => admin::show(file, What::Status, false).await,
            ["perf"] => {
                print_perf(runner, first_set);
                Ok(())
            }
            _ => Err(anyhow::anyhow!("unknown command {:?}", line.trim())),
        };
        if let Err(e) = result {
            println!("{e}");
        }
    }
}

fn print_perf(runner: &Runner, _first: bool) {
    let last_set = runner.perf.iter().map(|p| p.0).max();
    let summary = |filter: &dyn Fn(u32) -> bool| {
        let picked: Vec<f64> = runner
            .perf
            .iter()
            .filter(|p| filter(p.0))
            .map(|p| p.2)
            .collect();
        if picked.is_empty() {
            return "no transactions yet".to_string();
        }
        let total: f64 = picked.iter().sum();
        format!(
            "{} transactions, average latency {:.1} ms",
            picked.len(),
            total / picked.len() as f64 * 1000.0
        )
    };
    if let Some(s) = last_set {
        println!("last set ({s}): {}", summary(&|x| x == s));
    }
    println!("overall: {}", summary(&|_| true));
}

async fn scenario(runner: &mut Runner, sets: &[Set], yes: bool) -> anyhow::Result<()> {
    for (k, set) in sets.iter().enumerate() {
        if !yes && !runner.json && !prompt(runner, set, k == 0).await? {
            break;
        }
        let mut live = set.live.clone();
        runner.partition(&live).await?;
        let views_before: BTreeMap<u32, usize> = runner
            .views()
            .await
            .iter()
            .map(|(k, v)| (*k, v.len()))
            .collect();
        let set_start = Instant::now();
        let mut failed_leader = None;
        let first_record = runner.records.len();
        // Segments split at LF.
        let mut segment: Vec<Tx> = Vec::new();
        let mut steps = set.steps.clone();
        steps.push(Step::FailLeader { line: 0 }); // sentinel: run the last segment
        for step in steps {
            match step {
                Step::Tx(tx) => segment.push(tx),
                Step::FailLeader { line } => {
                    for tx in segment.drain(..) {
                        runner.records.push(Record {
                            set: set.number,
                            tx: tx.clone(),
                            outcome: "pending",
                            final_outcome: None,
                            committed_in_set: None,
                            reason: None,
                        });
                        let i = runner.records.len() - 1;
                        if let Some(q) = runner.queues.get_mut(&tx.from) {
                            q.push_back(i);
                        }
                    }
                    if runner.leader(&live, Duration::from_secs(3)).await.is_some()
                        || runner.queues.values().any(|q| !q.is_empty())
                    {
                        runner.run_segment(set.number).await;
                    }
                    if line == 0 {
                        continue;
                    }
                    match runner.leader(&live, Duration::from_secs(3)).await {
                        Some(leader) => {
                            live.retain(|n| *n != leader);
                            runner.partition(&live).await?;
                            failed_leader = Some(leader);
                            if !runner.json {
                                println!("  LF (line {line}): leader n{leader} cut off");
                            }
                        }
                        None => {
                            if !runner.json {
                                println!(
                                    "  LF (line {line}): no leader to fail (no quorum among {live:?})"
                                );
                            }
                        }
                    }
                }
            }
        }
        // Transactions never attempted in this set (queued behind an unknown one).
        for r in &mut runner.records[first_record..] {
            if r.outcome == "pending" {
                r.outcome = "unknown";
            }
        }
        runner.settle(&live).await;
        let elapsed = set_start.elapsed().as_secs_f64();
        let balances = runner.balances().await;
        let views = runner.views().await;
        let new_views: Vec<serde_json::Value> = views
            .iter()
            .flat_map(|(node, v)| {
                let skip = views_before.get(node).copied().unwrap_or(0);
                v.iter().skip(skip).map(move |v| json!({"node": node, "ballot": v.ballot.to_string(), "start": v.start, "entries": v.entries}))
            })
            .collect();
        let settled: Vec<&Record> = runner
            .records
            .iter()
            .filter(|r| r.committed_in_set == Some(set.number) && r.set != set.number)
            .collect();
        let own: Vec<&Record> = runner.records[first_record..].iter().collect();
        if runner.json {
            let tx: Vec<serde_json::Value> = own
                .iter()
                .map(|r| json!({"tx": tx_text(&r.tx), "outcome": r.outcome, "reason": r.reason}))
                .collect();
            let late: Vec<serde_json::Value> = settled
                .iter()
                .map(|r| json!({"set": r.set, "tx": tx_text(&r.tx), "outcome": r.final_outcome}))
                .collect();
            println!(
                "{}",
                json!({"set": set.number, "live": set.live, "leader_failed": failed_leader, "seconds": elapsed,
                    "transactions": tx, "committed_from_earlier_sets": late, "new_views": new_views, "balances": balances_json(&balances)})
            );
        } else {
            let ok = own.iter().filter(|r| r.outcome != "unknown").count();
            let mark = if ok == own.len() { "✔" } else { "…" };
            println!(
                "\n{mark} set {} (live {:?}) in {elapsed:.1}s: {ok}/{} transactions answered",
                set.number,
                set.live,
                own.len()
            );
            for r in &own {
                let detail = match (r.outcome, &r.reason) {
                    ("success", _) => "success".to_string(),
                    ("failed", Some(why)) => format!("failed: {why}"),
                    ("unknown", _) => {
                        "unknown: no quorum yet (kept; retried in later sets)".to_string()
                    }
                    (o, _) => o.to_string(),
                };
                println!("  {:<14} {detail}", tx_text(&r.tx));
            }
            for r in &settled {
                println!(
                    "  {:<14} from set {}: committed now ({})",
                    tx_text(&r.tx),
                    r.set,
                    r.final_outcome.unwrap_or("?")
                );
            }
            if new_views.is_empty() {
                println!("  no new view");
            }
            for v in &new_views {
                println!(
                    "  NEW-VIEW{} at n{} from slot {}: {} entries",
                    v["ballot"].as_str().unwrap_or("?"),
                    v["node"],
                    v["start"],
                    v["entries"].as_array().map_or(0, |e| e.len())
                );
            }
            print_balances(&balances, &live);
        }
    }
    let balances = runner.balances().await;
    let tx: Vec<serde_json::Value> = runner
        .records
        .iter()
        .map(|r| json!({"set": r.set, "tx": tx_text(&r.tx), "outcome": r.outcome, "final_outcome": r.final_outcome.unwrap_or("unknown"), "committed_in_set": r.committed_in_set}))
        .collect();
    let summary =
        json!({"sets": sets.len(), "nodes": balances_json(&balances), "transactions": tx});
    if runner.json {
        println!("{summary}");
    } else {
        println!("\nfinal: {summary}");
    }
    let unknown = runner
        .records
        .iter()
        .filter(|r| r.committed_in_set.is_none())
        .count();
    if unknown > 0 && !runner.json {
        println!("{unknown} transaction(s) still without a known outcome (no quorum since).");
    }
    if runner.records.is_empty() {
        bail!("no transactions ran");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_leniently_and_reports_bad_rows_by_line() {
        let text = "Set Number,Transactions,Live Nodes\n1,\"(A , J, 1)\",\"[n1,n2, n3]\"\n,LF,\n, \"(B,C,2)\" ,\n";
        let sets = parse(text, 5).unwrap();
        assert_eq!(sets.len(), 1);
        assert_eq!(sets[0].live, vec![1, 2, 3]);
        assert_eq!(sets[0].steps.len(), 3);
        assert_eq!(
            sets[0].steps[0],
            Step::Tx(Tx {
                line: 2,
                from: "A".into(),
                to: "J".into(),
                amount: 1
            })
        );
        assert_eq!(sets[0].steps[1], Step::FailLeader { line: 3 });
        let e = parse("h,h,h\n1,\"(A, J)\",[n1]\n", 5).unwrap_err();
        assert!(e.starts_with("line 2:"), "{e}");
        let e = parse("h,h,h\n1,\"(A, J, 1)\",[n9]\n", 5).unwrap_err();
        assert!(e.contains("line 2") && e.contains("n9"), "{e}");
        let e = parse("h,h,h\n1,\"(A, Z, 1)\",[n1]\n", 5).unwrap_err();
        assert!(e.contains("unknown client"), "{e}");
        let e = parse("h,h,h\n,\"(A, B, 1)\",\n", 5).unwrap_err();
        assert!(e.contains("before the first set"), "{e}");
    }

    #[test]
    fn the_sample_sets_parse() {
        let text = include_str!("../../../../scenarios/sample-sets.csv");
        let sets = parse(text, 5).unwrap();
        assert_eq!(sets.len(), 5);
        assert_eq!(sets[3].live, vec![3, 4]);
        assert!(sets[2].steps.contains(&Step::FailLeader { line: 9 }));
    }
}

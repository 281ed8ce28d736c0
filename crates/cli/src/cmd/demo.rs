//! `synod demo`: a 5-node cluster on this machine survives the loss of its
//! leader, with ten bank clients (A..J) transferring money throughout; then
//! every replica must agree and the money must add up.

use crate::cmd::admin::decode_db;
use crate::cmd::cluster::binary;
use crate::local::{LocalCluster, poll};
use anyhow::bail;
use clap::Args as ClapArgs;
use hdrhistogram::Histogram;
use rand::{Rng, SeedableRng};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use synod_apps::bank::DEFAULT_ACCOUNTS;
use synod_apps::{BankOp, Command};
use synod_node::admin::query;
use synod_node::client::{ClientOptions, CommandResult, SynodClient};
use synod_node::wire::AdminRequest;

#[derive(ClapArgs)]
pub struct Args {
    /// Nodes in the cluster.
    #[arg(long, default_value_t = 5)]
    nodes: usize,
    /// Seconds of load before the leader is killed (and again after).
    #[arg(long, default_value_t = 3)]
    phase_seconds: u64,
    /// Keep the cluster's directory (logs, data) instead of deleting it.
    #[arg(long)]
    keep: bool,
}

struct Shared {
    stop: AtomicBool,
    done: AtomicU64,
    ok: AtomicU64,
    failed: AtomicU64,
    unknown: AtomicU64,
    latency: Mutex<Histogram<u64>>,
    history: Mutex<Vec<synod_check::Op>>,
    start: Instant,
}

fn elapsed_us(start: Instant) -> u64 {
    start.elapsed().as_micros() as u64
}

async fn bank_client(cluster: synod_node::ClusterFile, account: &'static str, shared: Arc<Shared>) {
    let options = ClientOptions {
        timeout: Duration::from_millis(300),
        retries: 20,
        id: None,
        first_contact: None,
    };
    let mut client = SynodClient::new(&cluster, options);
    let mut rng = rand::rngs::StdRng::from_rng(&mut rand::rng());
    while !shared.stop.load(Ordering::Relaxed) {
        let to = loop {
            let to = DEFAULT_ACCOUNTS[rng.random_range(0..DEFAULT_ACCOUNTS.len())];
            if to != account {
                break to;
            }
        };
        let command = Command::Bank(BankOp::Transfer {
            from: account.into(),
            to: to.into(),
            amount: rng.random_range(1..=3),
        });
        let invoke = elapsed_us(shared.start);
        let result = client.execute(&command).await;
        let complete = elapsed_us(shared.start);
        let counter = match &result {
            CommandResult::Ok(_) => &shared.ok,
            CommandResult::Failed(_) => &shared.failed,
            CommandResult::Unknown => &shared.unknown,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let outcome = result.outcome().cloned();
        if outcome.is_some()
            && let Ok(mut h) = shared.latency.lock()
        {
            let _ = h.record(complete - invoke);
        }
        shared.done.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut h) = shared.history.lock() {
            h.push(synod_check::Op {
                client: client.id().0,
                invoke,
                complete: outcome.as_ref().map(|_| complete),
                command,
                outcome,
            });
        }
    }
}

fn say(t0: Instant, text: impl AsRef<str>) {
    println!("[{:>5.1}s] {}", t0.elapsed().as_secs_f64(), text.as_ref());
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let dir = tempfile::Builder::new().prefix("synod-demo-").tempdir()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let t0 = Instant::now();
    say(
        t0,
        format!(
            "starting a {}-node cluster in {}",
            args.nodes,
            dir.path().display()
        ),
    );
    let cluster = LocalCluster::create(dir.path(), args.nodes, binary()?, |_| {})?;
    let result = rt.block_on(demo(&cluster, &args, t0));
    cluster.down()?;
    if args.keep {
        let kept = dir.keep();
        say(
            t0,
            format!(
                "cluster stopped; its logs and data are kept in {}",
                kept.display()
            ),
        );
    } else {
        say(t0, "cluster stopped");
    }
    match result {
        Ok(()) => {
            say(
                t0,
                "demo passed: the cluster survived the loss of its leader, every replica agrees, no money was lost or made",
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("demo FAILED: {e:#}");
            Ok(ExitCode::FAILURE)
        }
    }
}

async fn demo(cluster: &LocalCluster, args: &Args, t0: Instant) -> anyhow::Result<()> {
    let leader = cluster.wait_leader(Duration::from_secs(15), None).await?;
    say(t0, format!("n{leader} is the leader"));
    let shared = Arc::new(Shared {
        stop: AtomicBool::new(false),
        done: AtomicU64::new(0),
        ok: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        unknown: AtomicU64::new(0),
        latency: Mutex::new(Histogram::new(3)?),
        history: Mutex::new(Vec::new()),
        start: t0,
    });
    say(
        t0,
        "ten bank clients A..J start transferring money (every account starts with 10)",
    );
    let mut tasks = Vec::new();
    for account in DEFAULT_ACCOUNTS {
        tasks.push(tokio::spawn(bank_client(
            cluster.file.clone(),
            account,
            shared.clone(),
        )));
    }
    let phase = Duration::from_secs(args.phase_seconds);
    progress(&shared, phase, t0).await;

    let old = leader;
    let before = shared.done.load(Ordering::Relaxed);
    let killed_at = elapsed_us(t0);
    cluster.kill(old)?;
    say(t0, format!("killed the leader n{old} (SIGKILL), mid-load"));
    let new = cluster
        .wait_leader(Duration::from_secs(10), Some(old))
        .await?;
    // Failover ends when a command sent after the kill completes: only
    // the new leader can have ordered it.
    let first_served = poll(Duration::from_secs(10), async || {
        let h = shared.history.lock().ok()?;
        h.iter()
            .filter(|op| op.invoke > killed_at)
            .filter_map(|op| op.complete)
            .min()
    })
    .await;
    let Some(served) = first_served else {
        bail!("no command sent after the leader's death completed within 10 s");
    };
    say(
        t0,
        format!(
            "n{new} took over: the first command sent after the kill completed {:.0} ms after it ({} commands finished meanwhile)",
            (served - killed_at) as f64 / 1000.0,
            shared.done.load(Ordering::Relaxed) - before
        ),
    );
    progress(&shared, phase, t0).await;

    cluster.restart(old)?;
    say(t0, format!("restarted n{old} from its log on disk"));
    progress(&shared, Duration::from_secs(1), t0).await;
    shared.stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    // Everyone must reach the same executed slot.
    let all: Vec<u32> = cluster.file.nodes.iter().map(|n| n.id).collect();
    let target = cluster
        .wait_converged(&all, Duration::from_secs(10))
        .await
        .map_err(|e| anyhow::anyhow!("replicas did not converge: {e}"))?;
    say(
        t0,
        format!("n{old} caught up: every node has executed slot {target}"),
    );

    println!();
    println!("balances on every node:");
    print!("      ");
    for a in DEFAULT_ACCOUNTS {
        print!("{a:>4}");
    }
    println!("  total");
    let mut states = Vec::new();
    for n in &cluster.file.nodes {
        let reply = query(
            &cluster.file,
            n.id,
            AdminRequest::Db,
            Duration::from_secs(2),
        )
        .await
        .map_err(anyhow::Error::msg)?;
        let (_, services) = decode_db(reply)?;
        let balances = services.bank.balances();
        print!("  n{:<3}", n.id);
        for (_, b) in &balances {
            print!("{b:>4}");
        }
        println!("  {:>5}", services.bank.total());
        states.push((n.id, balances, services));
    }
    println!();
    let (_, first, _) = &states[0];
    for (id, balances, _) in &states {
        if balances != first {
            bail!("n{id}'s balances differ from n{}'s", states[0].0);
        }
    }
    let total: u64 = first.iter().map(|(_, b)| b).sum();
    if total != 100 {
        bail!("the accounts hold {total} units in all, not 100");
    }
    let history = synod_check::History {
        ops: shared.history.lock().map(|h| h.clone()).unwrap_or_default(),
        final_balances: Some(first.clone()),
        final_orders: None,
    };
    let anomalies = synod_check::check(&history);
    let (ok, failed, unknown) = (
        shared.ok.load(Ordering::Relaxed),
        shared.failed.load(Ordering::Relaxed),
        shared.unknown.load(Ordering::Relaxed),
    );
    let seconds = (2 * args.phase_seconds + 1) as f64;
    let h = shared
        .latency
        .lock()
        .map(|h| h.clone())
        .map_err(|_| anyhow::anyhow!("latency lock poisoned"))?;
    say(t0, "all replicas agree; the accounts still hold 100 units");
    say(
        t0,
        format!(
            "{} transfers: {ok} succeeded, {failed} failed for insufficient balance (committed, moved nothing), {unknown} unknown",
            ok + failed + unknown
        ),
    );
    say(
        t0,
        format!(
            "throughput {:.0} transfers/s; latency p50 {:.2} ms, p99 {:.2} ms (10 closed-loop clients, durable on 5 nodes, one leader kill included)",
            (ok + failed) as f64 / seconds,
            h.value_at_quantile(0.5) as f64 / 1000.0,
            h.value_at_quantile(0.99) as f64 / 1000.0
        ),
    );
    if !anomalies.is_empty() {
        for a in &anomalies {
            println!("  anomaly: {a}");
        }
        bail!("the history of the clients does not match the final balances");
    }
    say(
        t0,
        "every acknowledged transfer is in the final balances exactly once",
    );
    Ok(())
}

/// Prints a progress line every second for `length`.
async fn progress(shared: &Shared, length: Duration, t0: Instant) {
    let start = Instant::now();
    let mut last = shared.done.load(Ordering::Relaxed);
    while start.elapsed() < length {
        tokio::time::sleep(Duration::from_secs(1).min(length)).await;
        let done = shared.done.load(Ordering::Relaxed);
        say(
            t0,
            format!(
                "  {} transfers so far ({} in the last second)",
                done,
                done - last
            ),
        );
        last = done;
    }
}

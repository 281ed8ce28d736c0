//! The demo: a local cluster survives the loss of its leader, with ten bank
//! clients (A..J) transferring money throughout; then every replica must
//! agree and the money must add up.
//!
//! [`run`] tells what happens as [`DemoEvent`]s (`events.rs`), each with the
//! time since the start.

mod events;

pub use events::{BalanceTable, DemoEvent, NodeBalances};

use crate::local::{LocalCluster, poll};
use hdrhistogram::Histogram;
use rand::{Rng, SeedableRng};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use synod_apps::bank::DEFAULT_ACCOUNTS;
use synod_apps::{BankOp, Command};
use synod_node::ClusterFile;
use synod_node::client::{ClientOptions, CommandResult, SynodClient};
use synod_node::tls::Security;

pub struct DemoOptions {
    /// The `synod` binary the nodes run as.
    pub binary: PathBuf,
    pub nodes: usize,
    /// Load before the leader is killed, and again after.
    pub phase: Duration,
    /// Keep the cluster's directory (logs, data) instead of deleting it.
    pub keep: bool,
}

/// How the demo ended once its cluster ran: passed, or the check that
/// failed. (Failing to start the cluster is an error of [`run`] instead.)
#[derive(Debug)]
pub enum DemoVerdict {
    Passed,
    Failed(anyhow::Error),
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

/// Runs the demo; `on_event` hears each step with the time since the start
/// ([`DemoEvent::Passed`] last if it passed).
pub async fn run(
    options: &DemoOptions,
    on_event: &mut impl FnMut(Duration, DemoEvent),
) -> anyhow::Result<DemoVerdict> {
    let t0 = Instant::now();
    let mut say = |event| on_event(t0.elapsed(), event);
    let dir = tempfile::Builder::new().prefix("synod-demo-").tempdir()?;
    // Scratch before it is announced: a user (or a test) who interrupts as
    // soon as the directory is named must find it removed, and the process
    // exits from the signal's thread, without `dir`'s own clean-up.
    if !options.keep {
        crate::local::scratch(dir.path());
    }
    say(DemoEvent::Starting {
        nodes: options.nodes,
        dir: dir.path().to_path_buf(),
    });
    let cluster = LocalCluster::create(dir.path(), options.nodes, options.binary.clone(), |_| {})?;
    let result = demo(&cluster, options.phase, t0, &mut say).await;
    cluster.down()?;
    let kept = options.keep.then(|| dir.keep());
    say(DemoEvent::Stopped { kept });
    Ok(match result {
        Ok(()) => {
            say(DemoEvent::Passed);
            DemoVerdict::Passed
        }
        Err(e) => DemoVerdict::Failed(e),
    })
}

async fn bank_client(
    cluster: ClusterFile,
    security: Security,
    account: &'static str,
    shared: Arc<Shared>,
) {
    let options = ClientOptions {
        timeout: Duration::from_millis(300),
        retries: 20,
        id: None,
        first_contact: None,
    };
    let mut client = SynodClient::with_security(&cluster, options, security);
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

async fn demo(
    cluster: &LocalCluster,
    phase: Duration,
    t0: Instant,
    say: &mut impl FnMut(DemoEvent),
) -> anyhow::Result<()> {
    let leader = cluster.wait_leader(Duration::from_secs(15), None).await?;
    say(DemoEvent::Leader(leader));
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
    say(DemoEvent::ClientsStarted);
    let mut tasks = Vec::new();
    for account in DEFAULT_ACCOUNTS {
        tasks.push(tokio::spawn(bank_client(
            cluster.file.clone(),
            cluster.security.clone(),
            account,
            shared.clone(),
        )));
    }
    progress(&shared, phase, say).await;

    let old = leader;
    let before = shared.done.load(Ordering::Relaxed);
    let killed_at = elapsed_us(t0);
    cluster.kill(old)?;
    say(DemoEvent::LeaderKilled(old));
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
        anyhow::bail!("no command sent after the leader's death completed within 10 s");
    };
    say(DemoEvent::TookOver {
        leader: new,
        after: Duration::from_micros(served - killed_at),
        finished_meanwhile: shared.done.load(Ordering::Relaxed) - before,
    });
    progress(&shared, phase, say).await;

    cluster.restart(old)?;
    say(DemoEvent::Restarted(old));
    progress(&shared, Duration::from_secs(1), say).await;
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
    say(DemoEvent::CaughtUp {
        node: old,
        slot: target,
    });

    let mut rows = Vec::new();
    for &node in &all {
        let state = cluster.state(node).await?;
        rows.push(NodeBalances {
            node,
            balances: state.services.bank.balances(),
        });
    }
    say(DemoEvent::Balances(BalanceTable(rows.clone())));
    let first = &rows[0];
    if let Some(other) = rows.iter().find(|r| r.balances != first.balances) {
        anyhow::bail!("n{}'s balances differ from n{}'s", other.node, first.node);
    }
    let total: u64 = first.balances.iter().map(|(_, b)| b).sum();
    if total != 100 {
        anyhow::bail!("the accounts hold {total} units in all, not 100");
    }
    let history = synod_check::History {
        ops: shared.history.lock().map(|h| h.clone()).unwrap_or_default(),
        final_balances: Some(first.balances.clone()),
        final_orders: None,
        serializable_reads: Vec::new(),
    };
    let anomalies = synod_check::check(&history);
    let (ok, failed, unknown) = (
        shared.ok.load(Ordering::Relaxed),
        shared.failed.load(Ordering::Relaxed),
        shared.unknown.load(Ordering::Relaxed),
    );
    let seconds = (2 * phase + Duration::from_secs(1)).as_secs_f64();
    let h = shared
        .latency
        .lock()
        .map(|h| h.clone())
        .map_err(|_| anyhow::anyhow!("latency lock poisoned"))?;
    say(DemoEvent::Agreed);
    say(DemoEvent::Transfers {
        ok,
        failed,
        unknown,
    });
    say(DemoEvent::Throughput {
        per_second: (ok + failed) as f64 / seconds,
        p50: Duration::from_micros(h.value_at_quantile(0.5)),
        p99: Duration::from_micros(h.value_at_quantile(0.99)),
        nodes: all.len(),
    });
    if !anomalies.is_empty() {
        for a in anomalies {
            say(DemoEvent::Anomaly(a));
        }
        anyhow::bail!("the history of the clients does not match the final balances");
    }
    say(DemoEvent::ExactlyOnce);
    Ok(())
}

/// Reports progress every second for `length`.
async fn progress(shared: &Shared, length: Duration, say: &mut impl FnMut(DemoEvent)) {
    let start = Instant::now();
    let mut last = shared.done.load(Ordering::Relaxed);
    while start.elapsed() < length {
        tokio::time::sleep(Duration::from_secs(1).min(length)).await;
        let done = shared.done.load(Ordering::Relaxed);
        say(DemoEvent::Progress {
            transfers: done,
            last_second: done - last,
        });
        last = done;
    }
}

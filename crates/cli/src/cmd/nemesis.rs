//! `synod nemesis`: faults on a real cluster while clients record a
//! history, then the checkers (synod_tools::nemesis). Faults go to stderr as
//! they strike; the summary is one JSON line on stdout, and the exit code is
//! 1 on any anomaly. With `--partial SCENARIO` the faults are rounds of
//! that partial-connectivity scenario around the leader, and a summary of
//! their recovery times against the bound goes to stderr too.

use crate::cmd::cluster::binary;
use anyhow::Context;
use clap::{Args as ClapArgs, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use synod_check::workload::AppKind;
use synod_tools::nemesis::{Fault, NemesisOptions};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Workload {
    /// Puts, gets, compare-and-sets and deletes; checked for linearizability.
    Kv,
    /// Read-heavy kv: half the operations extra gets, and every get a
    /// linearizable read without a log write (read index); the same
    /// linearizability check.
    KvReads,
    /// Transfers and balance reads; checked that no money is lost or made.
    Bank,
    /// Orders, cancellations and stock reads; checked that every order is
    /// booked exactly once and no stock reading exceeds what exists.
    Inventory,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FaultArg {
    /// No faults: a plain recorded and checked run.
    None,
    /// SIGKILL a node (the leader half the time); it is restarted before
    /// the next fault.
    Kill,
    /// SIGSTOP a node; SIGCONT before the next fault.
    Pause,
    /// Cut links inside the nodes' transport: majority/minority, the leader
    /// isolated, one-way, bridge.
    Partition,
    /// SIGKILL a node and restart it at once.
    Restart,
    /// Change the membership (`synod cluster add | promote | remove`):
    /// grow by a new node (added as a learner, then promoted), remove a
    /// node added so (the leader, if it leads), or replace a node of the
    /// cluster by a new one under a new id.
    Membership,
}

#[derive(ClapArgs)]
pub struct Args {
    /// Nodes in the cluster it starts.
    #[arg(long, default_value_t = 5)]
    nodes: usize,
    /// Use this running cluster instead of starting one (then only
    /// partition faults, or none: processes are not ours to kill).
    #[arg(long)]
    cluster: Option<PathBuf>,
    /// How long faults strike (healing and the final read come after).
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// Fault kinds to strike with, comma separated (or `none`); default
    /// kill,pause,partition,restart.
    #[arg(long, value_delimiter = ',')]
    faults: Option<Vec<FaultArg>>,
    /// Instead of faults, rounds of one partial-connectivity scenario
    /// (quorum-loss, constrained-election, chained, bridge) placed around
    /// the leader: cut, held, healed, settled, again until --seconds ends;
    /// each timed from the cuts to the first command sent after them
    /// completing, against the scenario's recovery bound.
    #[arg(long, value_name = "SCENARIO")]
    partial: Option<String>,
    /// The application the clients use, and whose checker reads the history.
    #[arg(long, value_enum, default_value_t = Workload::Kv)]
    workload: Workload,
    /// Concurrent clients recording the history.
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// Seeds the fault schedule and the clients' commands.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Write the recorded history here (JSON), for `synod check`.
    #[arg(long)]
    history: Option<PathBuf>,
    /// Keep the cluster directory (node logs, data).
    #[arg(long)]
    keep: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let partial = args
        .partial
        .as_deref()
        .map(synod_core::Scenario::parse)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    if partial.is_some() && args.faults.is_some() {
        anyhow::bail!(
            "--partial holds its scenario alone, in place of the fault schedule: give --partial or --faults, not both"
        );
    }
    let faults = match (&args.faults, partial) {
        (Some(f), _) => f.iter().map(|f| f.fault()).collect(),
        (None, Some(_)) => Vec::new(),
        (None, None) => vec![Fault::Kill, Fault::Pause, Fault::Partition, Fault::Restart],
    };
    let options = NemesisOptions {
        binary: binary()?,
        nodes: args.nodes,
        cluster: args
            .cluster
            .as_deref()
            .map(synod_node::ClusterFile::load)
            .transpose()?,
        duration: Duration::from_secs(args.seconds),
        faults,
        partial,
        workload: match args.workload {
            Workload::Kv | Workload::KvReads => AppKind::Kv,
            Workload::Bank => AppKind::Bank,
            Workload::Inventory => AppKind::Inventory,
        },
        reads: args.workload == Workload::KvReads,
        clients: args.clients,
        seed: args.seed,
        keep: args.keep,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let report = rt.block_on(synod_tools::nemesis::run(&options, &mut |at, event| {
        eprintln!("[{:>6.2}s] {event}", at.as_secs_f64());
    }))?;
    for a in &report.anomalies {
        eprintln!("ANOMALY: {a}");
    }
    if let Some(p) = &report.summary.partial {
        print_partial(p);
    }
    if let Some(dir) = &report.kept {
        eprintln!("cluster directory kept: {}", dir.display());
    }
    if let Some(path) = &args.history {
        std::fs::write(path, serde_json::to_string(&report.history)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    // As a JSON value, whose keys print sorted, as the line always has.
    println!("{}", serde_json::to_value(&report.summary)?);
    Ok(if report.summary.anomalies == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The rounds of a partial-connectivity scenario, their recoveries and
/// the bound, for people (stderr; the JSON line has the same figures).
fn print_partial(p: &synod_tools::nemesis::PartialSummary) {
    eprintln!(
        "partial connectivity: {}, {} round(s) held {:.0} ms each{}",
        p.scenario,
        p.rounds,
        p.hold_ms,
        if p.failed_rounds > 0 {
            format!(
                ", {} given up (a node did not take its cut)",
                p.failed_rounds
            )
        } else {
            String::new()
        }
    );
    let each: Vec<String> = p.recovery_ms.iter().map(|t| format!("{t:.1}")).collect();
    eprintln!("  recovery (ms, per round): {}", each.join(", "));
    eprintln!(
        "  median {:.1} ms, max {:.1} ms; {} round(s) not recovered under the cut",
        p.median_recovery_ms, p.max_recovery_ms, p.not_recovered_under_cut
    );
    eprintln!(
        "  bound {:.1} ms (recovery_bound for this cluster's timers; δ = {} ms, π = {} ms, τ = {} ms, T_c = {} ms, the clients' retry timeout):",
        p.bound_ms, p.delay_ms, p.processing_ms, p.tick_ms, p.client_timeout_ms
    );
    for (name, t) in &p.bound_terms_ms {
        eprintln!("    {name:<30} {t:>8.1} ms");
    }
    eprintln!(
        "  {}",
        if p.within_bound {
            "every round recovered under its cut, within the bound"
        } else {
            "NOT within the bound (a figure on a shared machine, not a check)"
        }
    );
}

impl FaultArg {
    fn fault(self) -> Fault {
        match self {
            FaultArg::None => Fault::None,
            FaultArg::Kill => Fault::Kill,
            FaultArg::Pause => Fault::Pause,
            FaultArg::Partition => Fault::Partition,
            FaultArg::Restart => Fault::Restart,
            FaultArg::Membership => Fault::Membership,
        }
    }
}

//! `synod`: the one command line tool. Each subcommand lives in its own
//! module under `cmd/`: its arguments, a call into the library that does the
//! work (synod-tools, synod-sim, synod-node), and the printing. None of them
//! holds protocol or engine logic.

mod cmd;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "synod", version, about = "A Multi-Paxos replicated state machine", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start a 5-node local cluster, load it, kill its leader, and check it survived.
    Demo(cmd::demo::Args),
    /// Run one node.
    Node(cmd::node::Args),
    /// Manage a local cluster of node processes (up, down, kill, pause, resume, restart).
    Cluster(cmd::cluster::Args),
    /// Run one bank, inventory or kv command.
    Client(cmd::client::Args),
    /// Ask the nodes what they know (status, db, log, slot, view).
    Admin(cmd::admin::Args),
    /// The interactive order desk on the replicated inventory.
    Desk(cmd::desk::Args),
    /// Run bank test sets (scenarios/) against a local cluster.
    Scenario(cmd::scenario::Args),
    /// Attack a real local cluster with faults while clients record a history, then check it.
    Nemesis(cmd::nemesis::Args),
    /// Re-check a history saved by `synod nemesis --history`.
    Check(cmd::check::Args),
    /// A live web view of a cluster, with fault-injection buttons where its file allows.
    Dashboard(cmd::dashboard::Args),
    /// Closed-loop load with latency percentiles.
    Bench(cmd::bench::Args),
    /// The cluster file: print an example, check one.
    Config(cmd::config::Args),
    /// Run seeded simulations of whole clusters under faults and check every invariant.
    Sim(cmd::sim::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(args) => cmd::demo::run(args),
        Command::Node(args) => cmd::node::run(args),
        Command::Cluster(args) => cmd::cluster::run(args),
        Command::Client(args) => cmd::client::run(args),
        Command::Admin(args) => cmd::admin::run(args),
        Command::Desk(args) => cmd::desk::run(args),
        Command::Scenario(args) => cmd::scenario::run(args),
        Command::Nemesis(args) => cmd::nemesis::run(args),
        Command::Check(args) => cmd::check::run(args),
        Command::Bench(args) => cmd::bench::run(args),
        Command::Dashboard(args) => cmd::dashboard::run(args),
        Command::Config(args) => cmd::config::run(args),
        Command::Sim(args) => cmd::sim::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("synod: {e:#}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json_flag(line: &str) -> bool {
        match Cli::try_parse_from(line.split_whitespace()).map(|cli| cli.command) {
            Ok(Command::Admin(a)) => a.json,
            Ok(Command::Client(c)) => c.json,
            Ok(_) => panic!("{line}: parsed as another command"),
            Err(e) => panic!("{line}: refused: {e}"),
        }
    }

    #[test]
    fn json_is_accepted_before_or_after_the_subcommand() {
        for line in [
            "synod admin --cluster c.toml --json status",
            "synod admin --cluster c.toml status --json",
            "synod client --cluster c.toml kv get k --json",
            "synod client --json --cluster c.toml kv get k",
        ] {
            assert!(json_flag(line), "{line}");
        }
        assert!(!json_flag("synod admin --cluster c.toml status"));
    }
}

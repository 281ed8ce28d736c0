//! `synod`: the one command line tool. Each subcommand lives in its own
//! module under `cmd/`: its arguments, a call into the library that does the
//! work (synod-tools, synod-sim, synod-node), and the printing. None of them
//! holds protocol or engine logic.

mod cmd;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Write a cluster's certificates (CA, nodes, admin, client) where its [tls] says.
    Certs(cmd::certs::Args),
    /// The cluster file: print an example, check one.
    Config(cmd::config::Args),
    /// Run seeded simulations of whole clusters under faults and check every invariant.
    Sim(cmd::sim::Args),
}

/// For commands that start node processes (which run in process groups of
/// their own and would outlive us): on SIGINT, SIGTERM or SIGHUP, stop them
/// and exit with the shell's code for the signal; when our output pipe
/// closes (`synod demo | head -1`), stop them and end quietly (141, as if
/// killed by SIGPIPE) instead of panicking.
fn stop_nodes_when_interrupted() {
    // The handlers are installed here, before the command starts, so a
    // signal that comes at once (right after the first line) is caught too.
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    let signals = {
        let _context = runtime.enter();
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
        )
    };
    let (Ok(mut int), Ok(mut term), Ok(mut hup)) = signals else {
        return;
    };
    std::thread::spawn(move || {
        let code = runtime.block_on(async {
            tokio::select! {
                _ = int.recv() => 130,
                _ = term.recv() => 143,
                _ = hup.recv() => 129,
            }
        });
        for line in synod_tools::local::stop_every_cluster() {
            eprintln!("synod: interrupted: {line}");
        }
        std::process::exit(code);
    });
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.contains("Broken pipe") {
            synod_tools::local::stop_every_cluster();
            std::process::exit(141);
        }
        default(info);
    }));
}

/// Turns transparent huge pages off for this process (and the node
/// processes it starts, which inherit the setting). The allocator asks for
/// huge pages on its arenas and hands memory back to the system after a
/// second unused; each fault on a region handed back then zeroes (and may
/// first compact memory for) a whole 2 MiB page while a request waits.
/// Under a load of puts that was 7% of the machine's CPU, and the p99 of
/// a 3-node cluster fell from 25.6 to 15.6 ms without it
/// (docs/performance.md). Best effort: a kernel without the setting runs
/// as before.
fn small_pages_only() {
    #[cfg(target_os = "linux")]
    if let Err(e) = rustix::thread::disable_transparent_huge_pages(true) {
        eprintln!("synod: could not turn transparent huge pages off ({e}); running with them");
    }
}

fn main() -> ExitCode {
    small_pages_only();
    let cli = Cli::parse();
    if matches!(
        cli.command,
        Command::Demo(_)
            | Command::Cluster(_)
            | Command::Scenario(_)
            | Command::Nemesis(_)
            | Command::Bench(_)
            | Command::Desk(_)
            | Command::Dashboard(_)
    ) {
        stop_nodes_when_interrupted();
    }
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
        Command::Certs(args) => cmd::certs::run(args),
        Command::Sim(args) => cmd::sim::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("synod: {e:#}");
            if e.downcast_ref::<cmd::Unreachable>().is_some() {
                ExitCode::from(4)
            } else {
                ExitCode::from(2)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What in `command` (and every subcommand under it, named by `path`)
    /// has no help text.
    fn without_help(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
        for arg in command.get_arguments() {
            let id = arg.get_id().as_str();
            if id == "help" || id == "version" {
                continue;
            }
            if arg.get_help().is_none() && arg.get_long_help().is_none() {
                missing.push(format!("{path}: argument {id}"));
            }
            // The values of an enumerated argument say what each one does.
            if arg.get_action().takes_values() {
                for value in arg.get_possible_values() {
                    if value.get_help().is_none() && !value.is_hide_set() {
                        missing.push(format!("{path}: argument {id}, value {}", value.get_name()));
                    }
                }
            }
        }
        for sub in command.get_subcommands() {
            let name = format!("{path} {}", sub.get_name());
            if sub.get_about().is_none() && sub.get_long_about().is_none() {
                missing.push(format!("{name}: no description"));
            }
            without_help(sub, &name, missing);
        }
    }

    #[test]
    fn every_argument_and_subcommand_has_help() {
        use clap::CommandFactory;
        let mut missing = Vec::new();
        without_help(&Cli::command(), "synod", &mut missing);
        assert!(
            missing.is_empty(),
            "without help text:\n  {}",
            missing.join("\n  ")
        );
    }

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

//! `synod`: the one command line tool. Each subcommand lives in its own
//! module under `cmd/`; none of them holds protocol logic.

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
    /// Run seeded simulations of whole clusters under faults and check every invariant.
    Sim(cmd::sim::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
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

//! The scenario runner: bank test sets from a CSV file against a local
//! cluster and the ten clients A..J, each set with some nodes cut off.
//!
//! - `sets.rs`: the file's format and its parser;
//! - `runner.rs`: the cluster, the clients, and how a set runs;
//! - `report.rs`: what a set, a transaction and the run report;
//! - `prompt.rs`: the words a person types between sets.

mod prompt;
mod report;
mod runner;
mod sets;

pub use prompt::{PROMPT_COMMANDS, PromptCommand};
pub use report::{
    Balances, Committed, FinalReport, LatencySummary, LeaderFailure, NewView, NodeBalances, Perf,
    SetLatency, SetReport, TxRecord, word,
};
pub use runner::{Scenario, ScenarioOptions};
pub use sets::{Set, Step, Tx, parse};

//! Seed C's bank: accounts A..J with 10 units each by default.
//!
//! A transfer with insufficient balance is still committed and executed; its
//! result is a failure the client must not retry.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BankOp {
    Transfer { from: String, to: String, amount: u64 },
    Balance { account: String },
    /// Every account and its balance (PrintDB).
    Balances,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BankResult {
    Transferred,
    /// The transfer was executed but moved nothing; the reason says why
    /// (insufficient balance, unknown account, zero amount, same account).
    Failed(String),
    Balance(u64),
    Balances(Vec<(String, u64)>),
}

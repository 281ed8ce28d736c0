//! Seed C's bank: accounts A..J with 10 units each by default.
//!
//! A transfer with insufficient balance is still committed and executed; its
//! result is a failure the client must not retry. Money is only ever moved,
//! so the total over all accounts never changes (the simulator checks it).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// The accounts of seed C's test sets.
pub const DEFAULT_ACCOUNTS: [&str; 10] = ["A", "B", "C", "D", "E", "F", "G", "H", "I", "J"];
/// Every account's opening balance.
pub const DEFAULT_BALANCE: u64 = 10;

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BankOp {
    Transfer {
        from: String,
        to: String,
        amount: u64,
    },
    Balance {
        account: String,
    },
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

impl fmt::Display for BankResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BankResult::Transferred => write!(f, "success"),
            BankResult::Failed(why) => write!(f, "failed: {why}"),
            BankResult::Balance(b) => write!(f, "{b}"),
            BankResult::Balances(all) => {
                let parts: Vec<String> = all.iter().map(|(a, b)| format!("{a}={b}")).collect();
                write!(f, "{}", parts.join(" "))
            }
        }
    }
}

/// The accounts and their balances.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bank {
    accounts: BTreeMap<String, u64>,
}

impl Default for Bank {
    fn default() -> Self {
        Bank::with_accounts(
            DEFAULT_ACCOUNTS
                .iter()
                .map(|a| (a.to_string(), DEFAULT_BALANCE)),
        )
    }
}

impl Bank {
    /// Accounts held.
    pub fn len(&self) -> usize {
        self.accounts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
    }

    pub fn with_accounts(accounts: impl IntoIterator<Item = (String, u64)>) -> Self {
        Bank {
            accounts: accounts.into_iter().collect(),
        }
    }

    pub fn apply(&mut self, op: &BankOp) -> BankResult {
        match op {
            BankOp::Transfer { from, to, amount } => match self.transfer(from, to, *amount) {
                Ok(()) => BankResult::Transferred,
                Err(why) => BankResult::Failed(why),
            },
            BankOp::Balance { account } => match self.accounts.get(account) {
                Some(b) => BankResult::Balance(*b),
                None => BankResult::Failed(format!("no account {account}")),
            },
            BankOp::Balances => BankResult::Balances(self.balances()),
        }
    }

    fn transfer(&mut self, from: &str, to: &str, amount: u64) -> Result<(), String> {
        let have = *self
            .accounts
            .get(from)
            .ok_or_else(|| format!("no account {from}"))?;
        if !self.accounts.contains_key(to) {
            return Err(format!("no account {to}"));
        }
        if from == to {
            return Err("sender and receiver are the same account".into());
        }
        if amount == 0 {
            return Err("amount must be positive".into());
        }
        if have < amount {
            return Err(format!(
                "insufficient balance ({from} has {have}, needs {amount})"
            ));
        }
        // Both accounts exist (checked above).
        if let Some(b) = self.accounts.get_mut(from) {
            *b -= amount;
        }
        if let Some(b) = self.accounts.get_mut(to) {
            *b += amount;
        }
        Ok(())
    }

    pub fn balance(&self, account: &str) -> Option<u64> {
        self.accounts.get(account).copied()
    }

    pub fn balances(&self) -> Vec<(String, u64)> {
        self.accounts.iter().map(|(a, b)| (a.clone(), *b)).collect()
    }

    /// The money in the bank: constant under every sequence of operations.
    pub fn total(&self) -> u64 {
        self.accounts.values().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transfer(from: &str, to: &str, amount: u64) -> BankOp {
        BankOp::Transfer {
            from: from.into(),
            to: to.into(),
            amount,
        }
    }

    #[test]
    fn transfers_move_money_and_overdrafts_fail_without_effect() {
        let mut bank = Bank::default();
        assert_eq!(bank.apply(&transfer("A", "J", 3)), BankResult::Transferred);
        assert_eq!(bank.balance("A"), Some(7));
        assert_eq!(bank.balance("J"), Some(13));
        match bank.apply(&transfer("A", "B", 8)) {
            BankResult::Failed(why) => assert!(why.contains("insufficient"), "{why}"),
            other => panic!("expected failure, got {other:?}"),
        }
        assert_eq!(bank.balance("A"), Some(7));
        assert_eq!(bank.total(), 100);
    }

    #[test]
    fn bad_transfers_are_rejected_with_a_reason() {
        let mut bank = Bank::default();
        for op in [
            transfer("Z", "A", 1),
            transfer("A", "Z", 1),
            transfer("A", "A", 1),
            transfer("A", "B", 0),
        ] {
            assert!(matches!(bank.apply(&op), BankResult::Failed(_)), "{op:?}");
        }
        assert_eq!(bank, Bank::default());
        assert_eq!(
            bank.apply(&BankOp::Balance {
                account: "Q".into()
            }),
            BankResult::Failed("no account Q".into())
        );
    }
}

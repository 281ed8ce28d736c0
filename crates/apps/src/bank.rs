//! The bank of the scenario runner's test sets: accounts A..J with 10 units
//! each by default.
//!
//! A transfer with insufficient balance is still committed and executed; its
//! result is a typed failure ([`BankFailure`]) the client must not retry. Money is only ever moved,
//! so the total over all accounts never changes (the simulator checks it).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// The accounts of the test sets (`scenarios/`), one per client A..J.
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
    /// The operation was executed but moved nothing; the reason says why.
    Failed(BankFailure),
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

/// Why the bank refused an operation. Its text is what clients print after
/// "failed: ".
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BankFailure {
    NoAccount {
        account: String,
    },
    SameAccount,
    ZeroAmount,
    InsufficientBalance {
        account: String,
        have: u64,
        need: u64,
    },
}

impl fmt::Display for BankFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BankFailure::NoAccount { account } => write!(f, "no account {account}"),
            BankFailure::SameAccount => write!(f, "sender and receiver are the same account"),
            BankFailure::ZeroAmount => write!(f, "amount must be positive"),
            BankFailure::InsufficientBalance {
                account,
                have,
                need,
            } => write!(
                f,
                "insufficient balance ({account} has {have}, needs {need})"
            ),
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
            BankOp::Balance { account } => self.balance_of(account),
            BankOp::Balances => BankResult::Balances(self.balances()),
        }
    }

    /// Answers a read-only operation without changing anything; `None` for
    /// a transfer.
    pub fn read(&self, op: &BankOp) -> Option<BankResult> {
        match op {
            BankOp::Transfer { .. } => None,
            BankOp::Balance { account } => Some(self.balance_of(account)),
            BankOp::Balances => Some(BankResult::Balances(self.balances())),
        }
    }

    fn balance_of(&self, account: &str) -> BankResult {
        match self.accounts.get(account) {
            Some(b) => BankResult::Balance(*b),
            None => BankResult::Failed(BankFailure::NoAccount {
                account: account.into(),
            }),
        }
    }

    fn transfer(&mut self, from: &str, to: &str, amount: u64) -> Result<(), BankFailure> {
        let no_account = |account: &str| BankFailure::NoAccount {
            account: account.into(),
        };
        let have = *self.accounts.get(from).ok_or_else(|| no_account(from))?;
        if !self.accounts.contains_key(to) {
            return Err(no_account(to));
        }
        if from == to {
            return Err(BankFailure::SameAccount);
        }
        if amount == 0 {
            return Err(BankFailure::ZeroAmount);
        }
        if have < amount {
            return Err(BankFailure::InsufficientBalance {
                account: from.into(),
                have,
                need: amount,
            });
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
        let overdraft = bank.apply(&transfer("A", "B", 8));
        assert_eq!(
            overdraft,
            BankResult::Failed(BankFailure::InsufficientBalance {
                account: "A".into(),
                have: 7,
                need: 8
            })
        );
        assert_eq!(
            overdraft.to_string(),
            "failed: insufficient balance (A has 7, needs 8)"
        );
        assert_eq!(bank.balance("A"), Some(7));
        assert_eq!(bank.total(), 100);
    }

    #[test]
    fn bad_transfers_are_rejected_with_a_reason() {
        let mut bank = Bank::default();
        for (op, why) in [
            (transfer("Z", "A", 1), "no account Z"),
            (transfer("A", "Z", 1), "no account Z"),
            (
                transfer("A", "A", 1),
                "sender and receiver are the same account",
            ),
            (transfer("A", "B", 0), "amount must be positive"),
        ] {
            match bank.apply(&op) {
                BankResult::Failed(failure) => assert_eq!(failure.to_string(), why, "{op:?}"),
                other => panic!("{op:?} answered {other:?}"),
            }
        }
        assert_eq!(bank, Bank::default());
        assert_eq!(
            bank.apply(&BankOp::Balance {
                account: "Q".into()
            }),
            BankResult::Failed(BankFailure::NoAccount {
                account: "Q".into()
            })
        );
    }
}

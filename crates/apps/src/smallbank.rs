//! SmallBank (Alomari et al.; seed C's bonus): customers with a checking and
//! a savings account, and the benchmark's six transaction types. Money
//! enters only through deposits, so the total moves exactly by the deposits
//! and withdrawals that succeeded (checked by the tests).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Every account's opening balance, in cents, in each of its two accounts.
pub const OPENING: i64 = 10_000;

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SmallBankOp {
    /// Checking plus savings of a customer.
    Balance {
        customer: u32,
    },
    DepositChecking {
        customer: u32,
        amount: i64,
    },
    /// Add `amount` (possibly negative) to savings; fails if that would
    /// leave savings negative.
    TransactSavings {
        customer: u32,
        amount: i64,
    },
    /// Move all of `from`'s money into `to`'s checking.
    Amalgamate {
        from: u32,
        to: u32,
    },
    /// Cash a check against checking; overdrawing costs a 1.00 penalty.
    WriteCheck {
        customer: u32,
        amount: i64,
    },
    /// Move `amount` from one checking account to another, if covered.
    SendPayment {
        from: u32,
        to: u32,
        amount: i64,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SmallBankResult {
    Ok,
    Balance(i64),
    Failed(String),
}

impl fmt::Display for SmallBankResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SmallBankResult::Ok => write!(f, "ok"),
            SmallBankResult::Balance(b) => write!(f, "{b}"),
            SmallBankResult::Failed(why) => write!(f, "failed: {why}"),
        }
    }
}

/// Customers 0..n, created on first use with the opening balances.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmallBank {
    /// customer -> (checking, savings)
    accounts: BTreeMap<u32, (i64, i64)>,
}

impl SmallBank {
    /// Customers with an account.
    pub fn len(&self) -> usize {
        self.accounts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
    }

    fn account(&mut self, customer: u32) -> &mut (i64, i64) {
        self.accounts.entry(customer).or_insert((OPENING, OPENING))
    }

    pub fn apply(&mut self, op: &SmallBankOp) -> SmallBankResult {
        match *op {
            SmallBankOp::Balance { customer } => {
                let (c, s) = *self.account(customer);
                SmallBankResult::Balance(c + s)
            }
            SmallBankOp::DepositChecking { customer, amount } => {
                if amount < 0 {
                    return SmallBankResult::Failed("a deposit must not be negative".into());
                }
                self.account(customer).0 += amount;
                SmallBankResult::Ok
            }
            SmallBankOp::TransactSavings { customer, amount } => {
                let a = self.account(customer);
                if a.1 + amount < 0 {
                    return SmallBankResult::Failed("savings would go negative".into());
                }
                a.1 += amount;
                SmallBankResult::Ok
            }
            SmallBankOp::Amalgamate { from, to } => {
                if from == to {
                    return SmallBankResult::Failed(
                        "cannot amalgamate an account into itself".into(),
                    );
                }
                let a = self.account(from);
                let total = a.0 + a.1;
                *a = (0, 0);
                self.account(to).0 += total;
                SmallBankResult::Ok
            }
            SmallBankOp::WriteCheck { customer, amount } => {
                let a = self.account(customer);
                let penalty = if a.0 + a.1 < amount { 100 } else { 0 };
                a.0 -= amount + penalty;
                SmallBankResult::Ok
            }
            SmallBankOp::SendPayment { from, to, amount } => {
                if from == to || amount < 0 {
                    return SmallBankResult::Failed("bad payment".into());
                }
                if self.account(from).0 < amount {
                    return SmallBankResult::Failed("insufficient checking balance".into());
                }
                self.account(from).0 -= amount;
                self.account(to).0 += amount;
                SmallBankResult::Ok
            }
        }
    }

    /// All money held, checking and savings.
    pub fn total(&self) -> i64 {
        self.accounts.values().map(|(c, s)| c + s).sum()
    }

    pub fn customers(&self) -> usize {
        self.accounts.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_six_transactions_move_money_as_the_benchmark_defines() {
        let mut b = SmallBank::default();
        assert_eq!(
            b.apply(&SmallBankOp::Balance { customer: 1 }),
            SmallBankResult::Balance(2 * OPENING)
        );
        assert_eq!(
            b.apply(&SmallBankOp::DepositChecking {
                customer: 1,
                amount: 500
            }),
            SmallBankResult::Ok
        );
        assert!(matches!(
            b.apply(&SmallBankOp::TransactSavings {
                customer: 1,
                amount: -OPENING - 1
            }),
            SmallBankResult::Failed(_)
        ));
        assert_eq!(
            b.apply(&SmallBankOp::SendPayment {
                from: 1,
                to: 2,
                amount: 500
            }),
            SmallBankResult::Ok
        );
        assert_eq!(
            b.apply(&SmallBankOp::Amalgamate { from: 2, to: 3 }),
            SmallBankResult::Ok
        );
        assert_eq!(
            b.apply(&SmallBankOp::Balance { customer: 2 }),
            SmallBankResult::Balance(0)
        );
        // Three customers, 500 deposited; payments and amalgamation move money only.
        assert_eq!(b.total(), 6 * OPENING + 500);
        // An overdrawn check costs a penalty.
        b.apply(&SmallBankOp::WriteCheck {
            customer: 2,
            amount: 10,
        });
        assert_eq!(
            b.apply(&SmallBankOp::Balance { customer: 2 }),
            SmallBankResult::Balance(-110)
        );
    }
}

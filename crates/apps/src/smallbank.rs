//! SmallBank (Alomari et al.), the benchmark workload: customers with a checking and
//! a savings account, and the benchmark's six transaction types. Money
//! enters only through deposits, so the total moves exactly by the deposits
//! and withdrawals that succeeded (checked by the tests).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

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
    /// Executed, and refused: nothing moved.
    Failed(SmallBankFailure),
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

/// Why SmallBank refused a transaction.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SmallBankFailure {
    NegativeDeposit,
    /// Savings hold `savings`; adding `amount` would leave them negative.
    SavingsWouldGoNegative {
        savings: i64,
        amount: i64,
    },
    AmalgamateIntoItself,
    /// A payment to the payer itself, or of a negative amount.
    BadPayment,
    InsufficientChecking {
        have: i64,
        need: i64,
    },
}

impl fmt::Display for SmallBankFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SmallBankFailure::NegativeDeposit => write!(f, "a deposit must not be negative"),
            SmallBankFailure::SavingsWouldGoNegative { .. } => {
                write!(f, "savings would go negative")
            }
            SmallBankFailure::AmalgamateIntoItself => {
                write!(f, "cannot amalgamate an account into itself")
            }
            SmallBankFailure::BadPayment => write!(f, "bad payment"),
            SmallBankFailure::InsufficientChecking { .. } => {
                write!(f, "insufficient checking balance")
            }
        }
    }
}

/// One customer's two accounts, in cents. (Encoded as the pair it once
/// was: snapshots taken before the fields had names still restore.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Accounts {
    checking: i64,
    savings: i64,
}

impl Accounts {
    const OPENED: Accounts = Accounts {
        checking: OPENING,
        savings: OPENING,
    };

    fn total(&self) -> i64 {
        self.checking + self.savings
    }
}

/// Customers 0..n, created on first use with the opening balances.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmallBank {
    /// Shared with a checkpoint's copy until the next change.
    accounts: Arc<BTreeMap<u32, Accounts>>,
}

impl SmallBank {
    /// Customers with an account.
    pub fn len(&self) -> usize {
        self.accounts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
    }

    fn account(&mut self, customer: u32) -> &mut Accounts {
        Arc::make_mut(&mut self.accounts)
            .entry(customer)
            .or_insert(Accounts::OPENED)
    }

    pub fn apply(&mut self, op: &SmallBankOp) -> SmallBankResult {
        match *op {
            SmallBankOp::Balance { customer } => {
                SmallBankResult::Balance(self.account(customer).total())
            }
            SmallBankOp::DepositChecking { customer, amount } => {
                if amount < 0 {
                    return SmallBankResult::Failed(SmallBankFailure::NegativeDeposit);
                }
                self.account(customer).checking += amount;
                SmallBankResult::Ok
            }
            SmallBankOp::TransactSavings { customer, amount } => {
                let a = self.account(customer);
                if a.savings + amount < 0 {
                    return SmallBankResult::Failed(SmallBankFailure::SavingsWouldGoNegative {
                        savings: a.savings,
                        amount,
                    });
                }
                a.savings += amount;
                SmallBankResult::Ok
            }
            SmallBankOp::Amalgamate { from, to } => {
                if from == to {
                    return SmallBankResult::Failed(SmallBankFailure::AmalgamateIntoItself);
                }
                let a = self.account(from);
                let total = a.total();
                *a = Accounts {
                    checking: 0,
                    savings: 0,
                };
                self.account(to).checking += total;
                SmallBankResult::Ok
            }
            SmallBankOp::WriteCheck { customer, amount } => {
                let a = self.account(customer);
                let penalty = if a.total() < amount { 100 } else { 0 };
                a.checking -= amount + penalty;
                SmallBankResult::Ok
            }
            SmallBankOp::SendPayment { from, to, amount } => {
                if from == to || amount < 0 {
                    return SmallBankResult::Failed(SmallBankFailure::BadPayment);
                }
                let have = self.account(from).checking;
                if have < amount {
                    return SmallBankResult::Failed(SmallBankFailure::InsufficientChecking {
                        have,
                        need: amount,
                    });
                }
                self.account(from).checking -= amount;
                self.account(to).checking += amount;
                SmallBankResult::Ok
            }
        }
    }

    /// All money held, checking and savings.
    pub fn total(&self) -> i64 {
        self.accounts.values().map(Accounts::total).sum()
    }

    pub fn customers(&self) -> usize {
        self.accounts.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_accounts_encode_as_the_pair_they_were() {
        let named = Accounts {
            checking: 1,
            savings: -2,
        };
        assert_eq!(
            postcard::to_stdvec(&named).unwrap(),
            postcard::to_stdvec(&(1i64, -2i64)).unwrap()
        );
    }

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
        let overdrawn = b.apply(&SmallBankOp::TransactSavings {
            customer: 1,
            amount: -OPENING - 1,
        });
        assert_eq!(
            overdrawn,
            SmallBankResult::Failed(SmallBankFailure::SavingsWouldGoNegative {
                savings: OPENING,
                amount: -OPENING - 1
            })
        );
        assert_eq!(overdrawn.to_string(), "failed: savings would go negative");
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

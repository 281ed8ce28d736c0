//! What the load generator's clients send: throughput workloads, unlike
//! the checked workload of synod-check (no history is kept here).

use rand::Rng;
use serde::{Serialize, Serializer};
use synod_apps::bank::DEFAULT_ACCOUNTS;
use synod_apps::{BankOp, Command, KvOp, SmallBankOp};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// Puts of the value size on distinct keys.
    Kv,
    /// 90% gets, 10% puts; reads go through the log, so they are linearizable.
    KvRead,
    /// Transfers between the ten accounts.
    Bank,
    /// SmallBank's six transactions over 10,000 customers, 90% of them on
    /// the 100 hottest.
    Smallbank,
}

impl Workload {
    /// The name reports use: "kv", "kvread", "bank", "smallbank".
    pub fn name(self) -> &'static str {
        match self {
            Workload::Kv => "kv",
            Workload::KvRead => "kvread",
            Workload::Bank => "bank",
            Workload::Smallbank => "smallbank",
        }
    }
}

impl Serialize for Workload {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

/// One client's commands: client `client` sends its `seq`-th command.
pub struct ClientLoad {
    pub workload: Workload,
    pub client: usize,
    pub value: Vec<u8>,
}

impl ClientLoad {
    pub fn command(&self, rng: &mut impl Rng, seq: u64) -> Command {
        let n = self.client;
        match self.workload {
            Workload::Kv => Command::Kv(KvOp::Put {
                key: format!("bench-{n}-{}", seq % 1024),
                value: self.value.clone(),
            }),
            Workload::KvRead => {
                let key = format!("bench-{}", rng.random_range(0..10_000));
                if rng.random_bool(0.9) {
                    Command::Kv(KvOp::Get { key })
                } else {
                    Command::Kv(KvOp::Put {
                        key,
                        value: self.value.clone(),
                    })
                }
            }
            Workload::Bank => Command::Bank(BankOp::Transfer {
                from: DEFAULT_ACCOUNTS[n % 10].into(),
                to: DEFAULT_ACCOUNTS[(n + 1 + seq as usize % 9) % 10].into(),
                amount: 1,
            }),
            Workload::Smallbank => {
                let mut customer = || {
                    if rng.random_bool(0.9) {
                        rng.random_range(0..100)
                    } else {
                        rng.random_range(100..10_000)
                    }
                };
                let (a, b) = (customer(), customer());
                let amount = rng.random_range(1..500);
                Command::SmallBank(match rng.random_range(0..6) {
                    0 => SmallBankOp::Balance { customer: a },
                    1 => SmallBankOp::DepositChecking {
                        customer: a,
                        amount,
                    },
                    2 => SmallBankOp::TransactSavings {
                        customer: a,
                        amount,
                    },
                    3 => SmallBankOp::Amalgamate { from: a, to: b },
                    4 => SmallBankOp::WriteCheck {
                        customer: a,
                        amount,
                    },
                    _ => SmallBankOp::SendPayment {
                        from: a,
                        to: b,
                        amount,
                    },
                })
            }
        }
    }
}

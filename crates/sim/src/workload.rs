//! The simulated clients: each runs the sans-IO client of synod-core, one
//! request at a time, drawing commands for its application from its own
//! seeded generator, and records every operation for the history checkers.

use rand::Rng;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use synod_apps::{BankOp, Command, InventoryOp, KvOp, KvResult, Outcome};
use synod_core::{Client, ClientConfig, ClientId, NodeId, Time};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum AppKind {
    Kv,
    Bank,
    Inventory,
}

/// One finished (or abandoned) operation of a client.
#[derive(Clone, Debug)]
pub struct Record {
    pub client: ClientId,
    pub kind: AppKind,
    pub invoke: Time,
    /// `None`: the outcome is unknown (the client gave up).
    pub complete: Option<Time>,
    pub command: Command,
    pub outcome: Option<Outcome>,
    /// Submitted after healing to check liveness.
    pub probe: bool,
}

#[derive(Debug)]
pub struct Pending {
    pub command: Command,
    pub invoke: Time,
    pub probe: bool,
}

pub const KV_KEYS: [&str; 5] = ["k0", "k1", "k2", "k3", "k4"];
pub const ACCOUNTS: [&str; 10] = ["A", "B", "C", "D", "E", "F", "G", "H", "I", "J"];

pub struct SimClient {
    pub kind: AppKind,
    pub core: Client,
    pub pending: Option<Pending>,
    rng: ChaCha8Rng,
    seq: u64,
    /// The last value this client saw per key, to aim its compare-and-sets.
    seen: BTreeMap<String, Option<Vec<u8>>>,
    orders: Vec<String>,
}

impl SimClient {
    pub fn new(
        id: ClientId,
        kind: AppKind,
        nodes: Vec<NodeId>,
        timeout: Time,
        attempts: u32,
        seed: u64,
    ) -> Self {
        SimClient {
            kind,
            core: Client::new(ClientConfig {
                id,
                nodes,
                timeout,
                max_attempts: attempts,
            }),
            pending: None,
            rng: ChaCha8Rng::seed_from_u64(seed),
            seq: 0,
            seen: BTreeMap::new(),
            orders: Vec::new(),
        }
    }

    pub fn id(&self) -> ClientId {
        self.core.id()
    }

    pub fn think(&mut self, range: (Time, Time)) -> Time {
        self.rng.random_range(range.0..=range.1)
    }

    /// The next command this client wants to run. Values are unique per
    /// client and sequence number, which makes histories easy to check.
    pub fn next_command(&mut self) -> Command {
        self.seq += 1;
        let unique = format!("{}-{}", self.id(), self.seq).into_bytes();
        let rng = &mut self.rng;
        match self.kind {
            AppKind::Kv => {
                let key = KV_KEYS[rng.random_range(0..KV_KEYS.len())].to_string();
                match rng.random_range(0..100) {
                    0..40 => Command::Kv(KvOp::Put { key, value: unique }),
                    40..75 => Command::Kv(KvOp::Get { key }),
                    75..90 => {
                        let expected = if rng.random_bool(0.8) {
                            self.seen.get(&key).cloned().flatten()
                        } else {
                            None
                        };
                        Command::Kv(KvOp::Cas {
                            key,
                            expected,
                            new: unique,
                        })
                    }
                    _ => Command::Kv(KvOp::Delete { key }),
                }
            }
            AppKind::Bank => {
                if rng.random_bool(0.8) {
                    let from = rng.random_range(0..ACCOUNTS.len());
                    let to = (from + rng.random_range(1..ACCOUNTS.len())) % ACCOUNTS.len();
                    Command::Bank(BankOp::Transfer {
                        from: ACCOUNTS[from].into(),
                        to: ACCOUNTS[to].into(),
                        amount: rng.random_range(1..=6),
                    })
                } else {
                    let account = ACCOUNTS[rng.random_range(0..ACCOUNTS.len())].into();
                    Command::Bank(BankOp::Balance { account })
                }
            }
            AppKind::Inventory => match rng.random_range(0..100) {
                0..60 => {
                    let name = format!("{}-{}", self.core.id(), self.seq);
                    self.orders.push(name.clone());
                    let counts = [
                        rng.random_range(0..=40),
                        rng.random_range(0..=10),
                        rng.random_range(0..=20),
                        rng.random_range(0..=20),
                    ];
                    Command::Inventory(InventoryOp::Order { name, counts })
                }
                60..80 if !self.orders.is_empty() => {
                    let name = self.orders[rng.random_range(0..self.orders.len())].clone();
                    Command::Inventory(InventoryOp::Cancel { name })
                }
                60..90 => Command::Inventory(InventoryOp::Stock),
                _ => Command::Inventory(InventoryOp::Orders),
            },
        }
    }

    /// Learns from a result (the values it read, for later compare-and-sets).
    pub fn observe(&mut self, command: &Command, outcome: &Outcome) {
        if let (Command::Kv(KvOp::Get { key }), Outcome::Kv(KvResult::Value(v))) =
            (command, outcome)
        {
            self.seen.insert(key.clone(), v.clone());
        }
    }
}

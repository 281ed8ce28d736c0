//! The clients' workload, shared by the simulator and the nemesis, so that
//! both exercise the applications alike and the checkers of this crate can
//! rely on what is drawn:
//!
//! - kv: puts, gets, compare-and-sets and deletes over [`KV_KEYS`]. Every
//!   value written is unique (the client's tag and a sequence number), which
//!   lets the linearizability search tell writes apart; most
//!   compare-and-sets expect the last value this client read, so that some
//!   succeed.
//! - bank: transfers of 1..=6 between two distinct accounts A..J, and
//!   balance reads.
//! - inventory: orders under unique names (the inventory checker matches
//!   the book by name), cancels of this client's own orders, stock reads
//!   and, unless left out, reads of the whole order book.
//!
//! A [`ClientWorkload`] holds no randomness of its own: every draw comes
//! from the caller's generator, so a seeded caller draws the same commands
//! for the same seed, and the simulator's think times interleave with them.

use rand::Rng;
use std::collections::BTreeMap;
use synod_apps::bank::DEFAULT_ACCOUNTS;
use synod_apps::{BankOp, Command, InventoryOp, KvOp, KvResult, Outcome};

/// The application a client exercises.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum AppKind {
    Kv,
    Bank,
    Inventory,
}

impl AppKind {
    /// Its name in reports: "kv", "bank" or "inventory".
    pub fn name(self) -> &'static str {
        match self {
            AppKind::Kv => "kv",
            AppKind::Bank => "bank",
            AppKind::Inventory => "inventory",
        }
    }
}

/// The keys the kv workload uses (and the final read covers).
pub const KV_KEYS: [&str; 5] = ["k0", "k1", "k2", "k3", "k4"];

/// One client's command stream.
#[derive(Clone, Debug)]
pub struct ClientWorkload {
    kind: AppKind,
    /// Unique among the clients of a history: it makes values and order
    /// names unique.
    tag: String,
    seq: u64,
    /// The last value this client saw per key, to aim its compare-and-sets.
    seen: BTreeMap<String, Option<Vec<u8>>>,
    /// The names of the orders this client placed, for its cancels.
    orders: Vec<String>,
    order_book_reads: bool,
}

impl ClientWorkload {
    /// A client tagged `tag` (unique among the clients of one history).
    pub fn new(kind: AppKind, tag: impl Into<String>) -> Self {
        ClientWorkload {
            kind,
            tag: tag.into(),
            seq: 0,
            seen: BTreeMap::new(),
            orders: Vec::new(),
            order_book_reads: true,
        }
    }

    /// Reads the stock where it would read the whole order book. A book
    /// read grows with the run, and the history with every one recorded:
    /// fine for the simulator's seconds, not for a nemesis run of minutes.
    pub fn without_order_book_reads(mut self) -> Self {
        self.order_book_reads = false;
        self
    }

    pub fn kind(&self) -> AppKind {
        self.kind
    }

    /// The next command, drawn from `rng`.
    pub fn next_command<R: Rng + ?Sized>(&mut self, rng: &mut R) -> Command {
        self.seq += 1;
        let unique = format!("{}-{}", self.tag, self.seq);
        match self.kind {
            AppKind::Kv => {
                let key = KV_KEYS[rng.random_range(0..KV_KEYS.len())].to_string();
                let value = unique.into_bytes();
                match rng.random_range(0..100) {
                    0..40 => Command::Kv(KvOp::Put { key, value }),
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
                            new: value,
                        })
                    }
                    _ => Command::Kv(KvOp::Delete { key }),
                }
            }
            AppKind::Bank => {
                let accounts = DEFAULT_ACCOUNTS.len();
                if rng.random_bool(0.8) {
                    let from = rng.random_range(0..accounts);
                    let to = (from + rng.random_range(1..accounts)) % accounts;
                    Command::Bank(BankOp::Transfer {
                        from: DEFAULT_ACCOUNTS[from].into(),
                        to: DEFAULT_ACCOUNTS[to].into(),
                        amount: rng.random_range(1..=6),
                    })
                } else {
                    let account = DEFAULT_ACCOUNTS[rng.random_range(0..accounts)].into();
                    Command::Bank(BankOp::Balance { account })
                }
            }
            AppKind::Inventory => match rng.random_range(0..100) {
                0..60 => {
                    self.orders.push(unique.clone());
                    let counts = [
                        rng.random_range(0..=40),
                        rng.random_range(0..=10),
                        rng.random_range(0..=20),
                        rng.random_range(0..=20),
                    ];
                    Command::Inventory(InventoryOp::Order {
                        name: unique,
                        counts,
                    })
                }
                60..80 if !self.orders.is_empty() => {
                    let name = self.orders[rng.random_range(0..self.orders.len())].clone();
                    Command::Inventory(InventoryOp::Cancel { name })
                }
                60..90 => Command::Inventory(InventoryOp::Stock),
                _ if self.order_book_reads => Command::Inventory(InventoryOp::Orders),
                _ => Command::Inventory(InventoryOp::Stock),
            },
        }
    }

    /// Learns from a result: the values read, for later compare-and-sets.
    pub fn observe(&mut self, command: &Command, outcome: &Outcome) {
        if let (Command::Kv(KvOp::Get { key }), Outcome::Kv(KvResult::Value(v))) =
            (command, outcome)
        {
            self.seen.insert(key.clone(), v.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn draw(workload: &mut ClientWorkload, seed: u64, n: usize) -> Vec<Command> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..n).map(|_| workload.next_command(&mut rng)).collect()
    }

    #[test]
    fn a_seed_draws_the_same_commands() {
        for kind in [AppKind::Kv, AppKind::Bank, AppKind::Inventory] {
            let a = draw(&mut ClientWorkload::new(kind, "c1"), 7, 200);
            let b = draw(&mut ClientWorkload::new(kind, "c1"), 7, 200);
            assert_eq!(a, b, "{kind:?}");
            assert_ne!(a, draw(&mut ClientWorkload::new(kind, "c1"), 8, 200));
        }
    }

    #[test]
    fn values_and_order_names_are_unique_and_cancels_name_own_orders() {
        let mut written = std::collections::BTreeSet::new();
        for command in draw(&mut ClientWorkload::new(AppKind::Kv, "c1"), 1, 500) {
            if let Command::Kv(KvOp::Put { value, .. } | KvOp::Cas { new: value, .. }) = command {
                assert!(written.insert(value));
            }
        }
        let mut placed = std::collections::BTreeSet::new();
        for command in draw(&mut ClientWorkload::new(AppKind::Inventory, "c2"), 1, 500) {
            match command {
                Command::Inventory(InventoryOp::Order { name, .. }) => {
                    assert!(name.starts_with("c2-"), "{name}");
                    assert!(placed.insert(name));
                }
                Command::Inventory(InventoryOp::Cancel { name }) => {
                    assert!(placed.contains(&name), "{name}")
                }
                _ => {}
            }
        }
    }

    #[test]
    fn compare_and_sets_aim_at_the_last_value_seen() {
        let mut workload = ClientWorkload::new(AppKind::Kv, "c1");
        for key in KV_KEYS {
            workload.observe(
                &Command::Kv(KvOp::Get { key: key.into() }),
                &Outcome::Kv(KvResult::Value(Some(format!("seen-{key}").into_bytes()))),
            );
        }
        let aimed = draw(&mut workload, 3, 500)
            .into_iter()
            .filter_map(|c| match c {
                Command::Kv(KvOp::Cas { key, expected, .. }) => Some((key, expected)),
                _ => None,
            })
            .filter(|(key, expected)| expected.as_deref() == Some(format!("seen-{key}").as_bytes()))
            .count();
        assert!(aimed > 20, "{aimed} compare-and-sets aimed at a seen value");
    }

    #[test]
    fn book_reads_can_be_left_out() {
        let is_book_read = |c: &Command| matches!(c, Command::Inventory(InventoryOp::Orders));
        let with = draw(&mut ClientWorkload::new(AppKind::Inventory, "c1"), 5, 300);
        assert!(with.iter().any(is_book_read));
        let mut lean = ClientWorkload::new(AppKind::Inventory, "c1").without_order_book_reads();
        let without = draw(&mut lean, 5, 300);
        assert!(!without.iter().any(is_book_read));
        // The same draws otherwise: only the book reads became stock reads.
        assert_eq!(with.len(), without.len());
        for (a, b) in with.iter().zip(&without) {
            if !is_book_read(a) {
                assert_eq!(a, b);
            }
        }
    }
}

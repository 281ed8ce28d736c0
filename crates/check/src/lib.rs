//! Checkers that read what clients saw.
//!
//! A [`History`] is the list of operations clients ran: when each was invoked,
//! when it completed and with which [`Outcome`], or that its outcome is
//! unknown (the client gave up: it may or may not have taken effect). The
//! simulator and the nemesis both record one; [`check`] runs every checker
//! and returns the anomalies found, each naming the checker and the evidence.
//!
//! - [`linearizable`]: kv histories, Wing & Gong's search per key; and
//!   serializable reads, which need only return a value that was written.
//! - [`bank`]: every acknowledged transfer happened exactly once and nothing
//!   else moved money (final balances against the history).
//! - [`inventory`]: every submitted order is on the books exactly once, every
//!   rejected one is not, and stock readings never exceed what exists.
//!
//! [`workload`] draws the commands whose histories these checkers read.

pub mod bank;
pub mod inventory;
pub mod linearizable;
pub mod workload;

use serde::{Deserialize, Serialize};
use synod_apps::{Command, KvOp, KvResult, Outcome, Services};

/// The client of the operations that stand for the final read: no real
/// client has this id.
pub const FINAL_READ_CLIENT: u64 = u64::MAX;

/// One client operation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Op {
    pub client: u64,
    /// When the client sent it (microseconds on one clock shared by all clients).
    pub invoke: u64,
    /// When the result arrived; `None` if the outcome is unknown.
    pub complete: Option<u64>,
    pub command: Command,
    /// `None` exactly when `complete` is `None`.
    pub outcome: Option<Outcome>,
}

/// A recorded history, with the state read from the cluster at the end.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    pub ops: Vec<Op>,
    /// Bank balances read after the run, if the bank was used.
    pub final_balances: Option<Vec<(String, u64)>>,
    /// The order book read after the run, if the inventory was used.
    pub final_orders: Option<Vec<synod_apps::inventory::OrderRecord>>,
    /// Serializable kv reads (answered from one node's state, maybe stale):
    /// not part of the linearizability check, only checked to return a
    /// value some write of the history wrote ([`linearizable::check_serializable`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub serializable_reads: Vec<Op>,
}

impl History {
    /// Adds what one replica holds after the run, read at time `at`: the
    /// bank's balances, the order book, and every key of
    /// [`workload::KV_KEYS`] as a read by [`FINAL_READ_CLIENT`].
    pub fn add_final_state(&mut self, state: &Services, at: u64) {
        self.final_balances = Some(state.bank.balances());
        self.final_orders = Some(state.inventory.orders().to_vec());
        for key in workload::KV_KEYS {
            self.ops.push(Op {
                client: FINAL_READ_CLIENT,
                invoke: at,
                complete: Some(at),
                command: Command::Kv(KvOp::Get { key: key.into() }),
                outcome: Some(Outcome::Kv(KvResult::Value(
                    state.kv.get(key).map(<[u8]>::to_vec),
                ))),
            });
        }
    }
}

/// A violation found in a history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anomaly {
    pub checker: String,
    pub detail: String,
}

impl Anomaly {
    pub fn new(checker: &str, detail: impl Into<String>) -> Self {
        Anomaly {
            checker: checker.to_string(),
            detail: detail.into(),
        }
    }
}

impl std::fmt::Display for Anomaly {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.checker, self.detail)
    }
}

/// Runs every checker on the history.
pub fn check(history: &History) -> Vec<Anomaly> {
    let mut anomalies = linearizable::check_kv(&history.ops);
    anomalies.extend(linearizable::check_serializable(
        &history.ops,
        &history.serializable_reads,
    ));
    if let Some(balances) = &history.final_balances {
        anomalies.extend(bank::check(
            &history.ops,
            &synod_apps::Bank::default().balances(),
            balances,
        ));
    }
    if let Some(orders) = &history.final_orders {
        anomalies.extend(inventory::check(
            &history.ops,
            synod_apps::inventory::DEFAULT_STOCK,
            orders,
        ));
    }
    anomalies
}

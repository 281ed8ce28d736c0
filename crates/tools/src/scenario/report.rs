//! What the scenario runner reports: per set, per transaction, and at the
//! end. Transactions keep what their clients heard as typed results; the
//! words "success", "failed" and "unknown" are only how they read.

use super::sets::Tx;
use std::fmt;
use synod_apps::Outcome;
use synod_node::client::CommandResult;
use synod_node::wire::ViewRecord;

/// How the runner words a result: "success", "failed" or "unknown".
pub fn word<O>(result: &CommandResult<O>) -> &'static str {
    match result {
        CommandResult::Ok(_) => "success",
        CommandResult::Failed(_) => "failed",
        CommandResult::Unknown => "unknown",
    }
}

/// One transaction of a set, and what became of it.
#[derive(Clone, Debug, PartialEq)]
pub struct TxRecord {
    /// The set it belongs to.
    pub set: u32,
    pub tx: Tx,
    /// What its client heard in its own set; unknown if never answered
    /// there (or never tried, behind an unknown one). `None` only while
    /// its set runs and it has not been tried.
    pub first_answer: Option<CommandResult<Outcome>>,
    /// Once executed: in which set, with which outcome.
    pub committed: Option<Committed>,
}

impl TxRecord {
    pub fn committed_in(&self) -> Option<u32> {
        self.committed.as_ref().map(|c| c.set)
    }

    /// The word for its first answer.
    pub fn first_word(&self) -> &'static str {
        self.first_answer.as_ref().map_or("unknown", word)
    }

    /// Why the bank refused it, once executed and refused.
    pub fn refusal(&self) -> Option<String> {
        let committed = self.committed.as_ref()?;
        committed.outcome.refusal().map(|why| why.to_string())
    }
}

/// A transaction executed, in set `set`.
#[derive(Clone, Debug, PartialEq)]
pub struct Committed {
    pub set: u32,
    pub outcome: Outcome,
}

impl Committed {
    /// "success", or "failed" for a refusal.
    pub fn word(&self) -> &'static str {
        if self.outcome.refusal().is_some() {
            "failed"
        } else {
            "success"
        }
    }
}

/// An `LF` row: the leader it cut off, or none (no quorum among `live`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaderFailure {
    pub line: usize,
    pub cut: Option<u32>,
    /// The nodes connected when the row was reached.
    pub live: Vec<u32>,
}

/// A NEW-VIEW a node sent or accepted during a set.
#[derive(Clone, Debug, PartialEq)]
pub struct NewView {
    pub node: u32,
    pub view: ViewRecord,
}

/// A node's bank as read after a set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Balances {
    pub executed: u64,
    /// Every account and its balance, A..J.
    pub accounts: Vec<(String, u64)>,
}

/// One node's balances; `None` if it did not answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeBalances {
    pub node: u32,
    pub balances: Option<Balances>,
}

/// One set, run.
#[derive(Clone, Debug, PartialEq)]
pub struct SetReport {
    pub set: u32,
    /// The nodes the set listed.
    pub live: Vec<u32>,
    /// Those still connected at its end (`LF` cuts leaders off).
    pub live_at_end: Vec<u32>,
    pub leader_failures: Vec<LeaderFailure>,
    pub seconds: f64,
    /// The set's own transactions.
    pub transactions: Vec<TxRecord>,
    /// Transactions of earlier sets that committed in this one.
    pub from_earlier_sets: Vec<TxRecord>,
    pub new_views: Vec<NewView>,
    pub balances: Vec<NodeBalances>,
}

impl SetReport {
    /// The last leader an `LF` row cut off.
    pub fn leader_failed(&self) -> Option<u32> {
        self.leader_failures.iter().rev().find_map(|f| f.cut)
    }

    /// How many of its own transactions were answered in the set.
    pub fn answered(&self) -> usize {
        self.transactions
            .iter()
            .filter(|r| r.first_word() != "unknown")
            .count()
    }
}

/// Every transaction of the run, and the balances at its end.
#[derive(Clone, Debug, PartialEq)]
pub struct FinalReport {
    pub balances: Vec<NodeBalances>,
    pub transactions: Vec<TxRecord>,
}

impl FinalReport {
    /// Transactions whose outcome is still unknown (no quorum since).
    pub fn unresolved(&self) -> usize {
        self.transactions
            .iter()
            .filter(|r| r.committed.is_none())
            .count()
    }
}

/// Latencies of answered transactions.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LatencySummary {
    pub transactions: usize,
    pub mean_seconds: f64,
}

impl fmt::Display for LatencySummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.transactions == 0 {
            return write!(f, "no transactions yet");
        }
        write!(
            f,
            "{} transactions, average latency {:.1} ms",
            self.transactions,
            self.mean_seconds * 1000.0
        )
    }
}

/// The latencies of one set.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SetLatency {
    pub set: u32,
    pub summary: LatencySummary,
}

/// Latencies so far: of the last set with answers, and overall.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Perf {
    pub last_set: Option<SetLatency>,
    pub overall: LatencySummary,
}

#[cfg(test)]
mod tests {
    use super::*;
    use synod_apps::{BankFailure, BankResult};

    fn record(first: Option<CommandResult<Outcome>>, committed: Option<Outcome>) -> TxRecord {
        TxRecord {
            set: 2,
            tx: Tx {
                line: 3,
                from: "E".into(),
                to: "F".into(),
                amount: 15,
            },
            first_answer: first,
            committed: committed.map(|outcome| Committed { set: 2, outcome }),
        }
    }

    #[test]
    fn a_refused_transfer_reads_failed_with_the_banks_reason() {
        let refused = Outcome::Bank(BankResult::Failed(BankFailure::InsufficientBalance {
            account: "E".into(),
            have: 13,
            need: 15,
        }));
        let r = record(
            Some(CommandResult::Failed(refused.clone())),
            Some(refused.clone()),
        );
        assert_eq!(r.first_word(), "failed");
        assert_eq!(
            r.refusal().as_deref(),
            Some("insufficient balance (E has 13, needs 15)")
        );
        assert_eq!(r.committed.as_ref().map(Committed::word), Some("failed"));
    }

    #[test]
    fn an_unanswered_transfer_is_unknown_until_it_commits() {
        let waiting = record(Some(CommandResult::Unknown), None);
        assert_eq!(waiting.first_word(), "unknown");
        assert_eq!(waiting.refusal(), None);
        let never_tried = record(None, None);
        assert_eq!(never_tried.first_word(), "unknown");
        let done = record(
            Some(CommandResult::Unknown),
            Some(Outcome::Bank(BankResult::Transferred)),
        );
        assert_eq!(
            done.committed.as_ref().map(Committed::word),
            Some("success")
        );
        assert_eq!(done.committed_in(), Some(2));
    }

    #[test]
    fn latencies_read_as_the_prompt_prints_them() {
        let none = LatencySummary {
            transactions: 0,
            mean_seconds: 0.0,
        };
        assert_eq!(none.to_string(), "no transactions yet");
        let some = LatencySummary {
            transactions: 3,
            mean_seconds: 0.0123,
        };
        assert_eq!(some.to_string(), "3 transactions, average latency 12.3 ms");
    }
}

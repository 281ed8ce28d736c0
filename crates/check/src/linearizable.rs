//! Linearizability of key-value histories (Wing & Gong's search, with the
//! memoisation of Lowe and of Porcupine).
//!
//! Operations on different keys commute, so the history is split per key and
//! each part searched alone. The search repeatedly picks an operation that
//! may take effect next (one invoked before every remaining completed
//! operation returned), applies it to a model register, and checks the model
//! gives the result the client saw. An operation whose outcome is unknown may
//! take effect at any point after its invocation, or never: it never needs to
//! be placed, and its result is not checked. Reads with unknown outcome tell
//! nothing and are dropped. States already explored (the set of placed
//! operations plus the register value) are remembered, which keeps the search
//! polynomial on the histories that occur in practice.

use crate::{Anomaly, Op};
use std::collections::{BTreeMap, HashSet};
use synod_apps::{Command, KvOp, KvResult, Outcome};

/// Stops a search that explored this many states without an answer.
const MAX_STATES: usize = 2_000_000;

#[derive(Clone, Debug)]
struct KvCall<'a> {
    invoke: u64,
    /// `u64::MAX` for an unknown outcome.
    complete: u64,
    op: &'a KvOp,
    result: Option<&'a KvResult>,
}

/// Checks every key of the kv operations in `ops`.
pub fn check_kv(ops: &[Op]) -> Vec<Anomaly> {
    let mut per_key: BTreeMap<&str, Vec<KvCall>> = BTreeMap::new();
    // (sorted by invocation below, so the search tries likely orders first)
    for op in ops {
        let Command::Kv(kv) = &op.command else {
            continue;
        };
        let result = match &op.outcome {
            Some(Outcome::Kv(r)) => Some(r),
            Some(other) => {
                return vec![Anomaly::new(
                    "linearizability",
                    format!("{kv:?} answered {other:?}"),
                )];
            }
            None => None,
        };
        if result.is_none() && matches!(kv, KvOp::Get { .. }) {
            continue;
        }
        per_key.entry(kv.key()).or_default().push(KvCall {
            invoke: op.invoke,
            complete: op.complete.unwrap_or(u64::MAX),
            op: kv,
            result,
        });
    }
    let mut anomalies = Vec::new();
    for (key, mut calls) in per_key {
        calls.sort_by_key(|c| (c.invoke, c.complete));
        match search(&calls) {
            Verdict::Linearizable => {}
            Verdict::Not { placed } => anomalies.push(Anomaly::new(
                "linearizability",
                format!(
                    "key {key}: {} operations have no linearization; the longest prefix placed {placed} of them{}",
                    calls.len(),
                    describe_stuck(&calls)
                ),
            )),
            Verdict::GaveUp => anomalies.push(Anomaly::new(
                "linearizability",
                format!("key {key}: search gave up after {MAX_STATES} states ({} operations)", calls.len()),
            )),
        }
    }
    anomalies
}

/// Checks serializable kv reads (answered from one node's state, which
/// may be behind): each read value must have been written to its key by a
/// put or compare-and-set of `ops` invoked before the read completed. No
/// ordering is checked: a stale value is allowed, an invented one is not.
/// (Every value the workload writes is unique, so a value names its write.)
pub fn check_serializable(ops: &[Op], reads: &[Op]) -> Vec<Anomaly> {
    // Per (key, value): the earliest invocation of a write of it.
    let mut written: BTreeMap<(&str, &[u8]), u64> = BTreeMap::new();
    for op in ops {
        if let Command::Kv(KvOp::Put { key, value: v } | KvOp::Cas { key, new: v, .. }) =
            &op.command
        {
            let at = written
                .entry((key.as_str(), v.as_slice()))
                .or_insert(op.invoke);
            *at = (*at).min(op.invoke);
        }
    }
    let mut anomalies = Vec::new();
    for read in reads {
        let (Some(complete), Some(outcome)) = (read.complete, &read.outcome) else {
            continue;
        };
        let Command::Kv(KvOp::Get { key }) = &read.command else {
            anomalies.push(Anomaly::new(
                "serializable read",
                format!("{:?} is not a kv get", read.command),
            ));
            continue;
        };
        match outcome {
            Outcome::Kv(KvResult::Value(None)) => {}
            Outcome::Kv(KvResult::Value(Some(v))) => {
                match written.get(&(key.as_str(), v.as_slice())) {
                    Some(&at) if at <= complete => {}
                    _ => anomalies.push(Anomaly::new(
                        "serializable read",
                        format!(
                            "client {} read {:?} from key {key} at [{}..{complete}], a value no write before it wrote",
                            read.client,
                            String::from_utf8_lossy(v),
                            read.invoke
                        ),
                    )),
                }
            }
            other => anomalies.push(Anomaly::new(
                "serializable read",
                format!("get of {key} answered {other:?}"),
            )),
        }
    }
    anomalies
}

fn describe_stuck(calls: &[KvCall]) -> String {
    let shown: Vec<String> = calls
        .iter()
        .take(6)
        .map(|c| {
            format!(
                "[{}..{}] {:?} -> {:?}",
                c.invoke,
                fmt_end(c.complete),
                short(c.op),
                c.result
            )
        })
        .collect();
    format!("; first: {}", shown.join("; "))
}

fn fmt_end(t: u64) -> String {
    if t == u64::MAX {
        "?".into()
    } else {
        t.to_string()
    }
}

fn short(op: &KvOp) -> String {
    let s = |v: &[u8]| String::from_utf8_lossy(v).into_owned();
    match op {
        KvOp::Put { value, .. } => format!("put {}", s(value)),
        KvOp::Get { .. } => "get".into(),
        KvOp::Cas { expected, new, .. } => {
            format!("cas {:?}->{}", expected.as_deref().map(s), s(new))
        }
        KvOp::Delete { .. } => "delete".into(),
    }
}

enum Verdict {
    Linearizable,
    Not { placed: usize },
    GaveUp,
}

/// The register model: applies `op` to `value`, returning the result.
fn step(value: &Option<Vec<u8>>, op: &KvOp) -> (Option<Vec<u8>>, KvResult) {
    match op {
        KvOp::Put { value: v, .. } => (Some(v.clone()), KvResult::Stored),
        KvOp::Get { .. } => (value.clone(), KvResult::Value(value.clone())),
        KvOp::Cas { expected, new, .. } => {
            if value == expected {
                (Some(new.clone()), KvResult::Swapped(true))
            } else {
                (value.clone(), KvResult::Swapped(false))
            }
        }
        KvOp::Delete { .. } => (None, KvResult::Deleted(value.is_some())),
    }
}

fn search(calls: &[KvCall]) -> Verdict {
    let n = calls.len();
    let words = n.div_ceil(64);
    let must = calls.iter().filter(|c| c.result.is_some()).count();
    // Depth-first over (placed set, register value); `stack` holds the
    // candidate index to try next at each depth.
    let mut placed = vec![0u64; words];
    let mut placed_must = 0usize;
    let mut value: Option<Vec<u8>> = None;
    let mut path: Vec<(usize, Option<Vec<u8>>)> = Vec::new();
    let mut next_candidate = 0usize;
    let mut seen: HashSet<(Vec<u64>, Option<Vec<u8>>)> = HashSet::new();
    let mut best = 0usize;
    let is_placed = |p: &[u64], i: usize| p[i / 64] & (1 << (i % 64)) != 0;
    loop {
        if placed_must == must {
            return Verdict::Linearizable;
        }
        if seen.len() > MAX_STATES {
            return Verdict::GaveUp;
        }
        // The earliest completion among remaining operations bounds which
        // ones may go next.
        let horizon = (0..n)
            .filter(|&i| !is_placed(&placed, i))
            .map(|i| calls[i].complete)
            .min()
            .unwrap_or(u64::MAX);
        let mut advanced = false;
        let mut i = next_candidate;
        while i < n {
            if !is_placed(&placed, i) && calls[i].invoke <= horizon {
                let (new_value, result) = step(&value, calls[i].op);
                let fits = calls[i].result.is_none_or(|r| *r == result);
                if fits {
                    placed[i / 64] |= 1 << (i % 64);
                    if seen.insert((placed.clone(), new_value.clone())) {
                        path.push((i, std::mem::replace(&mut value, new_value)));
                        if calls[i].result.is_some() {
                            placed_must += 1;
                        }
                        best = best.max(path.len());
                        next_candidate = 0;
                        advanced = true;
                        break;
                    }
                    placed[i / 64] &= !(1 << (i % 64));
                }
            }
            i += 1;
        }
        if advanced {
            continue;
        }
        // Backtrack.
        let Some((last, old_value)) = path.pop() else {
            return Verdict::Not { placed: best };
        };
        placed[last / 64] &= !(1 << (last % 64));
        if calls[last].result.is_some() {
            placed_must -= 1;
        }
        value = old_value;
        next_candidate = last + 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(invoke: u64, complete: Option<u64>, kv: KvOp, result: Option<KvResult>) -> Op {
        Op {
            client: 0,
            invoke,
            complete,
            command: Command::Kv(kv),
            outcome: result.map(Outcome::Kv),
        }
    }
    fn put(v: &str) -> KvOp {
        KvOp::Put {
            key: "k".into(),
            value: v.as_bytes().to_vec(),
        }
    }
    fn get() -> KvOp {
        KvOp::Get { key: "k".into() }
    }
    fn val(v: &str) -> Option<KvResult> {
        Some(KvResult::Value(Some(v.as_bytes().to_vec())))
    }

    #[test]
    fn concurrent_operations_may_take_effect_in_either_order() {
        let h = vec![
            op(0, Some(10), put("a"), Some(KvResult::Stored)),
            op(1, Some(11), put("b"), Some(KvResult::Stored)),
            op(12, Some(13), get(), val("a")),
        ];
        assert!(check_kv(&h).is_empty());
    }

    #[test]
    fn a_serializable_read_may_be_stale_but_not_invented() {
        let writes = vec![
            op(0, Some(10), put("a"), Some(KvResult::Stored)),
            op(11, Some(20), put("b"), Some(KvResult::Stored)),
        ];
        // Stale ("a" after "b" completed) or empty: allowed.
        let stale = vec![
            op(21, Some(30), get(), val("a")),
            op(21, Some(30), get(), Some(KvResult::Value(None))),
        ];
        assert!(check_serializable(&writes, &stale).is_empty());
        // The same stale read is no linearizable one.
        let mut all = writes.clone();
        all.extend(stale.iter().take(1).cloned());
        assert_eq!(check_kv(&all).len(), 1);
        // A value never written, or read before its write was invoked.
        let invented = vec![
            op(21, Some(30), get(), val("z")),
            op(5, Some(9), get(), val("b")),
        ];
        let anomalies = check_serializable(&writes, &invented);
        assert_eq!(anomalies.len(), 2, "{anomalies:?}");
        assert!(anomalies.iter().all(|a| a.checker == "serializable read"));
        // Through `check`, from the history's own field.
        let history = crate::History {
            ops: writes,
            serializable_reads: invented,
            ..Default::default()
        };
        assert_eq!(crate::check(&history).len(), 2);
    }

    #[test]
    fn a_stale_read_is_caught() {
        let h = vec![
            op(0, Some(10), put("a"), Some(KvResult::Stored)),
            op(11, Some(20), put("b"), Some(KvResult::Stored)),
            op(21, Some(30), get(), val("a")),
        ];
        let anomalies = check_kv(&h);
        assert_eq!(anomalies.len(), 1, "{anomalies:?}");
        assert!(anomalies[0].detail.contains("key k"));
    }

    #[test]
    fn a_lost_acknowledged_write_is_caught() {
        let h = vec![
            op(0, Some(10), put("a"), Some(KvResult::Stored)),
            op(20, Some(30), get(), Some(KvResult::Value(None))),
        ];
        assert_eq!(check_kv(&h).len(), 1);
    }

    #[test]
    fn unknown_outcomes_may_or_may_not_have_happened() {
        // The unknown put of "b" explains the second read, and its absence
        // the first; an unknown write can also take effect long after.
        let h = vec![
            op(0, Some(10), put("a"), Some(KvResult::Stored)),
            op(11, None, put("b"), None),
            op(12, Some(13), get(), val("a")),
            op(50, Some(60), get(), val("b")),
        ];
        assert!(check_kv(&h).is_empty());
        // But a value nobody wrote is never explained.
        let h = vec![
            op(0, None, put("b"), None),
            op(50, Some(60), get(), val("c")),
        ];
        assert_eq!(check_kv(&h).len(), 1);
    }

    #[test]
    fn cas_and_delete_follow_the_register() {
        let cas = |e: Option<&str>, n: &str| KvOp::Cas {
            key: "k".into(),
            expected: e.map(|e| e.as_bytes().to_vec()),
            new: n.as_bytes().to_vec(),
        };
        let good = vec![
            op(0, Some(1), cas(None, "a"), Some(KvResult::Swapped(true))),
            op(
                2,
                Some(3),
                cas(Some("x"), "b"),
                Some(KvResult::Swapped(false)),
            ),
            op(
                4,
                Some(5),
                KvOp::Delete { key: "k".into() },
                Some(KvResult::Deleted(true)),
            ),
            op(6, Some(7), get(), Some(KvResult::Value(None))),
        ];
        assert!(check_kv(&good).is_empty());
        // Two compare-and-sets from the same expected value cannot both win.
        let doubled = vec![
            op(0, Some(1), put("a"), Some(KvResult::Stored)),
            op(
                2,
                Some(5),
                cas(Some("a"), "b"),
                Some(KvResult::Swapped(true)),
            ),
            op(
                3,
                Some(6),
                cas(Some("a"), "c"),
                Some(KvResult::Swapped(true)),
            ),
        ];
        assert_eq!(check_kv(&doubled).len(), 1);
    }
}

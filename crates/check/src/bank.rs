//! Bank histories: every acknowledged transfer happened exactly once, every
//! failed one not at all, and nothing else moved money.
//!
//! The final balances must equal the opening balances plus the effect of the
//! acknowledged transfers plus the effect of some subset of the transfers
//! whose outcome is unknown. A doubled or lost transfer breaks that equation.

use crate::{Anomaly, Op};
use std::collections::BTreeMap;
use synod_apps::{BankOp, BankResult, Command, Outcome};

/// Above this many unknown transfers the subset search is skipped and only
/// conservation is checked.
const MAX_UNKNOWN: usize = 20;

pub fn check(
    ops: &[Op],
    initial: &[(String, u64)],
    final_balances: &[(String, u64)],
) -> Vec<Anomaly> {
    let mut anomalies = Vec::new();
    let index: BTreeMap<&str, usize> = initial
        .iter()
        .enumerate()
        .map(|(i, (a, _))| (a.as_str(), i))
        .collect();
    let accounts = initial.len();
    let mut residual = vec![0i64; accounts];
    for (a, b) in final_balances {
        match index.get(a.as_str()) {
            Some(&i) => residual[i] += *b as i64,
            None => anomalies.push(Anomaly::new(
                "bank",
                format!("account {a} appeared from nowhere"),
            )),
        }
    }
    for (i, (_, b)) in initial.iter().enumerate() {
        residual[i] -= *b as i64;
    }
    let total_before: u64 = initial.iter().map(|(_, b)| b).sum();
    let total_after: u64 = final_balances.iter().map(|(_, b)| b).sum();
    if total_before != total_after {
        anomalies.push(Anomaly::new(
            "bank",
            format!("money not conserved: {total_before} before, {total_after} after"),
        ));
    }
    let delta = |from: &str, to: &str, amount: u64| -> Option<Vec<i64>> {
        let (f, t) = (*index.get(from)?, *index.get(to)?);
        let mut d = vec![0i64; accounts];
        d[f] -= amount as i64;
        d[t] += amount as i64;
        Some(d)
    };
    let mut unknown = Vec::new();
    for op in ops {
        let Command::Bank(BankOp::Transfer { from, to, amount }) = &op.command else {
            continue;
        };
        match &op.outcome {
            Some(Outcome::Bank(BankResult::Transferred)) => match delta(from, to, *amount) {
                Some(d) => residual.iter_mut().zip(d).for_each(|(r, d)| *r -= d),
                None => anomalies.push(Anomaly::new(
                    "bank",
                    format!("transfer {from}->{to} succeeded on a missing account"),
                )),
            },
            Some(Outcome::Bank(BankResult::Failed(_))) => {}
            Some(other) => anomalies.push(Anomaly::new(
                "bank",
                format!("transfer {from}->{to} answered {other:?}"),
            )),
            None => unknown.extend(delta(from, to, *amount)),
        }
    }
    if residual.iter().all(|r| *r == 0) {
        return anomalies;
    }
    if unknown.len() > MAX_UNKNOWN {
        return anomalies;
    }
    let explained = (0u64..1 << unknown.len()).any(|mask| {
        let mut sum = vec![0i64; accounts];
        for (j, d) in unknown.iter().enumerate() {
            if mask & (1 << j) != 0 {
                sum.iter_mut().zip(d).for_each(|(s, d)| *s += d);
            }
        }
        sum == residual
    });
    if !explained {
        let off: Vec<String> = initial
            .iter()
            .zip(&residual)
            .filter(|(_, r)| **r != 0)
            .map(|((a, _), r)| format!("{a} {r:+}"))
            .collect();
        anomalies.push(Anomaly::new(
            "bank",
            format!(
                "final balances differ from the acknowledged transfers by [{}], which no subset of the {} unknown transfers explains (a lost or doubled transfer)",
                off.join(", "),
                unknown.len()
            ),
        ));
    }
    anomalies
}

#[cfg(test)]
mod tests {
    use super::*;
    use synod_apps::BankFailure;

    fn accounts(b: &[(&str, u64)]) -> Vec<(String, u64)> {
        b.iter().map(|(a, b)| (a.to_string(), *b)).collect()
    }
    fn transfer(from: &str, to: &str, amount: u64, result: Option<BankResult>) -> Op {
        Op {
            client: 0,
            invoke: 0,
            complete: result.as_ref().map(|_| 1),
            command: Command::Bank(BankOp::Transfer {
                from: from.into(),
                to: to.into(),
                amount,
            }),
            outcome: result.map(Outcome::Bank),
        }
    }

    #[test]
    fn acknowledged_and_unknown_transfers_explain_the_balances() {
        let initial = accounts(&[("A", 10), ("B", 10)]);
        let ops = vec![
            transfer("A", "B", 3, Some(BankResult::Transferred)),
            transfer("B", "A", 1, None),
            transfer(
                "A",
                "B",
                50,
                Some(BankResult::Failed(BankFailure::InsufficientBalance {
                    account: "A".into(),
                    have: 7,
                    need: 50,
                })),
            ),
        ];
        assert!(check(&ops, &initial, &accounts(&[("A", 7), ("B", 13)])).is_empty());
        assert!(check(&ops, &initial, &accounts(&[("A", 8), ("B", 12)])).is_empty());
    }

    #[test]
    fn a_doubled_transfer_is_caught() {
        let initial = accounts(&[("A", 10), ("B", 10)]);
        let ops = vec![transfer("A", "B", 3, Some(BankResult::Transferred))];
        let anomalies = check(&ops, &initial, &accounts(&[("A", 4), ("B", 16)]));
        assert_eq!(anomalies.len(), 1);
        assert!(anomalies[0].detail.contains("A -3"), "{}", anomalies[0]);
    }

    #[test]
    fn a_lost_transfer_and_created_money_are_caught() {
        let initial = accounts(&[("A", 10), ("B", 10)]);
        let ops = vec![transfer("A", "B", 3, Some(BankResult::Transferred))];
        assert_eq!(check(&ops, &initial, &initial).len(), 1);
        let anomalies = check(&[], &initial, &accounts(&[("A", 11), ("B", 10)]));
        assert!(anomalies.iter().any(|a| a.detail.contains("not conserved")));
    }
}

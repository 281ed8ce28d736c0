//! Inventory histories: the order book read at the end must hold every
//! submitted order exactly once and no rejected one, cancellations must match
//! what clients were told, and no stock reading may exceed what exists.

use crate::{Anomaly, Op};
use std::collections::BTreeMap;
use synod_apps::inventory::OrderRecord;
use synod_apps::{Command, InventoryOp, InventoryResult, Outcome};

/// Order names must be unique within a history (the workloads make them so).
pub fn check(ops: &[Op], initial_stock: [u64; 4], final_orders: &[OrderRecord]) -> Vec<Anomaly> {
    let mut anomalies = Vec::new();
    let mut fail = |detail: String| anomalies.push(Anomaly::new("inventory", detail));
    let mut book: BTreeMap<&str, Vec<&OrderRecord>> = BTreeMap::new();
    for order in final_orders {
        book.entry(order.name.as_str()).or_default().push(order);
    }
    let mut invoked: BTreeMap<&str, [u64; 4]> = BTreeMap::new();
    let mut cancel_invoked: BTreeMap<&str, bool> = BTreeMap::new();
    for op in ops {
        let Command::Inventory(inv) = &op.command else {
            continue;
        };
        match (inv, &op.outcome) {
            (InventoryOp::Order { name, counts }, outcome) => {
                invoked.insert(name, *counts);
                let on_book = book.get(name.as_str()).map_or(0, |v| v.len());
                match outcome {
                    Some(Outcome::Inventory(InventoryResult::Submitted { .. })) if on_book != 1 => {
                        fail(format!(
                            "order {name} was submitted but is on the books {on_book} times"
                        ))
                    }
                    Some(Outcome::Inventory(InventoryResult::Rejected { .. })) if on_book != 0 => {
                        fail(format!("order {name} was rejected but is on the books"))
                    }
                    None if on_book > 1 => {
                        fail(format!("order {name} is on the books {on_book} times"))
                    }
                    _ => {}
                }
            }
            (InventoryOp::Cancel { name }, outcome) => {
                *cancel_invoked.entry(name).or_default() = true;
                let reported = matches!(
                    outcome,
                    Some(Outcome::Inventory(InventoryResult::Cancelled { .. }))
                );
                let on_books = book
                    .get(name.as_str())
                    .is_some_and(|v| v.iter().any(|o| o.cancelled));
                if reported && !on_books {
                    fail(format!(
                        "order {name} was reported cancelled but is not cancelled on the books"
                    ));
                }
            }
            (InventoryOp::Stock, Some(Outcome::Inventory(InventoryResult::Stock(stock))))
                if stock.iter().zip(initial_stock).any(|(s, i)| *s > i) =>
            {
                fail(format!(
                    "stock read {stock:?} exceeds the opening stock {initial_stock:?}"
                ));
            }
            _ => {}
        }
    }
    for order in final_orders {
        match invoked.get(order.name.as_str()) {
            None => fail(format!(
                "order {} is on the books but nobody placed it",
                order.name
            )),
            Some(counts) if *counts != order.counts => fail(format!(
                "order {} has counts {:?}, placed with {counts:?}",
                order.name, order.counts
            )),
            _ => {}
        }
        if order.cancelled && !cancel_invoked.contains_key(order.name.as_str()) {
            fail(format!(
                "order {} is cancelled but nobody cancelled it",
                order.name
            ));
        }
    }
    anomalies
}

#[cfg(test)]
mod tests {
    use super::*;
    use synod_apps::OrderRejection;

    fn op(command: InventoryOp, outcome: Option<InventoryResult>) -> Op {
        Op {
            client: 0,
            invoke: 0,
            complete: outcome.as_ref().map(|_| 1),
            command: Command::Inventory(command),
            outcome: outcome.map(Outcome::Inventory),
        }
    }
    fn order(name: &str) -> InventoryOp {
        InventoryOp::Order {
            name: name.into(),
            counts: [1, 0, 0, 0],
        }
    }
    fn record(name: &str, cancelled: bool) -> OrderRecord {
        OrderRecord {
            name: name.into(),
            counts: [1, 0, 0, 0],
            cancelled,
        }
    }
    const STOCK: [u64; 4] = [500, 100, 200, 200];

    #[test]
    fn a_consistent_book_passes() {
        let ops = vec![
            op(
                order("a"),
                Some(InventoryResult::Submitted { name: "a".into() }),
            ),
            op(
                order("b"),
                Some(InventoryResult::Rejected {
                    name: "b".into(),
                    reason: OrderRejection::Empty,
                }),
            ),
            op(order("c"), None),
            op(
                InventoryOp::Cancel { name: "a".into() },
                Some(InventoryResult::Cancelled {
                    name: "a".into(),
                    counts: [1, 0, 0, 0],
                }),
            ),
        ];
        assert!(check(&ops, STOCK, &[record("a", true), record("c", false)]).is_empty());
        assert!(check(&ops, STOCK, &[record("a", true)]).is_empty());
    }

    #[test]
    fn lost_doubled_and_invented_orders_are_caught() {
        let ops = vec![op(
            order("a"),
            Some(InventoryResult::Submitted { name: "a".into() }),
        )];
        assert_eq!(check(&ops, STOCK, &[]).len(), 1, "lost");
        assert_eq!(
            check(&ops, STOCK, &[record("a", false), record("a", false)]).len(),
            1,
            "doubled"
        );
        assert_eq!(
            check(&ops, STOCK, &[record("a", false), record("z", false)]).len(),
            1,
            "invented"
        );
        assert_eq!(
            check(&ops, STOCK, &[record("a", true)]).len(),
            1,
            "cancelled by nobody"
        );
        let read = vec![op(
            InventoryOp::Stock,
            Some(InventoryResult::Stock([501, 0, 0, 0])),
        )];
        assert_eq!(check(&read, STOCK, &[]).len(), 1, "phantom stock");
    }
}

//! The order desk's inventory: four items and the orders placed against it.
//!
//! An order succeeds only if every count is in stock; stock never goes
//! negative, and stock plus the items held by uncancelled orders always equals
//! the opening stock (checked by [`Inventory::check_conservation`]).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

/// The four items, in the order counts are given (`masks,bottles,rolls,cups`).
pub const ITEMS: [&str; 4] = [
    "masks",
    "sanitizer bottles",
    "toilet-paper rolls",
    "peanut-butter cups",
];

/// The default stock, per item of [`ITEMS`].
pub const DEFAULT_STOCK: [u64; 4] = [500, 100, 200, 200];

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum InventoryOp {
    /// Place an order for `name`; succeeds only if every count is in stock.
    Order {
        name: String,
        counts: [u64; 4],
    },
    /// Cancel `name`'s most recent uncancelled order, returning its items.
    Cancel {
        name: String,
    },
    Stock,
    Orders,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OrderRecord {
    pub name: String,
    pub counts: [u64; 4],
    pub cancelled: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum InventoryResult {
    /// "Order submitted for alice."
    Submitted {
        name: String,
    },
    /// "Cannot place order for alice: <reason>."
    Rejected {
        name: String,
        reason: OrderRejection,
    },
    /// "Order for alice cancelled." with the items returned.
    Cancelled {
        name: String,
        counts: [u64; 4],
    },
    /// "No order to cancel for alice."
    NothingToCancel {
        name: String,
    },
    Stock([u64; 4]),
    Orders(Vec<OrderRecord>),
}

/// Why an order was not placed. Its text completes "Cannot place order for
/// alice: ".
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OrderRejection {
    NoName,
    Empty,
    /// Every item asked beyond its stock (at least one).
    OverStock(Vec<Shortage>),
}

/// One item an order asked more of than the stock holds.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Shortage {
    /// An index into [`ITEMS`].
    pub item: usize,
    pub asked: u64,
    pub in_stock: u64,
}

impl fmt::Display for OrderRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OrderRejection::NoName => write!(f, "the order needs a name"),
            OrderRejection::Empty => write!(f, "the order is empty"),
            OrderRejection::OverStock(shortages) => {
                let parts: Vec<String> = shortages.iter().map(Shortage::to_string).collect();
                write!(f, "{}", parts.join(", "))
            }
        }
    }
}

impl fmt::Display for Shortage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let item = ITEMS.get(self.item).copied().unwrap_or("unknown items");
        write!(
            f,
            "not enough {item} (asked {}, {} in stock)",
            self.asked, self.in_stock
        )
    }
}

/// Formats counts as "3 masks, 1 sanitizer bottles" (zero counts left out).
pub fn describe_counts(counts: &[u64; 4]) -> String {
    let parts: Vec<String> = counts
        .iter()
        .zip(ITEMS)
        .filter(|(c, _)| **c > 0)
        .map(|(c, item)| format!("{c} {item}"))
        .collect();
    if parts.is_empty() {
        "nothing".into()
    } else {
        parts.join(", ")
    }
}

impl fmt::Display for InventoryResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InventoryResult::Submitted { name } => write!(f, "Order submitted for {name}."),
            InventoryResult::Rejected { name, reason } => {
                write!(f, "Cannot place order for {name}: {reason}.")
            }
            InventoryResult::Cancelled { name, counts } => {
                write!(
                    f,
                    "Order for {name} cancelled; returned {}.",
                    describe_counts(counts)
                )
            }
            InventoryResult::NothingToCancel { name } => {
                write!(f, "No order to cancel for {name}.")
            }
            InventoryResult::Stock(stock) => {
                let lines: Vec<String> = stock
                    .iter()
                    .zip(ITEMS)
                    .map(|(s, item)| format!("{item}: {s}"))
                    .collect();
                write!(f, "{}", lines.join("\n"))
            }
            InventoryResult::Orders(orders) if orders.is_empty() => write!(f, "No orders."),
            InventoryResult::Orders(orders) => {
                let lines: Vec<String> = orders
                    .iter()
                    .map(|o| {
                        let state = if o.cancelled { " (cancelled)" } else { "" };
                        format!("{}: {}{state}", o.name, describe_counts(&o.counts))
                    })
                    .collect();
                write!(f, "{}", lines.join("\n"))
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inventory {
    initial: [u64; 4],
    stock: [u64; 4],
    /// Shared with a checkpoint's copy until the next change (copy on
    /// write), so that copying the inventory is O(1).
    orders: Arc<Vec<OrderRecord>>,
}

impl Default for Inventory {
    fn default() -> Self {
        Inventory::with_stock(DEFAULT_STOCK)
    }
}

impl Inventory {
    pub fn with_stock(stock: [u64; 4]) -> Self {
        Inventory {
            initial: stock,
            stock,
            orders: Arc::new(Vec::new()),
        }
    }

    pub fn apply(&mut self, op: &InventoryOp) -> InventoryResult {
        match op {
            InventoryOp::Order { name, counts } => {
                let rejected = |reason| InventoryResult::Rejected {
                    name: name.clone(),
                    reason,
                };
                if name.trim().is_empty() {
                    return rejected(OrderRejection::NoName);
                }
                if counts.iter().all(|c| *c == 0) {
                    return rejected(OrderRejection::Empty);
                }
                let short: Vec<Shortage> = counts
                    .iter()
                    .zip(self.stock)
                    .enumerate()
                    .filter(|(_, (asked, in_stock))| **asked > *in_stock)
                    .map(|(item, (asked, in_stock))| Shortage {
                        item,
                        asked: *asked,
                        in_stock,
                    })
                    .collect();
                if !short.is_empty() {
                    return rejected(OrderRejection::OverStock(short));
                }
                for (s, c) in self.stock.iter_mut().zip(counts) {
                    *s -= c;
                }
                Arc::make_mut(&mut self.orders).push(OrderRecord {
                    name: name.clone(),
                    counts: *counts,
                    cancelled: false,
                });
                InventoryResult::Submitted { name: name.clone() }
            }
            InventoryOp::Cancel { name } => {
                match Arc::make_mut(&mut self.orders)
                    .iter_mut()
                    .rev()
                    .find(|o| o.name == *name && !o.cancelled)
                {
                    Some(order) => {
                        order.cancelled = true;
                        for (s, c) in self.stock.iter_mut().zip(order.counts) {
                            *s += c;
                        }
                        InventoryResult::Cancelled {
                            name: name.clone(),
                            counts: order.counts,
                        }
                    }
                    None => InventoryResult::NothingToCancel { name: name.clone() },
                }
            }
            InventoryOp::Stock => InventoryResult::Stock(self.stock),
            InventoryOp::Orders => InventoryResult::Orders(self.orders.to_vec()),
        }
    }

    pub fn stock(&self) -> [u64; 4] {
        self.stock
    }

    pub fn orders(&self) -> &[OrderRecord] {
        &self.orders
    }

    /// Stock plus the items held by uncancelled orders must equal the
    /// opening stock, item by item.
    pub fn check_conservation(&self) -> Result<(), String> {
        for (i, item) in ITEMS.iter().enumerate() {
            let held: u64 = self
                .orders
                .iter()
                .filter(|o| !o.cancelled)
                .map(|o| o.counts[i])
                .sum();
            if self.stock[i] + held != self.initial[i] {
                return Err(format!(
                    "{item}: {} in stock + {held} ordered != {} at the start",
                    self.stock[i], self.initial[i]
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(name: &str, counts: [u64; 4]) -> InventoryOp {
        InventoryOp::Order {
            name: name.into(),
            counts,
        }
    }

    #[test]
    fn orders_take_stock_and_cancels_return_it() {
        let mut inv = Inventory::default();
        let r = inv.apply(&order("alice", [1, 0, 2, 0]));
        assert_eq!(r.to_string(), "Order submitted for alice.");
        assert_eq!(inv.stock(), [499, 100, 198, 200]);
        let r = inv.apply(&InventoryOp::Cancel {
            name: "alice".into(),
        });
        assert_eq!(
            r,
            InventoryResult::Cancelled {
                name: "alice".into(),
                counts: [1, 0, 2, 0]
            }
        );
        assert_eq!(inv.stock(), DEFAULT_STOCK);
        let r = inv.apply(&InventoryOp::Cancel {
            name: "alice".into(),
        });
        assert_eq!(r.to_string(), "No order to cancel for alice.");
        inv.check_conservation().unwrap();
    }

    #[test]
    fn an_order_beyond_stock_is_rejected_whole_with_the_reason() {
        let mut inv = Inventory::default();
        let r = inv.apply(&order("alice", [600, 1, 0, 0]));
        assert_eq!(
            r.to_string(),
            "Cannot place order for alice: not enough masks (asked 600, 500 in stock)."
        );
        assert_eq!(inv.stock(), DEFAULT_STOCK);
        assert!(inv.orders().is_empty());
        let r = inv.apply(&order("bob", [0, 101, 0, 201]));
        assert_eq!(
            r,
            InventoryResult::Rejected {
                name: "bob".into(),
                reason: OrderRejection::OverStock(vec![
                    Shortage {
                        item: 1,
                        asked: 101,
                        in_stock: 100
                    },
                    Shortage {
                        item: 3,
                        asked: 201,
                        in_stock: 200
                    }
                ])
            }
        );
        assert_eq!(
            r.to_string(),
            "Cannot place order for bob: not enough sanitizer bottles (asked 101, 100 in stock), \
             not enough peanut-butter cups (asked 201, 200 in stock)."
        );
        let r = inv.apply(&order(" ", [1, 0, 0, 0]));
        assert_eq!(
            r.to_string(),
            "Cannot place order for  : the order needs a name."
        );
    }

    #[test]
    fn conservation_check_catches_a_leak() {
        let mut inv = Inventory::default();
        inv.apply(&order("bob", [5, 5, 5, 5]));
        inv.check_conservation().unwrap();
        inv.stock[0] += 1;
        assert!(inv.check_conservation().unwrap_err().contains("masks"));
    }
}

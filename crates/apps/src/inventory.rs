//! Seed A's order desk: an inventory of four items and the orders placed
//! against it.

use serde::{Deserialize, Serialize};

/// The four items, in the order counts are given (`masks,bottles,rolls,cups`).
pub const ITEMS: [&str; 4] = ["masks", "sanitizer bottles", "toilet-paper rolls", "peanut-butter cups"];

/// The default stock, per item of [`ITEMS`].
pub const DEFAULT_STOCK: [u64; 4] = [500, 100, 200, 200];

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum InventoryOp {
    /// Place an order for `name`; succeeds only if every count is in stock.
    Order { name: String, counts: [u64; 4] },
    /// Cancel `name`'s most recent uncancelled order, returning its items.
    Cancel { name: String },
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
    Submitted { name: String },
    /// "Cannot place order for alice: <reason>."
    Rejected { name: String, reason: String },
    /// "Order for alice cancelled." with the items returned.
    Cancelled { name: String, counts: [u64; 4] },
    /// "No order to cancel for alice."
    NothingToCancel { name: String },
    Stock([u64; 4]),
    Orders(Vec<OrderRecord>),
}

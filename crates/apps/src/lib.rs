//! The applications synod replicates, as deterministic state machines.
//!
//! Each application has a typed operation and result (`BankOp`/`BankResult`,
//! `InventoryOp`/`InventoryResult`, `KvOp`/`KvResult`,
//! `SmallBankOp`/`SmallBankResult`); a refusal (an overdraft, an order beyond
//! stock) is a typed reason too ([`BankFailure`], [`OrderRejection`],
//! [`SmallBankFailure`]), and [`Outcome::refusal`] finds it in any outcome.
//! A synod node runs [`Services`], which hosts all four side by side: a
//! command is a [`Command`] encoded with [`encode_command`], and its result
//! an [`Outcome`] decoded with [`decode_outcome`]. Users who bring their own
//! application implement [`synod_core::StateMachine`] directly.

pub mod bank;
pub mod inventory;
pub mod kv;
pub mod services;
pub mod smallbank;

pub use bank::{Bank, BankFailure, BankOp, BankResult};
pub use inventory::{Inventory, InventoryOp, InventoryResult, OrderRejection, Shortage};
pub use kv::{Kv, KvOp, KvResult};
pub use services::{
    Command, Outcome, Services, decode_command, decode_outcome, encode_command, encode_outcome,
};
pub use smallbank::{SmallBank, SmallBankFailure, SmallBankOp, SmallBankResult};

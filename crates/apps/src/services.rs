//! The four applications behind one state machine.
//!
//! A node hosts the bank, the inventory, the key-value store and SmallBank
//! side by side;
//! a [`Command`] names which one it is for. Commands and outcomes travel as
//! postcard bytes: compact, and the same on every platform, which replicas
//! need since they compare snapshot digests.

use crate::bank::{Bank, BankOp, BankResult};
use crate::inventory::{Inventory, InventoryOp, InventoryResult};
use crate::kv::{Kv, KvOp, KvResult};
use crate::smallbank::{SmallBank, SmallBankOp, SmallBankResult};
use serde::{Deserialize, Serialize};
use std::fmt;
use synod_core::{AppCommand, Inspect, SnapshotError, StateMachine};

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Command {
    Bank(BankOp),
    Inventory(InventoryOp),
    Kv(KvOp),
    SmallBank(SmallBankOp),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Outcome {
    Bank(BankResult),
    Inventory(InventoryResult),
    Kv(KvResult),
    SmallBank(SmallBankResult),
    /// The command bytes did not decode; it was chosen and "applied" with no
    /// effect, so every replica answers the same.
    Invalid(String),
}

impl Outcome {
    /// Why the application refused the command, if it did: it was executed,
    /// changed nothing, and retrying would not help. The text is the reason
    /// clients print after "failed: ".
    pub fn refusal(&self) -> Option<&dyn fmt::Display> {
        match self {
            Outcome::Bank(BankResult::Failed(why)) => Some(why),
            Outcome::Inventory(InventoryResult::Rejected { reason, .. }) => Some(reason),
            Outcome::SmallBank(SmallBankResult::Failed(why)) => Some(why),
            Outcome::Invalid(why) => Some(why),
            _ => None,
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Bank(r) => r.fmt(f),
            Outcome::Inventory(r) => r.fmt(f),
            Outcome::Kv(r) => r.fmt(f),
            Outcome::SmallBank(r) => r.fmt(f),
            Outcome::Invalid(why) => write!(f, "invalid command: {why}"),
        }
    }
}

pub fn encode_command(command: &Command) -> Vec<u8> {
    // Serialising plain enums of strings and integers into a Vec cannot fail.
    postcard::to_stdvec(command).expect("commands always serialise")
}

pub fn decode_command(bytes: &[u8]) -> Result<Command, String> {
    postcard::from_bytes(bytes).map_err(|e| format!("cannot decode command: {e}"))
}

pub fn encode_outcome(outcome: &Outcome) -> Vec<u8> {
    postcard::to_stdvec(outcome).expect("outcomes always serialise")
}

pub fn decode_outcome(bytes: &[u8]) -> Result<Outcome, String> {
    postcard::from_bytes(bytes).map_err(|e| format!("cannot decode result: {e}"))
}

impl AppCommand for Command {
    type Outcome = Outcome;
    fn encode(&self) -> Vec<u8> {
        encode_command(self)
    }
    fn decode_outcome(reply: &[u8]) -> Outcome {
        decode_outcome(reply).unwrap_or_else(Outcome::Invalid)
    }
    fn refused(outcome: &Outcome) -> bool {
        outcome.refusal().is_some()
    }
}

/// The replicated state of a node: the four applications.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Services {
    pub bank: Bank,
    pub inventory: Inventory,
    pub kv: Kv,
    pub smallbank: SmallBank,
}

impl Services {
    pub fn execute(&mut self, command: &Command) -> Outcome {
        match command {
            Command::Bank(op) => Outcome::Bank(self.bank.apply(op)),
            Command::Inventory(op) => Outcome::Inventory(self.inventory.apply(op)),
            Command::Kv(op) => Outcome::Kv(self.kv.apply(op)),
            Command::SmallBank(op) => Outcome::SmallBank(self.smallbank.apply(op)),
        }
    }
}

impl StateMachine for Services {
    /// A copy of the four applications (the key-value store's map is
    /// persistent, so the copy shares it).
    type Capture = Services;

    fn apply(&mut self, command: &[u8]) -> Vec<u8> {
        let outcome = match decode_command(command) {
            Ok(command) => self.execute(&command),
            Err(why) => Outcome::Invalid(why),
        };
        encode_outcome(&outcome)
    }

    fn capture(&self) -> Services {
        self.clone()
    }

    fn serialize(capture: &Services) -> Vec<u8> {
        // Sized for the whole state at once: growing a buffer of many
        // megabytes by doubling copies it over and over.
        let capacity = usize::try_from(capture.size_hint()).unwrap_or(0);
        postcard::to_extend(capture, Vec::with_capacity(capacity))
            .expect("the state always serialises")
    }

    fn size_hint(&self) -> u64 {
        self.kv.size_hint()
            + 32 * self.inventory.orders().len() as u64
            + 24 * self.smallbank.len() as u64
            + 16 * self.bank.len() as u64
    }

    fn restore(&mut self, snapshot: &[u8]) -> Result<(), SnapshotError> {
        *self = postcard::from_bytes(snapshot).map_err(|e| SnapshotError(e.to_string()))?;
        Ok(())
    }

    /// The reads: a key's value, an account's balance, every balance.
    fn query(&self, command: &[u8]) -> Option<Vec<u8>> {
        let outcome = match decode_command(command).ok()? {
            Command::Kv(KvOp::Get { key }) => {
                Outcome::Kv(KvResult::Value(self.kv.get(&key).map(<[u8]>::to_vec)))
            }
            Command::Bank(op @ (BankOp::Balance { .. } | BankOp::Balances)) => {
                Outcome::Bank(self.bank.read(&op)?)
            }
            _ => return None,
        };
        Some(encode_outcome(&outcome))
    }
}

impl Inspect for Services {
    fn describe_command(command: &[u8]) -> String {
        match decode_command(command) {
            Ok(command) => format!("{command:?}"),
            Err(_) => format!("({} bytes, not a synod command)", command.len()),
        }
    }

    /// Postcard bytes of the whole `Services`.
    fn export(&self) -> Vec<u8> {
        self.snapshot()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_round_trip_and_garbage_is_an_invalid_outcome() {
        let mut s = Services::default();
        let cmd = Command::Bank(BankOp::Transfer {
            from: "A".into(),
            to: "B".into(),
            amount: 2,
        });
        assert_eq!(decode_command(&encode_command(&cmd)), Ok(cmd.clone()));
        let out = decode_outcome(&s.apply(&encode_command(&cmd))).unwrap();
        assert_eq!(out, Outcome::Bank(BankResult::Transferred));
        assert!(out.refusal().is_none());
        let before = s.clone();
        let out = decode_outcome(&s.apply(&[0xff, 0xff, 0xff])).unwrap();
        assert!(matches!(out, Outcome::Invalid(_)));
        assert!(out.refusal().is_some());
        assert_eq!(s, before);
    }

    #[test]
    fn a_refusal_is_the_reason_without_the_applications_wording() {
        let mut s = Services::default();
        let overdraft = s.execute(&Command::Bank(BankOp::Transfer {
            from: "A".into(),
            to: "B".into(),
            amount: 11,
        }));
        assert_eq!(
            overdraft.refusal().map(|why| why.to_string()).as_deref(),
            Some("insufficient balance (A has 10, needs 11)")
        );
        let order = s.execute(&Command::Inventory(InventoryOp::Order {
            name: "bob".into(),
            counts: [501, 0, 0, 0],
        }));
        assert_eq!(
            order.refusal().map(|why| why.to_string()).as_deref(),
            Some("not enough masks (asked 501, 500 in stock)")
        );
        assert_eq!(
            order.to_string(),
            "Cannot place order for bob: not enough masks (asked 501, 500 in stock)."
        );
        let stored = s.execute(&Command::Kv(KvOp::Put {
            key: "k".into(),
            value: b"v".to_vec(),
        }));
        assert!(stored.refusal().is_none());
    }

    #[test]
    fn snapshot_restores_equal_state() {
        let mut s = Services::default();
        s.apply(&encode_command(&Command::Kv(KvOp::Put {
            key: "x".into(),
            value: b"1".to_vec(),
        })));
        let snap = s.snapshot();
        let mut t = Services::default();
        t.restore(&snap).unwrap();
        assert_eq!(s, t);
        assert_eq!(t.snapshot(), snap);
        assert!(t.restore(b"\xff").is_err());
    }
}

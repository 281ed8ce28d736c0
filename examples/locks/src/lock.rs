//! The application: a lock service with fencing tokens. This is all an
//! application owes synod: a deterministic [`StateMachine`] over bytes, a
//! little [`Inspect`] for the admin views, and an [`AppCommand`] that gives
//! its clients typed commands and answers.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use synod_core::{AppCommand, Inspect, SnapshotError, StateMachine};

/// What a client asks of the lock service.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum LockCommand {
    /// Take `lock` for `owner`, if it is free.
    Acquire { lock: String, owner: String },
    /// Give `lock` back; only its holder may.
    Release { lock: String, owner: String },
    /// Who holds `lock` (through the log, so the answer is linearizable).
    Holder { lock: String },
}

/// What the lock service answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LockAnswer {
    /// Granted, with a fencing token larger than any granted before: a
    /// storage service that remembers the largest token it has seen can
    /// turn away a holder whose lock has since passed to someone else.
    Granted {
        token: u64,
    },
    /// Someone else holds it.
    Busy {
        holder: String,
    },
    Released,
    /// Only the holder may release a lock.
    NotHolder,
    Held {
        holder: Option<(String, u64)>,
    },
    /// The command did not decode (it executed all the same, changing
    /// nothing, like on every replica).
    Invalid,
}

/// The replicated state.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct LockService {
    /// Each held lock's holder and fencing token. A `BTreeMap`, not a
    /// `HashMap`: replicas must serialise equal states to equal bytes.
    held: BTreeMap<String, (String, u64)>,
    /// The last token granted.
    last_token: u64,
}

impl LockService {
    fn execute(&mut self, command: LockCommand) -> LockAnswer {
        match command {
            LockCommand::Acquire { lock, owner } => match self.held.get(&lock) {
                Some((holder, _)) if *holder != owner => LockAnswer::Busy {
                    holder: holder.clone(),
                },
                Some((_, token)) => LockAnswer::Granted { token: *token },
                None => {
                    self.last_token += 1;
                    self.held.insert(lock, (owner, self.last_token));
                    LockAnswer::Granted {
                        token: self.last_token,
                    }
                }
            },
            LockCommand::Release { lock, owner } => match self.held.get(&lock) {
                Some((holder, _)) if *holder == owner => {
                    self.held.remove(&lock);
                    LockAnswer::Released
                }
                _ => LockAnswer::NotHolder,
            },
            LockCommand::Holder { lock } => LockAnswer::Held {
                holder: self.held.get(&lock).cloned(),
            },
        }
    }
}

fn to_bytes<T: Serialize>(value: &T) -> Vec<u8> {
    // Plain structs of strings and integers always serialise.
    postcard::to_stdvec(value).expect("lock types serialise")
}

impl StateMachine for LockService {
    /// The state is small: a checkpoint may simply copy it.
    type Capture = LockService;

    fn apply(&mut self, command: &[u8]) -> Vec<u8> {
        let answer = match postcard::from_bytes(command) {
            Ok(command) => self.execute(command),
            Err(_) => LockAnswer::Invalid,
        };
        to_bytes(&answer)
    }

    fn capture(&self) -> LockService {
        self.clone()
    }

    fn serialize(capture: &LockService) -> Vec<u8> {
        to_bytes(capture)
    }

    fn restore(&mut self, snapshot: &[u8]) -> Result<(), SnapshotError> {
        *self = postcard::from_bytes(snapshot).map_err(|e| SnapshotError(e.to_string()))?;
        Ok(())
    }

    fn size_hint(&self) -> u64 {
        self.held
            .iter()
            .map(|(lock, (owner, _))| (lock.len() + owner.len() + 10) as u64)
            .sum()
    }
}

impl Inspect for LockService {
    fn describe_command(command: &[u8]) -> String {
        match postcard::from_bytes::<LockCommand>(command) {
            Ok(command) => format!("{command:?}"),
            Err(_) => "undecodable lock command".to_string(),
        }
    }

    fn export(&self) -> Vec<u8> {
        to_bytes(self)
    }
}

impl AppCommand for LockCommand {
    type Outcome = LockAnswer;

    fn encode(&self) -> Vec<u8> {
        to_bytes(self)
    }

    fn decode_outcome(reply: &[u8]) -> LockAnswer {
        postcard::from_bytes(reply).unwrap_or(LockAnswer::Invalid)
    }

    fn refused(outcome: &LockAnswer) -> bool {
        matches!(
            outcome,
            LockAnswer::Busy { .. } | LockAnswer::NotHolder | LockAnswer::Invalid
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(service: &mut LockService, command: LockCommand) -> LockAnswer {
        LockCommand::decode_outcome(&service.apply(&command.encode()))
    }

    #[test]
    fn tokens_grow_and_only_the_holder_releases() {
        let mut s = LockService::default();
        let acquire = |owner: &str| LockCommand::Acquire {
            lock: "printer".into(),
            owner: owner.into(),
        };
        assert_eq!(
            run(&mut s, acquire("alice")),
            LockAnswer::Granted { token: 1 }
        );
        assert_eq!(
            run(&mut s, acquire("bob")),
            LockAnswer::Busy {
                holder: "alice".into()
            }
        );
        let release = |owner: &str| LockCommand::Release {
            lock: "printer".into(),
            owner: owner.into(),
        };
        assert_eq!(run(&mut s, release("bob")), LockAnswer::NotHolder);
        assert_eq!(run(&mut s, release("alice")), LockAnswer::Released);
        assert_eq!(
            run(&mut s, acquire("bob")),
            LockAnswer::Granted { token: 2 }
        );
        let copy = s.snapshot();
        let mut restored = LockService::default();
        restored.restore(&copy).unwrap();
        assert_eq!(restored.snapshot(), copy);
        assert_eq!(s.apply(b"\xff\xff"), to_bytes(&LockAnswer::Invalid));
    }
}

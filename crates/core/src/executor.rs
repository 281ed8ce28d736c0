//! The executor: applies chosen slots strictly in order to the application,
//! and keeps the client reply table that makes execution exactly-once.
//!
//! The reply table (per client: the timestamp and result of its last
//! executed request) is part of the replicated state: every replica updates
//! it identically as it executes, it is in every snapshot and digest, and so
//! it survives leader changes, restarts and state transfer. A request whose
//! timestamp is not above its client's entry is never applied again.

use crate::config::{Bug, Bugs};
use crate::membership::Membership;
use crate::state_machine::{SnapshotError, StateMachine};
use crate::types::{ClientId, Digest, Request, Slot, Value};
use bytes::Bytes;
use imbl::OrdMap;

/// What happened to one request of an executed batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Execution {
    /// Applied now, with this result.
    Applied {
        client: ClientId,
        timestamp: u64,
        result: Bytes,
    },
    /// Already applied earlier (a retry chosen twice): not applied again.
    Duplicate { client: ClientId, timestamp: u64 },
    /// Older than the client's last executed request: discarded.
    Stale { client: ClientId, timestamp: u64 },
}

pub struct Executor<S> {
    app: S,
    /// A persistent map, so that a capture shares it in O(1).
    replies: OrdMap<ClientId, (u64, Bytes)>,
    executed: Slot,
    /// The membership after the executed slot (reconfigurations execute
    /// like commands: they are part of the replicated state).
    membership: Membership,
    bugs: Bugs,
}

/// What a snapshot of the current layout begins with (see
/// [`Executor::snapshot`]).
const SNAPSHOT_MAGIC: &[u8; 8] = b"SYNEXEC\x02";

/// The whole replicated state frozen at one slot, to be serialised (and
/// digested) later, elsewhere: see [`Executor::capture`].
pub struct Capture<S: StateMachine> {
    executed: Slot,
    membership: Membership,
    replies: OrdMap<ClientId, (u64, Bytes)>,
    app: S::Capture,
}

impl<S: StateMachine> Capture<S> {
    /// The slot the state was captured at.
    pub fn slot(&self) -> Slot {
        self.executed
    }

    /// The snapshot bytes: the layout of [`Executor::snapshot`].
    pub fn serialize(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.replies.len() * 48);
        out.extend_from_slice(SNAPSHOT_MAGIC);
        S::serialize_into(&self.app, &mut out);
        let app_len = (out.len() - SNAPSHOT_MAGIC.len()) as u64;
        out.extend_from_slice(&self.executed.to_le_bytes());
        if self.membership.epoch == 0 {
            // Epoch 0 is each node's cluster file: its voters are the
            // cluster's, but a node that joined later lists itself as a
            // learner there too. The state (and its digest) holds the
            // voters only, the same on every node; a reconfiguration
            // replaces the whole membership.
            let voters: Vec<_> = self.membership.voters();
            Membership::initial(&voters, &[]).encode(&mut out);
        } else {
            self.membership.encode(&mut out);
        }
        out.extend_from_slice(&(self.replies.len() as u64).to_le_bytes());
        for (client, (ts, result)) in &self.replies {
            out.extend_from_slice(&client.0.to_le_bytes());
            out.extend_from_slice(&ts.to_le_bytes());
            out.extend_from_slice(&(result.len() as u64).to_le_bytes());
            out.extend_from_slice(result);
        }
        out.extend_from_slice(&app_len.to_le_bytes());
        out
    }
}

impl<S: StateMachine> Executor<S> {
    pub fn new(app: S) -> Self {
        Executor {
            app,
            replies: OrdMap::new(),
            executed: 0,
            membership: Membership::initial(&[], &[]),
            bugs: Bugs::default(),
        }
    }

    /// Starts from `membership` (the cluster file's, until a snapshot or a
    /// reconfiguration says otherwise).
    pub fn with_membership(mut self, membership: Membership) -> Self {
        self.membership = membership;
        self
    }

    pub fn membership(&self) -> &Membership {
        &self.membership
    }

    /// Plants the configured bug (the simulator's tests).
    pub(crate) fn with_bugs(mut self, bugs: Bugs) -> Self {
        self.bugs = bugs;
        self
    }

    pub fn executed(&self) -> Slot {
        self.executed
    }

    pub fn app(&self) -> &S {
        &self.app
    }

    /// The last executed request of `client`: its timestamp and result.
    pub fn last_reply(&self, client: ClientId) -> Option<(u64, &Bytes)> {
        self.replies.get(&client).map(|(ts, r)| (*ts, r))
    }

    /// Executes the next slot. The caller guarantees `slot == executed + 1`.
    pub fn execute(&mut self, slot: Slot, value: &Value) -> Vec<Execution> {
        debug_assert_eq!(slot, self.executed + 1, "slots execute strictly in order");
        self.executed = slot;
        if let Value::Reconfigure(next) = value
            && next.epoch == self.membership.epoch + 1
        {
            // (One of another epoch cannot be chosen; every replica skips
            // it alike if it were.)
            self.membership = next.clone();
        }
        value
            .requests()
            .iter()
            .map(|r| self.execute_request(r))
            .collect()
    }

    fn execute_request(&mut self, request: &Request) -> Execution {
        let (client, timestamp) = (request.client, request.timestamp);
        let last = self.replies.get(&client).map(|(ts, _)| *ts).unwrap_or(0);
        // The planted bug trusts the leader's local de-duplication instead.
        if !self.bugs.has(Bug::LocalReplyCache) {
            if timestamp == last {
                return Execution::Duplicate { client, timestamp };
            }
            if timestamp < last {
                return Execution::Stale { client, timestamp };
            }
        }
        let result = Bytes::from(self.app.apply(&request.command));
        self.replies
            .insert(client, (timestamp.max(last), result.clone()));
        Execution::Applied {
            client,
            timestamp,
            result,
        }
    }

    /// The whole replicated state at the executed slot: the slot, the reply
    /// table and the application's snapshot, in one byte string that is
    /// equal on every correct replica at equal executed slots.
    ///
    /// Layout: `"SYNEXEC\x02" | application snapshot | executed u64 |
    /// membership | n u64 | n × (client u64, timestamp u64, len u64,
    /// result) | application snapshot's length u64` (integers
    /// little-endian; the membership as `Membership::encode` writes it).
    /// The application's snapshot comes first so that consecutive
    /// snapshots of an application that grows at its end share their
    /// beginning (the node's snapshot files keep such a beginning once);
    /// the rest changes at every slot.
    ///
    /// The layout before (still read): `executed u64 | membership | n u64
    /// | n × (...) | application snapshot`. Its first 8 bytes would be
    /// the magic only at a slot above 10^17.
    pub fn snapshot(&self) -> Vec<u8> {
        self.capture().serialize()
    }

    /// Freezes the whole replicated state (cheaply: the reply table is a
    /// persistent map, the application captures itself).
    pub fn capture(&self) -> Capture<S> {
        Capture {
            executed: self.executed,
            membership: self.membership.clone(),
            replies: self.replies.clone(),
            app: self.app.capture(),
        }
    }

    /// Roughly the snapshot's size in bytes, the same on every replica at
    /// the same slot (it spaces checkpoints).
    pub fn size_hint(&self) -> u64 {
        let replies: u64 = self
            .replies
            .values()
            .map(|(_, result)| 24 + result.len() as u64)
            .sum();
        16 + replies + self.app.size_hint()
    }

    /// Replaces the whole state with a [`Executor::snapshot`]. On error
    /// nothing changes.
    pub fn restore(&mut self, snapshot: &[u8]) -> Result<(), SnapshotError> {
        let cut = |what: &str| SnapshotError(format!("snapshot cut short in the {what}"));
        let take_u64 = |bytes: &[u8], what: &str| -> Result<(u64, usize), SnapshotError> {
            let head = bytes.first_chunk::<8>().ok_or_else(|| cut(what))?;
            Ok((u64::from_le_bytes(*head), 8))
        };
        let (app, state) = match snapshot.strip_prefix(SNAPSHOT_MAGIC) {
            Some(after) => {
                let (rest, len) = after
                    .split_last_chunk::<8>()
                    .ok_or_else(|| cut("trailer"))?;
                let len = usize::try_from(u64::from_le_bytes(*len))
                    .ok()
                    .filter(|&len| len <= rest.len())
                    .ok_or_else(|| cut("application snapshot"))?;
                let (app, state) = rest.split_at(len);
                (Some(app), state)
            }
            None => (None, snapshot),
        };
        let (executed, used) = take_u64(state, "header")?;
        let (membership, mut rest) =
            Membership::decode(&state[used..]).ok_or_else(|| cut("membership"))?;
        let (n, used) = take_u64(rest, "reply table")?;
        rest = &rest[used..];
        let mut replies = OrdMap::new();
        for _ in 0..n {
            let (client, a) = take_u64(rest, "reply table")?;
            let (ts, b) = take_u64(&rest[a..], "reply table")?;
            let (len, c) = take_u64(&rest[a + b..], "reply table")?;
            let start = a + b + c;
            let result = rest
                .get(start..start.saturating_add(len as usize))
                .ok_or_else(|| cut("reply table"))?;
            replies.insert(ClientId(client), (ts, Bytes::copy_from_slice(result)));
            rest = &rest[start + result.len()..];
        }
        match app {
            Some(app) if rest.is_empty() => self.app.restore(app)?,
            Some(_) => {
                return Err(SnapshotError(format!(
                    "{} bytes after the reply table",
                    rest.len()
                )));
            }
            // The layout before: the application's snapshot last.
            None => self.app.restore(rest)?,
        }
        self.replies = replies;
        self.executed = executed;
        if membership.epoch > 0 {
            self.membership = membership;
        } else {
            // Epoch 0 holds the voters only (see `serialize`): this node's
            // own learners of epoch 0 (itself, if it joined) stay.
            let learners: Vec<_> = self
                .membership
                .members
                .iter()
                .filter(|m| !m.voter && !membership.is_member(m.id))
                .map(|m| m.id)
                .collect();
            self.membership = Membership::initial(&membership.voters(), &learners);
        }
        Ok(())
    }

    /// SHA-256 of [`Executor::snapshot`].
    pub fn state_digest(&self) -> Digest {
        Digest::of(&self.snapshot())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Appends every command to a list; the result is the list's length.
    #[derive(Default)]
    struct Log(Vec<Vec<u8>>);
    impl StateMachine for Log {
        type Capture = Vec<Vec<u8>>;
        fn apply(&mut self, command: &[u8]) -> Vec<u8> {
            self.0.push(command.to_vec());
            vec![self.0.len() as u8]
        }
        fn capture(&self) -> Vec<Vec<u8>> {
            self.0.clone()
        }
        fn serialize(capture: &Vec<Vec<u8>>) -> Vec<u8> {
            capture.concat()
        }
        fn restore(&mut self, _: &[u8]) -> Result<(), SnapshotError> {
            Ok(())
        }
    }

    fn req(client: u64, timestamp: u64) -> Request {
        Request {
            client: ClientId(client),
            timestamp,
            command: Bytes::from(vec![client as u8, timestamp as u8]),
        }
    }

    #[test]
    fn a_request_is_applied_once_even_if_chosen_twice() {
        let mut ex = Executor::new(Log::default());
        let out = ex.execute(1, &Value::Batch(vec![req(7, 1)]));
        assert!(matches!(out[0], Execution::Applied { .. }));
        let out = ex.execute(2, &Value::Batch(vec![req(7, 1)]));
        assert_eq!(
            out[0],
            Execution::Duplicate {
                client: ClientId(7),
                timestamp: 1
            }
        );
        assert_eq!(ex.app().0.len(), 1);
    }

    #[test]
    fn a_request_older_than_the_clients_last_is_discarded() {
        let mut ex = Executor::new(Log::default());
        ex.execute(1, &Value::Batch(vec![req(7, 5)]));
        let out = ex.execute(2, &Value::Batch(vec![req(7, 3)]));
        assert_eq!(
            out[0],
            Execution::Stale {
                client: ClientId(7),
                timestamp: 3
            }
        );
        assert_eq!(ex.last_reply(ClientId(7)).map(|(ts, _)| ts), Some(5));
    }

    #[test]
    fn noop_changes_nothing_but_the_executed_slot() {
        let mut a = Executor::new(Log::default());
        let mut b = Executor::new(Log::default());
        a.execute(1, &Value::Noop);
        b.execute(1, &Value::Batch(vec![]));
        assert_eq!(a.state_digest(), b.state_digest());
        assert!(a.app().0.is_empty());
    }

    #[test]
    fn the_reply_table_is_part_of_the_digest() {
        let same_command = |client| Request {
            client: ClientId(client),
            timestamp: 1,
            command: Bytes::from_static(b"x"),
        };
        let mut a = Executor::new(Log::default());
        let mut b = Executor::new(Log::default());
        a.execute(1, &Value::Batch(vec![same_command(1)]));
        b.execute(1, &Value::Batch(vec![same_command(2)]));
        assert_eq!(a.app().snapshot(), b.app().snapshot());
        assert_ne!(a.state_digest(), b.state_digest());
    }
}

//! The commands that go through the log and their results, postcard-encoded
//! (compact, and the same bytes on every platform, as replicas compare
//! snapshot digests and reply-table entries).
//!
//! Every mutation is a command; so is a range, so that a linearizable read
//! can be ordered by the log in a first version (a read-index path can
//! replace it without changing the state machine).

use crate::error::EtcdError;
use crate::request::{
    DeleteRangeRequest, DeleteRangeResult, PutRequest, PutResult, RangeRequest, RangeResult,
    TxnRequest, TxnResult,
};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    Range(RangeRequest),
    Put(PutRequest),
    DeleteRange(DeleteRangeRequest),
    Txn(TxnRequest),
    Compact {
        revision: i64,
    },
    /// `id` 0 lets the state machine pick one; `ttl` is what the leader
    /// grants (its minimum applied), in seconds.
    LeaseGrant {
        id: i64,
        ttl: i64,
    },
    /// Sent by a client.
    LeaseRevoke {
        id: i64,
    },
    /// A keep-alive: ordered by the log so that the leader, whoever it is,
    /// sees it (the lease's renewal count moves; docs/etcd.md, "Leases").
    LeaseKeepAlive {
        id: i64,
    },
    /// Sent by the leader when a lease's deadline passed with `renewals`
    /// keep-alives applied: revokes it unless another was ordered since.
    LeaseExpire {
        id: i64,
        renewals: u64,
    },
}

impl Command {
    /// Whether applying it leaves the state unchanged, so it may be served
    /// from a replica's applied state instead of the log.
    pub fn is_read_only(&self) -> bool {
        match self {
            Command::Range(_) => true,
            Command::Txn(t) => t.is_read_only(),
            _ => false,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    Range(RangeResult),
    Put(PutResult),
    DeleteRange(DeleteRangeResult),
    Txn(TxnResult),
    Compact {
        revision: i64,
    },
    LeaseGrant {
        revision: i64,
        id: i64,
        ttl: i64,
    },
    LeaseRevoke {
        revision: i64,
    },
    LeaseKeepAlive {
        revision: i64,
        ttl: i64,
    },
    /// `revoked`: whether the lease was revoked (no keep-alive came first).
    LeaseExpire {
        revision: i64,
        revoked: bool,
    },
}

impl Response {
    /// The store's revision once the command was applied (a response
    /// header's revision).
    pub fn revision(&self) -> i64 {
        match self {
            Response::Range(r) => r.revision,
            Response::Put(r) => r.revision,
            Response::DeleteRange(r) => r.revision,
            Response::Txn(r) => r.revision,
            Response::Compact { revision }
            | Response::LeaseGrant { revision, .. }
            | Response::LeaseRevoke { revision }
            | Response::LeaseKeepAlive { revision, .. }
            | Response::LeaseExpire { revision, .. } => *revision,
        }
    }
}

/// What applying a command produced: a response or etcd's error. Both are
/// replicated results, identical on every replica.
pub type Outcome = Result<Response, EtcdError>;

pub fn encode_command(command: &Command) -> Vec<u8> {
    // Plain structs of integers, bytes and enums always serialise.
    postcard::to_stdvec(command).expect("commands always serialise")
}

pub fn decode_command(bytes: &[u8]) -> Result<Command, EtcdError> {
    postcard::from_bytes(bytes).map_err(|e| EtcdError::BadCommand(e.to_string()))
}

pub fn encode_outcome(outcome: &Outcome) -> Vec<u8> {
    postcard::to_stdvec(outcome).expect("outcomes always serialise")
}

pub fn decode_outcome(bytes: &[u8]) -> Result<Outcome, EtcdError> {
    postcard::from_bytes(bytes)
        .map_err(|e| EtcdError::Unavailable(format!("cannot decode a command's result: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::{
        Compare, CompareOperand, PutRequest, RangeRequest, RequestOp, TxnRequest,
    };

    /// Commands are the log's contents and outcomes go between processes:
    /// their bytes must not change with how they are written. These are
    /// the bytes of the encoding before 2026-12-03, which wrote each byte
    /// string as a sequence of single bytes; it now writes them whole
    /// (`serde_bytes`), which postcard lays out the same way.
    #[test]
    fn commands_and_outcomes_keep_their_bytes() {
        let put = Command::Put(PutRequest {
            key: b"ab".to_vec(),
            value: b"xyz".to_vec(),
            lease: 7,
            ..Default::default()
        });
        let txn = Command::Txn(TxnRequest {
            compare: vec![Compare {
                key: b"k".to_vec(),
                range_end: b"l".to_vec(),
                operand: CompareOperand::Value(b"v".to_vec()),
                ..Default::default()
            }],
            success: vec![RequestOp::Range(RangeRequest {
                key: b"a".to_vec(),
                range_end: b"b".to_vec(),
                ..Default::default()
            })],
            failure: Vec::new(),
        });
        assert_eq!(
            encode_command(&put),
            [1, 2, 97, 98, 3, 120, 121, 122, 14, 0, 0, 0]
        );
        assert_eq!(
            encode_command(&txn),
            [
                3, 1, 0, 0, 1, 107, 1, 108, 4, 1, 118, 1, 0, 1, 97, 1, 98, 0, 0, 0, 0, 0, 0, 0, 0,
                0, 0, 0, 0
            ]
        );
        assert_eq!(decode_command(&encode_command(&put)).unwrap(), put);
        assert_eq!(decode_command(&encode_command(&txn)).unwrap(), txn);
        let outcome: Outcome = Ok(Response::Put(crate::request::PutResult {
            revision: 5,
            prev_kv: Some(crate::types::KeyValue {
                key: b"ab".to_vec(),
                create_revision: 2,
                mod_revision: 4,
                version: 3,
                value: b"old".to_vec(),
                lease: 0,
            }),
        }));
        let bytes = encode_outcome(&outcome);
        assert_eq!(
            bytes,
            [0, 1, 10, 1, 2, 97, 98, 4, 8, 6, 3, 111, 108, 100, 0]
        );
        assert_eq!(decode_outcome(&bytes).unwrap(), outcome);
    }
}

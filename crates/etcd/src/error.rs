//! The errors an etcd request can end in, with etcd's messages and gRPC
//! codes (etcd's `api/v3rpc/rpctypes`): clients match on them, so the text
//! is part of the contract. Errors the state machine returns are replicated
//! results, hence serialisable and deterministic.

use serde::{Deserialize, Serialize};
use thiserror::Error;
use tonic::{Code, Status};

#[derive(Clone, Debug, PartialEq, Eq, Error, Serialize, Deserialize)]
pub enum EtcdError {
    #[error("etcdserver: key is not provided")]
    EmptyKey,
    #[error("etcdserver: key not found")]
    KeyNotFound,
    #[error("etcdserver: value is provided")]
    ValueProvided,
    #[error("etcdserver: lease is provided")]
    LeaseProvided,
    #[error("etcdserver: too many operations in txn request")]
    TooManyOps,
    #[error("etcdserver: duplicate key given in txn request")]
    DuplicateKey,
    #[error("etcdserver: invalid sort option")]
    InvalidSortOption,
    #[error("etcdserver: mvcc: required revision has been compacted")]
    Compacted,
    #[error("etcdserver: mvcc: required revision is a future revision")]
    FutureRev,
    #[error("etcdserver: requested lease not found")]
    LeaseNotFound,
    #[error("etcdserver: lease already exists")]
    LeaseExists,
    #[error("etcdserver: too large lease TTL")]
    LeaseTtlTooLarge,
    #[error("etcdserver: no leader")]
    NoLeader,
    #[error("etcdserver: request timed out")]
    Timeout,
    /// A request the server cannot accept, for a reason etcd has no
    /// dedicated error for (an unset oneof, a write sent as a read).
    #[error("etcdserver: {0}")]
    InvalidArgument(String),
    /// The command bytes taken from the log did not decode. It was chosen,
    /// so every replica "applies" it with no effect and this result.
    #[error("etcdserver: undecodable command: {0}")]
    BadCommand(String),
    /// The backend failed (its consensus layer stopped, a channel closed).
    #[error("etcdserver: {0}")]
    Unavailable(String),
}

impl EtcdError {
    pub fn code(&self) -> Code {
        match self {
            EtcdError::EmptyKey
            | EtcdError::KeyNotFound
            | EtcdError::ValueProvided
            | EtcdError::LeaseProvided
            | EtcdError::TooManyOps
            | EtcdError::DuplicateKey
            | EtcdError::InvalidSortOption
            | EtcdError::InvalidArgument(_)
            | EtcdError::BadCommand(_) => Code::InvalidArgument,
            EtcdError::Compacted | EtcdError::FutureRev | EtcdError::LeaseTtlTooLarge => {
                Code::OutOfRange
            }
            EtcdError::LeaseNotFound => Code::NotFound,
            EtcdError::LeaseExists => Code::FailedPrecondition,
            EtcdError::NoLeader | EtcdError::Timeout | EtcdError::Unavailable(_) => {
                Code::Unavailable
            }
        }
    }
}

impl From<EtcdError> for Status {
    fn from(e: EtcdError) -> Status {
        Status::new(e.code(), e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_match_etcd() {
        let s = Status::from(EtcdError::Compacted);
        assert_eq!(s.code(), Code::OutOfRange);
        assert_eq!(
            s.message(),
            "etcdserver: mvcc: required revision has been compacted"
        );
        let s = Status::from(EtcdError::LeaseNotFound);
        assert_eq!(s.code(), Code::NotFound);
        assert_eq!(s.message(), "etcdserver: requested lease not found");
        assert_eq!(
            Status::from(EtcdError::DuplicateKey).message(),
            "etcdserver: duplicate key given in txn request"
        );
        assert_eq!(Status::from(EtcdError::NoLeader).code(), Code::Unavailable);
    }
}

//! The KV service: ranges are reads (serializable ones from this node's
//! state, others linearizable), writes and compactions are proposed, and a
//! txn is a read when it only ranges.

use super::Shared;
use crate::backend::{EtcdBackend, ReadConsistency};
use crate::command::{Command, Response};
use crate::convert;
use crate::pb::etcdserverpb as pb;
use crate::txn;
use std::sync::Arc;
use tonic::{Request, Status};

pub struct KvService<B> {
    shared: Arc<Shared<B>>,
}

impl<B: EtcdBackend> KvService<B> {
    pub(crate) fn new(shared: Arc<Shared<B>>) -> KvService<B> {
        KvService { shared }
    }

    async fn read(&self, command: Command, serializable: bool) -> Result<Response, Status> {
        let consistency = if serializable {
            ReadConsistency::Serializable
        } else {
            ReadConsistency::Linearizable
        };
        Ok(self.shared.backend.read(command, consistency).await?)
    }

    async fn propose(&self, command: Command) -> Result<Response, Status> {
        Ok(self.shared.backend.propose(command).await?)
    }
}

/// A backend answered with a response of another kind than asked for.
fn mismatch(r: Response) -> Status {
    Status::internal(format!("etcdserver: unexpected result {r:?}"))
}

#[tonic::async_trait]
impl<B: EtcdBackend> pb::kv_server::Kv for KvService<B> {
    async fn range(
        &self,
        request: Request<pb::RangeRequest>,
    ) -> Result<tonic::Response<pb::RangeResponse>, Status> {
        let req = convert::range_request(request.into_inner())?;
        txn::check_range(&req)?;
        let serializable = req.serializable;
        match self.read(Command::Range(req), serializable).await? {
            Response::Range(r) => {
                let header = self.shared.header_at(r.revision);
                Ok(tonic::Response::new(convert::range_response(r, header)))
            }
            other => Err(mismatch(other)),
        }
    }

    async fn put(
        &self,
        request: Request<pb::PutRequest>,
    ) -> Result<tonic::Response<pb::PutResponse>, Status> {
        let req = convert::put_request(request.into_inner());
        txn::check_put(&req)?;
        match self.propose(Command::Put(req)).await? {
            Response::Put(r) => {
                let header = self.shared.header_at(r.revision);
                Ok(tonic::Response::new(convert::put_response(r, header)))
            }
            other => Err(mismatch(other)),
        }
    }

    async fn delete_range(
        &self,
        request: Request<pb::DeleteRangeRequest>,
    ) -> Result<tonic::Response<pb::DeleteRangeResponse>, Status> {
        let req = convert::delete_request(request.into_inner());
        txn::check_delete(&req)?;
        match self.propose(Command::DeleteRange(req)).await? {
            Response::DeleteRange(r) => {
                let header = self.shared.header_at(r.revision);
                Ok(tonic::Response::new(convert::delete_response(r, header)))
            }
            other => Err(mismatch(other)),
        }
    }

    async fn txn(
        &self,
        request: Request<pb::TxnRequest>,
    ) -> Result<tonic::Response<pb::TxnResponse>, Status> {
        let req = convert::txn_request(request.into_inner())?;
        txn::check_txn(&req)?;
        let outcome = if req.is_read_only() {
            let serializable = req.is_serializable();
            self.read(Command::Txn(req), serializable).await?
        } else {
            self.propose(Command::Txn(req)).await?
        };
        match outcome {
            Response::Txn(r) => {
                let header = self.shared.header_at(r.revision);
                Ok(tonic::Response::new(convert::txn_response(r, header)))
            }
            other => Err(mismatch(other)),
        }
    }

    async fn compact(
        &self,
        request: Request<pb::CompactionRequest>,
    ) -> Result<tonic::Response<pb::CompactionResponse>, Status> {
        // `physical` asks to wait until the space is reclaimed; compaction
        // here is done once applied, so there is nothing more to wait for.
        let revision = request.into_inner().revision;
        match self.propose(Command::Compact { revision }).await? {
            Response::Compact { revision } => Ok(tonic::Response::new(pb::CompactionResponse {
                header: self.shared.header_at(revision),
            })),
            other => Err(mismatch(other)),
        }
    }
}

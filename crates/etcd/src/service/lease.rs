//! The Lease service: grants and revokes go through the log; keep-alives
//! and TTLs are the backend's clock (the leader's); a keep-alive or TTL
//! query for a lease that does not exist answers as etcd does (TTL 0 and
//! -1), not with an error.

use super::Shared;
use crate::backend::EtcdBackend;
use crate::command::{Command, Response};
use crate::error::EtcdError;
use crate::pb::etcdserverpb as pb;
use std::pin::Pin;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Status, Streaming};

pub struct LeaseService<B> {
    shared: Arc<Shared<B>>,
}

impl<B: EtcdBackend> LeaseService<B> {
    pub(crate) fn new(shared: Arc<Shared<B>>) -> LeaseService<B> {
        LeaseService { shared }
    }
}

type KeepAliveStream =
    Pin<Box<dyn Stream<Item = Result<pb::LeaseKeepAliveResponse, Status>> + Send>>;

#[tonic::async_trait]
impl<B: EtcdBackend> pb::lease_server::Lease for LeaseService<B> {
    async fn lease_grant(
        &self,
        request: Request<pb::LeaseGrantRequest>,
    ) -> Result<tonic::Response<pb::LeaseGrantResponse>, Status> {
        let req = request.into_inner();
        let ttl = req.ttl.max(self.shared.options.min_lease_ttl);
        let command = Command::LeaseGrant { id: req.id, ttl };
        match self.shared.backend.propose(command).await? {
            Response::LeaseGrant { revision, id, ttl } => {
                Ok(tonic::Response::new(pb::LeaseGrantResponse {
                    header: self.shared.header_at(revision),
                    id,
                    ttl,
                    error: String::new(),
                }))
            }
            other => Err(Status::internal(format!("unexpected result {other:?}"))),
        }
    }

    async fn lease_revoke(
        &self,
        request: Request<pb::LeaseRevokeRequest>,
    ) -> Result<tonic::Response<pb::LeaseRevokeResponse>, Status> {
        let id = request.into_inner().id;
        match self
            .shared
            .backend
            .propose(Command::LeaseRevoke { id })
            .await?
        {
            Response::LeaseRevoke { revision } => {
                Ok(tonic::Response::new(pb::LeaseRevokeResponse {
                    header: self.shared.header_at(revision),
                }))
            }
            other => Err(Status::internal(format!("unexpected result {other:?}"))),
        }
    }

    type LeaseKeepAliveStream = KeepAliveStream;

    async fn lease_keep_alive(
        &self,
        request: Request<Streaming<pb::LeaseKeepAliveRequest>>,
    ) -> Result<tonic::Response<KeepAliveStream>, Status> {
        let mut incoming = request.into_inner();
        let shared = Arc::clone(&self.shared);
        let (tx, rx) = mpsc::channel(16);
        tokio::spawn(async move {
            let closed = super::closed(shared.closing.clone());
            tokio::pin!(closed);
            loop {
                let req = tokio::select! {
                    req = incoming.next() => req,
                    _ = &mut closed => return,
                };
                let Some(Ok(req)) = req else { return };
                let ttl = match shared.backend.lease_keep_alive(req.id).await {
                    Ok(ttl) => ttl,
                    Err(EtcdError::LeaseNotFound) => 0,
                    Err(e) => {
                        let _ = tx.send(Err(Status::from(e))).await;
                        return;
                    }
                };
                let response = pb::LeaseKeepAliveResponse {
                    header: shared.header_now(),
                    id: req.id,
                    ttl,
                };
                if tx.send(Ok(response)).await.is_err() {
                    return;
                }
            }
        });
        Ok(tonic::Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn lease_time_to_live(
        &self,
        request: Request<pb::LeaseTimeToLiveRequest>,
    ) -> Result<tonic::Response<pb::LeaseTimeToLiveResponse>, Status> {
        let req = request.into_inner();
        let response = match self
            .shared
            .backend
            .lease_time_to_live(req.id, req.keys)
            .await
        {
            Ok(t) => pb::LeaseTimeToLiveResponse {
                header: self.shared.header_now(),
                id: t.id,
                ttl: t.remaining,
                granted_ttl: t.granted,
                keys: t.keys,
            },
            Err(EtcdError::LeaseNotFound) => pb::LeaseTimeToLiveResponse {
                header: self.shared.header_now(),
                id: req.id,
                ttl: -1,
                ..Default::default()
            },
            Err(e) => return Err(e.into()),
        };
        Ok(tonic::Response::new(response))
    }

    async fn lease_leases(
        &self,
        _request: Request<pb::LeaseLeasesRequest>,
    ) -> Result<tonic::Response<pb::LeaseLeasesResponse>, Status> {
        let ids = self.shared.backend.lease_leases().await?;
        Ok(tonic::Response::new(pb::LeaseLeasesResponse {
            header: self.shared.header_now(),
            leases: ids.into_iter().map(|id| pb::LeaseStatus { id }).collect(),
        }))
    }
}

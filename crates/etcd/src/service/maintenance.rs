//! The Maintenance service's Status: version, db size, leader, indices,
//! term.

use super::{API_VERSION, Shared};
use crate::backend::EtcdBackend;
use crate::pb::etcdserverpb as pb;
use std::sync::Arc;
use tonic::{Request, Status};

pub struct MaintenanceService<B> {
    shared: Arc<Shared<B>>,
}

impl<B: EtcdBackend> MaintenanceService<B> {
    pub(crate) fn new(shared: Arc<Shared<B>>) -> MaintenanceService<B> {
        MaintenanceService { shared }
    }
}

#[tonic::async_trait]
impl<B: EtcdBackend> pb::maintenance_server::Maintenance for MaintenanceService<B> {
    async fn status(
        &self,
        _request: Request<pb::StatusRequest>,
    ) -> Result<tonic::Response<pb::StatusResponse>, Status> {
        let s = self.shared.backend.status().await?;
        Ok(tonic::Response::new(pb::StatusResponse {
            header: self.shared.header_now(),
            version: API_VERSION.to_string(),
            db_size: s.db_size,
            leader: s.leader,
            raft_index: s.raft_index,
            raft_term: s.raft_term,
            raft_applied_index: s.raft_applied_index,
            errors: s.errors,
            db_size_in_use: s.db_size,
            is_learner: s.is_learner,
            ..Default::default()
        }))
    }
}

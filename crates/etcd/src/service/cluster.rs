//! The Cluster service: the member list, as the backend knows it.

use super::Shared;
use crate::backend::EtcdBackend;
use crate::pb::etcdserverpb as pb;
use std::sync::Arc;
use tonic::{Request, Status};

pub struct ClusterService<B> {
    shared: Arc<Shared<B>>,
}

impl<B: EtcdBackend> ClusterService<B> {
    pub(crate) fn new(shared: Arc<Shared<B>>) -> ClusterService<B> {
        ClusterService { shared }
    }
}

#[tonic::async_trait]
impl<B: EtcdBackend> pb::cluster_server::Cluster for ClusterService<B> {
    async fn member_list(
        &self,
        _request: Request<pb::MemberListRequest>,
    ) -> Result<tonic::Response<pb::MemberListResponse>, Status> {
        let members = self.shared.backend.members().await?;
        Ok(tonic::Response::new(pb::MemberListResponse {
            header: self.shared.header_now(),
            members: members
                .into_iter()
                .map(|m| pb::Member {
                    id: m.id,
                    name: m.name,
                    peer_ur_ls: m.peer_urls,
                    client_ur_ls: m.client_urls,
                    is_learner: m.is_learner,
                })
                .collect(),
        }))
    }
}

//! Serving the five services on a listener.

use crate::backend::EtcdBackend;
use crate::pb::etcdserverpb::{
    cluster_server::ClusterServer, kv_server::KvServer, lease_server::LeaseServer,
    maintenance_server::MaintenanceServer, watch_server::WatchServer,
};
use crate::service::{
    ClusterService, EtcdOptions, KvService, LeaseService, MaintenanceService, Shared, WatchService,
};
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::service::Routes;
use tonic::transport::server::TcpIncoming;

/// The services as routes, to mount on a tonic server of one's own; their
/// streams end once `closing` turns true (do that before a graceful
/// shutdown, which waits for every stream).
pub fn routes<B: EtcdBackend>(
    backend: Arc<B>,
    options: EtcdOptions,
    closing: watch::Receiver<bool>,
) -> Routes {
    let shared = Shared::new(backend, options, closing);
    let mut routes = Routes::builder();
    routes
        .add_service(KvServer::new(KvService::new(Arc::clone(&shared))))
        .add_service(WatchServer::new(WatchService::new(Arc::clone(&shared))))
        .add_service(LeaseServer::new(LeaseService::new(Arc::clone(&shared))))
        .add_service(ClusterServer::new(ClusterService::new(Arc::clone(&shared))))
        .add_service(MaintenanceServer::new(MaintenanceService::new(shared)));
    routes.routes()
}

/// Serves etcd's API on `listener` until `shutdown` completes; then open
/// streams end and calls in flight finish.
pub async fn serve<B: EtcdBackend>(
    listener: TcpListener,
    backend: Arc<B>,
    options: EtcdOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<(), tonic::transport::Error> {
    let (closing, closing_rx) = watch::channel(false);
    let signal = async move {
        shutdown.await;
        let _ = closing.send(true);
    };
    tonic::transport::Server::builder()
        .add_routes(routes(backend, options, closing_rx))
        .serve_with_incoming_shutdown(TcpIncoming::from(listener), signal)
        .await
}

//! Serving the five services, connection by connection
//! ([`serve_connection`], how a node serves them), or on a listener of
//! their own ([`serve`]: tests and tools, the same way).
//!
//! Connections go to hyper's HTTP/2 server directly, with the services
//! behind one dispatch on the request's path ([`Services`]); KV's unary
//! calls skip tonic's codecs (`unary.rs`).
//! tonic's own server puts a router and a stack of layers in front of
//! them (axum's routing, a boxed future in each layer): 3 µs of CPU for
//! every request a node served, a twentieth of what the nodes spent on one
//! (docs/performance.md).

use crate::backend::EtcdBackend;
use crate::pb::etcdserverpb::{
    cluster_server::ClusterServer, kv_server::KvServer, lease_server::LeaseServer,
    maintenance_server::MaintenanceServer, watch_server::WatchServer,
};
use crate::service::{
    ClusterService, EtcdOptions, KvService, LeaseService, MaintenanceService, Shared, WatchService,
};
use crate::unary;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::body::Body;
use tonic::codegen::{BoxFuture, Service};

/// Streams a connection may have open at once (hyper's default; tonic's
/// server sets none).
pub const MAX_STREAMS_PER_CONNECTION: u32 = 200;

/// The five services over one backend; cheap to clone.
pub struct Services<B: EtcdBackend> {
    /// KV's unary calls, served by `unary.rs`; `kv` serves the rest.
    kv_unary: Arc<KvService<B>>,
    kv: KvServer<KvService<B>>,
    watch: WatchServer<WatchService<B>>,
    lease: LeaseServer<LeaseService<B>>,
    cluster: ClusterServer<ClusterService<B>>,
    maintenance: MaintenanceServer<MaintenanceService<B>>,
}

impl<B: EtcdBackend> Clone for Services<B> {
    fn clone(&self) -> Self {
        Services {
            kv_unary: Arc::clone(&self.kv_unary),
            kv: self.kv.clone(),
            watch: self.watch.clone(),
            lease: self.lease.clone(),
            cluster: self.cluster.clone(),
            maintenance: self.maintenance.clone(),
        }
    }
}

impl<B: EtcdBackend> Services<B> {
    /// The services over `backend`; their streams end once `closing` turns
    /// true (do that before a graceful shutdown, which waits for every
    /// stream).
    pub fn new(backend: Arc<B>, options: EtcdOptions, closing: watch::Receiver<bool>) -> Self {
        let shared = Shared::new(backend, options, closing);
        let kv = Arc::new(KvService::new(Arc::clone(&shared)));
        Services {
            kv_unary: Arc::clone(&kv),
            kv: KvServer::from_arc(kv),
            watch: WatchServer::new(WatchService::new(Arc::clone(&shared))),
            lease: LeaseServer::new(LeaseService::new(Arc::clone(&shared))),
            cluster: ClusterServer::new(ClusterService::new(Arc::clone(&shared))),
            maintenance: MaintenanceServer::new(MaintenanceService::new(shared)),
        }
    }

    /// Hands `request` to the service its path names (`/<package>.<service>/<method>`);
    /// any other path is answered UNIMPLEMENTED, as gRPC servers do.
    fn call(
        &self,
        request: http::Request<Incoming>,
    ) -> BoxFuture<http::Response<Body>, Infallible> {
        if let Some(method) = unary::Method::of(&request) {
            let kv = Arc::clone(&self.kv_unary);
            return Box::pin(async move { Ok(unary::call(&*kv, method, request).await) });
        }
        let service = request
            .uri()
            .path()
            .strip_prefix("/etcdserverpb.")
            .and_then(|rest| rest.split_once('/'))
            .map(|(service, _)| service);
        match service {
            Some("KV") => self.kv.clone().call(request),
            Some("Watch") => self.watch.clone().call(request),
            Some("Lease") => self.lease.clone().call(request),
            Some("Cluster") => self.cluster.clone().call(request),
            Some("Maintenance") => self.maintenance.clone().call(request),
            _ => Box::pin(async { Ok(tonic::Status::unimplemented("").into_http()) }),
        }
    }
}

/// Serves gRPC over HTTP/2 on one accepted connection (TLS already done)
/// until the client closes it, it fails, or `stop` turns true: then the
/// client is told to go away and the calls in flight finish.
pub async fn serve_connection<B, I>(
    io: I,
    services: Services<B>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), hyper::Error>
where
    B: EtcdBackend,
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |request| services.call(request));
    let connection = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .max_concurrent_streams(MAX_STREAMS_PER_CONNECTION)
        .serve_connection(TokioIo::new(io), service);
    let mut connection = std::pin::pin!(connection);
    tokio::select! {
        served = connection.as_mut() => return served,
        _ = stop.wait_for(|stop| *stop) => {}
    }
    connection.as_mut().graceful_shutdown();
    connection.await
}

/// Serves etcd's API on `listener`, as a node serves each connection
/// ([`serve_connection`]), until `shutdown` completes; then open streams
/// end, clients are told to go away, and calls in flight finish. For tests
/// and tools: it authenticates nobody and bounds nothing (a node's
/// listener does both, `on_node`).
pub async fn serve<B: EtcdBackend>(
    listener: TcpListener,
    backend: Arc<B>,
    options: EtcdOptions,
    shutdown: impl Future<Output = ()>,
) {
    let (closing, closing_rx) = watch::channel(false);
    let services = Services::new(backend, options, closing_rx.clone());
    let mut connections = tokio::task::JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    let served = serve_connection(stream, services.clone(), closing_rx.clone());
                    connections.spawn(served);
                }
                Err(e) => {
                    // Out of descriptors, most likely: wait for some to close.
                    tracing::warn!("etcd API: accepting a connection failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
        }
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    let _ = closing.send(true);
    while connections.join_next().await.is_some() {}
}

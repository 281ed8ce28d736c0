//! etcd's API over the single-process memory backend (no consensus, no
//! disk): what the gRPC front end alone sustains on this machine, the
//! ceiling for the same-client comparison (docs/etcd.md, "Performance").
//!
//!     cargo run --release -p synod-etcd --example memory_server -- 127.0.0.1:23790

use std::sync::Arc;
use synod_etcd::memory::MemoryBackend;
use synod_etcd::server::serve;
use synod_etcd::service::EtcdOptions;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:23790".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("etcd API (memory backend) on http://{addr}");
    serve(
        listener,
        Arc::new(MemoryBackend::start()),
        EtcdOptions::default(),
        std::future::pending(),
    )
    .await?;
    Ok(())
}

//! etcd's API over the single-process memory backend (no consensus, no
//! disk): what the gRPC front end alone sustains on this machine, the
//! ceiling for the same-client comparison (docs/etcd.md, "Performance").
//!
//! A measuring tool, never a service: it authenticates nobody, so it
//! listens on loopback only and refuses any other address.
//!
//!     cargo run --release -p synod-etcd --example memory_server -- 127.0.0.1:23790

use std::net::SocketAddr;
use std::sync::Arc;
use synod_etcd::memory::MemoryBackend;
use synod_etcd::server::serve;
use synod_etcd::service::EtcdOptions;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let arg = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:23790".into());
    let addr: SocketAddr = arg
        .parse()
        .map_err(|e| format!("{arg:?} is not an address (ip:port): {e}"))?;
    if !addr.ip().is_loopback() {
        return Err(format!(
            "{addr}: this server authenticates nobody; it listens on loopback only"
        )
        .into());
    }
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("etcd API (memory backend, unauthenticated) on http://{addr}");
    serve(
        listener,
        Arc::new(MemoryBackend::start()),
        EtcdOptions::default(),
        std::future::pending(),
    )
    .await;
    Ok(())
}

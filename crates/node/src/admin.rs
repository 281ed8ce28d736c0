//! One admin query to one node, for `synod admin` and the tools.

use crate::config::ClusterFile;
use crate::net::FrameReader;
use crate::tls::Security;
use crate::wire::{AdminReply, AdminRequest, Caller, Frame, encode};
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// Asks node `id` one question over `security` (see
/// [`Security::client`]), within `timeout`.
pub async fn query(
    cluster: &ClusterFile,
    security: &Security,
    id: u32,
    request: AdminRequest,
    timeout: Duration,
) -> Result<AdminReply, String> {
    let node = cluster
        .node(id)
        .ok_or_else(|| format!("node {id} is not in the cluster file"))?;
    let addr = &node.client_addr;
    let work = async {
        let (read, mut write) = security
            .connect(addr, id)
            .await
            .map_err(|e| format!("n{id} at {addr}: {e}"))?;
        let mut bytes = encode(&Frame::Hello {
            cluster: cluster.cluster_id.clone(),
            caller: Caller::Admin,
        })
        .to_vec();
        bytes.extend_from_slice(&encode(&Frame::Admin(request)));
        write
            .write_all(&bytes)
            .await
            .map_err(|e| format!("n{id}: {e}"))?;
        write.flush().await.map_err(|e| format!("n{id}: {e}"))?;
        let mut reader = FrameReader::new(read, cluster.max_frame_bytes);
        loop {
            match reader.next().await.map_err(|e| format!("n{id}: {e}"))? {
                Frame::Welcome { .. } => continue,
                Frame::Refused { reason } => return Err(format!("n{id} refused: {reason}")),
                Frame::AdminReply(reply) => return Ok(reply),
                _ => return Err(format!("n{id} sent an unexpected frame")),
            }
        }
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| format!("n{id} at {addr}: no answer within {timeout:?}"))?
}

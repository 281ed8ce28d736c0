//! Nodes inside one's own program ([`NodeHandle`]): each node runs on a
//! thread of its own with a single-threaded tokio runtime, exactly as
//! `synod node` runs one per process, so an application embedding synod
//! (or a test) can start, stop and restart nodes without spawning
//! processes. The caller's own runtime, if any, is untouched.

use crate::config::ClusterFile;
use crate::server::{NodeError, Start, run};
use synod_core::{Inspect, StateMachine};
use tokio::sync::oneshot;

/// A node running on its own thread; stopping or dropping the handle shuts
/// the node down (its log is synced: a later [`Start::Existing`] of the same
/// node recovers everything it acknowledged).
pub struct NodeHandle {
    id: u32,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<(), NodeError>>>,
}

impl NodeHandle {
    /// Starts node `id` of `cluster` running `app` (its initial state).
    /// Errors in starting it (a port in use, a bad data directory) come
    /// back from [`NodeHandle::stop`].
    pub fn spawn<S>(cluster: ClusterFile, id: u32, start: Start, app: S) -> std::io::Result<Self>
    where
        S: StateMachine + Inspect + Send + 'static,
    {
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(format!("synod-n{id}"))
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(NodeError::Runtime)?;
                runtime.block_on(run(cluster, id, start, app, async {
                    // A dropped sender stops the node too.
                    let _ = stopped.await;
                }))
            })?;
        Ok(NodeHandle {
            id,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    pub fn id(&self) -> u32 {
        self.id
    }

    /// Whether the node is still running (it stops by itself only when it
    /// could not start or its storage failed).
    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Shuts the node down and waits for it; the error it stopped with, if
    /// it stopped by itself.
    pub fn stop(mut self) -> Result<(), NodeError> {
        self.shut_down()
    }

    fn shut_down(&mut self) -> Result<(), NodeError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(NodeError::Panicked(self.id)),
            None => Ok(()),
        }
    }
}

impl Drop for NodeHandle {
    fn drop(&mut self) {
        if let Err(e) = self.shut_down() {
            tracing::warn!(node = self.id, "node stopped with an error: {e}");
        }
    }
}

//! Nodes inside one's own program ([`NodeHandle`]): each node runs on a
//! thread of its own with a single-threaded tokio runtime, exactly as
//! `synod node` runs one per process, so an application embedding synod
//! (or a test) can start, stop and restart nodes without spawning
//! processes. The caller's own runtime, if any, is untouched.

use crate::config::ClusterFile;
use crate::server::{NodeError, Start, run_with};
use synod_core::{Inspect, StateMachine};
use tokio::sync::oneshot;

/// A node running on its own thread; stopping or dropping the handle shuts
/// the node down (its log is synced: a later [`Start::Existing`] of the same
/// node recovers everything it acknowledged).
pub struct NodeHandle {
    id: u32,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<(), NodeError>>>,
    /// Sent to once the node serves; disconnected if it stopped first.
    serving: std::sync::mpsc::Receiver<()>,
    serves: bool,
}

impl NodeHandle {
    /// Starts node `id` of `cluster` running `app` (its initial state),
    /// and returns at once, before the node binds its ports (which it
    /// retries for a while if they are taken); [`NodeHandle::wait_serving`]
    /// waits for it. Errors in starting it (a port in use, a bad data
    /// directory) come back from [`NodeHandle::stop`].
    pub fn spawn<S>(cluster: ClusterFile, id: u32, start: Start, app: S) -> std::io::Result<Self>
    where
        S: StateMachine + Inspect + Send + 'static,
    {
        let (stop, stopped) = oneshot::channel::<()>();
        // Sent by the node once it serves; dropped unsent if it fails first.
        let (serving, ready) = std::sync::mpsc::sync_channel::<()>(1);
        let thread = std::thread::Builder::new()
            .name(format!("synod-n{id}"))
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(NodeError::Runtime)?;
                let shutdown = async {
                    // A dropped sender stops the node too.
                    let _ = stopped.await;
                };
                // The front end's hook runs once listeners are bound and
                // accepting, and the core is about to run.
                runtime.block_on(run_with(cluster, id, start, app, shutdown, move |_| {
                    let _ = serving.send(());
                    None
                }))
            })?;
        Ok(NodeHandle {
            id,
            stop: Some(stop),
            serving: ready,
            serves: false,
            thread: Some(thread),
        })
    }

    /// Waits until the node serves (ports bound, log recovered, accepting
    /// connections), or has stopped; whether it came to serve (it may have
    /// stopped since: see [`NodeHandle::is_running`]). A client started
    /// before a node listens sends to a port that refuses it, and what it
    /// sent there is lost until the client's own timer.
    pub fn wait_serving(&mut self) -> bool {
        // Sent once: a second call finds the channel empty and disconnected
        // (the sender went with the hook that sent), hence the flag.
        self.serves = self.serves || self.serving.recv().is_ok();
        self.serves
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

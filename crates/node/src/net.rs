//! Connections: reading frames off a socket, and links that keep an
//! outgoing connection up (reconnecting with backoff) and pump a bounded
//! queue of frames into it, many frames per write. The socket under them is
//! plain or TLS ([`crate::tls`]); framing does not care which.

use crate::address::Address;
use crate::tls::{Reader, Security, Writer};
use crate::wire::{Caller, Decoder, Frame, WireError, encode};
use bytes::{Bytes, BytesMut};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;
use synod_core::NodeId;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

/// Frames waiting to go out on one link. A full queue drops new frames: the
/// protocol retransmits, and a dead peer must not grow our memory.
pub const LINK_QUEUE: usize = 16 * 1024;
/// Bytes waiting to go out on one link. Counting frames alone is not a
/// bound: a node resending a large message to a peer that could not take it
/// queued thousands of copies and grew to 19 GB (2026-12-03). A state
/// transfer queues a whole snapshot at once (docs/storage.md), so this is
/// also the largest state a node can send a peer.
pub const LINK_BYTES: usize = 1 << 30;
/// Bytes waiting to go out on one client's connection (its requests, or
/// the node's replies to it).
pub const CLIENT_BYTES: usize = 64 << 20;

/// A queue of encoded frames for one writer, bounded both in frames and in
/// bytes (a frame larger than `bytes` is still taken into an empty queue).
pub fn frame_queue(frames: usize, bytes: usize) -> (FrameSender, FrameReceiver) {
    let (tx, rx) = mpsc::channel(frames);
    let queued = Arc::new(AtomicUsize::new(0));
    (
        FrameSender {
            tx,
            queued: Arc::clone(&queued),
            limit: bytes,
        },
        FrameReceiver { rx, queued },
    )
}

/// The sending end of a [`frame_queue`]; cheap to clone.
#[derive(Clone, Debug)]
pub struct FrameSender {
    tx: mpsc::Sender<Bytes>,
    queued: Arc<AtomicUsize>,
    limit: usize,
}

impl FrameSender {
    /// Queues `frame` unless the queue is full (in frames or bytes) or its
    /// receiver is gone; a refused frame is dropped.
    pub fn try_send(&self, frame: Bytes) -> Result<(), NotQueued> {
        let len = frame.len();
        let before = self.queued.fetch_add(len, Ordering::Relaxed);
        if before > 0 && before + len > self.limit {
            self.queued.fetch_sub(len, Ordering::Relaxed);
            return Err(NotQueued::Full);
        }
        self.tx.try_send(frame).map_err(|e| {
            self.queued.fetch_sub(len, Ordering::Relaxed);
            match e {
                mpsc::error::TrySendError::Full(_) => NotQueued::Full,
                mpsc::error::TrySendError::Closed(_) => NotQueued::Closed,
            }
        })
    }

    /// Bytes queued and not yet taken by the writer.
    pub fn queued_bytes(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }
}

/// Why a frame was not queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotQueued {
    /// In frames or in bytes.
    Full,
    /// The writer is gone.
    Closed,
}

/// The writer's end of a [`frame_queue`].
#[derive(Debug)]
pub struct FrameReceiver {
    rx: mpsc::Receiver<Bytes>,
    queued: Arc<AtomicUsize>,
}

impl FrameReceiver {
    pub async fn recv(&mut self) -> Option<Bytes> {
        let frame = self.rx.recv().await?;
        self.queued.fetch_sub(frame.len(), Ordering::Relaxed);
        Some(frame)
    }

    pub fn try_recv(&mut self) -> Option<Bytes> {
        let frame = self.rx.try_recv().ok()?;
        self.queued.fetch_sub(frame.len(), Ordering::Relaxed);
        Some(frame)
    }
}
/// Bytes gathered into one write.
const MAX_WRITE: usize = 256 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("connection closed")]
    Closed,
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Wire(#[from] WireError),
}

/// A listener that holds at most so many connections at once: more are
/// closed as they arrive (with one log line a second at most, so a flood
/// cannot fill the disk either). Each connection holds a permit until it
/// ends.
pub struct BoundedListener {
    listener: tokio::net::TcpListener,
    slots: std::sync::Arc<tokio::sync::Semaphore>,
    limit: usize,
    what: &'static str,
    refused_since_log: u64,
    last_log: Option<std::time::Instant>,
}

impl BoundedListener {
    pub fn new(listener: tokio::net::TcpListener, limit: usize, what: &'static str) -> Self {
        BoundedListener {
            listener,
            slots: std::sync::Arc::new(tokio::sync::Semaphore::new(limit)),
            limit,
            what,
            refused_since_log: 0,
            last_log: None,
        }
    }

    /// The next connection there is room for, with its permit.
    pub async fn accept(
        &mut self,
    ) -> (
        tokio::net::TcpStream,
        std::net::SocketAddr,
        tokio::sync::OwnedSemaphorePermit,
    ) {
        loop {
            let (stream, from) = match self.listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors, say: try again shortly.
                    tracing::warn!(what = self.what, "accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            match self.slots.clone().try_acquire_owned() {
                Ok(slot) => return (stream, from, slot),
                Err(_) => {
                    // Full: dropping the stream closes it.
                    self.refused_since_log += 1;
                    if self
                        .last_log
                        .is_none_or(|t| t.elapsed() >= Duration::from_secs(1))
                    {
                        tracing::warn!(
                            %from,
                            what = self.what,
                            refused = self.refused_since_log,
                            "too many connections ({} open): refusing new ones",
                            self.limit
                        );
                        self.refused_since_log = 0;
                        self.last_log = Some(std::time::Instant::now());
                    }
                }
            }
        }
    }
}

/// Reads frames from one socket.
pub struct FrameReader {
    read: Reader,
    buf: BytesMut,
    decoder: Decoder,
}

impl FrameReader {
    pub fn new(read: Reader, max_frame: usize) -> Self {
        FrameReader {
            read,
            buf: BytesMut::with_capacity(4 * 1024),
            decoder: Decoder::new(max_frame),
        }
    }

    /// Changes the largest frame accepted from now on (a connection starts
    /// small, until its handshake is accepted).
    pub fn set_max_frame(&mut self, max_frame: usize) {
        self.decoder.set_max_frame(max_frame);
    }

    pub async fn next(&mut self) -> Result<Frame, ReadError> {
        loop {
            if let Some(frame) = self.decoder.decode(&mut self.buf)? {
                return Ok(frame);
            }
            match self.read.read_buf(&mut self.buf).await {
                Ok(0) => return Err(ReadError::Closed),
                Ok(_) => {}
                // A TLS peer that closed without close_notify: frames carry
                // their own lengths, so nothing can be cut off unnoticed.
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    return Err(ReadError::Closed);
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// Writes every queued frame to `write`, gathering many into one syscall.
pub async fn pump(
    write: &mut Writer,
    first: Bytes,
    queue: &mut FrameReceiver,
) -> std::io::Result<()> {
    let mut batch = BytesMut::with_capacity(first.len());
    batch.extend_from_slice(&first);
    while batch.len() < MAX_WRITE {
        match queue.try_recv() {
            Some(frame) => batch.extend_from_slice(&frame),
            None => break,
        }
    }
    write.write_all(&batch).await?;
    // A TLS stream holds the last record until flushed.
    write.flush().await
}

/// What an outgoing link dials: node `node` at `addr`, over `security`.
#[derive(Clone)]
pub struct Target {
    pub node: NodeId,
    pub addr: Address,
    pub security: Security,
}

/// What a client's link hands back: the frames that arrive from the node,
/// a flag raised once a connection to it was made (from then on, a
/// request queued may have reached the node; until then, nothing did), and
/// whether the link is down now.
#[derive(Clone)]
pub struct Incoming {
    pub frames: mpsc::UnboundedSender<Frame>,
    pub connected: Arc<AtomicBool>,
    pub health: LinkHealth,
}

/// Whether a client's link is down: its last connection attempt failed
/// (refused, or a failed handshake), or its connection dropped. A client
/// waiting on that node's reply stops waiting (a frame queued on a down
/// link is dropped, see `run_link`).
#[derive(Clone)]
pub struct LinkHealth {
    pub down: Arc<AtomicBool>,
    /// Shared by the links of one transport: bumped whenever one goes down.
    pub changes: Arc<tokio::sync::watch::Sender<u64>>,
}

impl LinkHealth {
    fn set_down(&self, down: bool) {
        if self.down.swap(down, Ordering::Relaxed) != down && down {
            self.changes.send_modify(|n| *n = n.wrapping_add(1));
        }
    }
}

/// Keeps a connection to `target` as `caller` up for as long as `queue` has
/// senders, writing every frame queued; frames that arrive from the other
/// side (after the handshake) go to `incoming`.
pub async fn run_link(
    target: Target,
    cluster: String,
    caller: Caller,
    max_frame: usize,
    mut queue: FrameReceiver,
    incoming: Option<Incoming>,
) {
    let addr = target.addr.clone();
    let mut backoff = Duration::from_millis(10);
    let mut logged_down = false;
    loop {
        // Wait for something to send before (re)connecting: an idle link to
        // a dead node costs nothing.
        let Some(first) = queue.recv().await else {
            return;
        };
        let (read, mut write) = match target.security.connect(&addr, target.node.0).await {
            Ok(s) => s,
            Err(e) => {
                if let Some(incoming) = &incoming {
                    incoming.health.set_down(true);
                }
                if !logged_down {
                    if e.kind() == std::io::ErrorKind::InvalidData {
                        // A TLS handshake that failed: a certificate problem
                        // an operator must fix, not a node that is down.
                        tracing::warn!(%addr, "TLS handshake with {} failed: {e}", target.node);
                    } else {
                        tracing::debug!(%addr, "cannot connect: {e}; retrying with backoff");
                    }
                    logged_down = true;
                }
                // Drop what piled up meanwhile: stale protocol messages are
                // retransmitted, and a client retries on its own timer.
                while queue.try_recv().is_some() {}
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_millis(500));
                continue;
            }
        };
        if let Some(incoming) = &incoming {
            incoming.connected.store(true, Ordering::Relaxed);
            incoming.health.set_down(false);
        }
        let hello = encode(&Frame::Hello {
            cluster: cluster.clone(),
            caller,
        });
        if write.write_all(&hello).await.is_err() || write.flush().await.is_err() {
            if let Some(incoming) = &incoming {
                incoming.health.set_down(true);
            }
            continue;
        }
        logged_down = false;
        backoff = Duration::from_millis(10);
        let mut reader = FrameReader::new(read, max_frame);
        // Dropped when the reader stops: the link then reconnects.
        let (reader_alive, mut reader_done) = tokio::sync::oneshot::channel::<()>();
        let reader_task = tokio::spawn({
            let incoming = incoming.clone();
            let addr = addr.clone();
            async move {
                let _alive = reader_alive;
                loop {
                    match reader.next().await {
                        Ok(Frame::Refused { reason }) => {
                            tracing::warn!(%addr, "connection refused by the node: {reason}");
                            return;
                        }
                        Ok(frame) => {
                            if let Some(incoming) = &incoming
                                && incoming.frames.send(frame).is_err()
                            {
                                return;
                            }
                        }
                        Err(_) => return,
                    }
                }
            }
        });
        let mut next = Some(first);
        loop {
            let frame = match next.take() {
                Some(f) => f,
                None => tokio::select! {
                    f = queue.recv() => match f {
                        Some(f) => f,
                        None => { reader_task.abort(); return; }
                    },
                    _ = &mut reader_done => break,
                },
            };
            if pump(&mut write, frame, &mut queue).await.is_err() {
                break;
            }
        }
        reader_task.abort();
        // The connection dropped (the node died or restarted, or refused
        // us): what was sent on it and not answered is lost.
        if let Some(incoming) = &incoming {
            incoming.health.set_down(true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_frame_queue_is_bounded_in_bytes_as_well_as_in_frames() {
        let (tx, mut rx) = frame_queue(LINK_QUEUE, 64 << 20);
        let mib = Bytes::from(vec![0u8; 1 << 20]);
        let mut queued = 0;
        while tx.try_send(mib.clone()).is_ok() {
            queued += 1;
            assert!(queued <= LINK_QUEUE, "never refused");
        }
        assert_eq!(queued, 64, "64 frames of 1 MiB");
        assert_eq!(tx.try_send(mib.clone()), Err(NotQueued::Full));
        // Taking one out makes room for one.
        assert!(rx.recv().await.is_some());
        assert!(tx.try_send(mib.clone()).is_ok());
        assert_eq!(tx.try_send(mib.clone()), Err(NotQueued::Full));
        while rx.try_recv().is_some() {}
        assert_eq!(tx.queued_bytes(), 0);
        // An empty queue takes a frame larger than the whole budget.
        assert!(tx.try_send(Bytes::from(vec![0u8; (64 << 20) + 1])).is_ok());
        assert_eq!(tx.try_send(Bytes::from_static(b"x")), Err(NotQueued::Full));
        drop(rx);
        let (tx, rx) = frame_queue(4, 1024);
        drop(rx);
        assert_eq!(
            tx.try_send(Bytes::from_static(b"x")),
            Err(NotQueued::Closed)
        );
        assert_eq!(tx.queued_bytes(), 0);
    }

    #[tokio::test]
    async fn a_frame_queue_is_bounded_in_frames() {
        let (tx, _rx) = frame_queue(2, 1024);
        assert!(tx.try_send(Bytes::from_static(b"a")).is_ok());
        assert!(tx.try_send(Bytes::from_static(b"b")).is_ok());
        assert_eq!(tx.try_send(Bytes::from_static(b"c")), Err(NotQueued::Full));
        assert_eq!(tx.queued_bytes(), 2);
    }
}

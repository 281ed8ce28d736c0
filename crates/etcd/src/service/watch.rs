//! The Watch service: one task per stream that keeps its watchers and
//! feeds each one the changes of its range from this node's applied
//! history, in revision order.
//!
//! Each watcher remembers the revision it has been sent everything
//! through; whenever the applied revision moves, every watcher catches up
//! from history. So a watcher created with a start revision, or one that
//! reconnects elsewhere with its last revision + 1, gets exactly the
//! events after it: none lost, none repeated. A start revision that history
//! no longer reaches is answered as etcd does: the watch is created, then
//! canceled with the compaction revision.

use super::Shared;
use crate::backend::EtcdBackend;
use crate::convert;
use crate::error::EtcdError;
use crate::mvcc::Compacted;
use crate::pb::etcdserverpb as pb;
use crate::pb::etcdserverpb::watch_create_request::FilterType;
use crate::pb::etcdserverpb::watch_request::RequestUnion;
use crate::types::{EventType, KeyRange};
use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::Arc;
use tokio::sync::{mpsc, watch};
use tokio::time::MissedTickBehavior;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Status, Streaming};

/// etcd's id for "no watch" (a refused create, a stream-wide progress
/// notification).
const NO_WATCH: i64 = -1;

pub struct WatchService<B> {
    shared: Arc<Shared<B>>,
}

impl<B: EtcdBackend> WatchService<B> {
    pub(crate) fn new(shared: Arc<Shared<B>>) -> WatchService<B> {
        WatchService { shared }
    }
}

type ResponseStream = Pin<Box<dyn Stream<Item = Result<pb::WatchResponse, Status>> + Send>>;

#[tonic::async_trait]
impl<B: EtcdBackend> pb::watch_server::Watch for WatchService<B> {
    type WatchStream = ResponseStream;

    async fn watch(
        &self,
        request: Request<Streaming<pb::WatchRequest>>,
    ) -> Result<tonic::Response<ResponseStream>, Status> {
        let (tx, rx) = mpsc::channel(64);
        let task = StreamTask {
            revisions: self.shared.backend.applied_revision(),
            shared: Arc::clone(&self.shared),
            tx,
            watchers: BTreeMap::new(),
            next_id: 0,
        };
        tokio::spawn(task.run(request.into_inner()));
        Ok(tonic::Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

struct Watcher {
    range: KeyRange,
    /// Every event through this revision has been sent.
    sent_through: i64,
    prev_kv: bool,
    no_put: bool,
    no_delete: bool,
    progress_notify: bool,
    /// No events since the last progress tick.
    quiet: bool,
}

/// The client has gone: the stream task ends.
struct Gone;

struct StreamTask<B> {
    shared: Arc<Shared<B>>,
    revisions: watch::Receiver<i64>,
    tx: mpsc::Sender<Result<pb::WatchResponse, Status>>,
    watchers: BTreeMap<i64, Watcher>,
    next_id: i64,
}

impl<B: EtcdBackend> StreamTask<B> {
    async fn run(mut self, mut incoming: Streaming<pb::WatchRequest>) {
        let mut ticker = tokio::time::interval(self.shared.options.progress_interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        ticker.tick().await; // the first tick is immediate
        let closed = super::closed(self.shared.closing.clone());
        tokio::pin!(closed);
        loop {
            let step = tokio::select! {
                request = incoming.next() => match request {
                    Some(Ok(request)) => self.handle(request).await,
                    _ => Err(Gone),
                },
                changed = self.revisions.changed() => match changed {
                    Ok(()) => self.catch_up_all().await,
                    Err(_) => Err(Gone),
                },
                _ = ticker.tick() => self.progress_tick().await,
                _ = self.tx.closed() => Err(Gone),
                _ = &mut closed => Err(Gone),
            };
            if step.is_err() {
                return;
            }
        }
    }

    fn current(&self) -> i64 {
        *self.revisions.borrow()
    }

    async fn send(&self, response: pb::WatchResponse) -> Result<(), Gone> {
        self.tx.send(Ok(response)).await.map_err(|_| Gone)
    }

    fn response(&self, watch_id: i64, revision: i64) -> pb::WatchResponse {
        pb::WatchResponse {
            header: self.shared.header_at(revision),
            watch_id,
            ..Default::default()
        }
    }

    async fn handle(&mut self, request: pb::WatchRequest) -> Result<(), Gone> {
        match request.request_union {
            Some(RequestUnion::CreateRequest(create)) => self.create(create).await,
            Some(RequestUnion::CancelRequest(cancel)) => {
                if self.watchers.remove(&cancel.watch_id).is_some() {
                    let mut r = self.response(cancel.watch_id, self.current());
                    r.canceled = true;
                    self.send(r).await?;
                }
                Ok(())
            }
            Some(RequestUnion::ProgressRequest(_)) => {
                // Sent once every watcher has everything through the
                // revision it reports, as etcd does.
                self.catch_up_all().await?;
                let r = self.response(NO_WATCH, self.current());
                self.send(r).await
            }
            None => Ok(()),
        }
    }

    async fn create(&mut self, create: pb::WatchCreateRequest) -> Result<(), Gone> {
        let current = self.current();
        let refuse = |reason: String| {
            let mut r = self.response(NO_WATCH, current);
            r.created = true;
            r.canceled = true;
            r.cancel_reason = reason;
            r
        };
        if create.start_revision < 0 {
            return self.send(refuse(EtcdError::Compacted.to_string())).await;
        }
        let id = if create.watch_id != 0 {
            if self.watchers.contains_key(&create.watch_id) {
                let reason = "mvcc: duplicate watch ID provided on the WatchStream".to_string();
                return self.send(refuse(reason)).await;
            }
            create.watch_id
        } else {
            while self.watchers.contains_key(&self.next_id) {
                self.next_id += 1;
            }
            self.next_id += 1;
            self.next_id - 1
        };
        // An empty key watches "\0", as in etcd.
        let key = if create.key.is_empty() {
            vec![0]
        } else {
            create.key
        };
        let filters: Vec<_> = create
            .filters
            .iter()
            .filter_map(|f| FilterType::try_from(*f).ok())
            .collect();
        self.watchers.insert(
            id,
            Watcher {
                range: KeyRange::new(&key, &create.range_end),
                sent_through: if create.start_revision == 0 {
                    current
                } else {
                    create.start_revision - 1
                },
                prev_kv: create.prev_kv,
                no_put: filters.contains(&FilterType::Noput),
                no_delete: filters.contains(&FilterType::Nodelete),
                progress_notify: create.progress_notify,
                quiet: true,
            },
        );
        let mut r = self.response(id, current);
        r.created = true;
        self.send(r).await?;
        self.catch_up(id).await
    }

    async fn catch_up_all(&mut self) -> Result<(), Gone> {
        let ids: Vec<i64> = self.watchers.keys().copied().collect();
        for id in ids {
            self.catch_up(id).await?;
        }
        Ok(())
    }

    /// Sends watcher `id` every event through the applied revision.
    async fn catch_up(&mut self, id: i64) -> Result<(), Gone> {
        loop {
            let target = self.current();
            let Some(w) = self.watchers.get(&id) else {
                return Ok(());
            };
            let from = w.sent_through;
            if from >= target {
                return Ok(());
            }
            let batch = self
                .shared
                .backend
                .events(
                    w.range.clone(),
                    from,
                    self.shared.options.watch_batch,
                    w.prev_kv,
                )
                .await;
            let batch = match batch {
                Ok(batch) => batch,
                Err(Compacted { compact_revision }) => {
                    self.watchers.remove(&id);
                    let mut r = self.response(id, target);
                    r.canceled = true;
                    r.compact_revision = compact_revision;
                    return self.send(r).await;
                }
            };
            let Some(w) = self.watchers.get_mut(&id) else {
                return Ok(());
            };
            let events: Vec<_> = batch
                .events
                .into_iter()
                .filter(|e| match e.kind {
                    EventType::Put => !w.no_put,
                    EventType::Delete => !w.no_delete,
                })
                .map(convert::event)
                .collect();
            w.sent_through = batch.through.max(from);
            if !events.is_empty() {
                w.quiet = false;
                let mut r = self.response(id, batch.through);
                r.events = events;
                self.send(r).await?;
            }
            if batch.through <= from {
                // The backend's history is behind its announced revision;
                // the next change will bring us back.
                return Ok(());
            }
        }
    }

    /// etcd's periodic progress notification: a watcher that asked for it
    /// and had no events since the last tick hears the current revision.
    async fn progress_tick(&mut self) -> Result<(), Gone> {
        self.catch_up_all().await?;
        let current = self.current();
        let due: Vec<i64> = self
            .watchers
            .iter()
            .filter(|(_, w)| w.progress_notify && w.quiet)
            .map(|(id, _)| *id)
            .collect();
        for w in self.watchers.values_mut() {
            w.quiet = true;
        }
        for id in due {
            let r = self.response(id, current);
            self.send(r).await?;
        }
        Ok(())
    }
}

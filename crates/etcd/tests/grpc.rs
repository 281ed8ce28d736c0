//! The gRPC services end to end: a tonic server on 127.0.0.1:0 over the
//! in-memory backend, driven by a tonic client generated from synod's
//! protos (whose field numbers are etcd's, so this is etcd's wire format).

use std::sync::Arc;
use std::time::Duration;
use synod_etcd::pb::etcdserverpb as pb;
use synod_etcd::pb::etcdserverpb::cluster_client::ClusterClient;
use synod_etcd::pb::etcdserverpb::kv_client::KvClient;
use synod_etcd::pb::etcdserverpb::lease_client::LeaseClient;
use synod_etcd::pb::etcdserverpb::maintenance_client::MaintenanceClient;
use synod_etcd::pb::etcdserverpb::watch_client::WatchClient;
use synod_etcd::pb::mvccpb;
use synod_etcd::{EtcdOptions, MemoryBackend};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Streaming};

/// A guard against a hung test, not a timing assertion.
const PATIENCE: Duration = Duration::from_secs(20);

struct Cluster {
    channel: Channel,
    backend: MemoryBackend,
    _stop: oneshot::Sender<()>,
}

impl Cluster {
    async fn start() -> Cluster {
        Cluster::start_with(EtcdOptions::default()).await
    }

    async fn start_with(options: EtcdOptions) -> Cluster {
        let backend = MemoryBackend::start();
        let (addr, channel, stop) = serve(&backend, options).await;
        backend.set_client_urls(vec![format!("http://{addr}")]);
        Cluster {
            channel,
            backend,
            _stop: stop,
        }
    }

    /// Another endpoint on the same state, as another node would be.
    async fn another_endpoint(&self) -> (Channel, oneshot::Sender<()>) {
        let (_, channel, stop) = serve(&self.backend, EtcdOptions::default()).await;
        (channel, stop)
    }

    fn kv(&self) -> KvClient<Channel> {
        KvClient::new(self.channel.clone())
    }

    fn lease(&self) -> LeaseClient<Channel> {
        LeaseClient::new(self.channel.clone())
    }

    async fn put(&self, key: &str, value: &str) -> i64 {
        let r = self
            .kv()
            .put(pb::PutRequest {
                key: key.into(),
                value: value.into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        r.header.unwrap().revision
    }

    async fn get(&self, req: pb::RangeRequest) -> Result<pb::RangeResponse, tonic::Status> {
        self.kv().range(req).await.map(|r| r.into_inner())
    }

    async fn watch(&self) -> WatchStream {
        open_watch(&self.channel).await
    }
}

async fn serve(
    backend: &MemoryBackend,
    options: EtcdOptions,
) -> (std::net::SocketAddr, Channel, oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(synod_etcd::server::serve(
        listener,
        Arc::new(backend.clone()),
        options,
        async {
            let _ = stopped.await;
        },
    ));
    let channel = Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    (addr, channel, stop)
}

async fn open_watch(channel: &Channel) -> WatchStream {
    let (tx, rx) = mpsc::channel(16);
    let responses = WatchClient::new(channel.clone())
        .watch(ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    WatchStream { tx, responses }
}

struct WatchStream {
    tx: mpsc::Sender<pb::WatchRequest>,
    responses: Streaming<pb::WatchResponse>,
}

impl WatchStream {
    async fn send(&self, request: pb::watch_request::RequestUnion) {
        self.tx
            .send(pb::WatchRequest {
                request_union: Some(request),
            })
            .await
            .unwrap();
    }

    async fn create(&self, create: pb::WatchCreateRequest) {
        self.send(pb::watch_request::RequestUnion::CreateRequest(create))
            .await;
    }

    async fn next(&mut self) -> pb::WatchResponse {
        tokio::time::timeout(PATIENCE, self.responses.message())
            .await
            .expect("a watch response in time")
            .unwrap()
            .expect("the stream is open")
    }

    /// The next responses until `n` events have arrived.
    async fn events(&mut self, n: usize) -> Vec<mvccpb::Event> {
        let mut events = Vec::new();
        while events.len() < n {
            let r = self.next().await;
            assert!(!r.canceled, "{r:?}");
            events.extend(r.events);
        }
        assert_eq!(events.len(), n);
        events
    }
}

fn key_range(key: &str, end: &[u8]) -> pb::RangeRequest {
    pb::RangeRequest {
        key: key.into(),
        range_end: end.to_vec(),
        ..Default::default()
    }
}

fn keys(r: &pb::RangeResponse) -> Vec<String> {
    r.kvs
        .iter()
        .map(|kv| String::from_utf8_lossy(&kv.key).into_owned())
        .collect()
}

fn ev(e: &mvccpb::Event) -> (i32, String, String, i64) {
    let kv = e.kv.clone().unwrap();
    (
        e.r#type,
        String::from_utf8_lossy(&kv.key).into_owned(),
        String::from_utf8_lossy(&kv.value).into_owned(),
        kv.mod_revision,
    )
}

const PUT: i32 = mvccpb::event::EventType::Put as i32;
const DELETE: i32 = mvccpb::event::EventType::Delete as i32;

#[tokio::test]
async fn put_get_prefix_and_old_revisions() {
    let c = Cluster::start().await;
    assert_eq!(c.put("foo", "1").await, 2);
    assert_eq!(c.put("foo", "2").await, 3);
    c.put("foo/a", "x").await;
    c.put("fop", "y").await;
    let r = c.get(key_range("foo", b"")).await.unwrap();
    let h = r.header.unwrap();
    assert_eq!(
        (h.revision, h.member_id, h.cluster_id, h.raft_term),
        (5, 1, 1, 1)
    );
    let kv = &r.kvs[0];
    assert_eq!(
        (
            kv.value.as_slice(),
            kv.create_revision,
            kv.mod_revision,
            kv.version
        ),
        (&b"2"[..], 2, 3, 2)
    );
    let r = c.get(key_range("foo", b"fop")).await.unwrap();
    assert_eq!(keys(&r), ["foo", "foo/a"]);
    let r = c.get(key_range("foo", b"\0")).await.unwrap();
    assert_eq!(keys(&r), ["foo", "foo/a", "fop"]);
    let r = c
        .get(pb::RangeRequest {
            revision: 2,
            ..key_range("foo", b"")
        })
        .await
        .unwrap();
    assert_eq!(r.kvs[0].value, b"1");
    let r = c
        .get(pb::RangeRequest {
            limit: 1,
            serializable: true,
            ..key_range("f", b"g")
        })
        .await
        .unwrap();
    assert_eq!(
        (keys(&r), r.more, r.count),
        (vec!["foo".to_string()], true, 3)
    );
    let r = c
        .get(pb::RangeRequest {
            keys_only: true,
            sort_order: pb::range_request::SortOrder::Descend as i32,
            sort_target: pb::range_request::SortTarget::Mod as i32,
            ..key_range("f", b"g")
        })
        .await
        .unwrap();
    assert_eq!(keys(&r), ["fop", "foo/a", "foo"]);
    assert!(r.kvs.iter().all(|kv| kv.value.is_empty()));
    let r = c
        .get(pb::RangeRequest {
            count_only: true,
            ..key_range("f", b"g")
        })
        .await
        .unwrap();
    assert_eq!((r.count, r.kvs.len()), (3, 0));
    let e = c.get(key_range("", b"")).await.unwrap_err();
    assert_eq!(
        (e.code(), e.message()),
        (Code::InvalidArgument, "etcdserver: key is not provided")
    );
    let e = c
        .get(pb::RangeRequest {
            revision: 99,
            ..key_range("foo", b"")
        })
        .await
        .unwrap_err();
    assert_eq!(
        (e.code(), e.message()),
        (
            Code::OutOfRange,
            "etcdserver: mvcc: required revision is a future revision"
        )
    );
}

#[tokio::test]
async fn put_options_and_delete_with_prev_kv() {
    let c = Cluster::start().await;
    c.put("a", "1").await;
    let r = c
        .kv()
        .put(pb::PutRequest {
            key: "a".into(),
            value: "2".into(),
            prev_kv: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.prev_kv.unwrap().value, b"1");
    let e = c
        .kv()
        .put(pb::PutRequest {
            key: "missing".into(),
            ignore_value: true,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        (e.code(), e.message()),
        (Code::InvalidArgument, "etcdserver: key not found")
    );
    c.put("b", "1").await;
    let r = c
        .kv()
        .delete_range(pb::DeleteRangeRequest {
            key: "a".into(),
            range_end: "c".into(),
            prev_kv: true,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.deleted, 2);
    assert_eq!(r.prev_kvs.len(), 2);
    assert_eq!(r.header.unwrap().revision, 5);
    assert!(c.get(key_range("a", b"c")).await.unwrap().kvs.is_empty());
}

fn compare_value(key: &str, value: &str) -> pb::Compare {
    pb::Compare {
        result: pb::compare::CompareResult::Equal as i32,
        target: pb::compare::CompareTarget::Value as i32,
        key: key.into(),
        target_union: Some(pb::compare::TargetUnion::Value(value.into())),
        ..Default::default()
    }
}

fn op_put(key: &str, value: &str) -> pb::RequestOp {
    pb::RequestOp {
        request: Some(pb::request_op::Request::RequestPut(pb::PutRequest {
            key: key.into(),
            value: value.into(),
            ..Default::default()
        })),
    }
}

fn op_get(key: &str) -> pb::RequestOp {
    pb::RequestOp {
        request: Some(pb::request_op::Request::RequestRange(key_range(key, b""))),
    }
}

#[tokio::test]
async fn txn_branches_nesting_and_errors() {
    let c = Cluster::start().await;
    c.put("k", "v").await;
    let txn = |value: &str| pb::TxnRequest {
        compare: vec![compare_value("k", value)],
        success: vec![op_put("then", "1"), op_get("then")],
        failure: vec![
            op_put("else", "1"),
            pb::RequestOp {
                request: Some(pb::request_op::Request::RequestTxn(pb::TxnRequest {
                    compare: vec![],
                    success: vec![op_put("nested", "1")],
                    failure: vec![],
                })),
            },
        ],
    };
    let r = c.kv().txn(txn("v")).await.unwrap().into_inner();
    assert!(r.succeeded);
    assert_eq!(r.header.unwrap().revision, 3);
    let Some(pb::response_op::Response::ResponseRange(got)) = &r.responses[1].response else {
        panic!("{r:?}")
    };
    assert_eq!(got.kvs[0].value, b"1", "a txn reads its own writes");
    let r = c.kv().txn(txn("other")).await.unwrap().into_inner();
    assert!(!r.succeeded);
    assert_eq!(r.header.unwrap().revision, 4);
    assert_eq!(
        keys(&c.get(key_range("nested", b"")).await.unwrap()),
        ["nested"]
    );
    // Read-only txns take no revision.
    let r = c
        .kv()
        .txn(pb::TxnRequest {
            success: vec![op_get("k")],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.header.unwrap().revision, 4);
    let e = c
        .kv()
        .txn(pb::TxnRequest {
            success: vec![op_put("d", "1"), op_put("d", "2")],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        (e.code(), e.message()),
        (
            Code::InvalidArgument,
            "etcdserver: duplicate key given in txn request"
        )
    );
}

#[tokio::test]
async fn compaction_is_reported_as_etcd_does() {
    let c = Cluster::start().await;
    c.put("a", "1").await;
    c.put("a", "2").await;
    c.put("a", "3").await; // revision 4
    let r = c
        .kv()
        .compact(pb::CompactionRequest {
            revision: 3,
            physical: true,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.header.unwrap().revision, 4);
    let e = c
        .get(pb::RangeRequest {
            revision: 2,
            ..key_range("a", b"")
        })
        .await
        .unwrap_err();
    assert_eq!(
        (e.code(), e.message()),
        (
            Code::OutOfRange,
            "etcdserver: mvcc: required revision has been compacted"
        )
    );
    let again = c
        .kv()
        .compact(pb::CompactionRequest {
            revision: 3,
            physical: false,
        })
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::OutOfRange);
    // A watch from a compacted revision is created, then canceled with
    // the compaction revision.
    let mut w = c.watch().await;
    w.create(pb::WatchCreateRequest {
        key: "a".into(),
        start_revision: 2,
        ..Default::default()
    })
    .await;
    let created = w.next().await;
    assert!(created.created && !created.canceled);
    let canceled = w.next().await;
    assert!(canceled.canceled);
    assert_eq!(canceled.watch_id, created.watch_id);
    assert_eq!(canceled.compact_revision, 3);
    // From the compaction revision itself history is whole.
    w.create(pb::WatchCreateRequest {
        key: "a".into(),
        start_revision: 3,
        ..Default::default()
    })
    .await;
    assert!(w.next().await.created);
    let events = w.events(2).await;
    assert_eq!(ev(&events[0]).3, 3);
    assert_eq!(ev(&events[1]).3, 4);
    assert!(
        events.iter().all(|e| e.prev_kv.is_none()),
        "no pair before an event unless asked for"
    );
}

#[tokio::test]
async fn watch_history_prefix_prev_kv_filters_progress_and_cancel() {
    let c = Cluster::start().await;
    c.put("w/a", "1").await; // 2
    c.put("other", "1").await; // 3
    c.put("w/b", "1").await; // 4
    let mut w = c.watch().await;
    // From history, a prefix, with prev_kv.
    w.create(pb::WatchCreateRequest {
        key: "w/".into(),
        range_end: "w0".into(),
        start_revision: 2,
        prev_kv: true,
        ..Default::default()
    })
    .await;
    let created = w.next().await;
    assert!(created.created);
    let id = created.watch_id;
    let events = w.events(2).await;
    assert_eq!(ev(&events[0]), (PUT, "w/a".into(), "1".into(), 2));
    assert_eq!(ev(&events[1]), (PUT, "w/b".into(), "1".into(), 4));
    // Live events, with the previous pair.
    c.put("w/a", "2").await; // 5
    c.kv()
        .delete_range(pb::DeleteRangeRequest {
            key: "w/b".into(),
            ..Default::default()
        })
        .await
        .unwrap(); // 6
    let events = w.events(2).await;
    assert_eq!(ev(&events[0]), (PUT, "w/a".into(), "2".into(), 5));
    assert_eq!(events[0].prev_kv.as_ref().unwrap().value, b"1");
    assert_eq!(ev(&events[1]), (DELETE, "w/b".into(), "".into(), 6));
    assert_eq!(events[1].prev_kv.as_ref().unwrap().value, b"1");
    // A second watcher on the same stream with a NOPUT filter.
    w.create(pb::WatchCreateRequest {
        key: "w/".into(),
        range_end: "w0".into(),
        filters: vec![pb::watch_create_request::FilterType::Noput as i32],
        ..Default::default()
    })
    .await;
    let second = w.next().await;
    assert!(second.created);
    assert_ne!(second.watch_id, id);
    c.put("w/c", "1").await; // 7: only the first watcher sees it
    c.kv()
        .delete_range(pb::DeleteRangeRequest {
            key: "w/c".into(),
            ..Default::default()
        })
        .await
        .unwrap(); // 8
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let r = w.next().await;
        for e in &r.events {
            seen.push((r.watch_id, ev(e)));
        }
    }
    seen.sort();
    assert!(seen.contains(&(id, (PUT, "w/c".into(), "1".into(), 7))));
    assert!(seen.contains(&(id, (DELETE, "w/c".into(), "".into(), 8))));
    assert!(seen.contains(&(second.watch_id, (DELETE, "w/c".into(), "".into(), 8))));
    // A progress request answers with the current revision for the stream.
    w.send(pb::watch_request::RequestUnion::ProgressRequest(
        pb::WatchProgressRequest {},
    ))
    .await;
    let progress = w.next().await;
    assert_eq!(progress.watch_id, -1);
    assert!(progress.events.is_empty());
    assert_eq!(progress.header.unwrap().revision, 8);
    // Cancel.
    w.send(pb::watch_request::RequestUnion::CancelRequest(
        pb::WatchCancelRequest { watch_id: id },
    ))
    .await;
    let canceled = w.next().await;
    assert!(canceled.canceled);
    assert_eq!(canceled.watch_id, id);
    c.put("w/d", "1").await; // only the NOPUT watcher is left: nothing comes
    c.kv()
        .delete_range(pb::DeleteRangeRequest {
            key: "w/d".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let r = w.next().await;
    assert_eq!(r.watch_id, second.watch_id);
    assert_eq!(ev(&r.events[0]).0, DELETE);
}

#[tokio::test]
async fn a_watcher_resumes_elsewhere_without_loss_or_repeats() {
    let c = Cluster::start().await;
    let writer = {
        let kv = c.kv();
        tokio::spawn(async move {
            let mut kv = kv;
            for i in 0..200 {
                kv.put(pb::PutRequest {
                    key: format!("r/{}", i % 7).into(),
                    value: i.to_string().into(),
                    ..Default::default()
                })
                .await
                .unwrap();
            }
        })
    };
    // Watch part of the stream on one endpoint, lose that endpoint, and
    // resume on another from the revision after the last one seen.
    let (first, stop_first) = c.another_endpoint().await;
    let mut seen = Vec::new();
    let mut w = open_watch(&first).await;
    w.create(pb::WatchCreateRequest {
        key: "r/".into(),
        range_end: "r0".into(),
        start_revision: 1,
        ..Default::default()
    })
    .await;
    assert!(w.next().await.created);
    while seen.len() < 50 {
        let r = w.next().await;
        seen.extend(r.events.iter().map(ev));
    }
    drop(stop_first);
    // The first endpoint stops serving; its stream ends or errs.
    loop {
        match tokio::time::timeout(PATIENCE, w.responses.message()).await {
            Ok(Ok(Some(r))) => seen.extend(r.events.iter().map(ev)),
            Ok(_) => break,
            Err(_) => panic!("the stopped endpoint's stream did not end"),
        }
    }
    let last = seen.last().unwrap().3;
    let mut w = c.watch().await;
    w.create(pb::WatchCreateRequest {
        key: "r/".into(),
        range_end: "r0".into(),
        start_revision: last + 1,
        ..Default::default()
    })
    .await;
    assert!(w.next().await.created);
    while seen.len() < 200 {
        let r = w.next().await;
        seen.extend(r.events.iter().map(ev));
    }
    writer.await.unwrap();
    let revisions: Vec<i64> = seen.iter().map(|e| e.3).collect();
    assert_eq!(revisions, (2..202).collect::<Vec<_>>());
    let values: Vec<String> = seen.iter().map(|e| e.2.clone()).collect();
    assert_eq!(values, (0..200).map(|i| i.to_string()).collect::<Vec<_>>());
}

#[tokio::test]
async fn progress_notify_reports_the_revision_to_a_quiet_watcher() {
    let c = Cluster::start_with(EtcdOptions {
        progress_interval: Duration::from_millis(50),
        ..EtcdOptions::default()
    })
    .await;
    c.put("x", "1").await;
    let mut w = c.watch().await;
    w.create(pb::WatchCreateRequest {
        key: "quiet".into(),
        progress_notify: true,
        ..Default::default()
    })
    .await;
    let created = w.next().await;
    let notify = w.next().await;
    assert_eq!(notify.watch_id, created.watch_id);
    assert!(notify.events.is_empty() && !notify.canceled);
    assert_eq!(notify.header.unwrap().revision, 2);
}

#[tokio::test]
async fn leases_grant_keep_alive_ttl_list_and_revoke() {
    let c = Cluster::start().await;
    let grant = c
        .lease()
        .lease_grant(pb::LeaseGrantRequest { ttl: 60, id: 0 })
        .await
        .unwrap()
        .into_inner();
    assert!(grant.id > 0);
    assert_eq!(grant.ttl, 60);
    let id = grant.id;
    for k in ["l/a", "l/b"] {
        c.kv()
            .put(pb::PutRequest {
                key: k.into(),
                value: "v".into(),
                lease: id,
                ..Default::default()
            })
            .await
            .unwrap();
    }
    let e = c
        .kv()
        .put(pb::PutRequest {
            key: "l/c".into(),
            lease: id + 1000,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        (e.code(), e.message()),
        (Code::NotFound, "etcdserver: requested lease not found")
    );
    // A TTL below the minimum is raised to it.
    let short = c
        .lease()
        .lease_grant(pb::LeaseGrantRequest { ttl: 0, id: 0 })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(short.ttl, EtcdOptions::default().min_lease_ttl);
    c.lease()
        .lease_revoke(pb::LeaseRevokeRequest { id: short.id })
        .await
        .unwrap();
    let e = c
        .lease()
        .lease_grant(pb::LeaseGrantRequest { ttl: 5, id })
        .await
        .unwrap_err();
    assert_eq!(
        (e.code(), e.message()),
        (Code::FailedPrecondition, "etcdserver: lease already exists")
    );
    // Keep-alive stream: the granted TTL for a live lease, 0 for none.
    let (tx, rx) = mpsc::channel(4);
    let mut alive = c
        .lease()
        .lease_keep_alive(ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    tx.send(pb::LeaseKeepAliveRequest { id }).await.unwrap();
    let r = alive.message().await.unwrap().unwrap();
    assert_eq!((r.id, r.ttl), (id, 60));
    tx.send(pb::LeaseKeepAliveRequest { id: 424242 })
        .await
        .unwrap();
    let r = alive.message().await.unwrap().unwrap();
    assert_eq!((r.id, r.ttl), (424242, 0));
    let ttl = c
        .lease()
        .lease_time_to_live(pb::LeaseTimeToLiveRequest { id, keys: true })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ttl.granted_ttl, 60);
    assert!(ttl.ttl > 0 && ttl.ttl <= 60);
    assert_eq!(ttl.keys, vec![b"l/a".to_vec(), b"l/b".to_vec()]);
    let leases = c
        .lease()
        .lease_leases(pb::LeaseLeasesRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(leases.leases.iter().map(|l| l.id).collect::<Vec<_>>(), [id]);
    let r = c
        .lease()
        .lease_revoke(pb::LeaseRevokeRequest { id })
        .await
        .unwrap()
        .into_inner();
    let rev = r.header.unwrap().revision;
    let r = c.get(key_range("l/", b"l0")).await.unwrap();
    assert!(r.kvs.is_empty());
    assert_eq!(r.header.unwrap().revision, rev);
    let ttl = c
        .lease()
        .lease_time_to_live(pb::LeaseTimeToLiveRequest { id, keys: true })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ttl.ttl, -1);
    let e = c
        .lease()
        .lease_revoke(pb::LeaseRevokeRequest { id })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
}

#[tokio::test]
async fn an_expired_lease_is_revoked_through_apply() {
    let c = Cluster::start().await;
    let id = c
        .lease()
        .lease_grant(pb::LeaseGrantRequest { ttl: 1, id: 77 })
        .await
        .unwrap()
        .into_inner()
        .id;
    assert_eq!(id, 77);
    let put = c
        .kv()
        .put(pb::PutRequest {
            key: "ephemeral".into(),
            value: "v".into(),
            lease: id,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut w = c.watch().await;
    w.create(pb::WatchCreateRequest {
        key: "ephemeral".into(),
        start_revision: put.header.unwrap().revision + 1,
        ..Default::default()
    })
    .await;
    assert!(w.next().await.created);
    let events = w.events(1).await;
    assert_eq!(ev(&events[0]).0, DELETE);
    assert!(c.backend.store().leases().get(id).is_none());
}

#[tokio::test]
async fn member_list_and_status() {
    let c = Cluster::start().await;
    c.put("a", "1").await;
    let members = ClusterClient::new(c.channel.clone())
        .member_list(pb::MemberListRequest { linearizable: true })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(members.members.len(), 1);
    let m = &members.members[0];
    assert_eq!(m.id, 1);
    assert!(m.client_ur_ls[0].starts_with("http://127.0.0.1:"));
    let status = MaintenanceClient::new(c.channel.clone())
        .status(pb::StatusRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status.version, "3.5.0");
    assert_eq!(status.leader, 1);
    assert_eq!(status.raft_applied_index, 1);
    assert!(status.db_size > 0);
    assert_eq!(status.header.unwrap().revision, 2);
}

#[tokio::test]
async fn an_empty_key_with_range_end_zero_watches_everything() {
    let c = Cluster::start().await;
    let mut w = c.watch().await;
    w.create(pb::WatchCreateRequest {
        key: Vec::new(),
        range_end: vec![0],
        ..Default::default()
    })
    .await;
    assert!(w.next().await.created);
    c.put("a", "1").await;
    c.put("\u{7f}z", "2").await;
    let events = w.events(2).await;
    assert_eq!(ev(&events[0]).1, "a");
    assert_eq!(ev(&events[1]).2, "2");
    // A negative start revision is refused as etcd does.
    w.create(pb::WatchCreateRequest {
        key: "a".into(),
        start_revision: -1,
        ..Default::default()
    })
    .await;
    let refused = w.next().await;
    assert!(refused.created && refused.canceled);
    assert_eq!(refused.watch_id, -1);
    assert_eq!(
        refused.cancel_reason,
        "etcdserver: mvcc: required revision has been compacted"
    );
}

/// The services are dispatched by the request's path: a service or
/// package the server does not have is UNIMPLEMENTED, as gRPC servers
/// answer, and the connection goes on serving.
#[tokio::test]
async fn a_path_no_service_serves_is_unimplemented() {
    let c = Cluster::start().await;
    for path in [
        "/etcdserverpb.Auth/Authenticate",
        "/etcdserverpb.KVX/Range",
        "/other.KV/Range",
        "/",
    ] {
        let mut grpc = tonic::client::Grpc::new(c.channel.clone());
        grpc.ready().await.unwrap();
        let answer: Result<tonic::Response<pb::RangeResponse>, tonic::Status> = grpc
            .unary(
                tonic::Request::new(pb::RangeRequest::default()),
                http::uri::PathAndQuery::from_static(path),
                tonic_prost::ProstCodec::default(),
            )
            .await;
        assert_eq!(answer.unwrap_err().code(), Code::Unimplemented, "{path}");
    }
    assert_eq!(c.put("still", "served").await, 2);
}

/// Stopping the server ends the streams open on it (a watch) and refuses
/// new connections.
#[tokio::test]
async fn stopping_the_server_ends_its_streams() {
    let backend = MemoryBackend::start();
    let (addr, channel, stop) = serve(&backend, EtcdOptions::default()).await;
    let mut watch = open_watch(&channel).await;
    watch
        .send(pb::watch_request::RequestUnion::CreateRequest(
            pb::WatchCreateRequest {
                key: b"k".to_vec(),
                ..Default::default()
            },
        ))
        .await;
    let created = tokio::time::timeout(PATIENCE, watch.responses.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(created.created);
    drop(stop);
    let ended = tokio::time::timeout(PATIENCE, async {
        loop {
            match watch.responses.message().await {
                Ok(Some(_)) => continue,
                end => return end,
            }
        }
    })
    .await
    .expect("the watch ends");
    assert!(matches!(ended, Ok(None) | Err(_)));
    let refused = tokio::time::timeout(PATIENCE, async {
        loop {
            if tokio::net::TcpStream::connect(addr).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(refused.is_ok(), "the listener closes");
}

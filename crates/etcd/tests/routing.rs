//! The services route each request to the right backend call: reads to
//! `read` with the consistency asked for, writes to `propose`, and backend
//! errors reach the client as etcd's statuses.

use std::sync::{Arc, Mutex};
use synod_etcd::backend::{
    EtcdBackend, HeaderInfo, LeaseTtl, MemberInfo, ReadConsistency, StatusInfo,
};
use synod_etcd::command::{Command, Outcome};
use synod_etcd::error::EtcdError;
use synod_etcd::mvcc::{Compacted, EventBatch};
use synod_etcd::pb::etcdserverpb as pb;
use synod_etcd::pb::etcdserverpb::kv_client::KvClient;
use synod_etcd::types::KeyRange;
use synod_etcd::{EtcdOptions, MemoryBackend};
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tonic::Code;
use tonic::transport::{Channel, Endpoint};

#[derive(Debug, PartialEq, Eq)]
enum Call {
    Propose(&'static str),
    Read(&'static str, ReadConsistency),
}

fn kind(c: &Command) -> &'static str {
    match c {
        Command::Range(_) => "range",
        Command::Put(_) => "put",
        Command::DeleteRange(_) => "delete",
        Command::Txn(_) => "txn",
        Command::Compact { .. } => "compact",
        Command::LeaseGrant { .. } => "grant",
        Command::LeaseRevoke { .. } => "revoke",
        Command::LeaseKeepAlive { .. } => "keep-alive",
        Command::LeaseExpire { .. } => "expire",
    }
}

/// The in-memory backend, recording calls, and refusing proposals as a
/// node without a leader would when `leaderless` is set.
struct Recording {
    inner: MemoryBackend,
    calls: Mutex<Vec<Call>>,
    leaderless: Mutex<bool>,
}

#[tonic::async_trait]
impl EtcdBackend for Recording {
    fn header(&self) -> HeaderInfo {
        self.inner.header()
    }
    async fn propose(&self, command: Command) -> Outcome {
        self.calls
            .lock()
            .unwrap()
            .push(Call::Propose(kind(&command)));
        if *self.leaderless.lock().unwrap() {
            return Err(EtcdError::NoLeader);
        }
        self.inner.propose(command).await
    }
    async fn read(&self, command: Command, consistency: ReadConsistency) -> Outcome {
        self.calls
            .lock()
            .unwrap()
            .push(Call::Read(kind(&command), consistency));
        self.inner.read(command, consistency).await
    }
    fn applied_revision(&self) -> watch::Receiver<i64> {
        self.inner.applied_revision()
    }
    async fn events(
        &self,
        r: KeyRange,
        after: i64,
        max: usize,
        prev_kv: bool,
    ) -> Result<EventBatch, Compacted> {
        self.inner.events(r, after, max, prev_kv).await
    }
    async fn lease_keep_alive(&self, id: i64) -> Result<i64, EtcdError> {
        self.inner.lease_keep_alive(id).await
    }
    async fn lease_time_to_live(&self, id: i64, keys: bool) -> Result<LeaseTtl, EtcdError> {
        self.inner.lease_time_to_live(id, keys).await
    }
    async fn lease_leases(&self) -> Result<Vec<i64>, EtcdError> {
        self.inner.lease_leases().await
    }
    async fn members(&self) -> Result<Vec<MemberInfo>, EtcdError> {
        self.inner.members().await
    }
    async fn status(&self) -> Result<StatusInfo, EtcdError> {
        self.inner.status().await
    }
}

async fn start() -> (Arc<Recording>, KvClient<Channel>, oneshot::Sender<()>) {
    let backend = Arc::new(Recording {
        inner: MemoryBackend::start(),
        calls: Mutex::new(Vec::new()),
        leaderless: Mutex::new(false),
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(synod_etcd::server::serve(
        listener,
        Arc::clone(&backend),
        EtcdOptions::default(),
        async {
            let _ = stopped.await;
        },
    ));
    let channel = Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    (backend, KvClient::new(channel), stop)
}

fn get(serializable: bool) -> pb::RangeRequest {
    pb::RangeRequest {
        key: "k".into(),
        serializable,
        ..Default::default()
    }
}

fn op(request: pb::request_op::Request) -> pb::RequestOp {
    pb::RequestOp {
        request: Some(request),
    }
}

#[tokio::test]
async fn reads_and_writes_go_where_they_belong() {
    let (backend, mut kv, _stop) = start().await;
    kv.put(pb::PutRequest {
        key: "k".into(),
        value: "v".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    kv.range(get(false)).await.unwrap();
    kv.range(get(true)).await.unwrap();
    let read_txn = |serializable| pb::TxnRequest {
        success: vec![op(pb::request_op::Request::RequestRange(get(serializable)))],
        ..Default::default()
    };
    kv.txn(read_txn(true)).await.unwrap();
    kv.txn(read_txn(false)).await.unwrap();
    kv.txn(pb::TxnRequest {
        success: vec![op(pb::request_op::Request::RequestDeleteRange(
            pb::DeleteRangeRequest {
                key: "k".into(),
                ..Default::default()
            },
        ))],
        ..Default::default()
    })
    .await
    .unwrap();
    kv.compact(pb::CompactionRequest {
        revision: 2,
        physical: false,
    })
    .await
    .unwrap();
    use ReadConsistency::*;
    assert_eq!(
        *backend.calls.lock().unwrap(),
        [
            Call::Propose("put"),
            Call::Read("range", Linearizable),
            Call::Read("range", Serializable),
            Call::Read("txn", Serializable),
            Call::Read("txn", Linearizable),
            Call::Propose("txn"),
            Call::Propose("compact"),
        ]
    );
}

#[tokio::test]
async fn invalid_requests_never_reach_the_backend() {
    let (backend, mut kv, _stop) = start().await;
    let e = kv
        .put(pb::PutRequest {
            key: "k".into(),
            value: "v".into(),
            ignore_value: true,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        (e.code(), e.message()),
        (Code::InvalidArgument, "etcdserver: value is provided")
    );
    let e = kv
        .txn(pb::TxnRequest {
            success: vec![pb::RequestOp { request: None }],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let e = kv
        .range(pb::RangeRequest {
            key: "k".into(),
            sort_target: 42,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        (e.code(), e.message()),
        (Code::InvalidArgument, "etcdserver: invalid sort option")
    );
    assert!(backend.calls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_node_without_a_leader_says_so() {
    let (backend, mut kv, _stop) = start().await;
    *backend.leaderless.lock().unwrap() = true;
    let e = kv
        .put(pb::PutRequest {
            key: "k".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        (e.code(), e.message()),
        (Code::Unavailable, "etcdserver: no leader")
    );
    // Serializable reads are still served.
    let r = kv.range(get(true)).await.unwrap().into_inner();
    assert_eq!(r.header.unwrap().revision, 1);
}

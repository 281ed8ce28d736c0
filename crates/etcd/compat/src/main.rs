//! Drives every etcd v3 RPC that synod serves through etcd's own Rust
//! client (`etcd-client`), and checks each answer against etcd's
//! semantics. Prints `ok <what>` per check; exits non-zero naming the first
//! check that failed.
//!
//!     synod-etcd-compat http://127.0.0.1:2379,http://127.0.0.1:22379,...

use etcd_client::{
    Client, Compare, CompareOp, DeleteOptions, EventType, GetOptions, LeaseTimeToLiveOptions,
    PutOptions, SortOrder, SortTarget, Txn, TxnOp, TxnOpResponse, WatchFilterType, WatchOptions,
    WatchStream,
};
use std::time::Duration;

type Result<T> = std::result::Result<T, String>;

fn check(ok: bool, what: &str) -> Result<()> {
    if ok {
        println!("ok {what}");
        Ok(())
    } else {
        Err(format!("FAILED {what}"))
    }
}

fn err<E: std::fmt::Display>(what: &'static str) -> impl Fn(E) -> String {
    move |e| format!("FAILED {what}: {e}")
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let endpoints: Vec<String> = std::env::args()
        .nth(1)
        .unwrap_or_default()
        .split(',')
        .filter(|e| !e.is_empty())
        .map(str::to_string)
        .collect();
    if endpoints.is_empty() {
        eprintln!("usage: synod-etcd-compat ENDPOINT[,ENDPOINT...]");
        std::process::exit(2);
    }
    let run = async {
        let mut c = Client::connect(&endpoints, None)
            .await
            .map_err(err("connect"))?;
        kv(&mut c).await?;
        txn(&mut c).await?;
        watch(&mut c).await?;
        lease(&mut c).await?;
        cluster(&mut c, endpoints.len()).await?;
        each_endpoint(&endpoints).await?;
        compact(&mut c).await
    };
    match tokio::time::timeout(Duration::from_secs(120), run).await {
        Ok(Ok(())) => println!("all checks passed"),
        Ok(Err(e)) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
        Err(_) => {
            eprintln!("FAILED: the checks did not finish within 120 s");
            std::process::exit(1);
        }
    }
}

fn value(kv: Option<&etcd_client::KeyValue>) -> &[u8] {
    kv.map_or(&[][..], |kv| kv.value())
}

/// Range, Put and DeleteRange with their options.
async fn kv(c: &mut Client) -> Result<()> {
    let first = c.put("k", "v1", None).await.map_err(err("put"))?;
    let rev1 = first.header().map_or(0, |h| h.revision());
    check(rev1 > 1, "put: the header carries the new revision")?;
    let second = c
        .put("k", "v2", Some(PutOptions::new().with_prev_key()))
        .await
        .map_err(err("put prev_kv"))?;
    check(
        value(second.prev_key()) == b"v1",
        "put prev_kv returns the old pair",
    )?;
    let got = c.get("k", None).await.map_err(err("get"))?;
    let kv = got.kvs().first().ok_or("FAILED get: no pair")?;
    check(
        kv.value() == b"v2"
            && kv.version() == 2
            && kv.create_revision() == rev1
            && kv.mod_revision() == rev1 + 1,
        "get: value, version, create and mod revision",
    )?;
    let old = c
        .get("k", Some(GetOptions::new().with_revision(rev1)))
        .await
        .map_err(err("get at a revision"))?;
    check(
        value(old.kvs().first()) == b"v1",
        "get at an older revision",
    )?;
    let serializable = c
        .get("k", Some(GetOptions::new().with_serializable()))
        .await
        .map_err(err("serializable get"))?;
    check(serializable.kvs().len() == 1, "serializable get")?;

    for key in ["p/1", "p/2", "p/3", "q/1"] {
        c.put(key, key, None).await.map_err(err("put"))?;
    }
    let prefix = c
        .get("p/", Some(GetOptions::new().with_prefix()))
        .await
        .map_err(err("prefix"))?;
    let keys: Vec<&[u8]> = prefix.kvs().iter().map(|kv| kv.key()).collect();
    check(
        keys == [b"p/1", b"p/2", b"p/3"] && prefix.count() == 3,
        "get --prefix",
    )?;
    let range = c
        .get("p/2", Some(GetOptions::new().with_range("q/")))
        .await
        .map_err(err("range"))?;
    check(range.kvs().len() == 2, "get with range_end")?;
    let from = c
        .get("p/3", Some(GetOptions::new().with_from_key()))
        .await
        .map_err(err("from key"))?;
    check(
        from.kvs().first().map(|kv| kv.key()) == Some(b"p/3") && from.kvs().len() == 2,
        "get from a key",
    )?;
    let limited = c
        .get("p/", Some(GetOptions::new().with_prefix().with_limit(1)))
        .await
        .map_err(err("limit"))?;
    check(
        limited.kvs().len() == 1 && limited.more() && limited.count() == 3,
        "get with a limit: more and count",
    )?;
    let counted = c
        .get(
            "p/",
            Some(GetOptions::new().with_prefix().with_count_only()),
        )
        .await
        .map_err(err("count only"))?;
    check(
        counted.kvs().is_empty() && counted.count() == 3,
        "count only",
    )?;
    let keys_only = c
        .get("p/", Some(GetOptions::new().with_prefix().with_keys_only()))
        .await
        .map_err(err("keys only"))?;
    check(
        keys_only.kvs().len() == 3 && keys_only.kvs().iter().all(|kv| kv.value().is_empty()),
        "keys only",
    )?;
    let sorted = c
        .get(
            "p/",
            Some(
                GetOptions::new()
                    .with_prefix()
                    .with_sort(SortTarget::Key, SortOrder::Descend),
            ),
        )
        .await
        .map_err(err("sort"))?;
    check(
        sorted.kvs().first().map(|kv| kv.key()) == Some(b"p/3"),
        "sorted descending by key",
    )?;

    c.put("ign", "kept", None).await.map_err(err("put"))?;
    let lease = c.lease_grant(60, None).await.map_err(err("grant"))?.id();
    c.put(
        "ign",
        "",
        Some(PutOptions::new().with_ignore_value().with_lease(lease)),
    )
    .await
    .map_err(err("put ignore_value"))?;
    let got = c.get("ign", None).await.map_err(err("get"))?;
    let kv = got.kvs().first().ok_or("FAILED ignore_value: no pair")?;
    check(
        kv.value() == b"kept" && kv.lease() == lease,
        "put ignore_value keeps the value, takes the lease",
    )?;
    c.put("ign", "new", Some(PutOptions::new().with_ignore_lease()))
        .await
        .map_err(err("put ignore_lease"))?;
    let got = c.get("ign", None).await.map_err(err("get"))?;
    let kv = got.kvs().first().ok_or("FAILED ignore_lease: no pair")?;
    check(
        kv.value() == b"new" && kv.lease() == lease,
        "put ignore_lease keeps the lease",
    )?;
    c.lease_revoke(lease).await.map_err(err("revoke"))?;

    let deleted = c
        .delete("p/1", Some(DeleteOptions::new().with_prev_key()))
        .await
        .map_err(err("delete"))?;
    check(
        deleted.deleted() == 1 && value(deleted.prev_kvs().first()) == b"p/1",
        "delete with prev_kv",
    )?;
    let deleted = c
        .delete("p/", Some(DeleteOptions::new().with_prefix()))
        .await
        .map_err(err("delete prefix"))?;
    check(deleted.deleted() == 2, "delete a prefix")?;
    let gone = c.get("p/2", None).await.map_err(err("get"))?;
    check(
        gone.kvs().is_empty() && gone.count() == 0,
        "deleted keys are gone",
    )
}

/// Txn: every compare target and operator, both branches, nested txns.
async fn txn(c: &mut Client) -> Result<()> {
    let put = c.put("t", "a", None).await.map_err(err("put"))?;
    let rev = put.header().map_or(0, |h| h.revision());
    let compares = [
        Compare::value("t", CompareOp::Equal, "a"),
        Compare::value("t", CompareOp::NotEqual, "b"),
        Compare::version("t", CompareOp::Greater, 0),
        Compare::create_revision("t", CompareOp::Equal, rev),
        Compare::mod_revision("t", CompareOp::Less, rev + 1),
        Compare::lease("t", CompareOp::Equal, 0),
    ];
    let done = c
        .txn(
            Txn::new()
                .when(compares)
                .and_then([
                    TxnOp::put("t-then", "yes", None),
                    TxnOp::get("t", None),
                    TxnOp::txn(Txn::new().and_then([TxnOp::put("t-nested", "yes", None)])),
                ])
                .or_else([TxnOp::put("t-else", "yes", None)]),
        )
        .await
        .map_err(err("txn"))?;
    let responses = done.op_responses();
    let read =
        matches!(responses.get(1), Some(TxnOpResponse::Get(g)) if value(g.kvs().first()) == b"a");
    let nested = matches!(responses.get(2), Some(TxnOpResponse::Txn(t)) if t.succeeded());
    check(
        done.succeeded() && responses.len() == 3 && read && nested,
        "txn: six compares hold, success branch with a nested txn",
    )?;
    let failed = c
        .txn(
            Txn::new()
                .when([Compare::value("t", CompareOp::Greater, "z")])
                .and_then([TxnOp::put("t-then2", "yes", None)])
                .or_else([TxnOp::delete("t-then", None)]),
        )
        .await
        .map_err(err("txn"))?;
    let deleted =
        matches!(failed.op_responses().first(), Some(TxnOpResponse::Delete(d)) if d.deleted() == 1);
    check(!failed.succeeded() && deleted, "txn: failure branch")?;
    let nested = c.get("t-nested", None).await.map_err(err("get"))?;
    let then2 = c.get("t-then2", None).await.map_err(err("get"))?;
    check(
        nested.kvs().len() == 1 && then2.kvs().is_empty(),
        "txn: only the branch taken applied",
    )
}

/// The next message of a stream, within 10 s.
async fn within<T, E: std::fmt::Display>(
    what: &'static str,
    next: impl std::future::Future<Output = std::result::Result<Option<T>, E>>,
) -> Result<T> {
    tokio::time::timeout(Duration::from_secs(10), next)
        .await
        .map_err(|_| format!("FAILED {what}: nothing within 10 s"))?
        .map_err(err(what))?
        .ok_or_else(|| format!("FAILED {what}: the stream ended"))
}

async fn next_events(stream: &mut WatchStream) -> Result<etcd_client::WatchResponse> {
    loop {
        let message = within("watch", stream.message()).await?;
        if !message.events().is_empty() || message.canceled() {
            return Ok(message);
        }
    }
}

/// Watch: a prefix with prev_kv, filters, start revisions, progress, cancel.
async fn watch(c: &mut Client) -> Result<()> {
    let mut stream = c
        .watch(
            "w/",
            Some(WatchOptions::new().with_prefix().with_prev_key()),
        )
        .await
        .map_err(err("watch"))?;
    let created = next_created(&mut stream).await?;
    let first = c.put("w/1", "a", None).await.map_err(err("put"))?;
    let start = first.header().map_or(0, |h| h.revision());
    c.put("w/1", "b", None).await.map_err(err("put"))?;
    c.delete("w/1", None).await.map_err(err("delete"))?;
    let mut events = Vec::new();
    while events.len() < 3 {
        let message = next_events(&mut stream).await?;
        events.extend(message.events().iter().map(|e| {
            (
                e.event_type(),
                e.kv().map(|kv| kv.value().to_vec()).unwrap_or_default(),
                value(e.prev_kv()).to_vec(),
                e.kv().map_or(0, |kv| kv.mod_revision()),
            )
        }));
    }
    check(
        events
            == [
                (EventType::Put, b"a".to_vec(), vec![], start),
                (EventType::Put, b"b".to_vec(), b"a".to_vec(), start + 1),
                (EventType::Delete, vec![], b"b".to_vec(), start + 2),
            ],
        "watch a prefix: events in revision order, with prev_kv",
    )?;
    stream.request_progress().await.map_err(err("progress"))?;
    let progress = loop {
        let message = within("progress", stream.message()).await?;
        if message.events().is_empty() && !message.created() {
            break message;
        }
    };
    check(
        progress.header().map_or(0, |h| h.revision()) >= start + 2,
        "progress notification at the current revision",
    )?;
    stream.cancel(created).await.map_err(err("cancel"))?;
    let canceled = next_events(&mut stream).await?;
    check(
        canceled.canceled() && canceled.watch_id() == created,
        "cancel",
    )?;

    // From a past revision, deletes only.
    let mut history = c
        .watch(
            "w/",
            Some(
                WatchOptions::new()
                    .with_prefix()
                    .with_start_revision(start)
                    .with_filters([WatchFilterType::NoPut]),
            ),
        )
        .await
        .map_err(err("watch from a revision"))?;
    let message = next_events(&mut history).await?;
    check(
        message.events().len() == 1 && message.events()[0].event_type() == EventType::Delete,
        "watch from a past revision, NOPUT filter",
    )
}

async fn next_created(stream: &mut WatchStream) -> Result<i64> {
    let message = within("watch", stream.message()).await?;
    check(message.created(), "watch created")?;
    Ok(message.watch_id())
}

/// Lease: grant, attach, time to live with keys, keep-alive, list, revoke.
async fn lease(c: &mut Client) -> Result<()> {
    let granted = c.lease_grant(30, None).await.map_err(err("grant"))?;
    let id = granted.id();
    check(id != 0 && granted.ttl() == 30, "lease grant")?;
    c.put("leased", "v", Some(PutOptions::new().with_lease(id)))
        .await
        .map_err(err("put with a lease"))?;
    let ttl = c
        .lease_time_to_live(id, Some(LeaseTimeToLiveOptions::new().with_keys()))
        .await
        .map_err(err("time to live"))?;
    check(
        ttl.granted_ttl() == 30
            && (1..=30).contains(&ttl.ttl())
            && ttl.keys() == [b"leased".to_vec()],
        "lease time-to-live with keys",
    )?;
    let (mut keeper, mut responses) = c.lease_keep_alive(id).await.map_err(err("keep-alive"))?;
    keeper.keep_alive().await.map_err(err("keep-alive"))?;
    let kept = within("keep-alive", responses.message()).await?;
    check(kept.id() == id && kept.ttl() == 30, "lease keep-alive")?;
    let leases = c.leases().await.map_err(err("leases"))?;
    check(leases.leases().iter().any(|l| l.id() == id), "lease list")?;
    c.lease_revoke(id).await.map_err(err("revoke"))?;
    let gone = c.get("leased", None).await.map_err(err("get"))?;
    check(gone.kvs().is_empty(), "a revoked lease takes its keys")?;
    let after = c.lease_time_to_live(id, None).await;
    check(
        after.map(|r| r.ttl()).unwrap_or(-1) == -1,
        "a revoked lease is gone",
    )
}

/// Cluster MemberList and Maintenance Status.
async fn cluster(c: &mut Client, nodes: usize) -> Result<()> {
    let members = c.member_list().await.map_err(err("member list"))?;
    check(members.members().len() == nodes, "member list")?;
    let status = c.status().await.map_err(err("status"))?;
    check(
        !status.version().is_empty()
            && status.leader() != 0
            && status.raft_index() > 0
            && status.raft_term() > 0,
        "status: version, leader, index, term",
    )
}

/// Every endpoint serves reads and takes writes (a follower forwards them).
async fn each_endpoint(endpoints: &[String]) -> Result<()> {
    for (i, endpoint) in endpoints.iter().enumerate() {
        let mut c = Client::connect([endpoint], None)
            .await
            .map_err(err("connect"))?;
        let key = format!("via-{i}");
        c.put(key.as_str(), "v", None)
            .await
            .map_err(err("put through one endpoint"))?;
        let got = c.get(key.as_str(), None).await.map_err(err("get"))?;
        check(
            value(got.kvs().first()) == b"v",
            &format!("endpoint {endpoint} takes a write and reads it back"),
        )?;
    }
    Ok(())
}

/// Compact: reads below the compaction revision fail as etcd's do.
async fn compact(c: &mut Client) -> Result<()> {
    let first = c.put("c", "1", None).await.map_err(err("put"))?;
    let old = first.header().map_or(0, |h| h.revision());
    let second = c.put("c", "2", None).await.map_err(err("put"))?;
    let now = second.header().map_or(0, |h| h.revision());
    c.compact(now, None).await.map_err(err("compact"))?;
    let below = c.get("c", Some(GetOptions::new().with_revision(old))).await;
    check(
        below.is_err_and(|e| e.to_string().contains("compacted")),
        "a read below the compaction revision is refused",
    )?;
    let at = c
        .get("c", Some(GetOptions::new().with_revision(now)))
        .await
        .map_err(err("get at the compaction revision"))?;
    check(
        value(at.kvs().first()) == b"2",
        "a read at the compaction revision",
    )
}

//! The MVCC store's etcd semantics, request by request.

use synod_core::StateMachine;
use synod_etcd::Store;
use synod_etcd::command::{Command, Response, decode_outcome, encode_command};
use synod_etcd::error::EtcdError;
use synod_etcd::request::*;
use synod_etcd::types::{EventType, KeyRange, prefix_end};

fn put(s: &mut Store, k: &str, v: &str) -> i64 {
    s.put(&PutRequest {
        key: k.into(),
        value: v.into(),
        ..Default::default()
    })
    .unwrap()
    .revision
}

fn put_lease(s: &mut Store, k: &str, v: &str, lease: i64) -> Result<PutResult, EtcdError> {
    s.put(&PutRequest {
        key: k.into(),
        value: v.into(),
        lease,
        ..Default::default()
    })
}

fn range(key: &str, end: &[u8]) -> RangeRequest {
    RangeRequest {
        key: key.into(),
        range_end: end.to_vec(),
        ..Default::default()
    }
}

fn keys(r: &RangeResult) -> Vec<String> {
    r.kvs
        .iter()
        .map(|kv| String::from_utf8_lossy(&kv.key).into_owned())
        .collect()
}

fn del(s: &mut Store, k: &str, end: &[u8]) -> DeleteRangeResult {
    s.delete_range(&DeleteRangeRequest {
        key: k.into(),
        range_end: end.to_vec(),
        prev_kv: true,
    })
    .unwrap()
}

#[test]
fn an_empty_store_is_at_revision_one() {
    let s = Store::new();
    assert_eq!(s.revision(), 1);
    let r = s.read_range(&range("a", b"")).unwrap();
    assert_eq!((r.revision, r.count, r.kvs.len()), (1, 0, 0));
}

#[test]
fn puts_take_revisions_and_track_generations() {
    let mut s = Store::new();
    assert_eq!(put(&mut s, "a", "1"), 2);
    assert_eq!(put(&mut s, "a", "2"), 3);
    let kv = s.get(b"a").unwrap().clone();
    assert_eq!((kv.create_revision, kv.mod_revision, kv.version), (2, 3, 2));
    assert_eq!(del(&mut s, "a", b"").deleted, 1);
    assert_eq!(s.revision(), 4);
    assert_eq!(put(&mut s, "a", "3"), 5);
    let kv = s.get(b"a").unwrap();
    assert_eq!((kv.create_revision, kv.mod_revision, kv.version), (5, 5, 1));
}

#[test]
fn put_returns_prev_kv_only_when_asked() {
    let mut s = Store::new();
    put(&mut s, "a", "1");
    let r = s
        .put(&PutRequest {
            key: "a".into(),
            value: "2".into(),
            prev_kv: true,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(r.prev_kv.unwrap().value, b"1");
    let r = s
        .put(&PutRequest {
            key: "b".into(),
            prev_kv: true,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(r.prev_kv, None);
}

#[test]
fn ignore_value_and_ignore_lease() {
    let mut s = Store::new();
    s.lease_grant(7, 60).unwrap();
    put_lease(&mut s, "a", "v", 7).unwrap();
    let ignore_value = PutRequest {
        key: "a".into(),
        ignore_value: true,
        ..Default::default()
    };
    // Keeps the value, and lease 0 given explicitly detaches the lease.
    s.put(&ignore_value).unwrap();
    let kv = s.get(b"a").unwrap();
    assert_eq!(
        (kv.value.as_slice(), kv.lease, kv.version),
        (&b"v"[..], 0, 2)
    );
    s.lease_grant(8, 60).unwrap();
    put_lease(&mut s, "a", "w", 8).unwrap();
    s.put(&PutRequest {
        key: "a".into(),
        value: "x".into(),
        ignore_lease: true,
        ..Default::default()
    })
    .unwrap();
    let kv = s.get(b"a").unwrap();
    assert_eq!((kv.value.as_slice(), kv.lease), (&b"x"[..], 8));
    // etcd's errors
    let missing = PutRequest {
        key: "nope".into(),
        ignore_value: true,
        ..Default::default()
    };
    assert_eq!(s.put(&missing), Err(EtcdError::KeyNotFound));
    let with_value = PutRequest {
        value: "v".into(),
        ..ignore_value.clone()
    };
    assert_eq!(s.put(&with_value), Err(EtcdError::ValueProvided));
    let with_lease = PutRequest {
        key: "a".into(),
        lease: 8,
        ignore_lease: true,
        ..Default::default()
    };
    assert_eq!(s.put(&with_lease), Err(EtcdError::LeaseProvided));
    assert_eq!(
        s.put(&PutRequest::default()),
        Err(EtcdError::EmptyKey),
        "an empty key"
    );
}

#[test]
fn ranges_single_interval_prefix_and_from_key() {
    let mut s = Store::new();
    for k in ["a", "ab", "abc", "b", "c"] {
        put(&mut s, k, k);
    }
    assert_eq!(keys(&s.read_range(&range("ab", b"")).unwrap()), ["ab"]);
    assert_eq!(
        keys(&s.read_range(&range("a", b"b")).unwrap()),
        ["a", "ab", "abc"]
    );
    assert_eq!(
        keys(&s.read_range(&range("ab", &prefix_end(b"ab"))).unwrap()),
        ["ab", "abc"]
    );
    assert_eq!(keys(&s.read_range(&range("b", b"\0")).unwrap()), ["b", "c"]);
    assert_eq!(keys(&s.read_range(&range("\0", b"\0")).unwrap()).len(), 5);
    assert_eq!(keys(&s.read_range(&range("c", b"a")).unwrap()).len(), 0);
    assert_eq!(s.read_range(&range("", b"")), Err(EtcdError::EmptyKey));
}

#[test]
fn limit_more_count_keys_only_count_only() {
    let mut s = Store::new();
    for k in ["a", "b", "c", "d"] {
        put(&mut s, k, "value");
    }
    let r = s
        .read_range(&RangeRequest {
            limit: 2,
            ..range("a", b"\0")
        })
        .unwrap();
    assert_eq!(
        (keys(&r), r.more, r.count),
        (vec!["a".into(), "b".into()], true, 4)
    );
    let r = s
        .read_range(&RangeRequest {
            limit: 4,
            ..range("a", b"\0")
        })
        .unwrap();
    assert!(!r.more);
    let r = s
        .read_range(&RangeRequest {
            keys_only: true,
            ..range("a", b"\0")
        })
        .unwrap();
    assert!(
        r.kvs
            .iter()
            .all(|kv| kv.value.is_empty() && kv.version == 1)
    );
    let r = s
        .read_range(&RangeRequest {
            count_only: true,
            ..range("a", b"c")
        })
        .unwrap();
    assert_eq!((r.count, r.kvs.len()), (2, 0));
}

#[test]
fn sorting_follows_etcds_defaults() {
    let mut s = Store::new();
    put(&mut s, "a", "3");
    put(&mut s, "b", "1");
    put(&mut s, "c", "2");
    put(&mut s, "b", "1"); // b: version 2, mod 5
    let sorted = |target, order| {
        keys(
            &s.read_range(&RangeRequest {
                sort_target: target,
                sort_order: order,
                ..range("a", b"\0")
            })
            .unwrap(),
        )
        .concat()
    };
    assert_eq!(sorted(SortTarget::Key, SortOrder::None), "abc");
    assert_eq!(sorted(SortTarget::Key, SortOrder::Descend), "cba");
    // A target other than KEY with order NONE sorts ascending.
    assert_eq!(sorted(SortTarget::Value, SortOrder::None), "bca");
    assert_eq!(sorted(SortTarget::Value, SortOrder::Descend), "acb");
    assert_eq!(sorted(SortTarget::Mod, SortOrder::Descend), "bca");
    assert_eq!(sorted(SortTarget::Create, SortOrder::Ascend), "abc");
    // Ties keep key order.
    assert_eq!(sorted(SortTarget::Version, SortOrder::Ascend), "acb");
    // With a sort, limit applies after sorting.
    let r = s
        .read_range(&RangeRequest {
            sort_target: SortTarget::Value,
            sort_order: SortOrder::Descend,
            limit: 1,
            ..range("a", b"\0")
        })
        .unwrap();
    assert_eq!(
        (keys(&r), r.more, r.count),
        (vec!["a".to_string()], true, 3)
    );
}

#[test]
fn revision_filters() {
    let mut s = Store::new();
    put(&mut s, "a", "1"); // 2
    put(&mut s, "b", "1"); // 3
    put(&mut s, "a", "2"); // 4
    let r = s
        .read_range(&RangeRequest {
            min_mod_revision: 4,
            ..range("a", b"\0")
        })
        .unwrap();
    assert_eq!(keys(&r), ["a"]);
    let r = s
        .read_range(&RangeRequest {
            min_create_revision: 3,
            ..range("a", b"\0")
        })
        .unwrap();
    assert_eq!(keys(&r), ["b"]);
}

#[test]
fn reads_at_old_revisions_until_compacted() {
    let mut s = Store::new();
    put(&mut s, "a", "1"); // 2
    put(&mut s, "a", "2"); // 3
    del(&mut s, "a", b""); // 4
    put(&mut s, "b", "1"); // 5
    let at = |s: &Store, rev| {
        s.read_range(&RangeRequest {
            revision: rev,
            ..range("a", b"\0")
        })
    };
    assert_eq!(at(&s, 2).unwrap().kvs[0].value, b"1");
    assert_eq!(at(&s, 3).unwrap().kvs[0].value, b"2");
    assert_eq!(keys(&at(&s, 4).unwrap()), Vec::<String>::new());
    // The header revision is the current one, whatever the read revision.
    assert_eq!(at(&s, 2).unwrap().revision, 5);
    assert_eq!(at(&s, 6), Err(EtcdError::FutureRev));
    assert_eq!(s.compact(3), Ok(5));
    assert_eq!(at(&s, 2), Err(EtcdError::Compacted));
    // The compaction revision itself stays readable, as in etcd.
    assert_eq!(at(&s, 3).unwrap().kvs[0].value, b"2");
    assert_eq!(keys(&at(&s, 5).unwrap()), ["b"]);
    assert_eq!(s.compact(3), Err(EtcdError::Compacted));
    assert_eq!(s.compact(9), Err(EtcdError::FutureRev));
    assert_eq!(s.compact(5), Ok(5));
    assert_eq!(keys(&at(&s, 5).unwrap()), ["b"]);
    assert_eq!(s.revision(), 5, "compaction takes no revision");
}

#[test]
fn delete_range_removes_live_keys_in_one_revision() {
    let mut s = Store::new();
    for k in ["a", "b", "c"] {
        put(&mut s, k, k);
    }
    let r = del(&mut s, "a", b"c");
    assert_eq!(r.deleted, 2);
    assert_eq!(r.revision, 5);
    assert_eq!(
        r.prev_kvs
            .iter()
            .map(|kv| kv.key.clone())
            .collect::<Vec<_>>(),
        [b"a", b"b"]
    );
    let r = del(&mut s, "a", b"c");
    assert_eq!(
        (r.deleted, r.revision),
        (0, 5),
        "deleting nothing takes no revision"
    );
    let events = s
        .events(&KeyRange::prefix(b""), 4, usize::MAX)
        .unwrap()
        .events;
    assert_eq!(events.len(), 2);
    assert!(
        events
            .iter()
            .all(|e| e.kind == EventType::Delete && e.kv.mod_revision == 5)
    );
}

fn cmp(
    target: CompareTarget,
    result: CompareResult,
    key: &str,
    operand: CompareOperand,
) -> Compare {
    Compare {
        result,
        target,
        key: key.into(),
        range_end: Vec::new(),
        operand,
    }
}

fn op_put(k: &str, v: &str) -> RequestOp {
    RequestOp::Put(PutRequest {
        key: k.into(),
        value: v.into(),
        ..Default::default()
    })
}

#[test]
fn txn_compares_every_target_and_result() {
    let mut s = Store::new();
    s.lease_grant(9, 60).unwrap();
    put_lease(&mut s, "k", "m", 9).unwrap(); // rev 2, version 1
    use CompareOperand as O;
    use CompareResult::*;
    use CompareTarget::*;
    let cases = [
        (cmp(Value, Equal, "k", O::Value("m".into())), true),
        (cmp(Value, Greater, "k", O::Value("l".into())), true),
        (cmp(Value, Less, "k", O::Value("l".into())), false),
        (cmp(Value, NotEqual, "k", O::Value("m".into())), false),
        (cmp(Version, Equal, "k", O::Version(1)), true),
        (cmp(Create, Equal, "k", O::CreateRevision(2)), true),
        (cmp(Mod, Greater, "k", O::ModRevision(1)), true),
        (cmp(Lease, Equal, "k", O::Lease(9)), true),
        // An absent key compares as zeros, except on value.
        (cmp(Version, Equal, "absent", O::Version(0)), true),
        (cmp(Create, Less, "absent", O::CreateRevision(1)), true),
        (cmp(Value, NotEqual, "absent", O::Value("x".into())), false),
        // A mismatched operand is zero.
        (cmp(Version, Greater, "k", O::ModRevision(5)), true),
    ];
    for (c, expected) in cases {
        let r = s
            .txn(&TxnRequest {
                compare: vec![c.clone()],
                ..Default::default()
            })
            .unwrap();
        assert_eq!(r.succeeded, expected, "{c:?}");
    }
}

#[test]
fn txn_compare_over_a_range_needs_every_key() {
    let mut s = Store::new();
    put(&mut s, "p/a", "1");
    put(&mut s, "p/b", "2");
    let mut c = cmp(
        CompareTarget::Value,
        CompareResult::Greater,
        "p/",
        CompareOperand::Value("0".into()),
    );
    c.range_end = prefix_end(b"p/");
    let t = |c: Compare| TxnRequest {
        compare: vec![c],
        ..Default::default()
    };
    assert!(s.txn(&t(c.clone())).unwrap().succeeded);
    c.operand = CompareOperand::Value("1".into());
    assert!(!s.txn(&t(c)).unwrap().succeeded);
}

#[test]
fn txn_runs_the_chosen_branch_in_one_revision() {
    let mut s = Store::new();
    put(&mut s, "k", "1"); // 2
    let t = TxnRequest {
        compare: vec![cmp(
            CompareTarget::Value,
            CompareResult::Equal,
            "k",
            CompareOperand::Value("1".into()),
        )],
        success: vec![
            op_put("a", "x"),
            op_put("b", "y"),
            RequestOp::Range(range("a", b"c")),
        ],
        failure: vec![op_put("f", "z")],
    };
    let r = s.txn(&t).unwrap();
    assert!(r.succeeded);
    assert_eq!(r.revision, 3);
    assert_eq!(s.revision(), 3);
    // The range inside the txn sees the txn's own puts.
    let ResponseOp::Range(inner) = &r.responses[2] else {
        panic!("{r:?}")
    };
    assert_eq!(
        (keys(inner), inner.revision),
        (vec!["a".into(), "b".into()], 3)
    );
    let ResponseOp::Put(p) = &r.responses[0] else {
        panic!()
    };
    assert_eq!(p.revision, 3);
    // Sub-revisions order the events within the revision.
    let evs = s.events(&KeyRange::prefix(b""), 2, 100).unwrap().events;
    assert_eq!(
        evs.iter().map(|e| e.kv.key.clone()).collect::<Vec<_>>(),
        [b"a", b"b"]
    );
    // The failure branch.
    let r2 = s
        .txn(&TxnRequest {
            compare: vec![cmp(
                CompareTarget::Value,
                CompareResult::Equal,
                "k",
                CompareOperand::Value("2".into()),
            )],
            ..t.clone()
        })
        .unwrap();
    assert!(!r2.succeeded);
    assert_eq!(s.get(b"f").unwrap().value, b"z");
}

#[test]
fn read_only_txn_takes_no_revision() {
    let mut s = Store::new();
    put(&mut s, "a", "1");
    let t = TxnRequest {
        success: vec![RequestOp::Range(range("a", b""))],
        ..Default::default()
    };
    let r = s.txn(&t).unwrap();
    assert_eq!((r.revision, s.revision()), (2, 2));
    assert!(t.is_read_only());
    assert_eq!(s.query(&Command::Txn(t)).unwrap().revision(), 2);
    assert!(s.query(&Command::Put(PutRequest::default())).is_err());
}

#[test]
fn nested_txns_see_the_state_before_the_outer_txn() {
    let mut s = Store::new();
    let inner = TxnRequest {
        compare: vec![cmp(
            CompareTarget::Version,
            CompareResult::Equal,
            "a",
            CompareOperand::Version(0),
        )],
        success: vec![op_put("inner-then", "1")],
        failure: vec![op_put("inner-else", "1")],
    };
    let outer = TxnRequest {
        compare: vec![],
        success: vec![op_put("a", "1"), RequestOp::Txn(inner)],
        failure: vec![],
    };
    let r = s.txn(&outer).unwrap();
    // "a" did not exist before the txn, so the inner compare held.
    assert!(s.get(b"inner-then").is_some() && s.get(b"inner-else").is_none());
    let ResponseOp::Txn(nested) = &r.responses[1] else {
        panic!()
    };
    assert!(nested.succeeded);
    assert_eq!(
        nested.revision, 0,
        "etcd leaves a nested txn's header empty"
    );
    assert_eq!(r.revision, 2);
}

#[test]
fn txn_duplicate_key_rules() {
    let mut s = Store::new();
    let dup = |success: Vec<RequestOp>| {
        let mut s = s.clone();
        s.txn(&TxnRequest {
            success,
            ..Default::default()
        })
    };
    let del = |k: &str, end: &[u8]| {
        RequestOp::DeleteRange(DeleteRangeRequest {
            key: k.into(),
            range_end: end.to_vec(),
            prev_kv: false,
        })
    };
    let nested = |then: Vec<RequestOp>, otherwise: Vec<RequestOp>| {
        RequestOp::Txn(TxnRequest {
            compare: vec![],
            success: then,
            failure: otherwise,
        })
    };
    assert_eq!(
        dup(vec![op_put("a", "1"), op_put("a", "2")]),
        Err(EtcdError::DuplicateKey)
    );
    assert_eq!(
        dup(vec![del("a", b"c"), op_put("b", "1")]),
        Err(EtcdError::DuplicateKey)
    );
    assert_eq!(
        dup(vec![del("a", b"\0"), op_put("z", "1")]),
        Err(EtcdError::DuplicateKey)
    );
    assert!(dup(vec![del("a", b"c"), op_put("c", "1")]).is_ok());
    assert_eq!(
        dup(vec![
            op_put("a", "1"),
            nested(vec![op_put("a", "2")], vec![])
        ]),
        Err(EtcdError::DuplicateKey)
    );
    // Then and else of one nested txn never both run.
    assert!(dup(vec![nested(vec![op_put("a", "1")], vec![op_put("a", "2")])]).is_ok());
    assert_eq!(
        dup(vec![del("a", b""), nested(vec![], vec![op_put("a", "2")])]),
        Err(EtcdError::DuplicateKey)
    );
    // Deletes may overlap.
    assert!(dup(vec![del("a", b"c"), del("b", b"")]).is_ok());
    let too_many: Vec<RequestOp> = (0..129).map(|i| op_put(&format!("k{i}"), "v")).collect();
    assert_eq!(dup(too_many), Err(EtcdError::TooManyOps));
    // A failed txn changed nothing.
    assert_eq!(s.revision(), 1);
    put(&mut s, "x", "1");
}

#[test]
fn txn_checks_run_before_any_write() {
    let mut s = Store::new();
    let r = s.txn(&TxnRequest {
        success: vec![
            op_put("a", "1"),
            RequestOp::Put(PutRequest {
                key: "b".into(),
                lease: 42,
                ..Default::default()
            }),
        ],
        ..Default::default()
    });
    assert_eq!(r, Err(EtcdError::LeaseNotFound));
    assert_eq!((s.revision(), s.get(b"a")), (1, None));
    let r = s.txn(&TxnRequest {
        success: vec![
            op_put("a", "1"),
            RequestOp::Range(RangeRequest {
                revision: 5,
                ..range("a", b"")
            }),
        ],
        ..Default::default()
    });
    assert_eq!(r, Err(EtcdError::FutureRev));
    assert_eq!(s.revision(), 1);
}

#[test]
fn leases_attach_move_and_revoke_in_one_revision() {
    let mut s = Store::new();
    assert_eq!(s.lease_grant(0, 30), Ok((1, 30)));
    assert_eq!(
        put_lease(&mut s, "a", "1", 2),
        Err(EtcdError::LeaseNotFound)
    );
    put_lease(&mut s, "a", "1", 1).unwrap();
    put_lease(&mut s, "b", "1", 1).unwrap();
    put_lease(&mut s, "c", "1", 1).unwrap();
    s.lease_grant(5, 30).unwrap();
    put_lease(&mut s, "c", "2", 5).unwrap(); // moves c to lease 5
    del(&mut s, "b", b""); // detaches b
    let attached: Vec<_> = s.leases().get(1).unwrap().keys.iter().cloned().collect();
    assert_eq!(attached, vec![b"a".to_vec()]);
    let before = s.revision();
    assert_eq!(s.lease_revoke(1), Ok(before + 1));
    assert!(s.get(b"a").is_none() && s.get(b"c").is_some());
    assert_eq!(s.lease_revoke(1), Err(EtcdError::LeaseNotFound));
    // A lease with no keys revokes without a revision.
    assert_eq!(s.lease_revoke(5).map(|_| ()), Ok(()));
    assert!(s.get(b"c").is_none(), "c was attached to 5");
    let mut empty = Store::new();
    empty.lease_grant(3, 10).unwrap();
    assert_eq!(empty.lease_revoke(3), Ok(1));
}

#[test]
fn events_carry_prev_kv_and_resume_from_any_revision() {
    let mut s = Store::new();
    put(&mut s, "a", "1"); // 2
    put(&mut s, "b", "1"); // 3
    put(&mut s, "a", "2"); // 4
    del(&mut s, "a", b""); // 5
    let all = s.events(&KeyRange::single(b"a"), 0, usize::MAX).unwrap();
    assert_eq!(all.through, 5);
    let kinds: Vec<_> = all.events.iter().map(|e| (e.kind, e.revision())).collect();
    assert_eq!(
        kinds,
        [
            (EventType::Put, 2),
            (EventType::Put, 4),
            (EventType::Delete, 5)
        ]
    );
    assert_eq!(all.events[0].prev_kv, None);
    assert_eq!(all.events[1].prev_kv.as_ref().unwrap().value, b"1");
    assert_eq!(all.events[2].prev_kv.as_ref().unwrap().value, b"2");
    assert_eq!(all.events[2].kv.version, 0);
    let later = s.events(&KeyRange::single(b"a"), 4, usize::MAX).unwrap();
    assert_eq!(later.events.len(), 1);
    // Batches end on a revision boundary and say how far they got.
    let first = s.events(&KeyRange::prefix(b""), 0, 1).unwrap();
    assert_eq!((first.events.len(), first.through), (1, 2));
    // Compaction: from the compaction revision on is still served.
    s.compact(4).unwrap();
    assert!(s.events(&KeyRange::prefix(b""), 2, 10).is_err());
    let from4 = s.events(&KeyRange::prefix(b""), 3, 10).unwrap();
    assert_eq!(from4.events.len(), 2);
    assert_eq!(
        from4.events[0].prev_kv, None,
        "its predecessor was compacted"
    );
}

#[test]
fn apply_decodes_and_reports_bad_commands() {
    let mut s = Store::new();
    let out = s.apply(&encode_command(&Command::Put(PutRequest {
        key: "k".into(),
        value: "v".into(),
        ..Default::default()
    })));
    assert!(matches!(decode_outcome(&out).unwrap(), Ok(Response::Put(p)) if p.revision == 2));
    let out = s.apply(b"\xff\xff\xff garbage");
    assert!(matches!(
        decode_outcome(&out).unwrap(),
        Err(EtcdError::BadCommand(_))
    ));
    assert_eq!(s.revision(), 2);
    let out = s.apply(&encode_command(&Command::LeaseGrant { id: 0, ttl: 5 }));
    assert_eq!(
        decode_outcome(&out).unwrap(),
        Ok(Response::LeaseGrant {
            revision: 2,
            id: 1,
            ttl: 5
        })
    );
}

#[test]
fn snapshots_restore_and_reject_garbage() {
    let mut s = Store::new();
    s.lease_grant(4, 10).unwrap();
    put_lease(&mut s, "a", "1", 4).unwrap();
    put(&mut s, "b", "1");
    del(&mut s, "b", b"");
    s.compact(3).unwrap();
    let bytes = s.snapshot();
    let mut t = Store::new();
    t.restore(&bytes).unwrap();
    assert_eq!(t, s);
    assert_eq!(t.snapshot(), bytes);
    assert!(t.restore(b"nonsense").is_err());
    assert_eq!(t, s, "a failed restore leaves the state alone");
}

#[test]
fn a_clone_is_a_frozen_capture() {
    fn shareable<T: Send + Sync + 'static>(_: &T) {}
    let mut s = Store::new();
    put(&mut s, "a", "1");
    let capture = s.clone();
    shareable(&capture);
    put(&mut s, "a", "2");
    del(&mut s, "a", b"");
    s.compact(3).unwrap();
    assert_eq!(capture.revision(), 2);
    assert_eq!(capture.get(b"a").unwrap().value, b"1");
    let bytes = capture.snapshot();
    let handle = std::thread::spawn(move || capture.snapshot());
    assert_eq!(handle.join().unwrap(), bytes);
}

#[test]
fn an_expiry_revokes_only_if_no_keep_alive_was_ordered_since_the_leader_decided() {
    let mut s = Store::new();
    s.lease_grant(5, 10).unwrap();
    put_lease(&mut s, "held", "v", 5).unwrap();
    // The leader saw 0 renewals when the TTL ran out; a keep-alive is
    // ordered before its expiry: the expiry leaves the lease alone.
    let alive = s.execute(&Command::LeaseKeepAlive { id: 5 }).unwrap();
    assert!(matches!(alive, Response::LeaseKeepAlive { ttl: 10, .. }));
    assert_eq!(s.leases().get(5).unwrap().renewals, 1);
    let stale = s
        .execute(&Command::LeaseExpire { id: 5, renewals: 0 })
        .unwrap();
    assert!(matches!(
        stale,
        Response::LeaseExpire { revoked: false, .. }
    ));
    assert!(s.get(b"held").is_some());
    // Decided on the count as it stands: revoked, with its keys.
    let revision = s.revision();
    let expired = s
        .execute(&Command::LeaseExpire { id: 5, renewals: 1 })
        .unwrap();
    assert!(matches!(
        expired,
        Response::LeaseExpire { revoked: true, .. }
    ));
    assert!(s.get(b"held").is_none());
    assert_eq!(s.revision(), revision + 1);
    assert!(s.leases().get(5).is_none());
    // Keep-alives and expiries of a lease that is gone answer etcd's error.
    assert_eq!(
        s.execute(&Command::LeaseKeepAlive { id: 5 }),
        Err(EtcdError::LeaseNotFound)
    );
}

#[test]
fn renewal_counts_survive_a_snapshot() {
    let mut s = Store::new();
    s.lease_grant(3, 60).unwrap();
    for _ in 0..4 {
        s.execute(&Command::LeaseKeepAlive { id: 3 }).unwrap();
    }
    let restored = Store::from_snapshot(&s.to_snapshot()).unwrap();
    assert_eq!(restored.leases().get(3).unwrap().renewals, 4);
    assert_eq!(restored.to_snapshot(), s.to_snapshot());
}

#[test]
fn commands_describe_themselves_in_a_short_line() {
    use synod_core::Inspect;
    let put = Command::Put(PutRequest {
        key: "k".into(),
        value: vec![b'x'; 4096],
        ..Default::default()
    });
    assert_eq!(
        Store::describe_command(&encode_command(&put)),
        "put k (4096 B)"
    );
    let range = Command::Range(range("a/", b"a0"));
    assert_eq!(
        Store::describe_command(&encode_command(&range)),
        "range a/..a0"
    );
    assert_eq!(
        Store::describe_command(b"\xff\xff\xff"),
        "(3 bytes, not an etcd command)"
    );
}

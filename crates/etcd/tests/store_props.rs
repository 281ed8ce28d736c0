//! Properties of the store over random command sequences: history reads
//! reproduce every past state, the watch log replays to the same states,
//! snapshots round-trip, and equal command sequences give equal bytes.

use proptest::prelude::*;
use std::collections::BTreeMap;
use synod_core::StateMachine;
use synod_etcd::Store;
use synod_etcd::command::{Command, encode_command};
use synod_etcd::request::*;
use synod_etcd::types::{EventType, KeyRange};

fn key() -> impl Strategy<Value = Vec<u8>> {
    prop::sample::select(vec!["a", "b", "c", "d", "e"]).prop_map(|k| k.as_bytes().to_vec())
}

fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        4 => (key(), 0u8..4, 0i64..3).prop_map(|(key, v, lease)| Command::Put(PutRequest {
            key,
            value: vec![v],
            lease,
            ..Default::default()
        })),
        2 => (key(), prop::option::of(key())).prop_map(|(key, end)| Command::DeleteRange(
            DeleteRangeRequest {
                key,
                range_end: end.unwrap_or_default(),
                prev_kv: true,
            }
        )),
        1 => (key(), key(), 0u8..4).prop_map(|(k1, k2, v)| Command::Txn(TxnRequest {
            compare: vec![Compare {
                target: CompareTarget::Value,
                result: CompareResult::Greater,
                key: k1.clone(),
                operand: CompareOperand::Value(vec![v]),
                ..Default::default()
            }],
            success: vec![RequestOp::Put(PutRequest {
                key: k2,
                value: vec![v],
                ..Default::default()
            })],
            failure: vec![RequestOp::DeleteRange(DeleteRangeRequest {
                key: k1,
                ..Default::default()
            })],
        })),
        1 => (1i64..3).prop_map(|id| Command::LeaseGrant { id, ttl: 10 }),
        1 => (1i64..3).prop_map(|id| Command::LeaseRevoke { id }),
        1 => (0i64..40).prop_map(|revision| Command::Compact { revision }),
    ]
}

type State = BTreeMap<Vec<u8>, (Vec<u8>, i64, i64, i64, i64)>;

fn state_at(s: &Store, rev: i64) -> State {
    s.scan_at(&KeyRange::prefix(b""), rev)
        .into_iter()
        .map(|kv| {
            (
                kv.key.clone(),
                (
                    kv.value.clone(),
                    kv.create_revision,
                    kv.mod_revision,
                    kv.version,
                    kv.lease,
                ),
            )
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn history_and_events_reproduce_every_revision(cmds in prop::collection::vec(command(), 1..60)) {
        let mut s = Store::new();
        let mut seen: BTreeMap<i64, State> = BTreeMap::new();
        seen.insert(1, State::new());
        for c in &cmds {
            let _ = s.execute(c);
            seen.insert(s.revision(), state_at(&s, s.revision()));
        }
        let compacted = s.compact_revision();
        for (rev, state) in seen.range(compacted.max(1)..) {
            prop_assert_eq!(&state_at(&s, *rev), state, "read at {}", rev);
        }
        // Replaying the watch log from the compaction point onto the state
        // there gives each later state.
        let start = compacted.max(1);
        let mut replay = state_at(&s, start);
        let batch = s.events(&KeyRange::prefix(b""), start, usize::MAX).unwrap();
        prop_assert_eq!(batch.through, s.revision());
        // Without the pairs before them, the same events.
        let bare = s.events_with(&KeyRange::prefix(b""), start, usize::MAX, false).unwrap();
        let mut stripped = batch.clone();
        stripped.events.iter_mut().for_each(|e| e.prev_kv = None);
        prop_assert_eq!(bare, stripped);
        let mut last = start;
        for e in batch.events {
            prop_assert!(e.revision() >= last);
            if e.revision() != last {
                prop_assert_eq!(&replay, &seen[&last]);
                last = e.revision();
            }
            match e.kind {
                EventType::Put => {
                    let kv = e.kv;
                    replay.insert(kv.key, (kv.value, kv.create_revision, kv.mod_revision, kv.version, kv.lease));
                }
                EventType::Delete => {
                    prop_assert!(replay.remove(&e.kv.key).is_some());
                }
            }
        }
        prop_assert_eq!(&replay, &seen[&s.revision()]);
    }

    #[test]
    fn snapshots_round_trip_and_are_deterministic(cmds in prop::collection::vec(command(), 0..60), split in 0usize..60) {
        let mut a = Store::new();
        let mut b = Store::new();
        let split = split.min(cmds.len());
        for c in &cmds[..split] {
            a.apply(&encode_command(c));
            b.apply(&encode_command(c));
        }
        // b goes through a snapshot halfway, then both carry on.
        let mut restored = Store::new();
        restored.restore(&b.snapshot()).unwrap();
        prop_assert_eq!(&restored, &b);
        let mut b = restored;
        for c in &cmds[split..] {
            let ra = a.apply(&encode_command(c));
            let rb = b.apply(&encode_command(c));
            prop_assert_eq!(ra, rb);
        }
        prop_assert_eq!(a.snapshot(), b.snapshot());
        prop_assert_eq!(&a, &b);
    }

    #[test]
    fn leases_index_exactly_the_live_keys_holding_them(cmds in prop::collection::vec(command(), 0..60)) {
        let mut s = Store::new();
        for c in &cmds {
            let _ = s.execute(c);
        }
        for (id, lease) in s.leases().iter() {
            for k in lease.keys.iter() {
                prop_assert_eq!(s.get(k).map(|kv| kv.lease), Some(id));
            }
        }
        for kv in s.scan_at(&KeyRange::prefix(b""), s.revision()) {
            if kv.lease != 0 {
                prop_assert!(s.leases().get(kv.lease).is_some_and(|l| l.keys.contains(&kv.key)));
            }
        }
    }
}

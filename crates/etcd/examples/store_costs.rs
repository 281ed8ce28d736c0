//! What the etcd store's own work costs, without consensus or gRPC: puts
//! as etcd-bench makes them (10,000 keys, 256-byte values) with the store
//! captured every 20,000 puts as a node's checkpoints capture it, then a
//! range over every key at an old revision and the watch events from an
//! old revision, with the pair before each and without (as most watchers
//! ask). Prints the median of 5 rounds of each.
//!
//!     cargo run --release -p synod-etcd --example store_costs

use std::time::Instant;
use synod_core::StateMachine;
use synod_etcd::Store;
use synod_etcd::command::{Command, encode_command};
use synod_etcd::request::{PutRequest, RangeRequest};
use synod_etcd::types::KeyRange;

const KEYS: u64 = 10_000;
const PUTS: u64 = 200_000;
const CAPTURE_EVERY: usize = 20_000;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let value = vec![7u8; 256];
    let commands: Vec<Vec<u8>> = (0..PUTS)
        .map(|n| {
            encode_command(&Command::Put(PutRequest {
                key: format!("k{:08}", (n * 7919) % KEYS).into_bytes(),
                value: value.clone(),
                ..Default::default()
            }))
        })
        .collect();
    let (mut puts, mut ranges) = (Vec::new(), Vec::new());
    let (mut events, mut bare_events) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        let mut store = Store::new();
        let mut captured = Vec::new();
        let started = Instant::now();
        for (i, command) in commands.iter().enumerate() {
            store.apply(command);
            if i % CAPTURE_EVERY == 0 {
                // A checkpoint's capture lives until its snapshot is built.
                captured.push(store.clone());
                if captured.len() > 2 {
                    captured.remove(0);
                }
            }
        }
        puts.push(started.elapsed().as_secs_f64() * 1e6 / PUTS as f64);

        // A tenth of the way into the history: most changes are newer.
        let old = store.revision() / 10;
        let all = RangeRequest {
            key: b"\0".to_vec(),
            range_end: b"\0".to_vec(),
            revision: old,
            ..Default::default()
        };
        let started = Instant::now();
        let found = store
            .range(&all, store.revision())
            .expect("a range")
            .kvs
            .len();
        ranges.push(started.elapsed().as_secs_f64() * 1e6 / found.max(1) as f64);

        let started = Instant::now();
        let batch = store
            .events(&KeyRange::prefix(b""), old, 50_000)
            .expect("not compacted");
        events.push(started.elapsed().as_secs_f64() * 1e6 / batch.events.len().max(1) as f64);

        let started = Instant::now();
        let batch = store
            .events_with(&KeyRange::prefix(b""), old, 50_000, false)
            .expect("not compacted");
        bare_events.push(started.elapsed().as_secs_f64() * 1e6 / batch.events.len().max(1) as f64);
    }
    println!(
        "put: {:.3} us; range at an old revision: {:.3} us per key; events from an old revision: {:.3} us per event, {:.3} without the pair before (medians of 5)",
        median(puts),
        median(ranges),
        median(events),
        median(bare_events)
    );
}

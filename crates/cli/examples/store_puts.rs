//! What a put costs the etcd store, alone: the load of etcd-bench (puts of
//! 256-byte values cycling over 10,000 keys) applied to one `Store`, with a
//! capture (`clone`, as a checkpoint takes one) every so many puts, held
//! for a while as the checkpoint's build holds it. Prints nanoseconds per
//! put over the measured part.
//!
//!     cargo run --release -p synod --example store_puts -- [PUTS] [CAPTURE_EVERY] [HOLD] [KEYS]
//!
//! Defaults: 150,000 puts (the first 50,000 warm the store up and are not
//! timed), a capture every 24,000 (about what 8 MiB of log holds) held
//! for 2,000 puts (a 140 ms build at 14,000 puts a second), 10,000 keys.
//! CAPTURE_EVERY 0 takes none. Run it several times: a figure, not a
//! test.

use mimalloc::MiMalloc;
use std::time::Instant;
use synod_etcd::mvcc::Store;
use synod_etcd::request::PutRequest;

#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

fn arg(n: usize, default: u64) -> u64 {
    std::env::args()
        .nth(n)
        .map(|a| a.parse().expect("a number"))
        .unwrap_or(default)
}

fn main() {
    let (puts, every) = (arg(1, 150_000), arg(2, 24_000));
    let (hold, keys) = (arg(3, 2_000), arg(4, 10_000));
    let warm = puts / 3;
    let mut store = Store::new();
    let mut held = None;
    let mut started = Instant::now();
    for n in 0..puts {
        if n == warm {
            started = Instant::now();
        }
        if every > 0 && n % every == 0 {
            held = Some(store.clone());
        }
        if every > 0 && n % every == hold {
            held = None;
        }
        let req = PutRequest {
            key: format!("k{:08}", (n * 7919) % keys).into_bytes(),
            value: vec![b'x'; 256],
            ..PutRequest::default()
        };
        store.put(&req).expect("a valid put");
    }
    let timed = puts - warm;
    let ns = started.elapsed().as_nanos() as f64 / timed as f64;
    drop(held);
    println!(
        "{{\"puts\":{timed},\"capture_every\":{every},\"hold\":{hold},\"keys\":{keys},\"ns_per_put\":{ns:.0}}}"
    );
}

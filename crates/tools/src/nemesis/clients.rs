//! The nemesis's clients: each draws its commands from the shared workload
//! of synod-check and records every operation (invocation, completion, the
//! application's outcome or unknown) on one clock shared by all of them.
//! With reads on (the `kv-reads` workload), kv gets are linearizable reads
//! without a log write (`SynodClient::read` with `RequestKind::Read`), and
//! half of all operations are extra gets: a read-heavy history.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use synod_apps::{Command, KvOp};
use synod_check::Op;
use synod_check::workload::{AppKind, ClientWorkload, KV_KEYS};
use synod_core::RequestKind;
use synod_node::ClusterFile;
use synod_node::client::{ClientOptions, CommandResult, SynodClient};
use synod_node::tls::Security;

/// How long a client waits for a reply before broadcasting its command
/// again (T_c of the failover bound).
pub const CLIENT_TIMEOUT: Duration = Duration::from_millis(200);

/// What the clients share: the stop switch, the history, and its clock.
pub struct Recorder {
    pub stop: AtomicBool,
    pub history: Mutex<Vec<Op>>,
    pub start: Instant,
    /// Linearizable reads answered without a log write.
    pub reads: AtomicUsize,
}

impl Recorder {
    pub fn new(start: Instant) -> Self {
        Recorder {
            stop: AtomicBool::new(false),
            history: Mutex::new(Vec::new()),
            start,
            reads: AtomicUsize::new(0),
        }
    }

    /// Microseconds on the history's clock.
    pub fn now_us(&self) -> u64 {
        self.start.elapsed().as_micros() as u64
    }

    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// The operations recorded so far.
    pub fn ops(&self) -> Vec<Op> {
        self.history.lock().map(|h| h.clone()).unwrap_or_default()
    }
}

/// Client `n` of a run seeded `seed`: runs until the recorder stops it.
/// With `reads`, kv gets go as linearizable reads, and half of the
/// operations are extra gets.
pub async fn client_loop(
    file: ClusterFile,
    security: Security,
    n: usize,
    kind: AppKind,
    reads: bool,
    seed: u64,
    recorder: Arc<Recorder>,
) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ (n as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let mut workload = ClientWorkload::new(kind, format!("c{n}")).without_order_book_reads();
    let options = ClientOptions {
        timeout: CLIENT_TIMEOUT,
        retries: 5,
        id: None,
        first_contact: None,
    };
    let mut client = SynodClient::with_security(&file, options, security);
    while !recorder.stopped() {
        let command = if reads && rng.random_bool(0.5) {
            let key = KV_KEYS[rng.random_range(0..KV_KEYS.len())];
            Command::Kv(KvOp::Get { key: key.into() })
        } else {
            workload.next_command(&mut rng)
        };
        let read = reads && matches!(command, Command::Kv(KvOp::Get { .. }));
        let invoke = recorder.now_us();
        if read {
            // Not retried if unknown: a read changed nothing, and the
            // checker drops a read without a result.
            let result = client.read(&command, RequestKind::Read).await;
            let outcome = result.outcome().cloned();
            if let Some(outcome) = &outcome {
                workload.observe(&command, outcome);
                recorder.reads.fetch_add(1, Ordering::Relaxed);
            }
            let complete = outcome.as_ref().map(|_| recorder.now_us());
            if let Ok(mut h) = recorder.history.lock() {
                h.push(Op {
                    client: client.id().0,
                    invoke,
                    complete,
                    command,
                    outcome,
                });
            }
            continue;
        }
        let mut result = client.execute(&command).await;
        // An unknown outcome is retried under its own timestamp until it
        // resolves: one operation, applied at most once, with a long latency.
        while result == CommandResult::Unknown && !recorder.stopped() {
            result = client
                .retry_unknown::<synod_apps::Command>()
                .await
                .unwrap_or(CommandResult::Unknown);
        }
        let outcome = result.outcome().cloned();
        if let Some(outcome) = &outcome {
            workload.observe(&command, outcome);
        }
        let complete = outcome.as_ref().map(|_| recorder.now_us());
        if let Ok(mut h) = recorder.history.lock() {
            h.push(Op {
                client: client.id().0,
                invoke,
                complete,
                command,
                outcome,
            });
        }
    }
}

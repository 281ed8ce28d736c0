//! The nemesis's clients: each draws its commands from the shared workload
//! of synod-check and records every operation (invocation, completion, the
//! application's outcome or unknown) on one clock shared by all of them.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use synod_check::Op;
use synod_check::workload::{AppKind, ClientWorkload};
use synod_node::ClusterFile;
use synod_node::client::{ClientOptions, CommandResult, SynodClient};
use synod_node::tls::Security;

/// What the clients share: the stop switch, the history, and its clock.
pub struct Recorder {
    pub stop: AtomicBool,
    pub history: Mutex<Vec<Op>>,
    pub start: Instant,
}

impl Recorder {
    pub fn new(start: Instant) -> Self {
        Recorder {
            stop: AtomicBool::new(false),
            history: Mutex::new(Vec::new()),
            start,
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
pub async fn client_loop(
    file: ClusterFile,
    security: Security,
    n: usize,
    kind: AppKind,
    seed: u64,
    recorder: Arc<Recorder>,
) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ (n as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let mut workload = ClientWorkload::new(kind, format!("c{n}")).without_order_book_reads();
    let options = ClientOptions {
        timeout: Duration::from_millis(200),
        retries: 5,
        id: None,
        first_contact: None,
    };
    let mut client = SynodClient::with_security(&file, options, security);
    while !recorder.stopped() {
        let command = workload.next_command(&mut rng);
        let invoke = recorder.now_us();
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

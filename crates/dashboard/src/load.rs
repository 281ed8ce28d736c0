//! The page's load: a few closed-loop clients alternating kv puts and bank
//! transfers, whose completions and latencies feed the chart.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use synod_apps::bank::DEFAULT_ACCOUNTS;
use synod_apps::{BankOp, Command, KvOp};
use synod_node::ClusterFile;
use synod_node::client::{ClientOptions, CommandResult, SynodClient};
use synod_node::tls::Security;

/// Latency samples kept between two reads of the figures; beyond it the
/// count still grows but samples are dropped.
pub const MAX_SAMPLES: usize = 100_000;
/// The most clients one load may run.
pub const MAX_CLIENTS: usize = 64;

/// Completions and latencies since the figures were last taken.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub ops: u64,
    pub unknown: u64,
    pub latencies_us: Vec<u32>,
}

impl Stats {
    pub fn merge(&mut self, other: &Stats) {
        self.ops += other.ops;
        self.unknown += other.unknown;
        let room = MAX_SAMPLES.saturating_sub(self.latencies_us.len());
        self.latencies_us
            .extend(other.latencies_us.iter().take(room).copied());
    }
}

pub struct Load {
    pub clients: usize,
    stop: Arc<AtomicBool>,
    stats: Arc<Mutex<Stats>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// Client `client`'s `seq`-th command.
fn command(client: usize, seq: u64) -> Command {
    if seq.is_multiple_of(2) {
        Command::Kv(KvOp::Put {
            key: format!("dash-{client}-{}", seq % 64),
            value: seq.to_string().into_bytes(),
        })
    } else {
        let n = DEFAULT_ACCOUNTS.len();
        let from = (client + seq as usize) % n;
        let to = (from + 1 + (seq as usize / 2) % (n - 1)) % n;
        Command::Bank(BankOp::Transfer {
            from: DEFAULT_ACCOUNTS[from].into(),
            to: DEFAULT_ACCOUNTS[to].into(),
            amount: 1,
        })
    }
}

impl Load {
    /// Starts `clients` clients (on the current runtime).
    pub fn start(file: &ClusterFile, security: &Security, clients: usize) -> Load {
        let clients = clients.clamp(1, MAX_CLIENTS);
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(Mutex::new(Stats::default()));
        let tasks = (0..clients)
            .map(|c| {
                let (stop, stats) = (stop.clone(), stats.clone());
                let mut client =
                    SynodClient::with_security(file, ClientOptions::default(), security.clone());
                tokio::spawn(async move {
                    let mut seq = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        let started = Instant::now();
                        let result = client.execute(&command(c, seq)).await;
                        seq += 1;
                        let us = started.elapsed().as_micros().min(u32::MAX as u128) as u32;
                        let Ok(mut s) = stats.lock() else { return };
                        match result {
                            CommandResult::Unknown => s.unknown += 1,
                            _ => {
                                s.ops += 1;
                                if s.latencies_us.len() < MAX_SAMPLES {
                                    s.latencies_us.push(us);
                                }
                            }
                        }
                    }
                })
            })
            .collect();
        Load {
            clients,
            stop,
            stats,
            tasks,
        }
    }

    /// The figures since the last call.
    pub fn take(&self) -> Stats {
        self.stats
            .lock()
            .map(|mut s| std::mem::take(&mut *s))
            .unwrap_or_default()
    }

    pub fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            t.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transfers_never_go_to_the_same_account() {
        for c in 0..8 {
            for seq in 0..200 {
                if let Command::Bank(BankOp::Transfer { from, to, .. }) = command(c, seq) {
                    assert_ne!(from, to, "client {c} seq {seq}");
                }
            }
        }
    }

    #[test]
    fn merged_samples_stay_capped() {
        let mut a = Stats::default();
        let b = Stats {
            ops: 3,
            unknown: 1,
            latencies_us: vec![1; MAX_SAMPLES],
        };
        a.merge(&b);
        a.merge(&b);
        assert_eq!(a.ops, 6);
        assert_eq!(a.latencies_us.len(), MAX_SAMPLES);
    }
}

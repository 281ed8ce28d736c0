//! The simulated clients: each runs the sans-IO client of synod-core, one
//! request at a time, draws its commands from the shared workload of
//! synod-check on its own seeded generator, and records every operation
//! for the history checkers.

use rand::Rng;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use synod_apps::{Command, Outcome};
use synod_check::workload::{AppKind, ClientWorkload};
use synod_core::{Client, ClientConfig, ClientId, NodeId, Time};

/// One finished (or abandoned) operation of a client.
#[derive(Clone, Debug)]
pub struct Record {
    pub client: ClientId,
    pub kind: AppKind,
    pub invoke: Time,
    /// `None`: the outcome is unknown (the client gave up).
    pub complete: Option<Time>,
    pub command: Command,
    pub outcome: Option<Outcome>,
    /// Submitted after healing to check liveness.
    pub probe: bool,
}

#[derive(Debug)]
pub struct Pending {
    pub command: Command,
    pub invoke: Time,
    pub probe: bool,
}

pub struct SimClient {
    pub kind: AppKind,
    pub core: Client,
    pub pending: Option<Pending>,
    /// Draws both the commands and the think times, in the order they are
    /// needed, so a seed replays the same interleaving.
    rng: ChaCha8Rng,
    workload: ClientWorkload,
}

impl SimClient {
    pub fn new(
        id: ClientId,
        kind: AppKind,
        nodes: Vec<NodeId>,
        timeout: Time,
        attempts: u32,
        seed: u64,
    ) -> Self {
        SimClient {
            kind,
            core: Client::new(ClientConfig {
                id,
                nodes,
                timeout,
                max_attempts: attempts,
            }),
            pending: None,
            rng: ChaCha8Rng::seed_from_u64(seed),
            workload: ClientWorkload::new(kind, id.to_string()),
        }
    }

    pub fn id(&self) -> ClientId {
        self.core.id()
    }

    pub fn think(&mut self, range: (Time, Time)) -> Time {
        self.rng.random_range(range.0..=range.1)
    }

    /// The next command this client wants to run.
    pub fn next_command(&mut self) -> Command {
        self.workload.next_command(&mut self.rng)
    }

    /// Learns from a result (the values it read, for later compare-and-sets).
    pub fn observe(&mut self, command: &Command, outcome: &Outcome) {
        self.workload.observe(command, outcome);
    }
}

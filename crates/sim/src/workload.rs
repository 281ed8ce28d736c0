//! The simulated clients: each runs the sans-IO client of synod-core, one
//! request at a time, draws its commands from the shared workload of
//! synod-check on its own seeded generator, and records every operation
//! for the history checkers. With a read share (`SimOptions::reads`) some
//! kv gets skip the log: linearizable reads by read index, and a few
//! serializable reads answered from one node's state. Whether a get is
//! sent as a read is drawn from a second generator, used for nothing else,
//! so the commands and think times a seed draws stay the same whatever the
//! share.

use rand::Rng;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use synod_apps::KvOp;
use synod_apps::{Command, Outcome};
use synod_check::workload::{AppKind, ClientWorkload};
use synod_core::{Client, ClientConfig, ClientId, NodeId, RequestKind, Time};

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
    /// Through the log, or a read without a log write.
    pub request: RequestKind,
}

#[derive(Debug)]
pub struct Pending {
    pub command: Command,
    pub invoke: Time,
    pub probe: bool,
    pub request: RequestKind,
}

pub struct SimClient {
    pub kind: AppKind,
    pub core: Client,
    pub pending: Option<Pending>,
    /// Draws both the commands and the think times, in the order they are
    /// needed, so a seed replays the same interleaving.
    rng: ChaCha8Rng,
    /// Draws only whether a get is sent as a read (and which kind).
    read_rng: ChaCha8Rng,
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
            read_rng: {
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                rng.set_stream(1);
                rng
            },
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

    /// How to send `command`: a kv get is a read without a log write with
    /// probability `share` percent (one in four of those serializable),
    /// anything else goes through the log. Draws nothing when `share` is 0
    /// or the command is no get.
    pub fn request_kind(&mut self, command: &Command, share: u32) -> RequestKind {
        if share == 0 || !matches!(command, Command::Kv(KvOp::Get { .. })) {
            return RequestKind::Command;
        }
        let draw = self.read_rng.random_range(0..400);
        if draw >= 4 * share.min(100) {
            RequestKind::Command
        } else if draw % 4 == 0 {
            RequestKind::LocalRead
        } else {
            RequestKind::Read
        }
    }

    /// Learns from a result (the values it read, for later compare-and-sets).
    pub fn observe(&mut self, command: &Command, outcome: &Outcome) {
        self.workload.observe(command, outcome);
    }
}

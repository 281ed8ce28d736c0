//! The simulated world: nodes, clients, a network and disks on one virtual
//! clock, driven by a single seeded event queue.
//!
//! Determinism: every random draw comes from generators seeded by the run's
//! seed, every collection that is iterated is ordered, and events at the same
//! virtual time run in the order they were scheduled. So a seed replays the
//! same run, event for event, and `--trace` prints the same bytes.
//!
//! A run has two phases. During the fault phase, clients run their workloads
//! while the seed's fault schedule strikes. Then everything heals (crashed
//! nodes restart, paused ones resume, partitions and lossy links go) and
//! every client sends one probe request: liveness means that every probe is
//! answered and all replicas converge within `liveness_bound`.
//!
//! The parts, one job each:
//! - this file: the event loop. `World` owns the clock, the queue and every
//!   generator; `handle` dispatches each event to the part that owns it.
//!   Contract: events run in (time, scheduling order); nothing else moves
//!   the clock.
//! - [`options`]: what a run is given (`SimOptions`) and what it reports
//!   (`SimReport`).
//! - [`hosts`]: each node's host, the glue between a replica and the
//!   simulated network and disk (persist before send, through the shared
//!   driver), and the node's lifecycle (start, crash, restart, pause).
//! - [`chaos`]: applying the fault schedule (crashes, pauses, partitions,
//!   network episodes) and healing.
//! - [`clients`]: the closed-loop clients and the liveness probes.
//! - [`admin`]: the operator of `reconfig`, changing the membership
//!   through the leader (add, promote, remove, replace, hand over), and
//!   the membership the checks follow.
//! - [`verdict`]: the invariant checks called at events and at the end, and
//!   the report.

use crate::checks::{Checker, QuorumCheck};
use crate::disk::Disk;
use crate::durability::DurabilityCheck;
use crate::faults::{self, Fault, Schedule, Target};
use crate::net::{Conditions, Network};
use crate::swarm::{self, Mix};
use crate::workload::{Pending, Record, SimClient};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::fmt::Write as _;
use synod_apps::{
    BankOp, Command, InventoryOp, KvOp, Outcome, Services, decode_outcome, encode_command,
};
use synod_check::workload::AppKind;
use synod_core::{
    Checkpoint, CheckpointJob, ClientAction, ClientId, DigestCache, Envelope, Event, MS,
    Membership, NodeId, Outcome as ClientOutcome, PersistOp, Replica, Reply, Request, RequestKind,
    Slot, Time, Value, Write,
};

mod admin;
mod chaos;
mod clients;
mod hosts;
mod options;
mod tail;
mod verdict;

use hosts::NodeHost;
pub use options::{Configure, SimOptions, SimReport};
pub use tail::FailoverCause;

pub fn run(seed: u64, options: &SimOptions) -> SimReport {
    let options = options.for_seed(seed);
    World::new(seed, &options).run()
}

#[derive(Debug)]
enum Ev {
    Peer(Envelope),
    Request {
        to: NodeId,
        request: Request,
        kind: RequestKind,
    },
    Reply {
        client: usize,
        reply: Reply,
    },
    Tick {
        node: usize,
        incarnation: u64,
    },
    SyncDone {
        node: usize,
        incarnation: u64,
        upto: u64,
        token: u64,
    },
    /// A checkpoint the host built off the replica's path.
    CheckpointBuilt {
        node: usize,
        incarnation: u64,
        checkpoint: Checkpoint,
    },
    ClientTick {
        client: usize,
    },
    ClientSubmit {
        client: usize,
    },
    /// The client's connection to `node` is refused or reset
    /// (`SimOptions::refused_when_down`).
    LinkDown {
        client: usize,
        node: NodeId,
    },
    Fault(usize),
    Restart(usize),
    Resume(usize),
    Unpartition(u64),
    Calm(u64),
    /// A fault armed by `Fault::AfterCheckpoint`, striking now.
    Strike(Fault),
    /// The operator's next try (fault kind `reconfig`).
    Admin,
    /// A removed node is stopped for good.
    Retire(usize),
    Heal,
    Check,
}

struct Scheduled {
    at: Time,
    seq: u64,
    ev: Ev,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// A leader went down at `start`; waiting for a slot above `proposed` (the
/// highest slot proposed anywhere then) to execute.
struct FailoverWatch {
    start: Time,
    proposed: Slot,
}

struct World<'a> {
    opts: &'a SimOptions,
    seed: u64,
    now: Time,
    seq: u64,
    queue: BinaryHeap<Reverse<Scheduled>>,
    rng_net: ChaCha8Rng,
    rng_disk: ChaCha8Rng,
    rng_fault: ChaCha8Rng,
    net: Network,
    partitions: BTreeMap<u64, Vec<(NodeId, NodeId)>>,
    episodes: BTreeMap<u64, Conditions>,
    next_episode: u64,
    nodes: Vec<NodeHost>,
    clients: Vec<SimClient>,
    /// Per client: whether its liveness probe was answered.
    probed: Vec<bool>,
    checker: Checker,
    durability: DurabilityCheck,
    history: Vec<Record>,
    schedule: Schedule,
    healed: bool,
    /// Faults waiting for the leader's next checkpoint or truncation.
    armed: Vec<Fault>,
    /// The node being driven reported a checkpoint or a truncation.
    checkpointed: bool,
    heal_at: Time,
    converged: bool,
    events: u64,
    trace: Option<String>,
    watch: Option<FailoverWatch>,
    failovers: Vec<Time>,
    /// What went on during each failover, and during the one watched.
    failover_causes: Vec<FailoverCause>,
    tail: tail::Tail,
    truncations: u64,
    snapshots_installed: u64,
    /// The money in the bank at the start: every replica must keep it.
    bank_total: u64,
    /// The operator of `reconfig`, and its generator (stream 5).
    admin: Option<admin::Admin>,
    rng_admin: ChaCha8Rng,
    /// The membership the cluster was created with, and each one after
    /// it: the slot of the reconfiguration that ended the epoch before,
    /// as first executed anywhere.
    creation: Membership,
    epochs: BTreeMap<Slot, Membership>,
    /// Nodes that lost their disk and were not made voters again: when.
    wipe_times: BTreeMap<NodeId, Time>,
    quorum: QuorumCheck,
}

impl<'a> World<'a> {
    fn new(seed: u64, opts: &'a SimOptions) -> Self {
        let stream = |n: u64| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            rng.set_stream(n);
            rng
        };
        let ids: Vec<NodeId> = (1..=opts.nodes as u32).map(NodeId).collect();
        let mut rng_fault = stream(3);
        let schedule = if let Some(scenario) = opts.partial {
            faults::partial(scenario, &ids, opts.fault_time)
        } else if opts.failover_only {
            faults::leader_crashes(&ids, opts.fault_time)
        } else if let (Mix::Swarm, Some(family)) = (opts.mix, opts.family) {
            swarm::draw_schedule(
                &mut rng_fault,
                family,
                &ids,
                &opts.faults,
                opts.fault_time,
                &opts.calm,
            )
        } else {
            faults::draw(
                &mut rng_fault,
                &ids,
                &opts.faults,
                opts.fault_time,
                &opts.calm,
            )
        };
        let nodes = ids
            .iter()
            .zip(&schedule.clocks)
            .map(|(&id, &clock)| NodeHost::new(id, clock))
            .collect();
        let kinds = std::iter::repeat_n(AppKind::Kv, opts.kv_clients)
            .chain(std::iter::repeat_n(AppKind::Bank, opts.bank_clients))
            .chain(std::iter::repeat_n(
                AppKind::Inventory,
                opts.inventory_clients,
            ));
        let clients: Vec<SimClient> = kinds
            .enumerate()
            .map(|(i, kind)| {
                let client_seed = seed.wrapping_mul(1_000_003).wrapping_add(i as u64);
                SimClient::new(
                    ClientId(i as u64 + 1),
                    kind,
                    ids.clone(),
                    opts.client_timeout,
                    opts.client_attempts,
                    client_seed,
                )
            })
            .collect();
        let mut rng_admin = stream(5);
        let reconfig = schedule.enabled.contains(&faults::FaultKind::Reconfig);
        let admin = (reconfig && !opts.failover_only).then(|| admin::Admin::draw(&mut rng_admin));
        World {
            opts,
            seed,
            now: 0,
            seq: 0,
            queue: BinaryHeap::new(),
            rng_net: stream(1),
            rng_disk: stream(2),
            rng_fault,
            net: Network::new(opts.calm.clone()),
            partitions: BTreeMap::new(),
            episodes: BTreeMap::new(),
            next_episode: 0,
            probed: vec![false; clients.len()],
            clients,
            nodes,
            checker: Checker::default(),
            durability: DurabilityCheck::default(),
            history: Vec::new(),
            schedule,
            healed: false,
            armed: Vec::new(),
            checkpointed: false,
            heal_at: opts.fault_time,
            converged: false,
            events: 0,
            trace: opts.trace.then(String::new),
            watch: None,
            failovers: Vec::new(),
            failover_causes: Vec::new(),
            tail: tail::Tail::default(),
            truncations: 0,
            snapshots_installed: 0,
            bank_total: synod_apps::Services::default().bank.total(),
            admin,
            rng_admin,
            creation: Membership::initial(&ids, &[]),
            epochs: BTreeMap::new(),
            wipe_times: BTreeMap::new(),
            quorum: QuorumCheck::default(),
        }
    }

    fn at(&mut self, at: Time, ev: Ev) {
        self.seq += 1;
        self.queue.push(Reverse(Scheduled {
            at,
            seq: self.seq,
            ev,
        }));
    }

    fn log(&mut self, line: impl FnOnce() -> String) {
        if let Some(trace) = &mut self.trace {
            let _ = writeln!(
                trace,
                "{:>8}.{:03}ms {}",
                self.now / MS,
                self.now % MS,
                line()
            );
        }
    }

    fn run(mut self) -> SimReport {
        let kinds: Vec<&str> = self.schedule.enabled.iter().map(|k| k.name()).collect();
        let mut line = format!("seed {} faults [{}]", self.seed, kinds.join(", "));
        if let (Mix::Swarm, Some(family)) = (self.opts.mix, self.opts.family) {
            let _ = write!(
                line,
                " swarm member {} on {} nodes, a checkpoint every {} slots (log ratio {})",
                family.name(),
                self.opts.nodes,
                self.opts.checkpoint_interval,
                self.opts.checkpoint_log_ratio
            );
        }
        self.log(|| line);
        for i in 0..self.nodes.len() {
            self.start_node(i);
        }
        for c in 0..self.clients.len() {
            let delay = self.clients[c].think(self.opts.think);
            self.at(delay, Ev::ClientSubmit { client: c });
        }
        for i in 0..self.schedule.faults.len() {
            let at = self.schedule.faults[i].0;
            self.at(at, Ev::Fault(i));
        }
        if self.admin.is_some() {
            let first = self.rng_admin.random_range(100 * MS..=400 * MS);
            self.at(first, Ev::Admin);
        }
        self.at(self.heal_at, Ev::Heal);
        let deadline = self.heal_at + self.opts.liveness_bound;
        while let Some(Reverse(next)) = self.queue.pop() {
            if next.at > deadline || self.converged {
                break;
            }
            self.now = next.at;
            self.events += 1;
            let topology = matches!(
                next.ev,
                Ev::Fault(_)
                    | Ev::Strike(_)
                    | Ev::Restart(_)
                    | Ev::Resume(_)
                    | Ev::Unpartition(_)
                    | Ev::Calm(_)
                    | Ev::Admin
                    | Ev::Retire(_)
                    | Ev::Heal
            );
            self.handle(next.ev);
            if topology {
                self.tail_changed();
            }
        }
        self.finish()
    }

    fn handle(&mut self, ev: Ev) {
        match ev {
            Ev::Peer(env) => {
                let i = env.to.0 as usize - 1;
                if i < self.nodes.len() && self.accepts_input(i, || Ev::Peer(env.clone())) {
                    self.log(|| format!("{} <- {} {:?}", env.to, env.from, env.msg));
                    let now = self.nodes[i].local_time(self.now);
                    if let Some(r) = &mut self.nodes[i].replica {
                        r.on_message(now, env.from, env.msg);
                    }
                    self.drive(i);
                }
            }
            Ev::Request { to, request, kind } => {
                let i = to.0 as usize - 1;
                if i < self.nodes.len()
                    && self.accepts_input(i, || Ev::Request {
                        to,
                        request: request.clone(),
                        kind,
                    })
                {
                    self.log(|| match kind {
                        RequestKind::Command => format!("{to} <- client {request:?}"),
                        read => format!("{to} <- client {read:?} {request:?}"),
                    });
                    let now = self.nodes[i].local_time(self.now);
                    if let Some(r) = &mut self.nodes[i].replica {
                        match kind {
                            RequestKind::Command => r.on_client_request(now, request),
                            read => r.on_client_read(now, request, read == RequestKind::LocalRead),
                        }
                    }
                    self.drive(i);
                } else if i < self.nodes.len()
                    && self.nodes[i].replica.is_none()
                    && self.opts.refused_when_down
                    && let Some(client) = self.clients.iter().position(|c| c.id() == request.client)
                {
                    self.at(
                        self.now + self.opts.calm.min_delay,
                        Ev::LinkDown { client, node: to },
                    );
                }
            }
            Ev::Reply { client, reply } => {
                self.log(|| format!("client {} <- {reply:?}", client + 1));
                let actions = self.clients[client].core.on_reply(&reply);
                self.client_actions(client, actions);
            }
            Ev::Tick { node, incarnation } => {
                let host = &self.nodes[node];
                if host.incarnation != incarnation || host.replica.is_none() || host.paused {
                    return; // restart or resume schedules a fresh tick
                }
                let now = host.local_time(self.now);
                if let Some(r) = &mut self.nodes[node].replica {
                    r.tick(now);
                }
                self.drive(node);
                self.at(self.now + self.opts.tick, Ev::Tick { node, incarnation });
            }
            Ev::SyncDone {
                node,
                incarnation,
                upto,
                token,
            } => {
                if self.nodes[node].incarnation != incarnation {
                    return; // the crash already decided what survived
                }
                if self.accepts_input(node, || Ev::SyncDone {
                    node,
                    incarnation,
                    upto,
                    token,
                }) {
                    self.nodes[node].disk.complete_sync(upto);
                    let now = self.nodes[node].local_time(self.now);
                    if let Some(r) = &mut self.nodes[node].replica {
                        r.persisted(now, token);
                    }
                    self.drive(node);
                }
            }
            Ev::CheckpointBuilt {
                node,
                incarnation,
                checkpoint,
            } => {
                if self.nodes[node].incarnation != incarnation {
                    return; // a crashed node's build is lost with it
                }
                if self.accepts_input(node, || Ev::CheckpointBuilt {
                    node,
                    incarnation,
                    checkpoint: checkpoint.clone(),
                }) {
                    let now = self.nodes[node].local_time(self.now);
                    if let Some(r) = &mut self.nodes[node].replica {
                        r.checkpoint_built(now, checkpoint);
                    }
                    self.drive(node);
                }
            }
            Ev::ClientTick { client } => {
                let actions = self.clients[client].core.tick(self.now);
                self.client_actions(client, actions);
            }
            Ev::ClientSubmit { client } => self.submit(client),
            Ev::LinkDown { client, node } => {
                self.log(|| format!("client {}: link to {node} down", client + 1));
                let actions = self.clients[client].core.link_down(node);
                self.client_actions(client, actions);
            }
            Ev::Fault(i) => {
                let fault = self.schedule.faults[i].1.clone();
                self.strike(fault);
            }
            Ev::Restart(i) => self.restart(i),
            Ev::Resume(i) => self.resume(i),
            Ev::Unpartition(id) => {
                if self.partitions.remove(&id).is_some() {
                    self.log(|| format!("fault: partition {id} heals"));
                    self.apply_partitions();
                }
            }
            Ev::Calm(id) => {
                if self.episodes.remove(&id).is_some() {
                    self.log(|| format!("fault: network episode {id} ends"));
                    self.apply_conditions();
                }
            }
            Ev::Strike(fault) => self.strike(fault),
            Ev::Admin => self.admin_tick(),
            Ev::Retire(i) => self.retire(i),
            Ev::Heal => self.heal(),
            Ev::Check => {
                self.converged = self.check_converged();
                if !self.converged {
                    self.at(self.now + 50 * MS, Ev::Check);
                }
            }
        }
    }
}

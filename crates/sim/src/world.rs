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

use crate::checks::{Checker, Violation};
use crate::disk::Disk;
use crate::durability::DurabilityCheck;
use crate::faults::{self, Fault, FaultKind, Schedule, Target};
use crate::net::{Conditions, Network};
use crate::workload::{Pending, Record, SimClient};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::fmt::Write as _;
use std::sync::Arc;
use synod_apps::{
    BankOp, Command, InventoryOp, KvOp, Outcome, Services, decode_outcome, encode_command,
};
use synod_check::workload::AppKind;
use synod_core::{
    Checkpoint, CheckpointJob, ClientAction, ClientId, Config, Envelope, Event, MS, NodeId,
    Outcome as ClientOutcome, PersistOp, Replica, Reply, Request, Slot, Time, Write, host,
};

/// Adjusts each node's protocol configuration (tests use it to plant bugs).
pub type Configure = Arc<dyn Fn(&mut Config) + Send + Sync>;

#[derive(Clone)]
pub struct SimOptions {
    pub nodes: usize,
    pub kv_clients: usize,
    pub bank_clients: usize,
    pub inventory_clients: usize,
    /// How long faults strike before everything heals.
    pub fault_time: Time,
    /// After healing, every probe must be answered and every replica must
    /// converge within this much virtual time.
    pub liveness_bound: Time,
    /// The fault kinds a seed may draw from.
    pub faults: Vec<FaultKind>,
    /// Network delays outside fault episodes.
    pub calm: Conditions,
    /// Pause between a client's operations.
    pub think: (Time, Time),
    pub client_timeout: Time,
    pub client_attempts: u32,
    /// How often each node's host calls `tick`.
    pub tick: Time,
    /// Collect a human-readable trace of the run.
    pub trace: bool,
    pub configure: Option<Configure>,
    /// Instead of a drawn schedule, only leader crashes, one at a time,
    /// each restarted before the next: the scenario of the failover bound.
    pub failover_only: bool,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            nodes: 5,
            kv_clients: 3,
            bank_clients: 3,
            inventory_clients: 2,
            fault_time: 3_000 * MS,
            liveness_bound: 10_000 * MS,
            faults: FaultKind::ALL.to_vec(),
            calm: Conditions::calm(200, 3 * MS),
            think: (0, 20 * MS),
            client_timeout: 200 * MS,
            client_attempts: 5,
            tick: 5 * MS,
            trace: false,
            configure: None,
            failover_only: false,
        }
    }
}

impl SimOptions {
    /// The failover scenario: calm links (delay within `calm.max_delay`),
    /// and every 2.5 s the leader crashes, to restart 1 s later.
    pub fn failover() -> Self {
        SimOptions {
            failover_only: true,
            faults: vec![FaultKind::CrashRestart],
            fault_time: 8_000 * MS,
            ..SimOptions::default()
        }
    }

    /// The bound of `synod_core::liveness` for this simulation's settings,
    /// with `processing` as the per-step bound π.
    pub fn failover_bound(&self, processing: Time) -> synod_core::FailoverBound {
        let env = synod_core::Environment {
            tick: self.tick,
            delay: self.calm.max_delay,
            processing,
            client_timeout: self.client_timeout,
            think: self.think.1,
            dead_successors: 0,
        };
        synod_core::failover_bound(&self.config(1), &env)
    }

    /// The protocol configuration of node `id`.
    pub fn config(&self, id: u32) -> Config {
        let mut config = Config::cluster(id, self.nodes as u32);
        // Compare replicas often: the simulator's runs are short.
        config.checkpoint_interval = 10;
        if let Some(configure) = &self.configure {
            configure(&mut config);
        }
        config
    }
}

/// What one seed's run found.
#[derive(Clone, Debug)]
pub struct SimReport {
    pub seed: u64,
    pub violations: Vec<Violation>,
    /// Client requests executed (each counted once, cluster-wide).
    pub committed: u64,
    /// The highest slot executed anywhere.
    pub slots: Slot,
    /// Events the simulator processed.
    pub events: u64,
    /// Virtual time the run lasted.
    pub virtual_time: Time,
    pub ok: u64,
    pub unknown: u64,
    /// Per leader crash or pause: virtual time until a newly proposed slot executed.
    pub failovers: Vec<Time>,
    /// Log truncations (a quorum held a checkpoint) and snapshots installed
    /// by lagging nodes, over all nodes.
    pub truncations: u64,
    pub snapshots_installed: u64,
    /// The most log entries any node held in memory at the end.
    pub max_retained: usize,
    pub enabled: Vec<FaultKind>,
    pub trace: String,
}

pub fn run(seed: u64, options: &SimOptions) -> SimReport {
    World::new(seed, options).run()
}

#[derive(Debug)]
enum Ev {
    Peer(Envelope),
    Request {
        to: NodeId,
        request: Request,
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
    Fault(usize),
    Restart(usize),
    Resume(usize),
    Unpartition(u64),
    Calm(u64),
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

struct NodeHost {
    id: NodeId,
    replica: Option<Replica<Services>>,
    disk: Disk,
    /// The disk was lost: the next start is a rejoin as a learner.
    wiped: bool,
    incarnation: u64,
    paused: bool,
    /// Inputs that arrived while paused, handled on resume.
    stash: Vec<Ev>,
    disk_free_at: Time,
    /// Clock error in parts per million, and offset.
    clock: (i64, Time),
}

impl NodeHost {
    fn local_time(&self, now: Time) -> Time {
        let (ppm, offset) = self.clock;
        let skewed = now as i128 + now as i128 * ppm as i128 / 1_000_000;
        offset + skewed.max(0) as Time
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
    heal_at: Time,
    converged: bool,
    events: u64,
    trace: Option<String>,
    watch: Option<FailoverWatch>,
    failovers: Vec<Time>,
    truncations: u64,
    snapshots_installed: u64,
    /// The money in the bank at the start: every replica must keep it.
    bank_total: u64,
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
        let schedule = if opts.failover_only {
            faults::leader_crashes(&ids, opts.fault_time)
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
            .map(|(&id, &clock)| NodeHost {
                id,
                replica: None,
                disk: Disk::default(),
                wiped: false,
                incarnation: 0,
                paused: false,
                stash: Vec::new(),
                disk_free_at: 0,
                clock,
            })
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
            heal_at: opts.fault_time,
            converged: false,
            events: 0,
            trace: opts.trace.then(String::new),
            watch: None,
            failovers: Vec::new(),
            truncations: 0,
            snapshots_installed: 0,
            bank_total: Services::default().bank.total(),
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
        let line = format!("seed {} faults [{}]", self.seed, kinds.join(", "));
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
        self.at(self.heal_at, Ev::Heal);
        let deadline = self.heal_at + self.opts.liveness_bound;
        while let Some(Reverse(next)) = self.queue.pop() {
            if next.at > deadline || self.converged {
                break;
            }
            self.now = next.at;
            self.events += 1;
            self.handle(next.ev);
        }
        self.finish()
    }

    fn handle(&mut self, ev: Ev) {
        match ev {
            Ev::Peer(env) => {
                let i = env.to.0 as usize - 1;
                if self.accepts_input(i, || Ev::Peer(env.clone())) {
                    self.log(|| format!("{} <- {} {:?}", env.to, env.from, env.msg));
                    let now = self.nodes[i].local_time(self.now);
                    if let Some(r) = &mut self.nodes[i].replica {
                        r.on_message(now, env.from, env.msg);
                    }
                    self.drive(i);
                }
            }
            Ev::Request { to, request } => {
                let i = to.0 as usize - 1;
                if self.accepts_input(i, || Ev::Request {
                    to,
                    request: request.clone(),
                }) {
                    self.log(|| format!("{to} <- client {request:?}"));
                    let now = self.nodes[i].local_time(self.now);
                    if let Some(r) = &mut self.nodes[i].replica {
                        r.on_client_request(now, request);
                    }
                    self.drive(i);
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
            Ev::Heal => self.heal(),
            Ev::Check => {
                self.converged = self.check_converged();
                if !self.converged {
                    self.at(self.now + 50 * MS, Ev::Check);
                }
            }
        }
    }

    /// Whether node `i` can take an input now: a crashed node drops it, a
    /// paused one keeps it for later.
    fn accepts_input(&mut self, i: usize, ev: impl FnOnce() -> Ev) -> bool {
        let host = &mut self.nodes[i];
        if host.replica.is_none() {
            return false;
        }
        if host.paused {
            host.stash.push(ev());
            return false;
        }
        true
    }

    /// Carries out a replica's output through the hosts' shared driver.
    fn drive(&mut self, i: usize) {
        let Some(mut replica) = self.nodes[i].replica.take() else {
            return;
        };
        let mut io = SimIo {
            world: self,
            node: i,
            executed: false,
        };
        host::drive(&mut replica, &mut io);
        let executed = io.executed;
        self.nodes[i].replica = Some(replica);
        if executed {
            self.check_state(i);
        }
    }

    /// A replica's event: checkers and the trace.
    fn on_event(&mut self, i: usize, event: Event) -> bool {
        let id = self.nodes[i].id;
        let incarnation = self.nodes[i].incarnation;
        match event {
            Event::Executed {
                slot,
                value,
                executions,
            } => {
                self.checker
                    .on_executed(self.now, id, incarnation, slot, &value, &executions);
                if let Some(w) = &self.watch
                    && slot > w.proposed
                {
                    let gap = self.now - w.start;
                    self.failovers.push(gap);
                    self.watch = None;
                    self.log(|| format!("failover: {id} executed new slot {slot}, {gap} µs after the leader's loss"));
                }
                return true;
            }
            Event::Checkpoint { slot, digest } => {
                self.checker.on_checkpoint(self.now, id, slot, digest);
            }
            Event::SnapshotInstalled { slot } => {
                self.log(|| format!("{id} installed a snapshot at slot {slot}"));
                self.checker.on_snapshot(id, incarnation, slot);
                self.snapshots_installed += 1;
            }
            Event::Truncated { slot } => {
                self.log(|| format!("{id} truncated its log through slot {slot}"));
                self.truncations += 1;
            }
            Event::Divergence { slot, peer, .. } => {
                let detail = format!("{id} and {peer} hold different states at checkpoint {slot}");
                self.checker.fail(self.now, "divergence", detail);
            }
            other => self.log(|| format!("{id} {other:?}")),
        }
        false
    }

    fn reply(&mut self, reply: Reply) {
        let client = reply.client.0 as usize - 1;
        if client < self.clients.len() {
            for delay in self.net.deliveries(&mut self.rng_net, None, None) {
                let reply = reply.clone();
                self.at(self.now + delay, Ev::Reply { client, reply });
            }
        }
    }

    /// Applies a write to node `i`'s disk and schedules its sync.
    fn write(&mut self, i: usize, write: Write) {
        let host = &mut self.nodes[i];
        let Ok(()) = write.apply_to(&mut host.disk);
        if write.replace.is_some() {
            let id = host.id;
            let kept = host.disk.len();
            self.log(|| format!("{id} compacted its log to {kept} records"));
        }
        let host = &mut self.nodes[i];
        let upto = host.disk.written();
        let latency = self.rng_disk.random_range(20..=500);
        let done = (self.now + latency).max(host.disk_free_at);
        host.disk_free_at = done;
        let incarnation = host.incarnation;
        let token = write.token;
        self.at(
            done,
            Ev::SyncDone {
                node: i,
                incarnation,
                upto,
                token,
            },
        );
    }

    fn transmit(&mut self, env: Envelope) {
        if let Some(detail) = self.durability.on_sent(&env) {
            self.checker.fail(self.now, "learner votes", detail);
        }
        for delay in self
            .net
            .deliveries(&mut self.rng_net, Some(env.from), Some(env.to))
        {
            self.at(self.now + delay, Ev::Peer(env.clone()));
        }
    }

    /// Bank money and inventory stock are conserved on every replica.
    fn check_state(&mut self, i: usize) {
        let Some(replica) = &self.nodes[i].replica else {
            return;
        };
        let app = replica.app();
        let id = self.nodes[i].id;
        let total = app.bank.total();
        let expected = self.bank_total;
        if total != expected {
            let detail = format!("{id} holds {total} units in all, not {expected}");
            self.checker.fail(self.now, "bank conservation", detail);
        }
        if let Err(why) = app.inventory.check_conservation() {
            self.checker
                .fail(self.now, "inventory stock", format!("{id}: {why}"));
        }
    }

    // ----- nodes ---------------------------------------------------------

    fn start_node(&mut self, i: usize) {
        let config = self.opts.config(self.nodes[i].id.0);
        let host = &mut self.nodes[i];
        let now = host.local_time(self.now);
        // A node whose disk was lost rejoins as a learner that never votes:
        // its new disk says so, durably, before it does anything else.
        if std::mem::take(&mut host.wiped) {
            host.disk.write_durably(&[PersistOp::NonVoting]);
        }
        let mut replica = Replica::restore(config, Services::default(), host.disk.recover(), now);
        replica.record_executions(true);
        host.replica = Some(replica);
        let (id, incarnation) = (host.id, host.incarnation);
        let executed = self.nodes[i]
            .replica
            .as_ref()
            .map_or(0, |r| r.status().executed);
        self.checker.on_start(id, incarnation, executed);
        let first = self.now + self.rng_fault.random_range(0..self.opts.tick);
        self.at(
            first,
            Ev::Tick {
                node: i,
                incarnation,
            },
        );
    }

    fn crash(&mut self, i: usize) {
        let host = &mut self.nodes[i];
        if host.replica.is_none() {
            return;
        }
        host.replica = None;
        host.paused = false;
        host.stash.clear();
        host.incarnation += 1;
        let lost = host.disk.crash(&mut self.rng_disk);
        let id = host.id;
        self.log(|| format!("fault: {id} crashes, losing {lost} unsynced writes"));
        self.check_recovery(i);
    }

    /// The state node `i` would recover from its disk covers every vote it
    /// ever sent (see [`crate::durability`]).
    fn check_recovery(&mut self, i: usize) {
        let id = self.nodes[i].id;
        let state = self.nodes[i].disk.recover();
        for detail in self.durability.on_crash(id, &state) {
            self.checker.fail(self.now, "recovered state", detail);
        }
    }

    fn restart(&mut self, i: usize) {
        if self.nodes[i].replica.is_some() {
            return;
        }
        let id = self.nodes[i].id;
        self.log(|| format!("fault: {id} restarts"));
        self.start_node(i);
    }

    fn pause(&mut self, i: usize) {
        let host = &mut self.nodes[i];
        if host.replica.is_some() && !host.paused {
            host.paused = true;
            let id = host.id;
            self.log(|| format!("fault: {id} pauses"));
        }
    }

    fn resume(&mut self, i: usize) {
        let host = &mut self.nodes[i];
        if !host.paused {
            return;
        }
        host.paused = false;
        let id = host.id;
        let incarnation = host.incarnation;
        let stash = std::mem::take(&mut host.stash);
        self.log(|| format!("fault: {id} resumes with {} inputs waiting", stash.len()));
        for ev in stash {
            self.handle(ev);
        }
        self.at(
            self.now,
            Ev::Tick {
                node: i,
                incarnation,
            },
        );
    }

    /// The live node that leads with the highest ballot, if any.
    fn leader(&self) -> Option<usize> {
        self.nodes
            .iter()
            .enumerate()
            .filter_map(|(i, h)| {
                h.replica
                    .as_ref()
                    .filter(|r| r.is_leader())
                    .map(|r| (r.status().view, i))
            })
            .max()
            .map(|(_, i)| i)
    }

    fn resolve(&mut self, target: Target) -> Option<usize> {
        match target {
            Target::Node(id) => Some(id.0 as usize - 1),
            Target::Leader => {
                let leader = self.leader();
                if let Some(l) = leader
                    && self.watch.is_none()
                {
                    let proposed = self
                        .nodes
                        .iter()
                        .filter_map(|h| h.replica.as_ref().map(|r| r.status().highest_accepted))
                        .max()
                        .unwrap_or(0);
                    self.watch = Some(FailoverWatch {
                        start: self.now,
                        proposed,
                    });
                    let _ = l;
                }
                leader
            }
        }
    }

    // ----- faults --------------------------------------------------------

    fn strike(&mut self, fault: Fault) {
        if self.healed {
            return;
        }
        match fault {
            Fault::Crash {
                target,
                restart_after,
                wipe,
            } => {
                let Some(i) = self.resolve(target) else {
                    return;
                };
                self.crash(i);
                if wipe {
                    let host = &mut self.nodes[i];
                    host.disk = Disk::default();
                    host.wiped = true;
                    let id = host.id;
                    self.durability.on_wiped(id);
                    self.log(|| format!("fault: {id} loses its disk"));
                }
                if let Some(after) = restart_after {
                    self.at(self.now + after, Ev::Restart(i));
                }
            }
            Fault::Pause { target, duration } => {
                let Some(i) = self.resolve(target) else {
                    return;
                };
                self.pause(i);
                self.at(self.now + duration, Ev::Resume(i));
            }
            Fault::Partition { shape, duration } => {
                let ids: Vec<NodeId> = self.nodes.iter().map(|h| h.id).collect();
                let leader = self.leader().map(|i| self.nodes[i].id);
                if matches!(
                    shape,
                    faults::Shape::Isolate {
                        target: Target::Leader
                    } | faults::Shape::OneWay {
                        target: Target::Leader,
                        ..
                    }
                ) {
                    self.resolve(Target::Leader);
                }
                let links = shape.links(&ids, leader);
                let id = self.next_episode;
                self.next_episode += 1;
                self.log(|| {
                    format!(
                        "fault: partition {id} {shape:?} (leader {leader:?}) cuts {} links",
                        links.len()
                    )
                });
                self.partitions.insert(id, links);
                self.apply_partitions();
                self.at(self.now + duration, Ev::Unpartition(id));
            }
            Fault::Network {
                conditions,
                duration,
            } => {
                let id = self.next_episode;
                self.next_episode += 1;
                self.log(|| format!("fault: network episode {id} {conditions:?}"));
                self.episodes.insert(id, conditions);
                self.apply_conditions();
                self.at(self.now + duration, Ev::Calm(id));
            }
        }
    }

    fn apply_partitions(&mut self) {
        self.net.heal();
        for links in self.partitions.values() {
            for &(a, b) in links {
                self.net.cut(a, b);
            }
        }
    }

    fn apply_conditions(&mut self) {
        let mut c = self.opts.calm.clone();
        for e in self.episodes.values() {
            c.loss = c.loss.max(e.loss);
            c.duplicate = c.duplicate.max(e.duplicate);
            c.slow = c.slow.max(e.slow);
            c.long_delay = c.long_delay.max(e.long_delay);
        }
        self.net.conditions = c;
    }

    fn heal(&mut self) {
        self.healed = true;
        self.log(|| "heal: faults stop; every node restarts or resumes, the network calms".into());
        self.partitions.clear();
        self.episodes.clear();
        self.apply_partitions();
        self.apply_conditions();
        for i in 0..self.nodes.len() {
            self.restart(i);
            self.resume(i);
        }
        for c in 0..self.clients.len() {
            if self.clients[c].pending.is_none() {
                self.submit(c);
            }
        }
        self.at(self.now + 50 * MS, Ev::Check);
    }

    /// Every probe answered, and every replica at the same executed slot
    /// with the same state.
    fn check_converged(&self) -> bool {
        if !self.probed.iter().all(|&p| p) {
            return false;
        }
        // Converged: every replica at the same slot with the same state, and
        // each one's log truncated through its latest checkpoint (which
        // then is the same everywhere: checkpoint slots are a function of
        // the log).
        let mut states = self.nodes.iter().map(|h| {
            h.replica.as_ref().map(|r| {
                let s = r.status();
                (s.executed, r.state_digest(), s.truncated == s.checkpoint)
            })
        });
        let Some(Some(first)) = states.next() else {
            return false;
        };
        first.2 && states.all(|s| s == Some(first))
    }

    // ----- clients -------------------------------------------------------

    fn submit(&mut self, c: usize) {
        let client = &mut self.clients[c];
        if client.pending.is_some() || (self.healed && self.probed[c]) {
            return;
        }
        let probe = self.healed;
        let command = if probe {
            match client.kind {
                AppKind::Kv => Command::Kv(KvOp::Get { key: "k0".into() }),
                AppKind::Bank => Command::Bank(BankOp::Balance {
                    account: "A".into(),
                }),
                AppKind::Inventory => Command::Inventory(InventoryOp::Stock),
            }
        } else {
            client.next_command()
        };
        let bytes = encode_command(&command).into();
        let actions = match client.core.submit(self.now, bytes) {
            Ok(actions) => actions,
            Err(_) => return,
        };
        client.pending = Some(Pending {
            command,
            invoke: self.now,
            probe,
        });
        self.client_actions(c, actions);
    }

    fn client_actions(&mut self, c: usize, actions: Vec<ClientAction>) {
        for action in actions {
            match action {
                ClientAction::Send { to, request, .. } => {
                    self.checker.on_submit(&request);
                    for delay in self.net.deliveries(&mut self.rng_net, None, None) {
                        let request = request.clone();
                        self.at(self.now + delay, Ev::Request { to, request });
                    }
                }
                ClientAction::Done { timestamp, outcome } => self.complete(c, timestamp, outcome),
            }
        }
        if let Some(deadline) = self.clients[c].core.deadline() {
            self.at(deadline, Ev::ClientTick { client: c });
        }
    }

    fn complete(&mut self, c: usize, timestamp: u64, outcome: ClientOutcome) {
        let Some(pending) = self.clients[c].pending.take() else {
            return;
        };
        let client_id = self.clients[c].id();
        let (complete, outcome) = match outcome {
            ClientOutcome::Replied(bytes) => {
                self.checker
                    .on_reply(self.now, client_id, timestamp, &bytes);
                let outcome =
                    decode_outcome(&bytes).unwrap_or_else(|e| Outcome::Invalid(e.to_string()));
                self.clients[c].observe(&pending.command, &outcome);
                (Some(self.now), Some(outcome))
            }
            ClientOutcome::Unknown => (None, None),
        };
        if pending.probe && complete.is_some() {
            self.probed[c] = true;
        }
        self.history.push(Record {
            client: client_id,
            kind: self.clients[c].kind,
            invoke: pending.invoke,
            complete,
            command: pending.command,
            outcome,
            probe: pending.probe,
        });
        if self.healed {
            // After healing only the probe runs; an unknown probe retries.
            if !self.probed[c] {
                self.submit(c);
            }
        } else {
            let think = self.clients[c].think(self.opts.think);
            self.at(self.now + think, Ev::ClientSubmit { client: c });
        }
    }

    // ----- the end -------------------------------------------------------

    /// The client history, with the state of the most advanced live replica
    /// as the final read.
    fn final_history(&self) -> synod_check::History {
        let ops = self
            .history
            .iter()
            .map(|r| synod_check::Op {
                client: r.client.0,
                invoke: r.invoke,
                complete: r.complete,
                command: r.command.clone(),
                outcome: r.outcome.clone(),
            })
            .collect();
        let mut history = synod_check::History {
            ops,
            ..Default::default()
        };
        let freshest = self
            .nodes
            .iter()
            .filter_map(|h| h.replica.as_ref())
            .max_by_key(|r| r.status().executed);
        if let (true, Some(replica)) = (self.converged, freshest) {
            history.add_final_state(replica.app(), self.now);
        }
        history
    }

    fn finish(mut self) -> SimReport {
        // As if every node crashed now, losing whatever is not yet synced.
        for i in 0..self.nodes.len() {
            self.check_recovery(i);
        }
        // What a node truncated in memory, its disk says too (a compaction
        // or an installed snapshot reached the log, whatever the turn).
        for h in &self.nodes {
            let Some(r) = &h.replica else { continue };
            let truncated = r.status().truncated;
            let on_disk = h
                .disk
                .written_state()
                .checkpoint
                .map_or(0, |(slot, _)| slot);
            if on_disk < truncated {
                let detail = format!(
                    "{} truncated its log through slot {truncated} but its disk holds a checkpoint at {on_disk} only",
                    h.id
                );
                self.checker.fail(self.now, "disk behind memory", detail);
            }
        }
        if !self.converged {
            let executed: Vec<String> = self
                .nodes
                .iter()
                .map(|h| match &h.replica {
                    Some(r) => format!("{}@{}", h.id, r.status().executed),
                    None => format!("{} down", h.id),
                })
                .collect();
            let unanswered = self.probed.iter().filter(|p| !**p).count();
            let detail = format!(
                "{} ms after healing: {unanswered} probe(s) unanswered; executed {}",
                self.opts.liveness_bound / MS,
                executed.join(" ")
            );
            self.checker.fail(self.now, "liveness", detail);
        }
        // Truncation keeps memory bounded: once everything healed, each node
        // holds only what came after its latest checkpoint.
        let mut max_retained = 0;
        for h in &self.nodes {
            let Some(r) = &h.replica else { continue };
            let s = r.status();
            max_retained = max_retained.max(s.retained);
            let bound = 2 * s
                .highest_accepted
                .max(s.executed)
                .saturating_sub(s.truncated) as usize
                + 16;
            if self.converged && s.retained > bound {
                let detail = format!(
                    "{} holds {} log entries; truncation at {} and slot {} allow {bound}",
                    h.id, s.retained, s.truncated, s.executed
                );
                self.checker.fail(self.now, "memory bound", detail);
            }
        }
        for anomaly in synod_check::check(&self.final_history()) {
            self.checker.fail(self.now, "history", anomaly.to_string());
        }
        let ok = self.history.iter().filter(|r| r.complete.is_some()).count() as u64;
        let unknown = self.history.len() as u64 - ok;
        SimReport {
            seed: self.seed,
            violations: self.checker.violations().to_vec(),
            committed: self.checker.committed(),
            slots: self.checker.highest_slot(),
            events: self.events,
            virtual_time: self.now,
            ok,
            unknown,
            failovers: self.failovers,
            truncations: self.truncations,
            snapshots_installed: self.snapshots_installed,
            max_retained,
            enabled: self.schedule.enabled.clone(),
            trace: self.trace.unwrap_or_default(),
        }
    }
}

/// One node's host I/O in the simulated world.
struct SimIo<'w, 'a> {
    world: &'w mut World<'a>,
    node: usize,
    /// The replica executed something: check the application state after.
    executed: bool,
}

impl host::Io<Services> for SimIo<'_, '_> {
    fn event(&mut self, event: Event) {
        self.executed |= self.world.on_event(self.node, event);
    }

    fn send(&mut self, envelope: Envelope) {
        self.world.transmit(envelope);
    }

    fn reply(&mut self, reply: Reply) {
        self.world.reply(reply);
    }

    fn write(&mut self, write: Write) {
        self.world.write(self.node, write);
    }

    /// Built at once (the build is deterministic), handed back after a
    /// seeded delay as a real build on another thread would be.
    fn checkpoint(&mut self, job: CheckpointJob<Services>) {
        let checkpoint = job.build();
        let world = &mut *self.world;
        let delay = world.rng_disk.random_range(0..=3 * MS);
        let incarnation = world.nodes[self.node].incarnation;
        let node = self.node;
        world.at(
            world.now + delay,
            Ev::CheckpointBuilt {
                node,
                incarnation,
                checkpoint,
            },
        );
    }
}

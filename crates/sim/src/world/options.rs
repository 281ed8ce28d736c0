//! What a run is given and what it reports. Contract: `SimOptions` plus a
//! seed decide the whole run; `SimReport` carries everything the runner and
//! the command line print.

use crate::checks::Violation;
use crate::faults::FaultKind;
use crate::net::Conditions;
use crate::swarm::{Family, Mix};
use std::sync::Arc;
use synod_core::{Config, MS, NodeId, Scenario, Slot, Time};

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
    /// The fixed mix (`nodes`, every kind of `faults` at one rate), or the
    /// swarm (each seed draws its member: see [`crate::swarm`]).
    pub mix: Mix,
    /// With the swarm: only this family (else each seed draws one). In the
    /// options a run is made with, the family the seed drew.
    pub family: Option<Family>,
    /// With the swarm: the cluster sizes a seed draws from.
    pub sizes: Vec<usize>,
    /// Slots between checkpoints, and how many times the state's size the
    /// commands since the last one must add up to (`Config`'s
    /// `checkpoint_log_ratio`); the swarm draws both per seed.
    pub checkpoint_interval: u64,
    pub checkpoint_log_ratio: u64,
    /// The percentage of kv gets sent as reads without a log write (a
    /// quarter of them serializable, the rest linearizable); 0 sends every
    /// get through the log, as before reads existed.
    pub reads: u32,
    /// Instead of a drawn schedule, one named partial-connectivity
    /// scenario held from 1 s until the heal; its recovery is measured
    /// as a failover.
    pub partial: Option<Scenario>,
    /// A crashed node's clients learn at once that it is down, as over TCP
    /// when only the process died (its host refuses connections and resets
    /// the open ones): a request sent to it, and its connections when it
    /// crashes, are reported to the client (`Client::link_down`) one
    /// smallest network delay later. Off by default: the clients then wait
    /// out their timers, as after a host crash or a cut cable.
    pub refused_when_down: bool,
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
            mix: Mix::Fixed,
            family: None,
            sizes: vec![3, 5],
            checkpoint_interval: 10,
            checkpoint_log_ratio: 4,
            reads: 0,
            partial: None,
            refused_when_down: false,
        }
    }
}

impl SimOptions {
    /// The swarm on 3- and 5-node clusters (the command line's default).
    pub fn swarm() -> Self {
        SimOptions {
            mix: Mix::Swarm,
            ..SimOptions::default()
        }
    }

    /// The options seed `seed` runs with: under the swarm, with the cluster
    /// size, checkpoint interval and family it drew.
    pub fn for_seed(&self, seed: u64) -> SimOptions {
        let mut options = self.clone();
        if self.mix == Mix::Swarm && !self.failover_only && self.partial.is_none() {
            let profile = crate::swarm::draw_profile(seed, self.family, &self.sizes);
            options.nodes = profile.nodes;
            options.checkpoint_interval = profile.checkpoint_interval;
            options.checkpoint_log_ratio = profile.checkpoint_log_ratio;
            options.family = Some(profile.family);
        }
        options
    }

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

    /// A partial-connectivity scenario (docs/liveness.md): no drawn
    /// faults, 5 nodes unless told, the scenario held from 1 s to the heal.
    pub fn partial(scenario: Scenario) -> Self {
        SimOptions {
            partial: Some(scenario),
            mix: Mix::Fixed,
            faults: Vec::new(),
            // Truncate at every checkpoint, so that a node cut off for a
            // while (constrained-election's) falls behind a truncation, as
            // it does on real processes that run a thousand slots a second.
            checkpoint_log_ratio: 0,
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

    /// The environment the partial scenarios' bounds assume: this
    /// simulation's tick, delay and client timers, `processing` 1 ms.
    pub fn partial_environment(&self) -> synod_core::Environment {
        synod_core::Environment {
            tick: self.tick,
            delay: self.calm.max_delay,
            processing: MS,
            client_timeout: self.client_timeout,
            think: self.think.1,
            dead_successors: 0,
        }
    }

    /// The protocol configuration of node `id`: the cluster it was created
    /// as; a node added later (an id beyond them) lists itself as a
    /// learner, as a joining node's cluster file does, until it learns the
    /// real membership from a snapshot or the log.
    pub fn config(&self, id: u32) -> Config {
        let mut config = Config::cluster(id, self.nodes as u32);
        if id > self.nodes as u32 {
            config.learners = vec![NodeId(id)];
        }
        // Compare replicas often: the simulator's runs are short.
        config.checkpoint_interval = self.checkpoint_interval;
        config.checkpoint_log_ratio = self.checkpoint_log_ratio;
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
    /// Linearizable and serializable reads answered without a log write.
    pub reads: u64,
    pub local_reads: u64,
    /// Per leader crash or pause: virtual time until a newly proposed slot executed.
    pub failovers: Vec<Time>,
    /// What went on during each of `failovers`, in the same order.
    pub failover_causes: Vec<crate::world::FailoverCause>,
    /// Log truncations (a quorum held a checkpoint) and snapshots installed
    /// by lagging nodes, over all nodes.
    pub truncations: u64,
    pub snapshots_installed: u64,
    /// The most log entries any node held in memory at the end.
    pub max_retained: usize,
    /// Membership changes executed (fault kind `reconfig`), and the
    /// members at the end (voters and learners).
    pub reconfigurations: u64,
    pub members: usize,
    pub enabled: Vec<FaultKind>,
    /// The swarm member the seed drew (none under the fixed mix).
    pub family: Option<Family>,
    pub nodes: usize,
    pub trace: String,
}

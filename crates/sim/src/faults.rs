//! The fault catalogue and the per-seed schedule drawn from it.
//!
//! [`draw`] is the fixed mix: each seed enables a random subset of the
//! catalogue, then draws a timeline of fault episodes over the fault phase,
//! every kind at the same rate and strength. [`crate::swarm`] draws, per
//! seed, which kinds strike, how often and how hard ([`Strength`]), or a
//! scenario family aimed at a rare corner; [`draw_weighted`] and the family
//! builders here turn that into a schedule. Every episode ends by itself, or
//! at the latest when the healing phase begins.

use crate::net::Conditions;
use rand::Rng;
use rand::seq::SliceRandom;
use std::fmt;
use synod_core::{MS, NodeId, Scenario, Time};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultKind {
    Loss,
    Duplication,
    /// Delay spikes that reorder messages.
    Delay,
    SymmetricPartition,
    AsymmetricPartition,
    OneWayPartition,
    BridgePartition,
    CrashStop,
    CrashRestart,
    /// Crash, lose the disk, restart empty.
    Wipe,
    Pause,
    ClockSkew,
    /// Membership changes asked of the leader by a simulated operator
    /// (the world's admin): nodes added as learners and promoted, removed
    /// (the leader too), replaced after losing their disk, and leadership
    /// handed over. Not in [`FaultKind::ALL`], so that `all` and the draws
    /// of existing seeds stay what they were: name it, or run the swarm's
    /// `reconfig` family.
    Reconfig,
}

impl FaultKind {
    pub const ALL: [FaultKind; 12] = [
        FaultKind::Loss,
        FaultKind::Duplication,
        FaultKind::Delay,
        FaultKind::SymmetricPartition,
        FaultKind::AsymmetricPartition,
        FaultKind::OneWayPartition,
        FaultKind::BridgePartition,
        FaultKind::CrashStop,
        FaultKind::CrashRestart,
        FaultKind::Wipe,
        FaultKind::Pause,
        FaultKind::ClockSkew,
    ];

    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Loss => "loss",
            FaultKind::Duplication => "duplication",
            FaultKind::Delay => "delay",
            FaultKind::SymmetricPartition => "partition",
            FaultKind::AsymmetricPartition => "asymmetric-partition",
            FaultKind::OneWayPartition => "one-way-partition",
            FaultKind::BridgePartition => "bridge-partition",
            FaultKind::CrashStop => "crash-stop",
            FaultKind::CrashRestart => "crash-restart",
            FaultKind::Wipe => "wipe",
            FaultKind::Pause => "pause",
            FaultKind::ClockSkew => "clock-skew",
            FaultKind::Reconfig => "reconfig",
        }
    }

    /// Every kind there is: [`FaultKind::ALL`] and `reconfig`.
    pub const KNOWN: [FaultKind; 13] = [
        FaultKind::Loss,
        FaultKind::Duplication,
        FaultKind::Delay,
        FaultKind::SymmetricPartition,
        FaultKind::AsymmetricPartition,
        FaultKind::OneWayPartition,
        FaultKind::BridgePartition,
        FaultKind::CrashStop,
        FaultKind::CrashRestart,
        FaultKind::Wipe,
        FaultKind::Pause,
        FaultKind::ClockSkew,
        FaultKind::Reconfig,
    ];

    pub fn parse(name: &str) -> Option<FaultKind> {
        FaultKind::KNOWN.into_iter().find(|k| k.name() == name)
    }

    /// Whether the kind strikes as episodes on the schedule's timeline
    /// (clock skew is drawn per node, reconfiguration is the admin's).
    pub fn episodic(self) -> bool {
        !matches!(self, FaultKind::ClockSkew | FaultKind::Reconfig)
    }
}

/// Every kind of `kinds` alone, then every pair (in catalogue order): the
/// subsets a sweep runs, since a mix of every kind at once can hide what
/// one kind alone shows.
pub fn singles_and_pairs(kinds: &[FaultKind]) -> Vec<Vec<FaultKind>> {
    let mut subsets: Vec<Vec<FaultKind>> = kinds.iter().map(|k| vec![*k]).collect();
    for (i, a) in kinds.iter().enumerate() {
        for b in &kinds[i + 1..] {
            subsets.push(vec![*a, *b]);
        }
    }
    subsets
}

/// Whom a fault hits: a fixed node, or whichever node leads when it starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Node(NodeId),
    Leader,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Node(n) => write!(f, "{n}"),
            Target::Leader => write!(f, "leader"),
        }
    }
}

/// A partition's shape: directed links to cut.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Shape {
    /// `group` and the rest cannot talk either way.
    Split { group: Vec<NodeId> },
    /// `target` cannot talk to anyone, either way.
    Isolate { target: Target },
    /// `target` cannot send (`outbound`) or cannot receive (`!outbound`).
    OneWay { target: Target, outbound: bool },
    /// These directed links are cut; their reverses are not.
    Asymmetric { links: Vec<(NodeId, NodeId)> },
    /// `left` and `right` talk only through `bridge`.
    Bridge {
        left: Vec<NodeId>,
        bridge: NodeId,
        right: Vec<NodeId>,
    },
    /// A named partial-connectivity scenario, placed around the leader
    /// when it strikes (`synod_core::partial`).
    Scenario(Scenario),
    /// The node a scenario lets fall behind first, cut off alone.
    Lagging(Scenario),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    Crash {
        target: Target,
        restart_after: Option<Time>,
        /// The disk is lost too: the node comes back with nothing and must
        /// rejoin as a non-voting learner.
        wipe: bool,
    },
    Pause {
        target: Target,
        duration: Time,
    },
    Partition {
        shape: Shape,
        duration: Time,
    },
    Network {
        conditions: Conditions,
        duration: Time,
    },
    /// Armed when it strikes; `then` strikes as soon as the node that leads
    /// reports a checkpoint or a truncation (a leader isolated or crashed
    /// right after a checkpoint). Disarmed by the heal.
    AfterCheckpoint {
        then: Box<Fault>,
    },
}

impl Fault {
    /// A short name of what strikes, for the failover causes.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Fault::Crash { wipe: true, .. } => "wipe",
            Fault::Crash {
                restart_after: None,
                ..
            } => "crash-stop",
            Fault::Crash { .. } => "crash-restart",
            Fault::Pause { .. } => "pause",
            Fault::Partition { .. } => "partition",
            Fault::Network { conditions, .. } => {
                if conditions.loss > 0.0 {
                    "loss"
                } else if conditions.duplicate > 0.0 {
                    "duplication"
                } else {
                    "delay"
                }
            }
            Fault::AfterCheckpoint { then } => then.kind_name(),
        }
    }
}

/// How hard the faults of one seed strike: the ranges their durations,
/// rates and targets are drawn from. [`Strength::FIXED`] is the fixed mix's.
#[derive(Clone, Debug, PartialEq)]
pub struct Strength {
    /// How long a partition or network episode lasts.
    pub duration: (Time, Time),
    /// Loss, duplication and slow-link rates are drawn below this.
    pub rate_max: f64,
    /// The longest delay of a slow message.
    pub long_delay_max: Time,
    /// How long a crashed node stays down.
    pub restart: (Time, Time),
    /// How long a pause lasts.
    pub pause: (Time, Time),
    /// The probability that a fault aims at the leader.
    pub leader_bias: f64,
}

impl Strength {
    pub const FIXED: Strength = Strength {
        duration: (100 * MS, 1500 * MS),
        rate_max: 0.3,
        long_delay_max: 300 * MS,
        restart: (10 * MS, 1000 * MS),
        pause: (50 * MS, 1000 * MS),
        leader_bias: 0.5,
    };
}

/// The fault plan of one seed.
#[derive(Clone, Debug)]
pub struct Schedule {
    pub enabled: Vec<FaultKind>,
    pub faults: Vec<(Time, Fault)>,
    /// Per node: clock rate error in parts per million, and clock offset.
    pub clocks: Vec<(i64, Time)>,
}

/// Draws the schedule for `fault_time` of virtual time.
pub fn draw(
    rng: &mut impl Rng,
    nodes: &[NodeId],
    allowed: &[FaultKind],
    fault_time: Time,
    calm: &Conditions,
) -> Schedule {
    let mut enabled: Vec<FaultKind> = allowed
        .iter()
        .copied()
        .filter(|_| rng.random_bool(0.6))
        .collect();
    if enabled.is_empty() && !allowed.is_empty() {
        enabled.push(allowed[rng.random_range(0..allowed.len())]);
    }
    let clocks = nodes
        .iter()
        .map(|_| {
            if enabled.contains(&FaultKind::ClockSkew) {
                (
                    rng.random_range(-50_000..=50_000),
                    rng.random_range(0..=10_000 * MS),
                )
            } else {
                (0, 0)
            }
        })
        .collect();
    let episodic: Vec<FaultKind> = enabled.iter().copied().filter(|k| k.episodic()).collect();
    let mut faults = Vec::new();
    if !episodic.is_empty() {
        let mut t = rng.random_range(100 * MS..=400 * MS);
        let mut wiped = false;
        while t < fault_time {
            let mut kind = episodic[rng.random_range(0..episodic.len())];
            // A wiped node never votes again (synod has no reconfiguration
            // to give it back its vote): more than one per run could leave
            // no quorum at all. Later draws lose only their process.
            if kind == FaultKind::Wipe {
                if wiped {
                    kind = FaultKind::CrashRestart;
                }
                wiped = true;
            }
            faults.push((t, draw_fault(rng, kind, nodes, calm, &Strength::FIXED)));
            t += rng.random_range(50 * MS..=500 * MS);
        }
    }
    Schedule {
        enabled,
        faults,
        clocks,
    }
}

/// When a partial-connectivity scenario strikes: after the first leader
/// is in place and the clients are under way.
pub const PARTIAL_AT: Time = 1_000 * MS;

/// A named partial-connectivity scenario, held from [`PARTIAL_AT`] (after
/// its lagging node, if any, was cut off alone) until the heal.
pub fn partial(scenario: Scenario, nodes: &[NodeId], fault_time: Time) -> Schedule {
    let mut faults = Vec::new();
    let mut at = PARTIAL_AT;
    if let Some((_, lag)) = scenario.lagging(nodes, nodes[0]) {
        faults.push((
            at,
            Fault::Partition {
                shape: Shape::Lagging(scenario),
                duration: lag,
            },
        ));
        at += lag;
    }
    faults.push((
        at,
        Fault::Partition {
            shape: Shape::Scenario(scenario),
            duration: fault_time.saturating_sub(at),
        },
    ));
    Schedule {
        enabled: Vec::new(),
        faults,
        clocks: nodes.iter().map(|_| (0, 0)).collect(),
    }
}

/// Leader crashes only, 2.5 s apart, each restarted after 1 s: the
/// schedule under which the failover bound must hold.
pub fn leader_crashes(nodes: &[NodeId], fault_time: Time) -> Schedule {
    let faults = (0..)
        .map(|i| 500 * MS + i * 2_500 * MS)
        .take_while(|t| *t < fault_time)
        .map(|t| {
            (
                t,
                Fault::Crash {
                    target: Target::Leader,
                    restart_after: Some(1_000 * MS),
                    wipe: false,
                },
            )
        })
        .collect();
    Schedule {
        enabled: vec![FaultKind::CrashRestart],
        faults,
        clocks: nodes.iter().map(|_| (0, 0)).collect(),
    }
}

fn target(rng: &mut impl Rng, nodes: &[NodeId], leader_bias: f64) -> Target {
    if rng.random_bool(leader_bias) {
        Target::Leader
    } else {
        Target::Node(nodes[rng.random_range(0..nodes.len())])
    }
}

pub(crate) fn draw_fault(
    rng: &mut impl Rng,
    kind: FaultKind,
    nodes: &[NodeId],
    calm: &Conditions,
    strength: &Strength,
) -> Fault {
    let s = strength;
    let duration = rng.random_range(s.duration.0..=s.duration.1);
    let mut shuffled = nodes.to_vec();
    shuffled.shuffle(rng);
    match kind {
        FaultKind::Loss => Fault::Network {
            conditions: Conditions {
                loss: rng.random_range(0.01..s.rate_max),
                ..calm.clone()
            },
            duration,
        },
        FaultKind::Duplication => Fault::Network {
            conditions: Conditions {
                duplicate: rng.random_range(0.01..s.rate_max),
                ..calm.clone()
            },
            duration,
        },
        FaultKind::Delay => Fault::Network {
            conditions: Conditions {
                slow: rng.random_range(0.01..s.rate_max),
                long_delay: rng.random_range(5 * MS..=s.long_delay_max),
                ..calm.clone()
            },
            duration,
        },
        FaultKind::SymmetricPartition => {
            let shape = if rng.random_bool(0.4) {
                Shape::Isolate {
                    target: target(rng, nodes, s.leader_bias),
                }
            } else {
                let size = rng.random_range(1..=nodes.len() / 2);
                Shape::Split {
                    group: shuffled[..size].to_vec(),
                }
            };
            Fault::Partition { shape, duration }
        }
        FaultKind::AsymmetricPartition => {
            let mut links = Vec::new();
            for &a in nodes {
                for &b in nodes {
                    if a < b && rng.random_bool(0.3) {
                        links.push(if rng.random_bool(0.5) { (a, b) } else { (b, a) });
                    }
                }
            }
            Fault::Partition {
                shape: Shape::Asymmetric { links },
                duration,
            }
        }
        FaultKind::OneWayPartition => Fault::Partition {
            shape: Shape::OneWay {
                target: target(rng, nodes, s.leader_bias),
                outbound: rng.random_bool(0.5),
            },
            duration,
        },
        FaultKind::BridgePartition => {
            let bridge = shuffled[0];
            let rest = &shuffled[1..];
            let half = rest.len() / 2;
            Fault::Partition {
                shape: Shape::Bridge {
                    left: rest[..half].to_vec(),
                    bridge,
                    right: rest[half..].to_vec(),
                },
                duration,
            }
        }
        FaultKind::CrashStop => Fault::Crash {
            target: target(rng, nodes, s.leader_bias),
            restart_after: None,
            wipe: false,
        },
        FaultKind::CrashRestart => Fault::Crash {
            target: target(rng, nodes, s.leader_bias),
            restart_after: Some(rng.random_range(s.restart.0..=s.restart.1)),
            wipe: false,
        },
        FaultKind::Wipe => Fault::Crash {
            target: target(rng, nodes, s.leader_bias),
            restart_after: Some(rng.random_range(s.restart.0..=s.restart.1)),
            wipe: true,
        },
        FaultKind::Pause => Fault::Pause {
            target: target(rng, nodes, s.leader_bias),
            duration: rng.random_range(s.pause.0..=s.pause.1),
        },
        FaultKind::ClockSkew | FaultKind::Reconfig => {
            unreachable!("clock skew and reconfiguration are not drawn as episodes")
        }
    }
}

impl Shape {
    /// The directed links this shape cuts, with `leader` resolved.
    pub fn links(&self, nodes: &[NodeId], leader: Option<NodeId>) -> Vec<(NodeId, NodeId)> {
        let resolve = |t: &Target| match t {
            Target::Node(n) => Some(*n),
            Target::Leader => leader,
        };
        let mut links = Vec::new();
        match self {
            Shape::Split { group } => {
                for &a in group {
                    for &b in nodes.iter().filter(|b| !group.contains(b)) {
                        links.push((a, b));
                        links.push((b, a));
                    }
                }
            }
            Shape::Isolate { target } => {
                if let Some(t) = resolve(target) {
                    for &b in nodes.iter().filter(|&&b| b != t) {
                        links.push((t, b));
                        links.push((b, t));
                    }
                }
            }
            Shape::OneWay { target, outbound } => {
                if let Some(t) = resolve(target) {
                    for &b in nodes.iter().filter(|&&b| b != t) {
                        links.push(if *outbound { (t, b) } else { (b, t) });
                    }
                }
            }
            Shape::Asymmetric { links: cut } => links.extend(cut.iter().copied()),
            Shape::Bridge { left, right, .. } => {
                for &a in left {
                    for &b in right {
                        links.push((a, b));
                        links.push((b, a));
                    }
                }
            }
            Shape::Scenario(scenario) => {
                if let Some(l) = leader {
                    links.extend(scenario.links(nodes, l));
                }
            }
            Shape::Lagging(scenario) => {
                if let Some((t, _)) = leader.and_then(|l| scenario.lagging(nodes, l)) {
                    for &b in nodes.iter().filter(|&&b| b != t) {
                        links.push((t, b));
                        links.push((b, t));
                    }
                }
            }
        }
        links
    }
}

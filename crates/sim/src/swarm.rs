//! Swarm testing (Groce et al., "Swarm testing", ISSTA 2012; TigerBeetle's
//! VOPR does the same): instead of every fault kind at one fixed rate, each
//! seed draws its own configuration (which kinds are on, how often and how
//! hard they strike, the cluster size, the checkpoint interval) or a
//! scenario family aimed at a rare corner. A seed that leaves most kinds out
//! lets the rest strike often enough, and in the right company, to reach
//! states an all-kinds mix almost never does.
//!
//! Contract: the draw is a pure function of the seed and of the options the
//! replay line carries (`--mix`, `--family`, `--nodes`, `--faults`), made
//! from its own generator stream, so `synod sim --seed N` replays exactly.
//! The fixed mix draws nothing here and runs as it always did.

use crate::faults::{self, Fault, FaultKind, Schedule, Shape, Strength, Target, draw_fault};
use crate::net::Conditions;
use rand::Rng;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use synod_core::{MS, NodeId, Time};

/// Every kind at a fixed rate (the mix before the swarm), or a swarm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mix {
    Fixed,
    Swarm,
}

impl Mix {
    pub fn name(self) -> &'static str {
        match self {
            Mix::Fixed => "fixed",
            Mix::Swarm => "swarm",
        }
    }

    pub fn parse(name: &str) -> Option<Mix> {
        [Mix::Fixed, Mix::Swarm]
            .into_iter()
            .find(|m| m.name() == name)
    }
}

/// A member of the swarm: how a seed's schedule is built.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    /// The fixed mix's draw (every kind at one rate), on a drawn cluster size.
    Classic,
    /// Kinds switched on at random, each with its own weight, at a drawn
    /// pace and strength.
    Random,
    /// A small checkpoint interval while leaders crash, pause and are cut
    /// off: checkpoints and truncation racing elections.
    CheckpointRace,
    /// Disks lost (up to a minority of the nodes) and rejoined as learners,
    /// among crashes and partitions.
    WipeRejoin,
    /// Crash-restarts in quick succession, sometimes the whole cluster at once.
    RestartStorm,
    /// The leader isolated or crashed right after it reports a checkpoint
    /// or a truncation.
    IsolateAfterCheckpoint,
    /// A node cut off long enough to fall behind a checkpoint, then the
    /// leader (and on 5 nodes another) crashes as it returns, so the laggard
    /// is needed in every quorum and may be elected.
    LaggardElected,
    /// The leader paused or cut off (one way or both) long enough to be
    /// replaced, then back with its old ballot, again and again.
    DeposedLeader,
    /// Membership changes (`reconfig`: nodes added and promoted, removed,
    /// replaced, leadership handed over) among the kinds of `random`.
    Reconfig,
}

impl Family {
    pub const ALL: [Family; 9] = [
        Family::Classic,
        Family::Random,
        Family::CheckpointRace,
        Family::WipeRejoin,
        Family::RestartStorm,
        Family::IsolateAfterCheckpoint,
        Family::LaggardElected,
        Family::DeposedLeader,
        Family::Reconfig,
    ];

    /// How often the swarm picks each family, out of the sum.
    /// (Tuned with `cargo run --release -p synod-sim --example detect --
    /// families N`, so that the swarm catches every planted bug at least as
    /// soon as the fixed mix: see docs/simulator.md.)
    /// `reconfig` is not drawn by weight but afterwards, with
    /// [`RECONFIG_SHARE`], so that the seeds that do not draw it keep the
    /// member they had before it existed.
    fn weight(self) -> u32 {
        match self {
            Family::Reconfig => 0,
            Family::Classic | Family::Random => 3,
            Family::WipeRejoin => 4,
            Family::DeposedLeader => 5,
            Family::LaggardElected => 1,
            _ => 2,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Family::Classic => "classic",
            Family::Random => "random",
            Family::CheckpointRace => "checkpoint-race",
            Family::WipeRejoin => "wipe-rejoin",
            Family::RestartStorm => "restart-storm",
            Family::IsolateAfterCheckpoint => "isolate-after-checkpoint",
            Family::LaggardElected => "laggard-elected",
            Family::DeposedLeader => "deposed-leader",
            Family::Reconfig => "reconfig",
        }
    }

    pub fn parse(name: &str) -> Option<Family> {
        Family::ALL.into_iter().find(|f| f.name() == name)
    }
}

/// What the swarm drew for one seed, before its schedule.
#[derive(Clone, Debug, PartialEq)]
pub struct Profile {
    pub family: Family,
    pub nodes: usize,
    pub checkpoint_interval: u64,
    /// 0: a checkpoint every `checkpoint_interval` slots, whatever the
    /// state's size; 4: the default spacing by size.
    pub checkpoint_log_ratio: u64,
}

/// The generator stream of the swarm's draw (the world uses 1 to 3, and 5).
const STREAM: u64 = 4;

/// The share of the swarm's seeds that become members of `reconfig`: drawn
/// after everything else the profile draws, so every other seed keeps its
/// member, size and checkpoints (and replays as before `reconfig` existed).
pub const RECONFIG_SHARE: f64 = 0.15;

/// Draws the member of the swarm for `seed`: the family (unless `family`
/// fixes it), the cluster size among `sizes`, and the checkpoint interval.
pub fn draw_profile(seed: u64, family: Option<Family>, sizes: &[usize]) -> Profile {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(STREAM);
    let total: u32 = Family::ALL.iter().map(|f| f.weight()).sum();
    let mut pick = rng.random_range(0..total);
    let mut drawn = Family::Classic;
    for f in Family::ALL {
        if pick < f.weight() {
            drawn = f;
            break;
        }
        pick -= f.weight();
    }
    let forced = family.is_some();
    let family = family.unwrap_or(drawn);
    let nodes = if sizes.is_empty() {
        5
    } else {
        sizes[rng.random_range(0..sizes.len())]
    };
    let checkpoint_interval = match family {
        Family::Classic => 10,
        Family::Random | Family::WipeRejoin => [4, 10, 10, 25][rng.random_range(0..4)],
        _ => rng.random_range(3..=8),
    };
    let checkpoint_log_ratio = match family {
        Family::Classic => 4,
        Family::Random | Family::WipeRejoin | Family::RestartStorm | Family::DeposedLeader => {
            [0, 4][rng.random_range(0..2)]
        }
        _ => 0,
    };
    let mut profile = Profile {
        family,
        nodes,
        checkpoint_interval,
        checkpoint_log_ratio,
    };
    let reconfig = match family {
        Family::Reconfig => true,
        _ => !forced && rng.random_bool(RECONFIG_SHARE),
    };
    if reconfig {
        profile.family = Family::Reconfig;
        profile.checkpoint_interval = [4, 10, 10, 25][rng.random_range(0..4)];
        profile.checkpoint_log_ratio = [0, 4][rng.random_range(0..2)];
    }
    profile
}

/// The schedule of `family` over `fault_time`. `allowed` restricts the
/// kinds of the classic and random members (`--faults`); the other
/// families are built from the kinds their corner needs.
pub fn draw_schedule(
    rng: &mut impl Rng,
    family: Family,
    nodes: &[NodeId],
    allowed: &[FaultKind],
    fault_time: Time,
    calm: &Conditions,
) -> Schedule {
    let mut schedule = draw_family(rng, family, nodes, allowed, fault_time, calm);
    // The corner families lose a disk now and then too: a rejoining
    // learner in the middle of their scenario.
    let corner = !matches!(
        family,
        Family::Classic | Family::Random | Family::WipeRejoin | Family::Reconfig
    );
    if corner && rng.random_bool(0.5) {
        let at = rng.random_range(100 * MS..fault_time.max(101 * MS));
        let target = if rng.random_bool(0.5) {
            Target::Leader
        } else {
            Target::Node(nodes[rng.random_range(0..nodes.len())])
        };
        let wipe = Fault::Crash {
            target,
            restart_after: Some(rng.random_range(10 * MS..=1000 * MS)),
            wipe: true,
        };
        schedule.faults.push((at, wipe));
        schedule.faults.sort_by_key(|(t, _)| *t);
        schedule.enabled.push(FaultKind::Wipe);
    }
    schedule
}

fn draw_family(
    rng: &mut impl Rng,
    family: Family,
    nodes: &[NodeId],
    allowed: &[FaultKind],
    fault_time: Time,
    calm: &Conditions,
) -> Schedule {
    use FaultKind::*;
    let f = (nodes.len() - 1) / 2;
    match family {
        Family::Classic => faults::draw(rng, nodes, allowed, fault_time, calm),
        Family::Reconfig => {
            // The kinds of `random`, and the admin's membership changes.
            let others: Vec<FaultKind> =
                allowed.iter().copied().filter(|k| *k != Reconfig).collect();
            let mut schedule = draw_family(rng, Family::Random, nodes, &others, fault_time, calm);
            schedule.enabled.push(Reconfig);
            schedule
        }
        Family::Random => {
            let mut kinds: Vec<(FaultKind, u32)> = Vec::new();
            for &k in allowed {
                if rng.random_bool(0.5) {
                    kinds.push((k, rng.random_range(1..=8)));
                }
            }
            if kinds.is_empty() && !allowed.is_empty() {
                kinds.push((allowed[rng.random_range(0..allowed.len())], 1));
            }
            let gap = [
                (10 * MS, 150 * MS),
                (50 * MS, 500 * MS),
                (200 * MS, 1000 * MS),
            ][rng.random_range(0..3)];
            let strength = Strength {
                duration: [
                    (20 * MS, 300 * MS),
                    (100 * MS, 1500 * MS),
                    (500 * MS, 2500 * MS),
                ][rng.random_range(0..3)],
                rate_max: rng.random_range(0.05..0.6),
                long_delay_max: rng.random_range(20 * MS..=600 * MS),
                restart: [(MS, 50 * MS), (10 * MS, 1000 * MS), (500 * MS, 2000 * MS)]
                    [rng.random_range(0..3)],
                pause: [
                    (20 * MS, 200 * MS),
                    (50 * MS, 1000 * MS),
                    (500 * MS, 2000 * MS),
                ][rng.random_range(0..3)],
                leader_bias: rng.random_range(0.1..0.9),
            };
            let wipes = rng.random_range(1..=f.max(1));
            draw_weighted(rng, nodes, &kinds, gap, &strength, wipes, fault_time, calm)
        }
        Family::CheckpointRace => {
            let kinds = [
                (CrashRestart, 4),
                (SymmetricPartition, 3),
                (Pause, 2),
                (Delay, 1),
                (Loss, 1),
            ];
            let strength = Strength {
                duration: (50 * MS, 400 * MS),
                restart: (10 * MS, 300 * MS),
                pause: (50 * MS, 400 * MS),
                leader_bias: 0.8,
                ..Strength::FIXED
            };
            draw_weighted(
                rng,
                nodes,
                &kinds,
                (30 * MS, 250 * MS),
                &strength,
                0,
                fault_time,
                calm,
            )
        }
        Family::WipeRejoin => {
            let kinds = [
                (Wipe, 3),
                (CrashRestart, 2),
                (SymmetricPartition, 1),
                (Loss, 1),
                (Delay, 1),
            ];
            let wipes = rng.random_range(1..=f.max(1));
            let gap = (100 * MS, 600 * MS);
            draw_weighted(
                rng,
                nodes,
                &kinds,
                gap,
                &Strength::FIXED,
                wipes,
                fault_time,
                calm,
            )
        }
        Family::RestartStorm => {
            let mut kinds = vec![(CrashRestart, 6)];
            if rng.random_bool(0.5) {
                kinds.push((Loss, 1));
            }
            let strength = Strength {
                restart: (MS, 200 * MS),
                ..Strength::FIXED
            };
            let mut schedule = draw_weighted(
                rng,
                nodes,
                &kinds,
                (5 * MS, 80 * MS),
                &strength,
                0,
                fault_time,
                calm,
            );
            // Sometimes every node at once (a power cut), each back on its own.
            if rng.random_bool(0.5) {
                let at = rng.random_range(200 * MS..fault_time.max(201 * MS));
                for &n in nodes {
                    let crash = Fault::Crash {
                        target: Target::Node(n),
                        restart_after: Some(rng.random_range(MS..=100 * MS)),
                        wipe: false,
                    };
                    schedule.faults.push((at, crash));
                }
                schedule.faults.sort_by_key(|(t, _)| *t);
            }
            schedule
        }
        Family::IsolateAfterCheckpoint => {
            let mut faults = Vec::new();
            let mut t = rng.random_range(100 * MS..=400 * MS);
            while t < fault_time {
                let then = match rng.random_range(0..4) {
                    0 | 1 => Fault::Partition {
                        shape: Shape::Isolate {
                            target: Target::Leader,
                        },
                        duration: rng.random_range(100 * MS..=1500 * MS),
                    },
                    2 => Fault::Partition {
                        shape: Shape::OneWay {
                            target: Target::Leader,
                            outbound: rng.random_bool(0.5),
                        },
                        duration: rng.random_range(100 * MS..=1500 * MS),
                    },
                    _ => Fault::Crash {
                        target: Target::Leader,
                        restart_after: Some(rng.random_range(10 * MS..=1000 * MS)),
                        wipe: false,
                    },
                };
                faults.push((
                    t,
                    Fault::AfterCheckpoint {
                        then: Box::new(then),
                    },
                ));
                t += rng.random_range(200 * MS..=900 * MS);
            }
            let mut enabled = vec![SymmetricPartition, OneWayPartition, CrashRestart];
            if rng.random_bool(0.5) {
                let noise = if rng.random_bool(0.5) { Loss } else { Delay };
                enabled.push(noise);
                add_background(rng, &mut faults, noise, nodes, fault_time, calm);
            }
            Schedule {
                enabled,
                faults,
                clocks: nodes.iter().map(|_| (0, 0)).collect(),
            }
        }
        Family::LaggardElected => {
            let mut faults = Vec::new();
            let mut t = rng.random_range(100 * MS..=400 * MS);
            while t < fault_time {
                let laggard = nodes[rng.random_range(0..nodes.len())];
                let away = rng.random_range(600 * MS..=1800 * MS);
                let isolate = Fault::Partition {
                    shape: Shape::Isolate {
                        target: Target::Node(laggard),
                    },
                    duration: away,
                };
                faults.push((t, isolate));
                let back = t + away + rng.random_range(0..=50 * MS);
                faults.push((
                    back,
                    Fault::Crash {
                        target: Target::Leader,
                        restart_after: Some(rng.random_range(200 * MS..=1000 * MS)),
                        wipe: false,
                    },
                ));
                // On 5 nodes a second node goes too: every quorum needs the laggard.
                for _ in 1..f {
                    let others: Vec<NodeId> =
                        nodes.iter().copied().filter(|&n| n != laggard).collect();
                    let other = others[rng.random_range(0..others.len())];
                    let crash = Fault::Crash {
                        target: Target::Node(other),
                        restart_after: Some(rng.random_range(200 * MS..=1000 * MS)),
                        wipe: false,
                    };
                    faults.push((back, crash));
                }
                t = back + rng.random_range(300 * MS..=1000 * MS);
            }
            faults.retain(|(at, _)| *at < fault_time);
            Schedule {
                enabled: vec![SymmetricPartition, CrashRestart],
                faults,
                clocks: nodes.iter().map(|_| (0, 0)).collect(),
            }
        }
        Family::DeposedLeader => {
            let mut faults = Vec::new();
            let mut t = rng.random_range(100 * MS..=400 * MS);
            while t < fault_time {
                let duration = rng.random_range(200 * MS..=1000 * MS);
                let fault = match rng.random_range(0..5) {
                    // Paused, it wakes up still leading, with the ACCEPTs
                    // of its old ballot to resend.
                    0 | 1 => Fault::Pause {
                        target: Target::Leader,
                        duration,
                    },
                    2 => Fault::Partition {
                        shape: Shape::Isolate {
                            target: Target::Leader,
                        },
                        duration,
                    },
                    // It hears nothing but still heartbeats everyone.
                    3 => Fault::Partition {
                        shape: Shape::OneWay {
                            target: Target::Leader,
                            outbound: false,
                        },
                        duration,
                    },
                    _ => Fault::Partition {
                        shape: Shape::OneWay {
                            target: Target::Leader,
                            outbound: true,
                        },
                        duration,
                    },
                };
                faults.push((t, fault));
                t += duration / 2 + rng.random_range(50 * MS..=600 * MS);
            }
            // Slow links carry the old ballot's messages past the new one's.
            let mut enabled = vec![Pause, SymmetricPartition, OneWayPartition, Delay];
            add_background(rng, &mut faults, Delay, nodes, fault_time, calm);
            if rng.random_bool(0.5) {
                let noise = if rng.random_bool(0.5) {
                    Duplication
                } else {
                    Loss
                };
                enabled.push(noise);
                add_background(rng, &mut faults, noise, nodes, fault_time, calm);
            }
            Schedule {
                enabled,
                faults,
                clocks: nodes.iter().map(|_| (0, 0)).collect(),
            }
        }
    }
}

/// A timeline of episodes over `fault_time`, each of a kind picked by
/// weight, `gap` apart, at `strength`; at most `wipes` disks lost (a wiped
/// node never votes again: past a minority there would be no quorum, so
/// later draws lose only their process).
#[allow(clippy::too_many_arguments)]
pub fn draw_weighted(
    rng: &mut impl Rng,
    nodes: &[NodeId],
    kinds: &[(FaultKind, u32)],
    gap: (Time, Time),
    strength: &Strength,
    wipes: usize,
    fault_time: Time,
    calm: &Conditions,
) -> Schedule {
    let enabled: Vec<FaultKind> = kinds.iter().map(|(k, _)| *k).collect();
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
    let episodic: Vec<(FaultKind, u32)> = kinds
        .iter()
        .copied()
        .filter(|(k, w)| k.episodic() && *w > 0)
        .collect();
    let total: u32 = episodic.iter().map(|(_, w)| w).sum();
    let mut faults = Vec::new();
    let mut wiped = 0;
    if total > 0 {
        let mut t = rng.random_range(100 * MS..=400 * MS);
        while t < fault_time {
            let mut pick = rng.random_range(0..total);
            let mut kind = episodic[0].0;
            for &(k, w) in &episodic {
                if pick < w {
                    kind = k;
                    break;
                }
                pick -= w;
            }
            if kind == FaultKind::Wipe {
                if wiped >= wipes {
                    kind = FaultKind::CrashRestart;
                }
                wiped += 1;
            }
            faults.push((t, draw_fault(rng, kind, nodes, calm, strength)));
            t += rng.random_range(gap.0..=gap.1);
        }
    }
    Schedule {
        enabled,
        faults,
        clocks,
    }
}

/// Adds episodes of `kind` at the fixed mix's strength through the fault
/// phase, as background noise to a family's scenario.
fn add_background(
    rng: &mut impl Rng,
    faults: &mut Vec<(Time, Fault)>,
    kind: FaultKind,
    nodes: &[NodeId],
    fault_time: Time,
    calm: &Conditions,
) {
    let mut t = rng.random_range(0..=300 * MS);
    while t < fault_time {
        faults.push((t, draw_fault(rng, kind, nodes, calm, &Strength::FIXED)));
        t += rng.random_range(300 * MS..=1000 * MS);
    }
    faults.sort_by_key(|(t, _)| *t);
}

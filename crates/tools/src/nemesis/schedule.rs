//! The nemesis's faults: a seeded choice of what to strike (SIGKILL with or
//! without an immediate restart, SIGSTOP, a partition: majority and
//! minority, the leader alone, one-way, bridge; or a membership change:
//! grow, shrink, replace), at whom (the leader half the time), and how to
//! undo it.
//!
//! A membership change goes through the same engine as `synod cluster add
//! | promote | remove` (`crate::membership`), which rewrites the cluster
//! file; the striker then reads its cluster again, so later faults strike
//! the nodes of the membership as it is. A change is not undone: the next
//! membership fault may shrink what this one grew.
//!
//! Partitions use the nodes' fault switch (`AdminRequest::Partition`): each
//! node drops the messages of the peers it is told to. It cuts exactly the
//! peer traffic, needs no privileges, and works the same in containers;
//! network namespaces would also cut the admin channel the nemesis needs.

use crate::local::LocalCluster;
use crate::queries::Cut;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::fmt;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// No faults: a plain recorded and checked run.
    None,
    Kill,
    Pause,
    Partition,
    Restart,
    Membership,
}

/// What the nemesis did to the cluster. `leader`: the node struck was the
/// leader.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NemesisEvent {
    Killed {
        node: u32,
        leader: bool,
    },
    KilledAndRestarted {
        node: u32,
        leader: bool,
    },
    Paused {
        node: u32,
        leader: bool,
    },
    MinorityCut(Vec<u32>),
    Isolated {
        node: u32,
        leader: bool,
    },
    /// The node hears nobody, but everyone hears it.
    OneWay {
        node: u32,
        leader: bool,
    },
    /// Two halves that only the bridge node connects.
    Bridge {
        node: u32,
        left: Vec<u32>,
        right: Vec<u32>,
    },
    /// A new node added as a learner, then promoted to voter.
    Grew(u32),
    /// A node removed (the leader, if `leader`).
    Shrank {
        node: u32,
        leader: bool,
    },
    /// `old` removed, `new` added and promoted in its place.
    Replaced {
        old: u32,
        new: u32,
    },
    /// Partial connectivity (`--partial`): `node` cut off alone for `ms`
    /// before the scenario proper, `leader` leading.
    Lagging {
        node: u32,
        leader: u32,
        ms: u64,
    },
    /// Round `round` of a partial-connectivity scenario, its cuts in place
    /// around `leader`; `picture`: whom each node hears.
    Scenario {
        round: usize,
        scenario: synod_core::Scenario,
        leader: u32,
        picture: Vec<String>,
    },
    /// The round healed; `recovery_us`: from the cuts in place to the first
    /// command sent after them completing, if one did before the heal
    /// (`None`: the round's cuts were not all taken, and it was given up).
    ScenarioHealed {
        round: usize,
        recovery_us: Option<Option<u64>>,
    },
    Restarted(u32),
    Resumed(u32),
    PartitionsHealed,
    /// The end of the faults: clients finish, then the final read.
    AllHealed,
}

impl fmt::Display for NemesisEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tag = |leader: &bool| if *leader { " (the leader)" } else { "" };
        match self {
            NemesisEvent::Killed { node, leader } => write!(f, "kill -9 n{node}{}", tag(leader)),
            NemesisEvent::KilledAndRestarted { node, leader } => {
                write!(f, "kill -9 and restart n{node}{}", tag(leader))
            }
            NemesisEvent::Paused { node, leader } => write!(f, "pause n{node}{}", tag(leader)),
            NemesisEvent::MinorityCut(minority) => {
                write!(f, "partition: minority {minority:?} cut from the rest")
            }
            NemesisEvent::Isolated { node, leader } => {
                write!(f, "partition: n{node} isolated{}", tag(leader))
            }
            NemesisEvent::OneWay { node, leader } => {
                write!(f, "partition: one-way, n{node} hears nobody{}", tag(leader))
            }
            NemesisEvent::Bridge { node, left, right } => {
                write!(
                    f,
                    "partition: bridge n{node} between {left:?} and {right:?}"
                )
            }
            NemesisEvent::Grew(node) => write!(f, "membership: add n{node}, promote it"),
            NemesisEvent::Shrank { node, leader } => {
                write!(f, "membership: remove n{node}{}", tag(leader))
            }
            NemesisEvent::Replaced { old, new } => {
                write!(f, "membership: replace n{old} by n{new}")
            }
            NemesisEvent::Lagging { node, leader, ms } => write!(
                f,
                "partial: n{node} cut off alone for {ms} ms to lag (n{leader} leads)"
            ),
            NemesisEvent::Scenario {
                round,
                scenario,
                leader,
                picture,
            } => write!(
                f,
                "partial: round {round}, {scenario} around leader n{leader}: {}",
                picture.join("; ")
            ),
            NemesisEvent::ScenarioHealed { round, recovery_us } => match recovery_us {
                Some(Some(us)) => write!(
                    f,
                    "heal partitions (round {round} recovered in {:.1} ms)",
                    *us as f64 / 1000.0
                ),
                Some(None) => write!(
                    f,
                    "heal partitions (round {round}: no command sent after the cuts completed under them)"
                ),
                None => write!(
                    f,
                    "heal partitions (round {round} given up: a node did not take its cut)"
                ),
            },
            NemesisEvent::Restarted(node) => write!(f, "restart n{node}"),
            NemesisEvent::Resumed(node) => write!(f, "resume n{node}"),
            NemesisEvent::PartitionsHealed => write!(f, "heal partitions"),
            NemesisEvent::AllHealed => write!(f, "healed; clients finish, then the final read"),
        }
    }
}

/// A fault in progress, and how to undo it.
pub enum Undo {
    /// Nothing to undo (a membership change stays).
    Nothing,
    Restart(u32),
    Resume(u32),
    HealPartitions,
}

/// Strikes faults drawn from its own seeded generator.
pub struct Striker<'a> {
    /// The cluster as its file says now (read again after each membership
    /// change).
    pub cluster: LocalCluster,
    /// The nodes the cluster started with: a membership fault removes only
    /// nodes it added, or replaces one of these while two of them remain
    /// besides the leader (the clients know these only, and reach the
    /// leader through any member, which forwards).
    pub founders: Vec<u32>,
    pub rng: ChaCha8Rng,
    /// The fault kinds to draw from (not empty, no `Fault::None`).
    pub kinds: Vec<Fault>,
    pub start: Instant,
    /// When (µs on the history's clock) the leader was killed, paused or
    /// isolated.
    pub leader_losses: Vec<u64>,
    /// The highest node id used so far (a new node takes the next).
    pub next_id: u32,
    pub on_event: &'a mut dyn FnMut(Duration, &NemesisEvent),
}

impl Striker<'_> {
    pub(super) fn say(&mut self, event: NemesisEvent) {
        (self.on_event)(self.start.elapsed(), &event);
    }

    fn lost_leader(&mut self) {
        self.leader_losses
            .push(self.start.elapsed().as_micros() as u64);
    }

    async fn cut(&self, node: u32, cut: Cut) {
        // A node that does not answer is down or paused: it hears nobody
        // anyway, and the heal at the end reaches it.
        let _ = self.cluster.cut(node, cut, Duration::from_secs(1)).await;
    }

    pub async fn heal_partitions(&self) {
        for n in &self.cluster.file.nodes {
            self.cut(n.id, Cut::none()).await;
        }
    }

    /// Strikes one fault; returns how to undo it.
    pub async fn strike(&mut self) -> anyhow::Result<Undo> {
        let ids = self.cluster.ids();
        let fault = self.kinds[self.rng.random_range(0..self.kinds.len())];
        let leader = self.cluster.leader().await;
        let target = match leader {
            Some(l) if self.rng.random_bool(0.5) => l,
            _ => ids[self.rng.random_range(0..ids.len())],
        };
        let hits_leader = Some(target) == leader;
        Ok(match fault {
            Fault::None => Undo::HealPartitions,
            Fault::Kill | Fault::Restart => {
                self.cluster.kill(target)?;
                if hits_leader {
                    self.lost_leader();
                }
                if fault == Fault::Restart {
                    self.cluster.start(target, false)?;
                    self.say(NemesisEvent::KilledAndRestarted {
                        node: target,
                        leader: hits_leader,
                    });
                    Undo::HealPartitions // nothing left to undo but a no-op heal
                } else {
                    self.say(NemesisEvent::Killed {
                        node: target,
                        leader: hits_leader,
                    });
                    Undo::Restart(target)
                }
            }
            Fault::Pause => {
                self.cluster.pause(target)?;
                if hits_leader {
                    self.lost_leader();
                }
                self.say(NemesisEvent::Paused {
                    node: target,
                    leader: hits_leader,
                });
                Undo::Resume(target)
            }
            Fault::Partition => {
                self.partition(ids, leader, target, hits_leader).await;
                Undo::HealPartitions
            }
            Fault::Membership => {
                self.change_membership(ids, leader).await?;
                Undo::Nothing
            }
        })
    }

    /// One membership change: shrink by a node added before (the leader
    /// too), else grow by a new node or replace a founding one (not the
    /// leader) by a new node.
    async fn change_membership(
        &mut self,
        ids: Vec<u32>,
        leader: Option<u32>,
    ) -> anyhow::Result<()> {
        const CHANGE: Duration = Duration::from_secs(30);
        let path = LocalCluster::cluster_file(&self.cluster.dir);
        let binary = self.cluster.binary().to_path_buf();
        let added: Vec<u32> = ids
            .iter()
            .copied()
            .filter(|id| !self.founders.contains(id))
            .collect();
        let founders_left: Vec<u32> = ids
            .iter()
            .copied()
            .filter(|id| self.founders.contains(id) && Some(*id) != leader)
            .collect();
        let next = ids
            .iter()
            .chain(&self.founders)
            .copied()
            .max()
            .unwrap_or(0)
            .max(self.next_id)
            + 1;
        let add = |id: u32| crate::membership::AddOptions {
            id,
            addr: None,
            client_addr: None,
            start: true,
            binary: binary.clone(),
            timeout: CHANGE,
        };
        if !added.is_empty() {
            let node = added[self.rng.random_range(0..added.len())];
            let hits_leader = Some(node) == leader;
            if hits_leader {
                self.lost_leader();
            }
            crate::membership::remove(&path, node, binary.clone(), CHANGE).await?;
            self.say(NemesisEvent::Shrank {
                node,
                leader: hits_leader,
            });
        } else if self.rng.random_bool(0.5) && founders_left.len() >= 2 {
            // Two founding nodes besides the leader: one stays with it, so
            // the clients (which know the founding nodes only) reach a
            // member whatever else happens.
            let old = founders_left[self.rng.random_range(0..founders_left.len())];
            crate::membership::remove(&path, old, binary.clone(), CHANGE).await?;
            crate::membership::add(&path, add(next)).await?;
            crate::membership::promote(&path, next, CHANGE).await?;
            self.next_id = next;
            self.say(NemesisEvent::Replaced { old, new: next });
        } else {
            crate::membership::add(&path, add(next)).await?;
            crate::membership::promote(&path, next, CHANGE).await?;
            self.next_id = next;
            self.say(NemesisEvent::Grew(next));
        }
        self.cluster = self.cluster.reopen()?;
        Ok(())
    }

    async fn partition(
        &mut self,
        all: Vec<u32>,
        leader: Option<u32>,
        target: u32,
        hits_leader: bool,
    ) {
        let n = all.len() as u32;
        let all_but = |x: u32| all.iter().copied().filter(|y| *y != x).collect::<Vec<_>>();
        match self.rng.random_range(0..4) {
            0 => {
                let mut shuffled = all.clone();
                for i in (1..shuffled.len()).rev() {
                    shuffled.swap(i, self.rng.random_range(0..=i));
                }
                let minority: Vec<u32> = shuffled[..(n as usize - 1) / 2].to_vec();
                let majority: Vec<u32> = all
                    .iter()
                    .copied()
                    .filter(|y| !minority.contains(y))
                    .collect();
                for &x in &all {
                    let other = if minority.contains(&x) {
                        majority.clone()
                    } else {
                        minority.clone()
                    };
                    self.cut(x, Cut::both_ways(other)).await;
                }
                self.say(NemesisEvent::MinorityCut(minority));
            }
            1 => {
                let alone = leader.unwrap_or(target);
                let is_leader = Some(alone) == leader;
                if is_leader {
                    self.lost_leader();
                }
                for &x in &all {
                    let other = if x == alone {
                        all_but(alone)
                    } else {
                        vec![alone]
                    };
                    self.cut(x, Cut::both_ways(other)).await;
                }
                self.say(NemesisEvent::Isolated {
                    node: alone,
                    leader: is_leader,
                });
            }
            2 => {
                let cut = Cut {
                    drop_from: all_but(target),
                    drop_to: Vec::new(),
                    serve_clients: true,
                };
                self.cut(target, cut).await;
                self.say(NemesisEvent::OneWay {
                    node: target,
                    leader: hits_leader,
                });
            }
            _ => {
                let rest = all_but(target);
                let (left, right) = rest.split_at(rest.len() / 2);
                for &x in left {
                    self.cut(x, Cut::both_ways(right.to_vec())).await;
                }
                for &x in right {
                    self.cut(x, Cut::both_ways(left.to_vec())).await;
                }
                self.say(NemesisEvent::Bridge {
                    node: target,
                    left: left.to_vec(),
                    right: right.to_vec(),
                });
            }
        }
    }

    pub async fn undo(&mut self, undo: Undo) -> anyhow::Result<()> {
        match undo {
            Undo::Nothing => {}
            Undo::Restart(n) => {
                self.cluster.start(n, false)?;
                self.say(NemesisEvent::Restarted(n));
            }
            Undo::Resume(n) => {
                self.cluster.resume(n)?;
                self.say(NemesisEvent::Resumed(n));
            }
            Undo::HealPartitions => {
                self.heal_partitions().await;
                self.say(NemesisEvent::PartitionsHealed);
            }
        }
        Ok(())
    }
}

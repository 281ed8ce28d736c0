//! The operator of fault kind `reconfig`: during the fault phase it changes
//! the cluster's membership through the leader, one operation at a time,
//! as a person at `synod admin` would. Operations: add a fresh node (a new
//! host, started as a learner that catches up by snapshot and log) and
//! promote it once the membership shows it; remove a node (the leader now
//! and then), and stop it for good a while later; replace a node (its disk
//! lost, it is removed and stopped, and a fresh node takes its place: a
//! node that lost its disk never votes again, docs/membership.md); hand
//! leadership over to a chosen voter.
//!
//! Contract: every change is asked of the node that leads (a paused or
//! crashed one cannot answer); a refusal (not the leader, a change already
//! under way, a learner not caught up) or a change that shows no effect for
//! a while is asked again later, and an operation that keeps failing is
//! given up. A patient operator waits for each change to show in the
//! membership before the next; an impatient one (half the seeds) goes on
//! as soon as the leader took it, asking its next change against the
//! membership it expects, so that the next request arrives while the
//! change is still under way (the leader must refuse it as busy). The cluster stays within bounds: at most [`MAX_HOSTS`] hosts,
//! never fewer than [`MIN_VOTERS`] voters, enough voters that did not lose
//! their disk for a quorum even if every wipe still on the schedule
//! strikes, and at least one of the nodes the cluster was created with
//! (a joining node's cluster file names those: see `SimOptions::config`).
//! After the heal it starts nothing new, but finishes a change it asked
//! for. Its draws come from its own generator stream, so seeds without
//! `reconfig` run as before.

use super::*;
use std::collections::{BTreeSet, VecDeque};
use synod_core::{Change, ChangeRefused};

/// At most this many hosts: the initial nodes and the ones added.
pub(super) const MAX_HOSTS: usize = 7;
/// A removal or replacement waits until there are more voters than this.
const MIN_VOTERS: usize = 3;
/// An operation whose current step failed this many times is given up.
const MAX_TRIES: u32 = 80;
/// A change the leader took but whose effect did not show within this
/// long is asked again (the leader may have lost it).
const STUCK: Time = 600 * MS;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Add,
    Remove,
    Replace,
    Transfer,
}

#[derive(Clone, Debug)]
enum Step {
    /// Ask the leader for this change until the membership shows it.
    Change(Change),
    /// Ask the leader to hand over to this voter.
    Transfer(NodeId),
    /// The node loses its disk (crash, empty disk, rejoin as a learner).
    Wipe(NodeId),
    /// A new host for this node starts, as a learner joining the cluster.
    Start(NodeId),
    /// The node was removed: stop it for good a while later.
    Retire(NodeId),
}

pub(super) struct Admin {
    steps: VecDeque<Step>,
    /// When a leader took the current step's change.
    asked: Option<Time>,
    tries: u32,
    /// Pause between operations, and between tries of a step.
    gap: (Time, Time),
    retry: (Time, Time),
    /// Weights of add, remove, replace and transfer.
    weights: [u32; 4],
    /// How often a removal, replacement or transfer picks the leader (a
    /// transfer: away from it; else to the voter after it).
    leader_bias: f64,
    /// Whether it waits for a change to show before the next one.
    patient: bool,
    /// An impatient operator's change the leader took, not shown yet.
    expect: Option<(Change, Time)>,
    /// Every change a leader took, patient operator or not, until it
    /// shows. However long ago it was taken, and whatever was taken after
    /// it, it may still come into force: a later leader carries a
    /// reconfiguration some acceptor holds forward. One that is never
    /// chosen stays here, and the operator is more careful than it needs
    /// to be.
    taken: Vec<Change>,
    /// Nodes removed for good: stopped a while after their removal, and
    /// at the heal.
    pub(super) removed: BTreeSet<NodeId>,
    /// Changes a leader took, and operations done.
    pub(super) asked_changes: u64,
    pub(super) operations: u64,
}

impl Admin {
    /// The operator's habits, drawn per seed.
    pub(super) fn draw(rng: &mut ChaCha8Rng) -> Admin {
        let gap = [
            (10 * MS, 100 * MS),
            (50 * MS, 400 * MS),
            (200 * MS, 900 * MS),
        ][rng.random_range(0..3)];
        let retry = [(5 * MS, 30 * MS), (20 * MS, 150 * MS)][rng.random_range(0..2)];
        let weights = [
            rng.random_range(1..=4),
            rng.random_range(0..=4),
            rng.random_range(0..=4),
            rng.random_range(0..=3),
        ];
        Admin {
            steps: VecDeque::new(),
            asked: None,
            tries: 0,
            gap,
            retry,
            weights,
            leader_bias: rng.random_range(0.2..0.8),
            patient: rng.random_bool(0.5),
            expect: None,
            taken: Vec::new(),
            removed: BTreeSet::new(),
            asked_changes: 0,
            operations: 0,
        }
    }
}

/// Whether `membership` shows what `change` asks for.
fn done(membership: &Membership, change: &Change) -> bool {
    match change {
        Change::AddLearner { id, .. } => membership.is_member(*id),
        Change::Promote { id } => membership.is_voter(*id),
        Change::Remove { id } => !membership.is_member(*id),
    }
}

fn describe(change: &Change) -> String {
    match change {
        Change::AddLearner { id, .. } => format!("add {id} as a learner"),
        Change::Promote { id } => format!("promote {id}"),
        Change::Remove { id } => format!("remove {id}"),
    }
}

impl World<'_> {
    /// Whether a quorum of the latest membership's voters run, vote and
    /// have executed it (what an operator reads with `synod admin members`
    /// on each of them).
    fn membership_established(&self) -> bool {
        let latest = self.members();
        let voters = latest.voters();
        let executed = voters
            .iter()
            .filter(|id| {
                self.nodes
                    .iter()
                    .find(|h| h.id == **id)
                    .and_then(|h| h.replica.as_ref())
                    .is_some_and(|r| !r.is_non_voting() && r.membership().epoch >= latest.epoch)
            })
            .count();
        executed > voters.len() / 2
    }

    /// The membership after the latest reconfiguration executed anywhere.
    pub(super) fn members(&self) -> &Membership {
        self.epochs.values().next_back().unwrap_or(&self.creation)
    }

    /// The voters that decide `slot`: those of the membership after the
    /// latest reconfiguration before it.
    pub(super) fn voters_for(&self, slot: Slot) -> Vec<NodeId> {
        self.epochs
            .range(..slot)
            .next_back()
            .map_or(&self.creation, |(_, m)| m)
            .voters()
    }

    /// The operator's turn: the next try of its current step, or a new
    /// operation.
    pub(super) fn admin_tick(&mut self) {
        let Some(mut admin) = self.admin.take() else {
            return;
        };
        let next = self.admin_turn(&mut admin);
        self.admin = Some(admin);
        if let Some(delay) = next {
            self.at(self.now + delay, Ev::Admin);
        }
    }

    fn admin_draw(&mut self, range: (Time, Time)) -> Time {
        self.rng_admin.random_range(range.0..=range.1)
    }

    /// Returns when to come back (none: the operator is done).
    fn admin_turn(&mut self, admin: &mut Admin) -> Option<Time> {
        loop {
            let Some(step) = admin.steps.front().cloned() else {
                if self.healed {
                    return None;
                }
                if !self.plan(admin) {
                    return Some(self.admin_draw(admin.retry));
                }
                admin.tries = 0;
                admin.asked = None;
                continue;
            };
            let retry = self.admin_draw(admin.retry);
            match step {
                Step::Wipe(id) => {
                    admin.steps.pop_front();
                    if self.healed {
                        admin.steps.clear();
                        return None;
                    }
                    let restart_after = Some(self.admin_draw((5 * MS, 300 * MS)));
                    self.log(|| format!("admin: {id} loses its disk, to be replaced"));
                    self.strike(Fault::Crash {
                        target: Target::Node(id),
                        restart_after,
                        wipe: true,
                    });
                    return Some(retry);
                }
                Step::Start(id) => {
                    admin.steps.pop_front();
                    self.add_host(id);
                }
                Step::Retire(id) => {
                    admin.steps.pop_front();
                    admin.removed.insert(id);
                    let after = self.admin_draw((0, 1000 * MS));
                    self.at(self.now + after, Ev::Retire(id.0 as usize - 1));
                    if admin.steps.is_empty() {
                        admin.operations += 1;
                        return Some(self.admin_draw(admin.gap));
                    }
                }
                Step::Transfer(to) => {
                    let leader = self.leader().map(|i| self.nodes[i].id);
                    if !self.members().is_voter(to) || leader == Some(to) {
                        admin.steps.pop_front();
                        continue;
                    }
                    let answer = self.ask_leader(|r, now| r.transfer_leadership(now, to));
                    self.log(|| format!("admin: asks {leader:?} to hand over to {to}: {answer:?}"));
                    admin.tries += 1;
                    if matches!(answer, Some(Ok(()))) || admin.tries > MAX_TRIES {
                        admin.steps.pop_front();
                        admin.tries = 0;
                        admin.operations += 1;
                        return Some(self.admin_draw(admin.gap));
                    }
                    return Some(retry);
                }
                Step::Change(change) => {
                    if done(self.members(), &change) {
                        admin.steps.pop_front();
                        admin.asked = None;
                        admin.tries = 0;
                        if admin.steps.is_empty() {
                            admin.operations += 1;
                            return Some(self.admin_draw(admin.gap));
                        }
                        continue;
                    }
                    if admin.patient && admin.asked.is_some_and(|at| self.now < at + STUCK) {
                        return Some(retry);
                    }
                    let leader = self.leader().map(|i| self.nodes[i].id);
                    let answer = self.ask_leader(|r, now| r.propose_change(now, change.clone()));
                    self.log(|| {
                        format!(
                            "admin: asks {leader:?} to {}: {answer:?}",
                            describe(&change)
                        )
                    });
                    if let Some(Ok(())) = answer {
                        if !admin.taken.contains(&change) {
                            admin.taken.push(change.clone());
                        }
                        admin.asked = Some(self.now);
                        admin.asked_changes += 1;
                        if !admin.patient {
                            admin.expect = Some((change.clone(), self.now));
                            admin.steps.pop_front();
                            admin.asked = None;
                            admin.tries = 0;
                            if admin.steps.is_empty() {
                                admin.operations += 1;
                                return Some(self.admin_draw(admin.gap));
                            }
                        }
                    } else {
                        admin.tries += 1;
                    }
                    if admin.tries > MAX_TRIES {
                        self.log(|| format!("admin: gives up: {}", describe(&change)));
                        admin.steps.clear();
                        return Some(self.admin_draw(admin.gap));
                    }
                    return Some(retry);
                }
            }
        }
    }

    /// Asks the node that leads (if it can answer: not crashed, not paused).
    fn ask_leader(
        &mut self,
        ask: impl FnOnce(&mut Replica<Services>, Time) -> Result<(), ChangeRefused>,
    ) -> Option<Result<(), ChangeRefused>> {
        let i = self.leader()?;
        if self.nodes[i].paused || self.nodes[i].retired {
            return None;
        }
        let now = self.nodes[i].local_time(self.now);
        let result = ask(self.nodes[i].replica.as_mut()?, now);
        self.drive(i);
        Some(result)
    }

    /// Picks the next operation the cluster allows and queues its steps;
    /// false if none is possible now.
    fn plan(&mut self, admin: &mut Admin) -> bool {
        let actual = self.members().clone();
        // What the changes taken and not shown would make, each alone and
        // one after the other.
        admin.taken.retain(|change| !done(&actual, change));
        let mut taken: Vec<Vec<NodeId>> = Vec::new();
        let mut chained = actual.clone();
        for change in &admin.taken {
            if let Ok(alone) = actual.apply(change) {
                taken.push(alone.voters());
            }
            if let Ok(next) = chained.apply(change) {
                chained = next;
                taken.push(chained.voters());
            }
        }
        // A voter that has executed less than the others acts on an older
        // membership, maybe older than the one before the latest: a leader
        // can run through several changes before the others learn them
        // (seed 1202460). Every membership from the one the running voter
        // furthest behind acts on to the latest executed may be in force
        // (`lagging` always ends with the latest). A voter that is down is
        // left out: it must come back knowing what it executed (what the
        // operator counts on here is what the checks hold a restart to;
        // `ReconfigurationNotDurable` plants the bug).
        let behind = self
            .nodes
            .iter()
            .filter(|h| actual.is_voter(h.id) && !h.retired && !self.lost_vote(h.id))
            .filter_map(|h| h.replica.as_ref().map(|r| r.status().executed))
            .min()
            .unwrap_or(0);
        let lagging: Vec<Vec<NodeId>> = std::iter::once(
            self.epochs
                .range(..=behind)
                .next_back()
                .map_or(&self.creation, |(_, m)| m),
        )
        .chain(self.epochs.range(behind + 1..).map(|(_, m)| m))
        .map(|m| m.voters())
        .collect();
        let m = match &admin.expect {
            Some((change, at)) if !done(&actual, change) && self.now < *at + STUCK => {
                actual.apply(change).unwrap_or(actual)
            }
            _ => actual,
        };
        let voters = m.voters();
        let leader = self.leader().map(|i| self.nodes[i].id);
        // Disks the schedule will still lose: count them as lost already.
        let wipes_ahead = self
            .schedule
            .faults
            .iter()
            .filter(|(t, f)| *t > self.now && matches!(f, Fault::Crash { wipe: true, .. }))
            .count();
        let quorum = |voters: usize| voters / 2 + 1;
        let creation = self.opts.nodes as u32;
        let founders =
            |without: NodeId| m.ids().into_iter().any(|n| n.0 <= creation && n != without);
        // Any of these memberships may be the one in force: the one the
        // operator expects (`m`), those from the one the voter furthest
        // behind acts on to the latest executed (`lagging`), the one before
        // the latest (a quorum may not have executed the latest yet), and
        // those that the changes a leader took and that have not shown
        // would make (`taken`; `m` forgets them after a while). Each must keep a
        // quorum of voters that did not lose their disk. Leaving out the
        // latest let the operator wipe a third voter of six for a
        // replacement while the removal of one that had lost its disk was
        // still to be chosen (seed 53255); leaving out `taken`, wipe the
        // second of four voters once a removal it had given up waiting for
        // was carried forward by a new leader (seed 167960).
        let previous = self
            .epochs
            .values()
            .rev()
            .nth(1)
            .unwrap_or(&self.creation)
            .voters();
        // Lost: its disk, or stopped for good; among the voters of every
        // membership checked (a voter removed by a change may have lost
        // its disk before, and an earlier epoch may still need it).
        let lost: BTreeSet<NodeId> = m
            .ids()
            .into_iter()
            .chain(previous.iter().copied())
            .chain(taken.iter().flatten().copied())
            .chain(lagging.iter().flatten().copied())
            .filter(|&n| self.lost_vote(n) || self.is_retired(n))
            .collect();
        // A voter may go (removed, or lost and removed) if what stays can
        // still make a quorum.
        let may_go = |n: &NodeId| {
            let keeps_quorum = |voters: &[NodeId]| {
                let stay = voters
                    .iter()
                    .filter(|v| !lost.contains(*v) && *v != n)
                    .count();
                stay.saturating_sub(wipes_ahead) >= quorum(voters.len())
            };
            voters.len() > MIN_VOTERS
                && keeps_quorum(&voters)
                && keeps_quorum(&previous)
                && taken.iter().all(|t| keeps_quorum(t))
                && lagging.iter().all(|l| keeps_quorum(l))
                && founders(*n)
        };
        let learners: Vec<NodeId> = m
            .ids()
            .into_iter()
            .filter(|&n| !m.is_voter(n) && founders(n))
            .collect();
        // A node once removed for good is not touched again (it may be
        // stopped already, whatever the membership says later).
        let removable: Vec<NodeId> = voters
            .iter()
            .copied()
            .filter(|n| may_go(n))
            .chain(learners)
            .filter(|n| !admin.removed.contains(n))
            .collect();
        let replaceable: Vec<NodeId> = voters
            .iter()
            .copied()
            .filter(|n| may_go(n) && !admin.removed.contains(n))
            .collect();
        let targets: Vec<NodeId> = voters
            .iter()
            .copied()
            .filter(|n| Some(*n) != leader && !lost.contains(n))
            .collect();
        let room = self.nodes.len() < MAX_HOSTS;
        let feasible = [
            room,
            !removable.is_empty(),
            room && !replaceable.is_empty(),
            leader.is_some() && !targets.is_empty(),
        ];
        let total: u32 = (0..4)
            .filter(|&k| feasible[k])
            .map(|k| admin.weights[k])
            .sum();
        if total == 0 {
            return false;
        }
        let mut pick = self.rng_admin.random_range(0..total);
        let mut op = Op::Add;
        for (k, candidate) in [Op::Add, Op::Remove, Op::Replace, Op::Transfer]
            .into_iter()
            .enumerate()
        {
            if !feasible[k] {
                continue;
            }
            if pick < admin.weights[k] {
                op = candidate;
                break;
            }
            pick -= admin.weights[k];
        }
        let bias = admin.leader_bias;
        let choose = |rng: &mut ChaCha8Rng, from: &[NodeId]| match leader
            .filter(|l| from.contains(l) && rng.random_bool(bias))
        {
            Some(l) => l,
            None => from[rng.random_range(0..from.len())],
        };
        let steps: Vec<Step> = match op {
            Op::Add => {
                let id = NodeId(self.nodes.len() as u32 + 1);
                vec![
                    Step::Start(id),
                    Step::Change(Change::AddLearner {
                        id,
                        peer_addr: format!("sim-{}:1", id.0),
                        client_addr: format!("sim-{}:2", id.0),
                    }),
                    Step::Change(Change::Promote { id }),
                ]
            }
            Op::Remove => {
                let id = choose(&mut self.rng_admin, &removable);
                vec![Step::Change(Change::Remove { id }), Step::Retire(id)]
            }
            Op::Replace => {
                let old = choose(&mut self.rng_admin, &replaceable);
                let id = NodeId(self.nodes.len() as u32 + 1);
                let mut steps = Vec::new();
                if !lost.contains(&old) {
                    steps.push(Step::Wipe(old));
                }
                steps.extend([
                    Step::Change(Change::Remove { id: old }),
                    Step::Retire(old),
                    Step::Start(id),
                    Step::Change(Change::AddLearner {
                        id,
                        peer_addr: format!("sim-{}:1", id.0),
                        client_addr: format!("sim-{}:2", id.0),
                    }),
                    Step::Change(Change::Promote { id }),
                ]);
                steps
            }
            Op::Transfer => {
                let to = targets[self.rng_admin.random_range(0..targets.len())];
                vec![Step::Transfer(to)]
            }
        };
        self.log(|| format!("admin: {op:?}: {steps:?}"));
        admin.steps.extend(steps);
        true
    }

    fn is_retired(&self, id: NodeId) -> bool {
        self.nodes.iter().any(|h| h.id == id && h.retired)
    }

    /// Whether `id` lost its disk and does not vote (yet) again: as the
    /// node itself says, or its disk if it is down.
    fn lost_vote(&self, id: NodeId) -> bool {
        let host = &self.nodes[id.0 as usize - 1];
        self.durability.lost_vote(id)
            || host.wiped
            || match &host.replica {
                Some(r) => r.is_non_voting(),
                None => host.disk.recover().votes_above == Slot::MAX,
            }
    }

    /// A fresh host for node `id`, started as a learner joining the cluster.
    fn add_host(&mut self, id: NodeId) {
        self.nodes.push(NodeHost::new(id, (0, 0)));
        self.log(|| format!("admin: starts {id}, a new node, as a learner"));
        self.start_node(self.nodes.len() - 1);
    }

    /// A removed node is stopped for good (it may have heard of its
    /// removal or not), as `synod cluster remove` does: once a quorum of
    /// the new membership's voters has executed the change (docs/
    /// membership.md, "When a removed node may stop"). Until then the old
    /// epoch may still need the node to choose the change at all; it is
    /// asked again a little later.
    pub(super) fn retire(&mut self, i: usize) {
        if self.nodes[i].retired || self.members().is_member(self.nodes[i].id) {
            return;
        }
        if !self.membership_established() {
            self.at(self.now + 100 * MS, Ev::Retire(i));
            return;
        }
        let id = self.nodes[i].id;
        self.log(|| format!("admin: {id} was removed; it is stopped for good"));
        self.crash(i);
        self.nodes[i].retired = true;
    }
}

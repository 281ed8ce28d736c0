//! Applying the fault schedule: crashes (with or without the disk),
//! pauses, partitions and network episodes as they strike and end, and the
//! heal that stops them all. Contract: every fault ends by itself or at the
//! heal; after the heal nothing strikes; a fault aimed at the leader hits
//! whichever live node leads with the highest ballot when it strikes (and
//! starts a failover measurement).

use super::*;

impl World<'_> {
    /// The live node that leads with the highest ballot, if any.
    pub(super) fn leader(&self) -> Option<usize> {
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

    pub(super) fn resolve(&mut self, target: Target) -> Option<usize> {
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
                    self.tail_start();
                    let _ = l;
                }
                leader
            }
        }
    }

    pub(super) fn strike(&mut self, fault: Fault) {
        if self.healed {
            return;
        }
        self.tail_struck(fault.kind_name());
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
                    self.wipe_times.insert(id, self.now);
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
                    } | faults::Shape::Scenario(_)
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
            Fault::AfterCheckpoint { then } => {
                self.log(|| format!("fault: armed for the leader's next checkpoint: {then:?}"));
                self.armed.push(*then);
            }
        }
    }

    /// Node `i` reported a checkpoint or a truncation: if it leads, the
    /// armed faults strike now.
    pub(super) fn after_checkpoint(&mut self, i: usize) {
        if self.healed || self.armed.is_empty() || self.leader() != Some(i) {
            return;
        }
        let id = self.nodes[i].id;
        self.log(|| format!("fault: {id} leads and checkpointed; the armed faults strike"));
        for fault in std::mem::take(&mut self.armed) {
            self.at(self.now, Ev::Strike(fault));
        }
    }

    pub(super) fn apply_partitions(&mut self) {
        self.net.heal();
        for links in self.partitions.values() {
            for &(a, b) in links {
                self.net.cut(a, b);
            }
        }
    }

    pub(super) fn apply_conditions(&mut self) {
        let mut c = self.opts.calm.clone();
        for e in self.episodes.values() {
            c.loss = c.loss.max(e.loss);
            c.duplicate = c.duplicate.max(e.duplicate);
            c.slow = c.slow.max(e.slow);
            c.long_delay = c.long_delay.max(e.long_delay);
        }
        self.net.conditions = c;
    }

    pub(super) fn heal(&mut self) {
        self.healed = true;
        self.armed.clear();
        self.log(|| "heal: faults stop; every node restarts or resumes, the network calms".into());
        self.partitions.clear();
        self.episodes.clear();
        self.apply_partitions();
        self.apply_conditions();
        // The nodes the operator removed are stopped for good now.
        let removed: Vec<NodeId> = self
            .admin
            .as_ref()
            .map(|a| a.removed.iter().copied().collect())
            .unwrap_or_default();
        for id in removed {
            self.retire(id.0 as usize - 1);
        }
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
}

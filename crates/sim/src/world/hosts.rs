//! Each node's host: the glue between a replica and the simulated network
//! and disk, and the node's lifecycle. Contract: a replica's output goes
//! out through the hosts' shared driver (`synod_core::host::drive`), so a
//! message leaves only after the writes it depends on were handed to the
//! disk; a sync completes after a seeded latency, in order per node; a
//! crash loses what was not synced (`Disk::crash`); a paused node keeps its
//! inputs and handles them on resume; every input and timer of an older
//! incarnation is dropped.

use super::*;

pub(super) struct NodeHost {
    pub(super) id: NodeId,
    pub(super) replica: Option<Replica<Services>>,
    pub(super) disk: Disk,
    /// The disk was lost: the next start is a rejoin as a learner.
    pub(super) wiped: bool,
    pub(super) incarnation: u64,
    pub(super) paused: bool,
    /// Inputs that arrived while paused, handled on resume.
    pub(super) stash: Vec<Ev>,
    pub(super) disk_free_at: Time,
    /// Clock error in parts per million, and offset.
    pub(super) clock: (i64, Time),
    /// Removed from the cluster and stopped for good by the operator.
    pub(super) retired: bool,
    /// The checkpoint builder's digests, as a node keeps them (lost in a
    /// crash). Marks every few bytes, so that the simulator's small
    /// snapshots take the path a node's large ones do.
    pub(super) digests: DigestCache,
}

/// How far apart the simulated builders' digest marks are (bytes).
pub(super) const SIM_DIGEST_MARK: usize = 24;

impl NodeHost {
    /// A host for node `id` that has not started, its clock off by `clock`.
    pub(super) fn new(id: NodeId, clock: (i64, Time)) -> Self {
        NodeHost {
            id,
            replica: None,
            disk: Disk::default(),
            wiped: false,
            incarnation: 0,
            paused: false,
            stash: Vec::new(),
            disk_free_at: 0,
            clock,
            retired: false,
            digests: DigestCache::with_mark(SIM_DIGEST_MARK),
        }
    }

    pub(super) fn local_time(&self, now: Time) -> Time {
        let (ppm, offset) = self.clock;
        let skewed = now as i128 + now as i128 * ppm as i128 / 1_000_000;
        offset + skewed.max(0) as Time
    }
}

impl World<'_> {
    /// Whether node `i` can take an input now: a crashed node drops it, a
    /// paused one keeps it for later.
    pub(super) fn accepts_input(&mut self, i: usize, ev: impl FnOnce() -> Ev) -> bool {
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
    pub(super) fn drive(&mut self, i: usize) {
        let Some(mut replica) = self.nodes[i].replica.take() else {
            return;
        };
        let mut io = SimIo {
            world: self,
            node: i,
            executed: false,
        };
        synod_core::host::drive(&mut replica, &mut io);
        let executed = io.executed;
        self.nodes[i].replica = Some(replica);
        if executed {
            self.check_state(i);
        }
        if std::mem::take(&mut self.checkpointed) {
            self.after_checkpoint(i);
        }
    }

    pub(super) fn reply(&mut self, reply: Reply) {
        let client = reply.client.0 as usize - 1;
        if client < self.clients.len() {
            for delay in self.net.deliveries(&mut self.rng_net, None, None) {
                let reply = reply.clone();
                self.at(self.now + delay, Ev::Reply { client, reply });
            }
        }
    }

    /// Applies a write to node `i`'s disk and schedules its sync.
    pub(super) fn write(&mut self, i: usize, write: Write) {
        // Every acceptance written, for the quorum check.
        let id = self.nodes[i].id;
        for op in &write.append {
            if let PersistOp::Accept {
                slot,
                ballot,
                value,
            } = op
            {
                self.quorum.on_accept(id, *slot, *ballot, value);
            }
        }
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

    pub(super) fn transmit(&mut self, env: Envelope) {
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

    pub(super) fn start_node(&mut self, i: usize) {
        if self.nodes[i].retired {
            return;
        }
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

    pub(super) fn crash(&mut self, i: usize) {
        let host = &mut self.nodes[i];
        if host.replica.is_none() {
            return;
        }
        host.replica = None;
        host.paused = false;
        host.stash.clear();
        host.digests = DigestCache::with_mark(SIM_DIGEST_MARK);
        host.incarnation += 1;
        let lost = host.disk.crash(&mut self.rng_disk);
        let id = host.id;
        self.log(|| format!("fault: {id} crashes, losing {lost} unsynced writes"));
        if self.opts.refused_when_down {
            // Its open connections are reset.
            for client in 0..self.clients.len() {
                let at = self.now + self.opts.calm.min_delay;
                self.at(at, Ev::LinkDown { client, node: id });
            }
        }
        self.check_recovery(i);
    }

    pub(super) fn restart(&mut self, i: usize) {
        if self.nodes[i].replica.is_some() || self.nodes[i].retired {
            return;
        }
        let id = self.nodes[i].id;
        self.log(|| format!("fault: {id} restarts"));
        self.start_node(i);
    }

    pub(super) fn pause(&mut self, i: usize) {
        let host = &mut self.nodes[i];
        if host.replica.is_some() && !host.paused {
            host.paused = true;
            let id = host.id;
            self.log(|| format!("fault: {id} pauses"));
        }
    }

    pub(super) fn resume(&mut self, i: usize) {
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
}

/// One node's host I/O in the simulated world.
struct SimIo<'w, 'a> {
    world: &'w mut World<'a>,
    node: usize,
    /// The replica executed something: check the application state after.
    executed: bool,
}

impl synod_core::host::Io<Services> for SimIo<'_, '_> {
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
        let world = &mut *self.world;
        let checkpoint = job.build_after(&mut world.nodes[self.node].digests);
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

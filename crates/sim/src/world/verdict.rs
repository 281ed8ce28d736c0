//! The invariant checks: those called at events (executions, checkpoints,
//! snapshots and divergence reports, application state after each
//! execution, the recoverable disk state at every crash) and those at the
//! end (convergence, disk behind memory, liveness, the memory bound, the
//! client history), and the report. Contract: every violation goes to the
//! `Checker` with the virtual time it was seen at; checks only read the
//! world and never change what the run does.

use super::*;

impl World<'_> {
    /// A replica's event: checkers and the trace.
    pub(super) fn on_event(&mut self, i: usize, event: Event) -> bool {
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
                let voters = self.voters_for(slot);
                if let Some(detail) = self.quorum.on_executed(slot, &value, &voters) {
                    self.checker.fail(self.now, "quorum", detail);
                }
                if let Some(w) = &self.watch
                    && slot > w.proposed
                {
                    let gap = self.now - w.start;
                    self.failovers.push(gap);
                    let cause = self.tail_end();
                    self.failover_causes.push(cause);
                    self.watch = None;
                    self.log(|| format!("failover: {id} executed new slot {slot}, {gap} µs after the leader's loss"));
                }
                return true;
            }
            Event::Checkpoint { slot, digest } => {
                self.checker.on_checkpoint(self.now, id, slot, digest);
                self.checkpointed = true;
            }
            Event::SnapshotInstalled { slot } => {
                self.log(|| format!("{id} installed a snapshot at slot {slot}"));
                self.checker.on_snapshot(id, incarnation, slot);
                self.snapshots_installed += 1;
            }
            Event::Truncated { slot } => {
                self.log(|| format!("{id} truncated its log through slot {slot}"));
                self.truncations += 1;
                self.checkpointed = true;
            }
            Event::Reconfigured { slot, membership } => {
                self.log(|| {
                    let value = Value::Reconfigure(membership.clone());
                    format!("{id} executed slot {slot}: {value:?}")
                });
                if !self.epochs.contains_key(&slot) {
                    self.new_epoch(slot, membership);
                }
            }
            Event::Divergence { slot, peer, .. } => {
                let detail = format!("{id} and {peer} hold different states at checkpoint {slot}");
                self.checker.fail(self.now, "divergence", detail);
            }
            other => self.log(|| format!("{id} {other:?}")),
        }
        false
    }

    /// The reconfiguration in `slot` executed for the first time anywhere:
    /// the checks and the clients follow the new membership, and a node
    /// that lost its disk and is a voter of it may vote again above `slot`.
    /// No leader proposed anything after `slot` before it first executed
    /// (a stop-sign), so the lost votes were all on slots up to `slot`, or
    /// in ballots of the epoch before, which decide nothing after it. A
    /// reconfiguration first executed before the loss gives nothing back:
    /// the node may have voted after it then (docs/membership.md).
    fn new_epoch(&mut self, slot: Slot, membership: Membership) {
        for id in membership.voters() {
            if self.wipe_times.remove(&id).is_some() {
                self.durability.votes_again_above(id, slot);
            }
        }
        let ids = membership.ids();
        for client in &mut self.clients {
            client.core.set_nodes(ids.clone());
        }
        self.epochs.insert(slot, membership);
    }

    /// Bank money and inventory stock are conserved on every replica.
    pub(super) fn check_state(&mut self, i: usize) {
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

    /// The state node `i` would recover from its disk covers every vote it
    /// ever sent (see [`crate::durability`]).
    pub(super) fn check_recovery(&mut self, i: usize) {
        let id = self.nodes[i].id;
        let state = self.nodes[i].disk.recover();
        for detail in self.durability.on_crash(id, &state) {
            self.checker.fail(self.now, "recovered state", detail);
        }
    }

    /// Every probe answered, and every replica at the same executed slot
    /// with the same state.
    pub(super) fn check_converged(&self) -> bool {
        if !self.probed.iter().all(|&p| p) {
            return false;
        }
        // Converged: every replica at the same slot with the same state, and
        // each one's log truncated through its latest checkpoint (which
        // then is the same everywhere: checkpoint slots are a function of
        // the log).
        // Only the members count: a removed node need not go on.
        let members = self.members();
        let mut states = self
            .nodes
            .iter()
            .filter(|h| members.is_member(h.id))
            .map(|h| {
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

    /// The client history, with the state of the most advanced live replica
    /// as the final read.
    pub(super) fn final_history(&self) -> synod_check::History {
        let op = |r: &Record| synod_check::Op {
            client: r.client.0,
            invoke: r.invoke,
            complete: r.complete,
            command: r.command.clone(),
            outcome: r.outcome.clone(),
        };
        // Serializable reads may be stale by design: kept out of the
        // linearizability check.
        let (local, ops): (Vec<&Record>, Vec<&Record>) = self
            .history
            .iter()
            .partition(|r| r.request == RequestKind::LocalRead);
        let mut history = synod_check::History {
            ops: ops.into_iter().map(op).collect(),
            serializable_reads: local.into_iter().map(op).collect(),
            ..Default::default()
        };
        let members = self.members();
        let freshest = self
            .nodes
            .iter()
            .filter(|h| members.is_member(h.id))
            .filter_map(|h| h.replica.as_ref())
            .max_by_key(|r| r.status().executed);
        if let (true, Some(replica)) = (self.converged, freshest) {
            history.add_final_state(replica.app(), self.now);
        }
        history
    }

    pub(super) fn finish(mut self) -> SimReport {
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
            let members = self.members();
            let executed: Vec<String> = self
                .nodes
                .iter()
                .map(|h| {
                    let gone = if members.is_member(h.id) {
                        ""
                    } else {
                        " (removed)"
                    };
                    match &h.replica {
                        Some(r) => format!("{}@{}{gone}", h.id, r.status().executed),
                        None => format!("{} down{gone}", h.id),
                    }
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
        let members = self.members().clone();
        for h in &self.nodes {
            let Some(r) = &h.replica else { continue };
            if !members.is_member(h.id) {
                continue;
            }
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
        let answered = |kind: RequestKind| {
            let reads = self.history.iter().filter(|r| r.request == kind);
            reads.filter(|r| r.complete.is_some()).count() as u64
        };
        let (reads, local_reads) = (
            answered(RequestKind::Read),
            answered(RequestKind::LocalRead),
        );
        SimReport {
            seed: self.seed,
            violations: self.checker.violations().to_vec(),
            committed: self.checker.committed(),
            slots: self.checker.highest_slot(),
            events: self.events,
            virtual_time: self.now,
            ok,
            unknown,
            reads,
            local_reads,
            failovers: self.failovers,
            failover_causes: self.failover_causes,
            truncations: self.truncations,
            snapshots_installed: self.snapshots_installed,
            max_retained,
            reconfigurations: self.epochs.len() as u64,
            members: members.members.len(),
            enabled: self.schedule.enabled.clone(),
            family: self.opts.family.filter(|_| self.opts.mix == Mix::Swarm),
            nodes: self.opts.nodes,
            trace: self.trace.unwrap_or_default(),
        }
    }
}

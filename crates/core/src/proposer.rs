//! The proposer: a candidate gathering promises (phase 1), and a leader
//! proposing values (phase 2).
//!
//! Candidate: it sends PREPARE(b) to the others and promises b itself only
//! once f of them have promised (so a candidacy that goes nowhere leaves its
//! own acceptor untouched and cannot make it refuse the leader everyone else
//! still follows). With f+1 promises it builds NEW-VIEW(b): for every slot
//! from the first one it does not know chosen up to the highest one any
//! promise reported, the value accepted with the highest ballot, or a no-op
//! where no promise reported one.
//!
//! Leader: it queues client requests, cuts them into batches (at most
//! `max_batch_size`), and proposes each batch in the next slot without
//! waiting for earlier slots, keeping at most `window` slots in flight. A
//! slot is chosen when f+1 acceptors (itself included) acknowledged it in the
//! leader's ballot. Unacknowledged proposals are resent.

use crate::config::{Bug, Config};
use crate::membership::Membership;
use crate::message::AcceptedEntry;
use crate::types::{Ballot, ClientId, NodeId, Request, Slot, Time, Value};
use std::collections::{BTreeMap, VecDeque};

/// A bit set of node indices (positions in `Config::nodes`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodeSet(u64);

impl NodeSet {
    pub fn insert(&mut self, index: usize) {
        self.0 |= 1 << index;
    }
    pub fn contains(&self, index: usize) -> bool {
        self.0 & (1 << index) != 0
    }
    pub fn len(&self) -> usize {
        self.0.count_ones() as usize
    }
    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }
}

/// The voters a candidacy or a leadership counts: those of its epoch, fixed
/// for its ballot (a reconfiguration starts a new ballot).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Voters {
    ids: Vec<NodeId>,
    quorum: usize,
}

impl Voters {
    pub fn new(mut ids: Vec<NodeId>) -> Self {
        ids.sort();
        ids.dedup();
        let quorum = ids.len() / 2 + 1;
        Voters { ids, quorum }
    }

    /// A planted bug counts extra nodes (removed ones) with the quorum of
    /// the real voters.
    pub(crate) fn counting_also(mut self, extra: &[NodeId]) -> Self {
        self.ids.extend_from_slice(extra);
        self.ids.sort();
        self.ids.dedup();
        self
    }

    pub fn ids(&self) -> &[NodeId] {
        &self.ids
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub fn contains(&self, node: NodeId) -> bool {
        self.ids.contains(&node)
    }

    pub fn index_of(&self, node: NodeId) -> Option<usize> {
        self.ids.iter().position(|&n| n == node)
    }

    /// f+1.
    pub fn quorum(&self) -> usize {
        self.quorum
    }

    /// f.
    pub fn max_failures(&self) -> usize {
        self.quorum.saturating_sub(1)
    }
}

#[derive(Debug)]
pub struct Candidacy {
    pub ballot: Ballot,
    /// Whose promises count.
    pub voters: Voters,
    pub started: Time,
    /// The first slot this candidate does not know to be chosen.
    pub from: Slot,
    pub promises: BTreeMap<NodeId, Vec<AcceptedEntry>>,
    /// Whether this node has asked its own acceptor for a promise yet.
    pub self_prepared: bool,
    pub last_sent: Time,
}

impl Candidacy {
    pub fn new(ballot: Ballot, voters: Voters, from: Slot, now: Time) -> Self {
        Candidacy {
            ballot,
            voters,
            started: now,
            from,
            promises: BTreeMap::new(),
            self_prepared: false,
            last_sent: now,
        }
    }

    /// Promises from voters other than `me`.
    pub fn others(&self, me: NodeId) -> usize {
        self.promises
            .keys()
            .filter(|&&n| n != me && self.voters.contains(n))
            .count()
    }

    /// Whether the promises make a quorum, ours among them.
    pub fn has_quorum(&self, me: NodeId) -> bool {
        self.promises.contains_key(&me) && 1 + self.others(me) >= self.voters.quorum()
    }

    /// The NEW-VIEW proposals for `start..`: per slot, a value known chosen
    /// here, else the value of the highest-ballot entry any promise reported,
    /// else a no-op.
    pub fn new_view(
        &self,
        config: &Config,
        start: Slot,
        known_chosen: impl Fn(Slot) -> Option<Value>,
        highest_known: Slot,
    ) -> Vec<Value> {
        let mut best: BTreeMap<Slot, (Ballot, &Value)> = BTreeMap::new();
        if !config.has_bug(Bug::NewViewIgnoresPromises) {
            for entry in self.promises.values().flatten() {
                if entry.slot < start {
                    continue;
                }
                let slot = best
                    .entry(entry.slot)
                    .or_insert((entry.ballot, &entry.value));
                if entry.ballot > slot.0 {
                    *slot = (entry.ballot, &entry.value);
                }
            }
        }
        let end = best
            .keys()
            .next_back()
            .copied()
            .unwrap_or(0)
            .max(highest_known);
        (start..=end)
            .map(|slot| {
                known_chosen(slot)
                    .or_else(|| best.get(&slot).map(|(_, v)| (*v).clone()))
                    .unwrap_or(Value::Noop)
            })
            .collect()
    }
}

#[derive(Debug)]
pub struct Proposal {
    pub value: Value,
    pub acks: NodeSet,
    pub sent_at: Time,
}

#[derive(Debug)]
pub struct Leadership {
    pub ballot: Ballot,
    /// Whose acknowledgements count (node indices below are positions in
    /// it).
    pub voters: Voters,
    pub since: Time,
    pub next_slot: Slot,
    /// Proposed in this ballot and not yet chosen.
    pub proposals: BTreeMap<Slot, Proposal>,
    pending: VecDeque<Request>,
    oldest_pending: Option<Time>,
    /// Per client, the highest timestamp queued or proposed in this ballot,
    /// so that a broadcast retry is not proposed again while in flight.
    queued: BTreeMap<ClientId, u64>,
    /// When each node (by index) last answered us.
    pub last_contact: Vec<Time>,
    /// Each node's (by index) reported truncation point: it no longer votes
    /// on slots up to it.
    pub peer_truncated: Vec<Slot>,
    pub last_heartbeat: Option<Time>,
    /// The commit point last sent to followers.
    pub commit_sent: Slot,
    /// The last slot of this leader's NEW-VIEW: reads wait for it, since
    /// it may hold values chosen under earlier leaders.
    pub view_end: Slot,
    /// The last heartbeat round sent, and the highest round each node (by
    /// index) acknowledged.
    pub round: u64,
    pub acked_round: Vec<u64>,
    /// Linearizable reads waiting for a quorum to confirm this leadership.
    pub reads: Vec<PendingRead>,
    /// A membership change asked for and not yet proposed: it is proposed
    /// once every earlier slot is chosen.
    pub change: Option<Membership>,
    /// The slot of the proposed reconfiguration: nothing is proposed after
    /// it in this ballot (its epoch ends there).
    pub stop_sign: Option<Slot>,
    /// A handover under way: to whom, and until when it may take.
    pub transfer: Option<(NodeId, Time)>,
    /// The commit point each member (learners too) last acknowledged.
    pub member_commit: BTreeMap<NodeId, Slot>,
}

/// Where a read came from: a client here, or a follower's READ-INDEX.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadOrigin {
    Local(u64),
    Remote(NodeId, u64),
}

/// A read waiting at the leader: it may be answered at `index` once a
/// quorum acknowledged a heartbeat of `round` (sent after it arrived).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PendingRead {
    pub origin: ReadOrigin,
    pub index: Slot,
    pub round: u64,
}

impl Leadership {
    pub fn new(voters: Voters, ballot: Ballot, start: Slot, entries: &[Value], now: Time) -> Self {
        let n = voters.len();
        let proposals = entries
            .iter()
            .enumerate()
            .map(|(i, value)| {
                let proposal = Proposal {
                    value: value.clone(),
                    acks: NodeSet::default(),
                    sent_at: now,
                };
                (start + i as u64, proposal)
            })
            .collect();
        Leadership {
            ballot,
            voters,
            since: now,
            next_slot: start + entries.len() as u64,
            proposals,
            pending: VecDeque::new(),
            oldest_pending: None,
            queued: BTreeMap::new(),
            last_contact: vec![now; n],
            peer_truncated: vec![0; n],
            last_heartbeat: None,
            commit_sent: 0,
            view_end: (start + entries.len() as u64).saturating_sub(1),
            round: 0,
            acked_round: vec![0; n],
            reads: Vec::new(),
            change: None,
            stop_sign: None,
            transfer: None,
            member_commit: BTreeMap::new(),
        }
    }

    /// A linearizable read arrived with the commit point at `commit`: it
    /// waits for the next heartbeat round.
    pub fn add_read(&mut self, origin: ReadOrigin, commit: Slot) {
        let index = commit.max(self.view_end);
        let round = self.round + 1;
        self.reads.push(PendingRead {
            origin,
            index,
            round,
        });
    }

    /// Whether a linearizable read arriving now can be confirmed here: not
    /// after a stop-sign. The slots after it belong to the next epoch,
    /// whose voters may already have chosen some of them under a leader of
    /// their own (docs/membership.md), and this leader's index stops at the
    /// stop-sign while its quorum speaks for this epoch only.
    pub fn takes_reads(&self) -> bool {
        self.stop_sign.is_none()
    }

    /// Whether reads wait for a heartbeat round not sent yet.
    pub fn round_due(&self) -> bool {
        self.reads.iter().any(|r| r.round > self.round)
    }

    /// The reads a quorum (this node, `me`, included) has confirmed.
    pub fn confirmed_reads(&mut self, me: NodeId) -> Vec<PendingRead> {
        let me = self.voters.index_of(me);
        let quorum = self.voters.quorum();
        let acked = &self.acked_round;
        let confirmed = |round: u64| {
            let others = acked
                .iter()
                .enumerate()
                .filter(|&(i, &r)| Some(i) != me && r >= round)
                .count();
            1 + others >= quorum
        };
        let (done, waiting): (Vec<_>, Vec<_>) =
            self.reads.drain(..).partition(|r| confirmed(r.round));
        self.reads = waiting;
        done
    }

    /// Queues a client request, unless it is already queued or in flight in
    /// this ballot. Returns false if it was dropped.
    pub fn enqueue(&mut self, config: &Config, request: Request, now: Time) -> bool {
        let last = self.queued.get(&request.client).copied().unwrap_or(0);
        if request.timestamp <= last || self.pending.len() >= config.max_pending {
            return false;
        }
        self.queued.insert(request.client, request.timestamp);
        self.pending.push_back(request);
        self.oldest_pending.get_or_insert(now);
        true
    }

    /// Hands back the requests not yet proposed (when stepping down).
    pub fn drain_pending(&mut self) -> impl Iterator<Item = Request> + '_ {
        self.oldest_pending = None;
        self.pending.drain(..)
    }

    /// Whether new proposals must wait: after a stop-sign nothing more is
    /// proposed in this ballot; before a reconfiguration and during a
    /// handover, the slots in flight drain first.
    pub fn paused(&self) -> bool {
        self.stop_sign.is_some() || self.change.is_some() || self.transfer.is_some()
    }

    /// Only for the planted bug `ReconfigureEarly`: counts `voters` from now
    /// on, as if they were this leadership's own (the per-voter records
    /// start afresh).
    pub(crate) fn count_voters_now(&mut self, voters: Voters, now: Time) {
        let n = voters.len();
        self.voters = voters;
        self.last_contact = vec![now; n];
        self.peer_truncated = vec![0; n];
        self.acked_round = vec![0; n];
    }

    /// Proposes `next` as the stop-sign of this epoch in the next slot, if
    /// every earlier slot is chosen.
    pub fn propose_change(&mut self, now: Time) -> Option<(Slot, Value)> {
        if self.stop_sign.is_some() || !self.proposals.is_empty() {
            return None;
        }
        let next = self.change.take()?;
        let (slot, value) = self.assign(Value::Reconfigure(next), now);
        self.stop_sign = Some(slot);
        Some((slot, value))
    }

    /// Gives `value` the next slot and tracks it as a proposal awaiting
    /// its quorum.
    fn assign(&mut self, value: Value, now: Time) -> (Slot, Value) {
        let slot = self.next_slot;
        self.next_slot += 1;
        self.proposals.insert(
            slot,
            Proposal {
                value: value.clone(),
                acks: NodeSet::default(),
                sent_at: now,
            },
        );
        (slot, value)
    }

    /// The next batch to propose, if the window has room and batching does
    /// not ask to wait. Assigns it the next slot.
    pub fn next_batch(&mut self, config: &Config, now: Time) -> Option<(Slot, Value)> {
        if self.pending.is_empty() || self.proposals.len() >= config.window || self.paused() {
            return None;
        }
        let full = self.pending.len() >= config.max_batch_size;
        let waited = self
            .oldest_pending
            .is_some_and(|t| now >= t + config.max_batch_delay);
        if !full && !waited && !self.proposals.is_empty() {
            return None;
        }
        let n = self.pending.len().min(config.max_batch_size);
        let batch: Vec<Request> = self.pending.drain(..n).collect();
        self.oldest_pending = (!self.pending.is_empty()).then_some(now);
        let (slot, value) = self.assign(Value::Batch(batch), now);
        Some((slot, value))
    }

    /// Records ACCEPTED(b, s) from node `index` for `first..=last`; returns
    /// the slots that became chosen, with their values.
    pub fn accepted(
        &mut self,
        config: &Config,
        index: usize,
        first: Slot,
        last: Slot,
    ) -> Vec<(Slot, Value)> {
        let needed = if config.has_bug(Bug::CommitOnF) {
            self.voters.max_failures().max(1)
        } else {
            self.voters.quorum()
        };
        let mut chosen = Vec::new();
        for (&slot, proposal) in self.proposals.range_mut(first..=last) {
            proposal.acks.insert(index);
            if proposal.acks.len() >= needed {
                chosen.push(slot);
            }
        }
        chosen
            .into_iter()
            .filter_map(|slot| self.proposals.remove(&slot).map(|p| (slot, p.value)))
            .collect()
    }

    /// Proposals that still lack acknowledgements and were last sent at
    /// least `interval` ago; marks them as sent now.
    pub fn due_for_resend(&mut self, now: Time, interval: Time) -> Vec<(Slot, Value, NodeSet)> {
        let mut due = Vec::new();
        for (&slot, proposal) in self.proposals.iter_mut() {
            if now >= proposal.sent_at + interval {
                proposal.sent_at = now;
                due.push((slot, proposal.value.clone(), proposal.acks));
            }
        }
        due
    }

    /// Whether `slot` can no longer gather a quorum in this ballot: so many
    /// acceptors truncated their logs through it, or fell silent (none
    /// answered within `window`), that fewer than a quorum (this node, `me`,
    /// included) would still vote on it. A silent voter counts for nothing
    /// here as everywhere: with one of three down and the other past the
    /// slot's checkpoint, the leader could otherwise lead on forever, never
    /// deciding the slot nor learning it.
    pub fn quorum_truncated_through(
        &self,
        slot: Slot,
        me: NodeId,
        now: Time,
        window: Time,
    ) -> bool {
        let me = self.voters.index_of(me);
        let voters = self
            .peer_truncated
            .iter()
            .zip(&self.last_contact)
            .enumerate()
            .filter(|&(i, (&t, &heard))| t < slot && (Some(i) == me || now < heard + window))
            .count();
        voters < self.voters.quorum()
    }

    /// Whether a quorum (this node, `me`, included) answered within `window`.
    pub fn reaches_quorum(&self, me: NodeId, now: Time, window: Time) -> bool {
        let me = self.voters.index_of(me);
        let live = self
            .last_contact
            .iter()
            .enumerate()
            .filter(|&(i, &t)| Some(i) == me || now < t + window)
            .count();
        live >= self.voters.quorum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn b(round: u64, node: u32) -> Ballot {
        Ballot::new(round, NodeId(node))
    }

    fn voters(n: usize) -> Voters {
        Voters::new((1..=n as u32).map(NodeId).collect())
    }

    fn req(client: u64, ts: u64) -> Request {
        Request {
            client: ClientId(client),
            timestamp: ts,
            command: Bytes::new(),
        }
    }

    fn batch(client: u64) -> Value {
        Value::Batch(vec![req(client, 1)])
    }

    fn entry(slot: Slot, ballot: Ballot, value: Value) -> AcceptedEntry {
        AcceptedEntry {
            slot,
            ballot,
            value,
        }
    }

    #[test]
    fn new_view_takes_the_highest_ballot_value_and_fills_holes_with_noops() {
        let cfg = Config::cluster(1, 5);
        let mut c = Candidacy::new(b(5, 1), voters(5), 1, 0);
        c.promises.insert(
            NodeId(2),
            vec![entry(1, b(1, 1), batch(1)), entry(3, b(2, 2), batch(3))],
        );
        c.promises
            .insert(NodeId(3), vec![entry(1, b(3, 3), batch(9))]);
        c.promises.insert(NodeId(1), vec![]);
        let view = c.new_view(&cfg, 1, |_| None, 0);
        assert_eq!(view, vec![batch(9), Value::Noop, batch(3)]);
    }

    #[test]
    fn new_view_prefers_values_known_chosen_and_starts_at_the_first_unknown() {
        let cfg = Config::cluster(1, 5);
        let mut c = Candidacy::new(b(5, 1), voters(5), 4, 0);
        c.promises.insert(
            NodeId(2),
            vec![entry(3, b(1, 1), batch(1)), entry(5, b(1, 1), batch(5))],
        );
        let view = c.new_view(&cfg, 4, |s| (s == 6).then(|| batch(6)), 6);
        assert_eq!(view, vec![Value::Noop, batch(5), batch(6)]);
    }

    #[test]
    fn a_slot_is_chosen_on_f_plus_one_acks_not_f() {
        let cfg = Config::cluster(1, 5);
        let mut l = Leadership::new(voters(cfg.nodes.len()), b(1, 1), 1, &[], 0);
        l.enqueue(&cfg, req(1, 1), 0);
        let (slot, _) = l.next_batch(&cfg, 0).unwrap();
        assert!(l.accepted(&cfg, 0, slot, slot).is_empty());
        assert!(
            l.accepted(&cfg, 1, slot, slot).is_empty(),
            "f = 2 acks are not enough"
        );
        assert!(
            l.accepted(&cfg, 1, slot, slot).is_empty(),
            "the same node counts once"
        );
        assert_eq!(l.accepted(&cfg, 3, slot, slot).len(), 1);
    }

    #[test]
    fn pipelining_is_bounded_by_the_window() {
        let mut cfg = Config::cluster(1, 3);
        cfg.window = 2;
        cfg.max_batch_size = 1;
        let mut l = Leadership::new(voters(cfg.nodes.len()), b(1, 1), 1, &[], 0);
        for ts in 1..=3 {
            l.enqueue(&cfg, req(ts, 1), 0);
        }
        assert_eq!(l.next_batch(&cfg, 0).map(|(s, _)| s), Some(1));
        assert_eq!(
            l.next_batch(&cfg, 0).map(|(s, _)| s),
            Some(2),
            "no wait for slot 1"
        );
        assert!(l.next_batch(&cfg, 0).is_none(), "window full");
        l.accepted(&cfg, 0, 1, 1);
        l.accepted(&cfg, 1, 1, 1);
        assert_eq!(l.next_batch(&cfg, 0).map(|(s, _)| s), Some(3));
    }

    #[test]
    fn batches_hold_at_most_max_batch_size_and_wait_at_most_max_batch_delay() {
        let mut cfg = Config::cluster(1, 3);
        cfg.max_batch_size = 2;
        cfg.max_batch_delay = 10;
        let mut l = Leadership::new(voters(cfg.nodes.len()), b(1, 1), 1, &[], 0);
        l.enqueue(&cfg, req(1, 1), 0);
        // Nothing in flight: a lone request goes at once.
        assert!(l.next_batch(&cfg, 0).is_some());
        l.enqueue(&cfg, req(2, 1), 1);
        assert!(
            l.next_batch(&cfg, 5).is_none(),
            "a slot is in flight: wait to fill"
        );
        assert!(l.next_batch(&cfg, 11).is_some(), "waited max_batch_delay");
        for c in 3..=5 {
            l.enqueue(&cfg, req(c, 1), 12);
        }
        let (_, v) = l.next_batch(&cfg, 12).unwrap();
        assert_eq!(v.requests().len(), 2, "full batch goes without waiting");
    }

    #[test]
    fn by_default_requests_behind_a_slot_in_flight_share_the_next_one() {
        let cfg = Config::cluster(1, 3);
        let mut l = Leadership::new(voters(cfg.nodes.len()), b(1, 1), 1, &[], 0);
        l.enqueue(&cfg, req(1, 1), 0);
        let (slot, _) = l.next_batch(&cfg, 0).expect("a lone request goes at once");
        for c in 2..=4 {
            l.enqueue(&cfg, req(c, 1), 100);
        }
        assert!(l.next_batch(&cfg, 200).is_none(), "slot 1 is in flight");
        // Slot 1 chosen: the three go together, before the delay ran out.
        l.accepted(&cfg, 0, slot, slot);
        l.accepted(&cfg, 1, slot, slot);
        let (_, v) = l.next_batch(&cfg, 300).unwrap();
        assert_eq!(v.requests().len(), 3);
    }

    #[test]
    fn a_retry_in_flight_is_not_queued_twice() {
        let cfg = Config::cluster(1, 3);
        let mut l = Leadership::new(voters(cfg.nodes.len()), b(1, 1), 1, &[], 0);
        assert!(l.enqueue(&cfg, req(1, 1), 0));
        assert!(!l.enqueue(&cfg, req(1, 1), 0));
        assert!(l.enqueue(&cfg, req(1, 2), 0));
    }
}

//! Failure detection and the candidate order: when a node suspects its
//! leader, when it may promise a new ballot, and when it stands itself.
//!
//! The rules (docs/protocol.md, "Election"):
//! - A follower's timer expires when it has not heard from its leader for
//!   `election_timeout`, or when it has held a client's request that long
//!   without progress: no slot executed here and the leader's commit point
//!   did not move. It then *suspects* the leader: after silence, until it
//!   hears from a leader again; after a stall, until there is progress or a
//!   new leader (a leader that heartbeats but cannot commit is as useless as
//!   a dead one, and its heartbeats must not clear the suspicion).
//! - A node promises a PREPARE only while it suspects (or when the PREPARE
//!   comes from its own leader raising its ballot, or from itself). A PREPARE
//!   that arrives earlier is remembered, and the highest remembered one is
//!   answered when the timer expires. So one impatient node cannot depose a
//!   leader that the others still hear.
//! - Candidate order: the nodes after the suspected leader, in id order
//!   (cyclically), stand one after another: rank r waits `r *
//!   candidate_stagger` after its timer expired. With no leader yet, n1 goes
//!   first. This is the Bully algorithm's idea (a fixed priority decides who stands
//!   first) without its extra messages, and it makes failover predictable.
//! - Throttle tp: a node sends PREPARE at most once per tp, and not within tp
//!   of a PREPARE from another node (that candidate deserves a chance).
//! - A failed candidacy doubles the wait before the next (capped at 8x, as
//!   IronRSL doubles its view timeout), so duelling candidates separate.

use crate::config::Config;
use crate::types::{Ballot, NodeId, Slot, Time};

/// A PREPARE received before this node's timer expired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeferredPrepare {
    pub ballot: Ballot,
    pub from: NodeId,
    pub from_slot: Slot,
    pub at: Time,
}

#[derive(Debug)]
pub struct Election {
    last_leader_contact: Time,
    /// Since when a local client request has waited without any progress.
    work_waiting_since: Option<Time>,
    /// When the timer expired; `None` while the leader looks healthy.
    suspect_since: Option<Time>,
    /// The suspicion came from stalled work, not silence: only progress or a
    /// new leader clears it.
    stalled: bool,
    /// The highest commit point the current leader announced.
    leader_commit: u64,
    deferred: Option<DeferredPrepare>,
    /// A leader announced that this node takes over, until this time.
    handover: Option<(NodeId, Time)>,
    last_prepare_seen: Option<Time>,
    last_prepare_sent: Option<Time>,
    failed_candidacies: u32,
    /// Whether any leader was heard since this node started.
    heard_a_leader: bool,
    /// A candidacy of ours stepped aside to catch up: the next one does not
    /// wait for its rank again.
    turn_taken: bool,
}

impl Election {
    pub fn new(now: Time) -> Self {
        Election {
            last_leader_contact: now,
            work_waiting_since: None,
            suspect_since: None,
            stalled: false,
            leader_commit: 0,
            deferred: None,
            handover: None,
            last_prepare_seen: None,
            last_prepare_sent: None,
            failed_candidacies: 0,
            heard_a_leader: false,
            turn_taken: false,
        }
    }

    pub fn suspecting(&self) -> bool {
        self.suspect_since.is_some()
    }

    /// A message from the current leader (`new_leader`: or from a leader of
    /// a higher ballot than the one followed) arrived. Clears a suspicion of
    /// silence; a suspicion of stalled work only if the leader is new (it
    /// gets a fresh election timeout to make progress).
    pub fn heard_from_leader(&mut self, now: Time, new_leader: bool) {
        self.last_leader_contact = now;
        self.heard_a_leader = true;
        if new_leader {
            self.leader_commit = 0;
            if let Some(since) = &mut self.work_waiting_since {
                *since = now;
            }
        }
        if new_leader || !self.stalled {
            self.suspect_since = None;
            self.stalled = false;
        }
        self.failed_candidacies = 0;
    }

    /// The leader announced its commit point: a higher one than before is
    /// progress, even if this node has not executed it yet (a follower that
    /// lags behind a working leader has no reason to depose it).
    pub fn leader_committed(&mut self, now: Time, commit: u64) {
        if commit > self.leader_commit {
            self.leader_commit = commit;
            self.progress(now);
        }
    }

    /// A client request arrived here; starts the work timer if it is idle.
    pub fn work_arrived(&mut self, now: Time) {
        self.work_waiting_since.get_or_insert(now);
    }

    /// A slot executed: restart the work timer if requests still wait here.
    pub fn progressed(&mut self, now: Time, still_waiting: bool) {
        self.work_waiting_since = still_waiting.then_some(now);
        self.progress(now);
    }

    fn progress(&mut self, now: Time) {
        if let Some(since) = &mut self.work_waiting_since {
            *since = now;
        }
        if self.stalled {
            self.stalled = false;
            self.suspect_since = None;
        }
    }

    /// Checks the timer. Returns true when it has just expired.
    pub fn tick(&mut self, now: Time, config: &Config) -> bool {
        if self.suspect_since.is_some() {
            return false;
        }
        let silent = now >= self.last_leader_contact + self.silence_timeout(config);
        let stalled = self
            .work_waiting_since
            .is_some_and(|since| now >= since + config.election_timeout);
        if silent || stalled {
            self.suspect_since = Some(now);
            self.stalled = stalled && !silent;
            return true;
        }
        false
    }

    /// How long a silence means the leader is gone. A node that has heard
    /// no leader since it started has none to protect from a PREPARE: a
    /// live one would have reached it within a few heartbeats, so it waits
    /// three heartbeat intervals, not a whole election timeout (in a storm
    /// of restarts a node may never stay up for one, and no candidate
    /// would ever gather its promise).
    fn silence_timeout(&self, config: &Config) -> Time {
        if self.heard_a_leader || config.old_rules() {
            config.election_timeout
        } else {
            config.election_timeout.min(3 * config.heartbeat_interval)
        }
    }

    /// Suspect at once (a leader that lost its quorum steps down this way).
    pub fn suspect(&mut self, now: Time) {
        self.suspect_since.get_or_insert(now);
    }

    /// Remembers the highest PREPARE that arrived before the timer expired.
    pub fn defer(&mut self, prepare: DeferredPrepare) {
        if self.deferred.is_none_or(|d| prepare.ballot > d.ballot) {
            self.deferred = Some(prepare);
        }
    }

    /// The remembered PREPARE to answer now that the timer expired, if it is
    /// recent enough that its candidate may still be waiting.
    pub fn take_deferred(&mut self, now: Time, config: &Config) -> Option<DeferredPrepare> {
        self.deferred
            .take()
            .filter(|d| now < d.at + config.election_timeout)
    }

    /// The leader hands over to `to`: promise its PREPARE until `until`.
    pub fn expect_handover(&mut self, to: NodeId, until: Time) {
        self.handover = Some((to, until));
    }

    /// Whether `node` is the announced successor of our leader.
    pub fn is_handover_to(&self, node: NodeId, now: Time) -> bool {
        self.handover
            .is_some_and(|(to, until)| to == node && now < until)
    }

    pub fn saw_prepare(&mut self, now: Time) {
        self.last_prepare_seen = Some(now);
    }

    /// Node `me`'s place among `voters` in the candidate order after
    /// `suspected` (the leader it followed, or none yet): 0 stands first.
    /// `None` if `me` is not a voter: it does not stand.
    pub fn rank(voters: &[NodeId], me: NodeId, suspected: Option<NodeId>) -> Option<u64> {
        let n = voters.len() as u64;
        let mut sorted = voters.to_vec();
        sorted.sort();
        let me = sorted.iter().position(|&x| x == me)? as u64;
        let after = match suspected.and_then(|l| sorted.iter().position(|&x| x == l)) {
            Some(leader) => leader as u64,
            // No leader yet: as if the last node led, so n1 is first.
            None => n - 1,
        };
        Some((me + n - after - 1) % n)
    }

    /// Whether this node should send PREPARE now.
    pub fn should_stand(&self, now: Time, config: &Config, rank: u64) -> bool {
        let Some(since) = self.suspect_since else {
            return false;
        };
        let backoff = config.prepare_throttle * ((1u64 << self.failed_candidacies.min(3)) - 1);
        let rank = if self.turn_taken { 0 } else { rank };
        if now < since + rank * config.candidate_stagger + backoff {
            return false;
        }
        let throttled = |t: Option<Time>| t.is_some_and(|t| now < t + config.prepare_throttle);
        !throttled(self.last_prepare_seen) && !throttled(self.last_prepare_sent)
    }

    pub fn stood(&mut self, now: Time) {
        self.last_prepare_sent = Some(now);
        self.turn_taken = false;
    }

    /// A candidacy of ours got no answer from any peer: stand again in
    /// turn, without a longer wait (nobody competed), if we still suspect.
    pub fn candidacy_unanswered(&mut self, now: Time) {
        self.resuspect(now);
    }

    /// A candidacy of ours failed (refused, or short of a quorum): stand
    /// again after a longer wait, if we still suspect.
    pub fn candidacy_lost(&mut self, now: Time) {
        self.failed_candidacies = self.failed_candidacies.saturating_add(1);
        self.resuspect(now);
    }

    /// After a candidacy: the suspicion restarts now, unless it ended
    /// while we stood. A leader heard meanwhile (its heartbeats after a
    /// silence, its progress after a stall) is one the others still
    /// follow, and they keep our PREPAREs unanswered; standing again would
    /// only repeat that every candidacy timeout, and a candidate holds its
    /// clients' requests instead of forwarding them. (Until 2026-12-03 a
    /// candidacy always restarted the suspicion: a follower that once
    /// missed a few heartbeats under load stood against its live leader
    /// every 100 ms for as long as it ran.)
    fn resuspect(&mut self, now: Time) {
        if self.suspect_since.is_some() {
            self.suspect_since = Some(now);
        }
    }

    /// A candidacy of ours stepped aside to catch up from a peer's
    /// checkpoint: stand again once the throttle allows, rank or not.
    pub fn stepped_aside_to_catch_up(&mut self, now: Time) {
        self.suspect_since = Some(now);
        self.turn_taken = true;
    }

    /// A candidacy of ours failed; wait longer before the next.
    pub fn candidacy_failed(&mut self, now: Time) {
        self.failed_candidacies = self.failed_candidacies.saturating_add(1);
        self.suspect_since = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::MS;

    #[test]
    fn a_node_that_heard_no_leader_since_it_started_suspects_after_three_heartbeats() {
        let cfg = Config::cluster(2, 5);
        let mut e = Election::new(0);
        assert!(!e.tick(3 * cfg.heartbeat_interval - 1, &cfg));
        assert!(e.tick(3 * cfg.heartbeat_interval, &cfg));
        // Once it has heard one, a silence must last the whole timeout.
        let mut e = Election::new(0);
        e.heard_from_leader(MS, false);
        assert!(!e.tick(MS + cfg.election_timeout - 1, &cfg));
        assert!(e.tick(MS + cfg.election_timeout, &cfg));
    }

    #[test]
    fn timer_expires_after_leader_silence() {
        let cfg = Config::cluster(2, 5);
        let mut e = Election::new(0);
        e.heard_from_leader(0, false);
        assert!(!e.tick(cfg.election_timeout - 1, &cfg));
        e.heard_from_leader(100 * MS, false);
        assert!(!e.tick(100 * MS + cfg.election_timeout - 1, &cfg));
        assert!(e.tick(100 * MS + cfg.election_timeout, &cfg));
        assert!(e.suspecting());
        e.heard_from_leader(400 * MS, false);
        assert!(!e.suspecting());
    }

    #[test]
    fn timer_expires_when_held_work_makes_no_progress() {
        let cfg = Config::cluster(2, 5);
        let mut e = Election::new(0);
        e.work_arrived(10 * MS);
        // The leader keeps heartbeating, but nothing executes.
        for t in (0..cfg.election_timeout).step_by(20_000) {
            e.heard_from_leader(10 * MS + t, false);
            assert!(!e.tick(10 * MS + t, &cfg));
        }
        e.last_leader_contact = 10 * MS + cfg.election_timeout;
        assert!(e.tick(10 * MS + cfg.election_timeout, &cfg));
    }

    #[test]
    fn heartbeats_do_not_clear_a_suspicion_of_stalled_work() {
        let cfg = Config::cluster(2, 5);
        let mut e = Election::new(0);
        e.work_arrived(0);
        // The leader heartbeats throughout, announcing the same commit
        // point: alive, but making no progress.
        let mut t = 0;
        while !e.tick(t, &cfg) {
            e.heard_from_leader(t, false);
            e.leader_committed(t, 7);
            t += 20 * MS;
        }
        assert!(t >= cfg.election_timeout);
        e.heard_from_leader(t + 1, false);
        assert!(e.suspecting(), "a heartbeat is not progress");
        e.leader_committed(t + 2, 7);
        assert!(e.suspecting(), "nor is the same commit point again");
        // The leader commits something: the suspicion ends.
        e.leader_committed(t + 3, 8);
        assert!(!e.suspecting());
    }

    #[test]
    fn a_new_leader_clears_a_stall_and_gets_a_fresh_timeout() {
        let cfg = Config::cluster(2, 5);
        let mut e = Election::new(0);
        e.work_arrived(0);
        assert!(e.tick(cfg.election_timeout, &cfg));
        e.heard_from_leader(cfg.election_timeout + 1, true);
        assert!(!e.suspecting());
        assert!(!e.tick(2 * cfg.election_timeout, &cfg));
        assert!(e.tick(2 * cfg.election_timeout + 1, &cfg));
    }

    #[test]
    fn a_follower_that_lags_a_working_leader_does_not_suspect_it() {
        // Nothing executes here (this node is catching up), but the leader
        // keeps announcing higher commit points.
        let cfg = Config::cluster(2, 5);
        let mut e = Election::new(0);
        e.work_arrived(0);
        for step in 1..=50 {
            let t = step * 20 * MS;
            e.heard_from_leader(t, false);
            e.leader_committed(t, step);
            assert!(!e.tick(t, &cfg), "suspected a working leader at {t}");
        }
    }

    #[test]
    fn progress_restarts_the_work_timer() {
        let cfg = Config::cluster(2, 5);
        let mut e = Election::new(0);
        e.work_arrived(0);
        e.heard_from_leader(cfg.election_timeout - 1, false);
        e.progressed(cfg.election_timeout - 1, true);
        assert!(!e.tick(cfg.election_timeout + 1, &cfg));
    }

    #[test]
    fn candidate_order_starts_after_the_suspected_leader() {
        let voters: Vec<NodeId> = (1..=5).map(NodeId).collect();
        let ranks = |leader: Option<u32>| {
            (1..=5)
                .map(|id| Election::rank(&voters, NodeId(id), leader.map(NodeId)).unwrap_or(99))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            Election::rank(&voters, NodeId(6), None),
            None,
            "not a voter"
        );
        assert_eq!(ranks(None), vec![0, 1, 2, 3, 4], "n1 stands first at start");
        assert_eq!(
            ranks(Some(1)),
            vec![4, 0, 1, 2, 3],
            "n2 follows a failed n1"
        );
        assert_eq!(ranks(Some(4)), vec![1, 2, 3, 4, 0]);
    }

    #[test]
    fn prepare_throttle_tp_holds_back_after_a_prepare_seen_or_sent() {
        let cfg = Config::cluster(3, 5);
        let mut e = Election::new(0);
        e.suspect(0);
        assert!(e.should_stand(0, &cfg, 0));
        e.saw_prepare(5 * MS);
        assert!(!e.should_stand(5 * MS + cfg.prepare_throttle - 1, &cfg, 0));
        assert!(e.should_stand(5 * MS + cfg.prepare_throttle, &cfg, 0));
        e.stood(100 * MS);
        assert!(!e.should_stand(100 * MS + cfg.prepare_throttle - 1, &cfg, 0));
    }

    #[test]
    fn later_ranks_wait_their_stagger() {
        let cfg = Config::cluster(3, 5);
        let mut e = Election::new(0);
        e.suspect(0);
        assert!(!e.should_stand(2 * cfg.candidate_stagger - 1, &cfg, 2));
        assert!(e.should_stand(2 * cfg.candidate_stagger, &cfg, 2));
    }

    #[test]
    fn deferred_prepare_keeps_the_highest_and_expires() {
        let cfg = Config::cluster(3, 5);
        let mut e = Election::new(0);
        let p = |round, at| DeferredPrepare {
            ballot: Ballot::new(round, NodeId(2)),
            from: NodeId(2),
            from_slot: 1,
            at,
        };
        e.defer(p(3, 0));
        e.defer(p(2, 1));
        assert_eq!(e.take_deferred(1, &cfg).map(|d| d.ballot.round), Some(3));
        e.defer(p(4, 0));
        assert_eq!(e.take_deferred(cfg.election_timeout, &cfg), None);
    }

    #[test]
    fn an_unanswered_candidacy_does_not_back_off() {
        let cfg = Config::cluster(3, 5);
        let mut e = Election::new(0);
        e.candidacy_failed(0);
        e.candidacy_unanswered(MS);
        // One real failure: wait 1 tp from the last expiry, no more.
        assert!(!e.should_stand(MS + cfg.prepare_throttle - 1, &cfg, 0));
        assert!(e.should_stand(MS + cfg.prepare_throttle, &cfg, 0));
    }

    #[test]
    fn a_candidate_that_stepped_aside_to_catch_up_does_not_wait_its_rank_again() {
        let cfg = Config::cluster(3, 5);
        let mut e = Election::new(0);
        e.stood(0);
        e.stepped_aside_to_catch_up(MS);
        // Rank 3, but its turn came already: only the throttle on its own
        // PREPARE holds it back.
        assert!(!e.should_stand(cfg.prepare_throttle - 1, &cfg, 3));
        assert!(e.should_stand(cfg.prepare_throttle, &cfg, 3));
        e.stood(cfg.prepare_throttle);
        e.candidacy_unanswered(cfg.prepare_throttle + MS);
        assert!(
            !e.should_stand(2 * cfg.prepare_throttle + MS, &cfg, 3),
            "once only"
        );
    }

    #[test]
    fn failed_candidacies_back_off() {
        let cfg = Config::cluster(3, 5);
        let mut e = Election::new(0);
        e.candidacy_failed(0);
        e.candidacy_failed(0);
        // 2 failures: wait 3 tp (plus the throttle on our own last PREPARE).
        assert!(!e.should_stand(3 * cfg.prepare_throttle - 1, &cfg, 0));
        assert!(e.should_stand(3 * cfg.prepare_throttle, &cfg, 0));
    }
}

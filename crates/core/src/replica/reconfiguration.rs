//! Changing the membership through the log, and handing leadership over.
//!
//! A change is asked of the leader ([`Replica::propose_change`]); it lets
//! the slots in flight drain, proposes the new membership as a stop-sign
//! (`Leadership::propose_change`) and nothing after it. Once the stop-sign
//! executes ([`Replica::on_reconfigured`]) the epoch has ended: a leader
//! that is a voter of the next one runs phase 1 among the new voters at
//! once; one that was removed hands over to the most caught-up new voter.
//! docs/membership.md gives the argument.
//!
//! A handover ([`Replica::transfer_leadership`], and after a removal): the
//! leader stops proposing, waits until the target has acknowledged its
//! whole log, then tells everyone (HANDOVER). The target stands at once,
//! and the others promise its PREPARE without waiting to suspect anyone.

use super::*;
use crate::membership::Change;
use std::cmp::Reverse;
use thiserror::Error;

/// Why a membership change or a handover was not started.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum ChangeRefused {
    #[error("this node does not lead; ask {}", match .0 { Some(n) => n.to_string(), None => "the leader, once there is one".into() })]
    NotLeader(Option<NodeId>),
    #[error("another membership change or handover is under way")]
    Busy,
    #[error(transparent)]
    Invalid(#[from] crate::membership::ChangeError),
    #[error("{0} has not caught up yet")]
    NotCaughtUp(NodeId),
    #[error("{0} is not a voter")]
    NotAVoter(NodeId),
}

impl<S: StateMachine> Replica<S> {
    /// Asks this node, as leader, to change the membership. One change at a
    /// time: it is proposed once every slot in flight is chosen, and is
    /// done when the reconfiguration executes (`Event::Reconfigured`).
    pub fn propose_change(&mut self, now: Time, change: Change) -> Result<(), ChangeRefused> {
        self.now = now;
        let commit = self.learner.commit();
        let slack = self.config.catchup_batch as Slot;
        let next = self.membership().apply(&change)?;
        let Phase::Leader(l) = &mut self.phase else {
            return Err(ChangeRefused::NotLeader(self.view.leader()));
        };
        let early = self.config.has_bug(Bug::ReconfigureEarly);
        if l.change.is_some() || l.transfer.is_some() || (l.stop_sign.is_some() && !early) {
            return Err(ChangeRefused::Busy);
        }
        if let Change::Promote { id } = change {
            // A voter far behind could not help decide anything soon.
            let acked = l.member_commit.get(&id).copied().unwrap_or(0);
            if acked + slack < commit {
                return Err(ChangeRefused::NotCaughtUp(id));
            }
        }
        l.change = Some(next);
        Ok(())
    }

    /// Asks this node, as leader, to hand leadership over to voter `to`.
    pub fn transfer_leadership(&mut self, now: Time, to: NodeId) -> Result<(), ChangeRefused> {
        self.now = now;
        if !self.membership().is_voter(to) {
            return Err(ChangeRefused::NotAVoter(to));
        }
        let deadline = now + self.config.election_timeout;
        let Phase::Leader(l) = &mut self.phase else {
            return Err(ChangeRefused::NotLeader(self.view.leader()));
        };
        if to == self.config.id {
            return Ok(());
        }
        if l.change.is_some() || l.stop_sign.is_some() || l.transfer.is_some() {
            return Err(ChangeRefused::Busy);
        }
        l.transfer = Some((to, deadline));
        Ok(())
    }

    /// Proposes the pending reconfiguration if its time has come.
    pub(super) fn propose_reconfiguration(&mut self) {
        let Phase::Leader(l) = &mut self.phase else {
            return;
        };
        if self.config.has_bug(Bug::ReconfigureEarly)
            && let Some(Membership { .. }) = &l.change
            && l.stop_sign.is_some()
        {
            // The planted bug does not wait for the last stop-sign either.
            l.stop_sign = None;
        }
        let Some((slot, value)) = l.propose_change(self.now) else {
            return;
        };
        let ballot = l.ballot;
        if self.config.has_bug(Bug::ReconfigureEarly)
            && let Value::Reconfigure(next) = &value
        {
            // The new membership counts at once, and proposing goes on.
            l.count_voters_now(Voters::new(next.voters()), self.now);
            l.stop_sign = None;
        }
        let commit = self.learner.commit();
        l.commit_sent = commit;
        self.propose_to_all(ballot, slot, value, commit);
    }

    /// The reconfiguration chosen in `slot` executed: the epoch before it
    /// ended there, and the membership is the new one.
    pub(super) fn on_reconfigured(&mut self, slot: Slot) {
        let me = self.config.id;
        let membership = self.membership().clone();
        self.out.events.push(Event::Reconfigured {
            slot,
            membership: membership.clone(),
        });
        // A node that lost its disk stays a learner, even made a voter
        // again: it cannot tell whether this reconfiguration was chosen
        // before it lost its disk (it may be replaying it, or hearing it
        // proposed again by a leader that did not know it chosen, or late),
        // and if so it may have voted on the slots after it then. A machine
        // whose disk was lost comes back under a new id (docs/membership.md).
        match &self.phase {
            Phase::Leader(l) => {
                let previous = l.voters.ids().to_vec();
                if membership.is_voter(me) {
                    if self.config.has_bug(Bug::ReconfigureEarly) {
                        return; // it acted on the new membership already
                    }
                    // Phase 1 again, among the new voters, before proposing
                    // in the new epoch; the others follow our new ballot.
                    self.stand_in_new_epoch(&previous);
                } else {
                    self.hand_over_after_removal();
                }
            }
            Phase::Candidate(_) => {
                self.abandon_candidacy("the membership changed");
            }
            Phase::Follower => {}
        }
    }

    /// After a reconfiguration, the leader (still a voter) stands in the
    /// new epoch at once.
    fn stand_in_new_epoch(&mut self, previous: &[NodeId]) {
        self.stand();
        if self.config.has_bug(Bug::RemovedNodeCounted)
            && let Phase::Candidate(c) = &mut self.phase
        {
            // Removed voters keep counting, with the new quorum size.
            let removed: Vec<NodeId> = previous
                .iter()
                .copied()
                .filter(|n| !self.executor.membership().is_member(*n))
                .collect();
            c.voters = c.voters.clone().counting_also(&removed);
        }
    }

    /// A leader whose removal was just chosen: hands over to the new voter
    /// that acknowledged the most of the log, and steps down.
    fn hand_over_after_removal(&mut self) {
        let Phase::Leader(l) = &self.phase else {
            return;
        };
        let ballot = l.ballot;
        let successor = self
            .membership()
            .voters()
            .into_iter()
            .max_by_key(|n| (l.member_commit.get(n).copied().unwrap_or(0), Reverse(*n)));
        self.step_down("removed from the membership");
        if let Some(to) = successor {
            self.announce_handover(ballot, to);
        }
    }

    /// Tells every member (and the target) that `to` takes over from the
    /// leader of `ballot`.
    fn announce_handover(&mut self, ballot: Ballot, to: NodeId) {
        for peer in self.peers() {
            self.send(peer, Message::Handover { ballot, to });
        }
        let until = self.now + self.config.election_timeout;
        self.election.expect_handover(to, until);
    }

    /// A handover under way: once the target has acknowledged everything,
    /// announce it and step down; give up at the deadline.
    pub(super) fn tick_transfer(&mut self) {
        let Phase::Leader(l) = &mut self.phase else {
            return;
        };
        let Some((to, deadline)) = l.transfer else {
            return;
        };
        if self.now >= deadline {
            l.transfer = None; // the target did not catch up: lead on
            return;
        }
        let commit = self.learner.commit();
        let caught_up = l.member_commit.get(&to).is_some_and(|c| *c >= commit);
        if !caught_up || !l.proposals.is_empty() {
            return;
        }
        let ballot = l.ballot;
        self.step_down("handing leadership over");
        self.announce_handover(ballot, to);
    }

    /// HANDOVER from the leader of `ballot`: `to` takes over. The target
    /// stands at once; the others will promise its PREPARE.
    pub(super) fn on_handover(&mut self, from: NodeId, ballot: Ballot, to: NodeId) {
        if ballot.node != from || ballot < self.view {
            return;
        }
        let until = self.now + self.config.election_timeout;
        self.election.expect_handover(to, until);
        let from_slot = self.learner.commit() + 1;
        if to == self.config.id
            && !self.is_leader()
            && self.membership().is_voter(to)
            && self.votes_on(from_slot)
        {
            self.stand();
        }
    }
}

//! A follower learning that a slot is chosen from the acceptances
//! themselves, without waiting for its leader's COMMIT (docs/protocol.md,
//! "Followers counting acceptances").
//!
//! Where two acceptances make a quorum (three voters, or two), the leader
//! sends its own ACCEPTED, once durable, to the other voters as well as to
//! itself, and each follower sends its own to itself. A follower that holds
//! both, its own and its leader's, for a slot of the ballot it follows
//! knows the slot is chosen, with the value it accepted in that ballot (a
//! ballot proposes one value per slot). It learns it one hop sooner than a
//! COMMIT would tell it: the leader's acceptance travels while the
//! follower's own write is still being synced, where a COMMIT waits for the
//! follower's ACCEPTED to reach the leader first. With five voters nothing
//! changes: two acceptances are not a quorum, and no extra vote is sent.
//!
//! A follower may so answer a write before its leader knows it chosen: a
//! linearizable read at the leader takes at least the last slot the leader
//! proposed as its index (`reads.rs`), not only its commit point.
//!
//! Why two acceptances suffice: only a follower itself and its leader send
//! it an ACCEPTED, and the leader only in a ballot of two or three voters,
//! to those voters; any two of them are a quorum of the ballot.
//!
//! Counting also needs the voters of the slot's epoch, and a follower knows
//! the voters of the slots it has executed through. The quorum is taken from its
//! current membership only for a slot `s` such that every slot from its
//! next to execute through `s` is held in the ballot counted: the ballot's
//! leader proposes only from its candidacy's first slot on (its commit
//! point plus one, having executed the reconfigurations before), and
//! nothing after a reconfiguration of its own, so those slots lie within
//! one epoch, the one this follower's membership is of. A follower whose
//! log has a gap or an older ballot there learns the slot as before, from
//! a COMMIT, a heartbeat or the next ACCEPT.

use super::*;
use crate::proposer::NodeSet;

/// Acceptances a follower heard of, by slot, for the ballot it follows.
#[derive(Default)]
pub(super) struct FollowerAcks {
    ballot: Ballot,
    by_slot: BTreeMap<Slot, NodeSet>,
}

impl<S: StateMachine> Replica<S> {
    /// This node's ACCEPTED for `first..=last` of `ballot`, sent once the
    /// acceptances are durable: to the ballot's leader (this node itself,
    /// if it leads), and where two acceptances make a quorum, also to the
    /// other voters (from the leader) or to this node itself (from a
    /// follower), for [`Replica::learn_from_accepted`].
    pub(super) fn vote_accepted(
        &mut self,
        leader: NodeId,
        ballot: Ballot,
        first: Slot,
        last: Slot,
    ) {
        let accepted = Message::Accepted {
            ballot,
            first,
            last,
        };
        let me = self.config.id;
        let voters = match &self.phase {
            Phase::Leader(l) if leader == me => l.voters.clone(),
            _ => self.voters(),
        };
        if self.followers_count(&voters) && voters.contains(leader) {
            if leader == me {
                for &peer in voters.ids() {
                    if peer != me {
                        self.send_vote(peer, accepted.clone());
                    }
                }
            } else {
                self.send_vote(me, accepted.clone());
            }
        }
        self.send_vote(leader, accepted);
    }

    /// Whether, with these voters, followers count acceptances: two make a
    /// quorum, and this node is one of them.
    pub(super) fn followers_count(&self, voters: &Voters) -> bool {
        voters.quorum() == 2 && voters.contains(self.config.id) && !self.config.old_rules()
    }

    /// ACCEPTED reaching a node that does not lead: `from` (this node
    /// itself, or its leader) durably accepted `first..=last` in `ballot`.
    /// Learns every slot that a quorum of the voters is now known to have
    /// accepted in the ballot this node follows, under the rule of the
    /// module comment.
    pub(super) fn learn_from_accepted(
        &mut self,
        from: NodeId,
        ballot: Ballot,
        first: Slot,
        last: Slot,
    ) {
        if ballot != self.view || ballot.node == self.config.id {
            return;
        }
        let voters = self.voters();
        let Some(index) = voters.index_of(from) else {
            return;
        };
        if !voters.contains(self.config.id) {
            return;
        }
        if self.follower_acks.ballot != ballot {
            self.follower_acks = FollowerAcks {
                ballot,
                by_slot: BTreeMap::new(),
            };
        }
        let executed = self.executor.executed();
        let acks = &mut self.follower_acks.by_slot;
        *acks = acks.split_off(&(executed + 1));
        let first = first.max(executed + 1);
        if first <= last {
            for (slot, (accepted_in, _)) in self.acceptor.range(first, last) {
                if *accepted_in == ballot {
                    acks.entry(slot).or_default().insert(index);
                }
            }
        }
        // Slots a quorum accepted, in the run of slots held in `ballot`
        // from the next one to execute on.
        let mut next = executed + 1;
        let mut chosen = Vec::new();
        for (&slot, acked) in acks.iter() {
            while next <= slot {
                match self.acceptor.accepted(next) {
                    Some((b, _)) if *b == ballot => next += 1,
                    _ => break,
                }
            }
            if next <= slot {
                break;
            }
            let quorum = if self.config.has_bug(Bug::FollowerCountsItselfTwice) {
                1
            } else {
                voters.quorum()
            };
            if acked.len() >= quorum {
                chosen.push(slot);
            }
        }
        for slot in chosen {
            acks.remove(&slot);
            if let Some((_, value)) = self.acceptor.accepted(slot) {
                let value = value.clone();
                self.learner.learn(slot, value);
            }
        }
        self.execute_chosen();
    }
}

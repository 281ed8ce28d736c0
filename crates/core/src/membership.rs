//! Who is in the cluster: the voters whose acknowledgements make quorums,
//! and the learners that follow the log without voting.
//!
//! The membership is part of the replicated state. It changes through the
//! log, one change at a time: a change is a value of its own,
//! `Value::Reconfigure(next)`, that acts as a stop-sign (Vertical Paxos,
//! OmniPaxos). When it is chosen in slot s, epoch e ends at s: every slot up
//! to s is decided by e's voters, every slot after s by e+1's. A leader
//! proposes a reconfiguration only when every earlier slot is chosen, and
//! proposes nothing after it until it is chosen; then it runs phase 1 again
//! among the new voters before proposing in the new epoch. docs/membership.md
//! says why that is safe.
//!
//! Addresses ride along, opaque to the protocol, so that every node's host
//! can reach a member it learned of through the log.

use crate::types::NodeId;
use serde::{Deserialize, Serialize};
use thiserror::Error;

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Member {
    pub id: NodeId,
    /// Whether this member's acknowledgements count toward quorums.
    pub voter: bool,
    /// Where peers reach it (`host:port`), for the host.
    pub peer_addr: String,
    /// Where clients reach it (`host:port`), for the host.
    pub client_addr: String,
}

/// The members of one epoch, sorted by id.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Membership {
    /// 0 for the membership the cluster was created with; +1 per change.
    pub epoch: u64,
    pub members: Vec<Member>,
}

/// One change to the membership.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Change {
    /// A new node joins as a learner: it catches up, and votes only once
    /// promoted.
    AddLearner {
        id: NodeId,
        peer_addr: String,
        client_addr: String,
    },
    /// A learner becomes a voter.
    Promote { id: NodeId },
    /// A member leaves (the leader included: it hands over once its removal
    /// is chosen).
    Remove { id: NodeId },
}

#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum ChangeError {
    #[error("{0} is already a member")]
    AlreadyMember(NodeId),
    #[error("{0} is not a member")]
    NotAMember(NodeId),
    #[error("{0} is already a voter")]
    AlreadyVoter(NodeId),
    #[error("removing {0} would leave no voter")]
    LastVoter(NodeId),
    #[error("node ids start at 1")]
    ZeroId,
}

impl Membership {
    /// Epoch 0: the voters and learners of the cluster file (addresses are
    /// the host's business). A node joining a running cluster starts from
    /// it too, as a learner, until it learns the real membership.
    pub fn initial(voters: &[NodeId], learners: &[NodeId]) -> Self {
        let member = |id: NodeId, voter: bool| Member {
            id,
            voter,
            peer_addr: String::new(),
            client_addr: String::new(),
        };
        let mut members: Vec<Member> = voters
            .iter()
            .map(|&id| member(id, true))
            .chain(learners.iter().map(|&id| member(id, false)))
            .collect();
        members.sort_by_key(|m| m.id);
        Membership { epoch: 0, members }
    }

    pub fn voters(&self) -> Vec<NodeId> {
        self.members
            .iter()
            .filter(|m| m.voter)
            .map(|m| m.id)
            .collect()
    }

    pub fn ids(&self) -> Vec<NodeId> {
        self.members.iter().map(|m| m.id).collect()
    }

    pub fn member(&self, id: NodeId) -> Option<&Member> {
        self.members.iter().find(|m| m.id == id)
    }

    pub fn is_member(&self, id: NodeId) -> bool {
        self.member(id).is_some()
    }

    pub fn is_voter(&self, id: NodeId) -> bool {
        self.member(id).is_some_and(|m| m.voter)
    }

    /// f+1 of the voters.
    pub fn quorum(&self) -> usize {
        self.voters().len() / 2 + 1
    }

    /// f: how many voters may fail with the cluster still making progress.
    pub fn max_failures(&self) -> usize {
        self.voters().len().saturating_sub(1) / 2
    }

    /// The membership of the next epoch, after `change`.
    pub fn apply(&self, change: &Change) -> Result<Membership, ChangeError> {
        let mut members = self.members.clone();
        match change {
            Change::AddLearner {
                id,
                peer_addr,
                client_addr,
            } => {
                if id.0 == 0 {
                    return Err(ChangeError::ZeroId);
                }
                if self.is_member(*id) {
                    return Err(ChangeError::AlreadyMember(*id));
                }
                members.push(Member {
                    id: *id,
                    voter: false,
                    peer_addr: peer_addr.clone(),
                    client_addr: client_addr.clone(),
                });
                members.sort_by_key(|m| m.id);
            }
            Change::Promote { id } => {
                let member = members
                    .iter_mut()
                    .find(|m| m.id == *id)
                    .ok_or(ChangeError::NotAMember(*id))?;
                if member.voter {
                    return Err(ChangeError::AlreadyVoter(*id));
                }
                member.voter = true;
            }
            Change::Remove { id } => {
                if !self.is_member(*id) {
                    return Err(ChangeError::NotAMember(*id));
                }
                members.retain(|m| m.id != *id);
                if !members.iter().any(|m| m.voter) {
                    return Err(ChangeError::LastVoter(*id));
                }
            }
        }
        Ok(Membership {
            epoch: self.epoch + 1,
            members,
        })
    }

    /// The membership as bytes, for the executor's snapshot: `epoch u64 |
    /// n u64 | n × (id u32, voter u8, len u32, peer, len u32, client)`
    /// (integers little-endian).
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.epoch.to_le_bytes());
        out.extend_from_slice(&(self.members.len() as u64).to_le_bytes());
        for m in &self.members {
            out.extend_from_slice(&m.id.0.to_le_bytes());
            out.push(m.voter as u8);
            for addr in [&m.peer_addr, &m.client_addr] {
                out.extend_from_slice(&(addr.len() as u32).to_le_bytes());
                out.extend_from_slice(addr.as_bytes());
            }
        }
    }

    /// Reads what [`Membership::encode`] wrote from the front of `bytes`;
    /// returns it and the rest.
    pub fn decode(bytes: &[u8]) -> Option<(Membership, &[u8])> {
        let (epoch, rest) = take_u64(bytes)?;
        let (n, mut rest) = take_u64(rest)?;
        let mut members = Vec::new();
        for _ in 0..n {
            let (id, r) = rest.split_first_chunk::<4>()?;
            let (voter, r) = r.split_first()?;
            let (peer_addr, r) = take_str(r)?;
            let (client_addr, r) = take_str(r)?;
            members.push(Member {
                id: NodeId(u32::from_le_bytes(*id)),
                voter: *voter != 0,
                peer_addr,
                client_addr,
            });
            rest = r;
        }
        Some((Membership { epoch, members }, rest))
    }
}

fn take_u64(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let (n, rest) = bytes.split_first_chunk::<8>()?;
    Some((u64::from_le_bytes(*n), rest))
}

fn take_str(bytes: &[u8]) -> Option<(String, &[u8])> {
    let (len, rest) = bytes.split_first_chunk::<4>()?;
    let len = u32::from_le_bytes(*len) as usize;
    let text = rest.get(..len)?;
    Some((String::from_utf8(text.to_vec()).ok()?, &rest[len..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(id: u32) -> NodeId {
        NodeId(id)
    }

    #[test]
    fn a_learner_joins_is_promoted_and_a_voter_leaves() {
        let m = Membership::initial(&[n(1), n(2), n(3)], &[]);
        assert_eq!((m.quorum(), m.max_failures()), (2, 1));
        let add = Change::AddLearner {
            id: n(4),
            peer_addr: "h4:1".into(),
            client_addr: "h4:2".into(),
        };
        let m = m.apply(&add).unwrap();
        assert_eq!(m.epoch, 1);
        assert!(m.is_member(n(4)) && !m.is_voter(n(4)));
        assert_eq!(m.quorum(), 2, "a learner does not count");
        let m = m.apply(&Change::Promote { id: n(4) }).unwrap();
        assert_eq!(m.quorum(), 3);
        let m = m.apply(&Change::Remove { id: n(1) }).unwrap();
        assert_eq!(m.voters(), vec![n(2), n(3), n(4)]);
        assert_eq!(m.epoch, 3);
    }

    #[test]
    fn impossible_changes_are_refused() {
        let m = Membership::initial(&[n(1)], &[]);
        assert_eq!(
            m.apply(&Change::Remove { id: n(1) }),
            Err(ChangeError::LastVoter(n(1)))
        );
        assert_eq!(
            m.apply(&Change::Promote { id: n(1) }),
            Err(ChangeError::AlreadyVoter(n(1)))
        );
        assert_eq!(
            m.apply(&Change::Remove { id: n(9) }),
            Err(ChangeError::NotAMember(n(9)))
        );
        let again = Change::AddLearner {
            id: n(1),
            peer_addr: String::new(),
            client_addr: String::new(),
        };
        assert_eq!(m.apply(&again), Err(ChangeError::AlreadyMember(n(1))));
    }

    #[test]
    fn the_encoding_round_trips_and_leaves_the_rest() {
        let m = Membership::initial(&[n(1), n(2)], &[])
            .apply(&Change::AddLearner {
                id: n(3),
                peer_addr: "10.0.0.3:7000".into(),
                client_addr: "10.0.0.3:7001".into(),
            })
            .unwrap();
        let mut bytes = Vec::new();
        m.encode(&mut bytes);
        bytes.extend_from_slice(b"rest");
        let (back, rest) = Membership::decode(&bytes).unwrap();
        assert_eq!(back, m);
        assert_eq!(rest, b"rest");
        assert!(Membership::decode(&bytes[..bytes.len() - 10]).is_none());
    }
}

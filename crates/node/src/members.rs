//! The membership as the node's sockets see it: which peers the accept side
//! lets in, and where the core task's outgoing links point.
//!
//! Contract:
//! - The core task is the only writer: it sets the view from the replica's
//!   membership at start ([`PeerView::new`]) and after every executed
//!   reconfiguration (`Event::Reconfigured`, [`PeerView::reconfigured`]).
//!   The accept side reads it at each peer handshake.
//! - A peer is admitted when it is in the cluster file or in the membership
//!   this node executed, and was not removed by a reconfiguration this
//!   process executed. A current member that the local file does not list
//!   is admitted: a node added through the log must reach everyone, and a
//!   node whose membership is behind must still hear members it does not
//!   know yet (the core takes their catch-up replies; docs/membership.md,
//!   "A node whose membership is behind"). The TLS check (the certificate
//!   is that node's) is the acceptor's, on top of this.
//! - "Removed" is what this process saw executed: a node restarted from a
//!   checkpoint taken after a removal does not know who was removed before,
//!   and admits a removed node its file still lists; the core ignores that
//!   node's messages anyway (it is not a member), so this only costs a
//!   connection, not safety.

use crate::address::Address;
use crate::config::ClusterFile;
use crate::net::{FrameSender, LINK_BYTES, LINK_QUEUE, Target, frame_queue, run_link};
use crate::tls::Security;
use crate::wire::Caller;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};
use synod_core::{Membership, NodeId};

/// The membership shared between the core task (writer) and the accept
/// side (readers). Cheap to clone.
#[derive(Clone)]
pub(crate) struct PeerView(Arc<RwLock<View>>);

struct View {
    membership: Membership,
    /// Nodes a reconfiguration executed here removed (and no later one
    /// added again).
    removed: BTreeSet<NodeId>,
}

impl PeerView {
    pub(crate) fn new(membership: Membership) -> Self {
        PeerView(Arc::new(RwLock::new(View {
            membership,
            removed: BTreeSet::new(),
        })))
    }

    /// The executed membership is now `next`; returns the nodes it removed.
    pub(crate) fn reconfigured(&self, next: &Membership) -> Vec<NodeId> {
        // A poisoned lock only means a reader panicked; the data is whole.
        let mut view = self.0.write().unwrap_or_else(|e| e.into_inner());
        let gone: Vec<NodeId> = view
            .membership
            .ids()
            .into_iter()
            .filter(|id| !next.is_member(*id))
            .collect();
        view.removed.extend(gone.iter().copied());
        for id in next.ids() {
            view.removed.remove(&id);
        }
        view.membership = next.clone();
        gone
    }

    /// How many members (learners too) have an id below `me`'s.
    pub(crate) fn rank(&self, me: NodeId) -> usize {
        let view = self.0.read().unwrap_or_else(|e| e.into_inner());
        view.membership
            .ids()
            .into_iter()
            .filter(|id| *id < me)
            .count()
    }

    /// Whether `peer` may open a peer link to node `me`; the reason if not.
    pub(crate) fn admits(
        &self,
        me: NodeId,
        peer: NodeId,
        file: &ClusterFile,
    ) -> Result<(), String> {
        let view = self.0.read().unwrap_or_else(|e| e.into_inner());
        if peer == me {
            return Err(format!("{peer} is this node"));
        }
        if view.removed.contains(&peer) {
            return Err(format!(
                "{peer} was removed from the cluster (membership epoch {}); \
                 a removed node takes no part (add it again under a new id)",
                view.membership.epoch
            ));
        }
        if view.membership.is_member(peer) || file.node(peer.0).is_some() {
            return Ok(());
        }
        Err(format!(
            "{peer} is not a peer of {me}: neither in its cluster file nor in the membership \
             it executed (epoch {})",
            view.membership.epoch
        ))
    }
}

/// Where node `id` takes peer connections: the address the membership
/// carries (set by the change that added it), or the cluster file's for a
/// founding member (epoch 0 carries no addresses).
pub(crate) fn peer_address(
    membership: &Membership,
    file: &ClusterFile,
    id: NodeId,
) -> Option<Address> {
    let from_log = membership
        .member(id)
        .map(|m| m.peer_addr.as_str())
        .filter(|a| !a.is_empty())
        .and_then(|a| match a.parse::<Address>() {
            Ok(addr) => Some(addr),
            Err(e) => {
                tracing::warn!(node = %id, "the membership's peer address is unusable: {e}");
                None
            }
        });
    from_log.or_else(|| file.node(id.0).map(|n| n.addr.clone()))
}

/// Opens this node's outgoing peer links: one task per peer
/// ([`run_link`]), which ends once its queue's sender is dropped and the
/// queue is drained.
#[derive(Clone)]
pub(crate) struct Dialer {
    pub file: ClusterFile,
    pub me: NodeId,
    pub security: Security,
}

impl Dialer {
    /// Spawns a link to `peer` at `addr`; returns its queue.
    pub(crate) fn open(&self, peer: NodeId, addr: Address) -> FrameSender {
        let (tx, rx) = frame_queue(LINK_QUEUE, LINK_BYTES);
        tokio::spawn(run_link(
            Target {
                node: peer,
                addr,
                security: self.security.clone(),
            },
            self.file.cluster_id.clone(),
            Caller::Peer(self.me),
            self.file.max_frame_bytes,
            rx,
            None,
        ));
        tx
    }

    /// Opens a link to every member of `membership` (but this node) that
    /// `links` lacks; returns the ones opened.
    pub(crate) fn link_members(
        &self,
        membership: &Membership,
        links: &mut BTreeMap<NodeId, FrameSender>,
    ) -> Vec<NodeId> {
        let mut opened = Vec::new();
        for id in membership.ids() {
            if id == self.me || links.contains_key(&id) {
                continue;
            }
            match peer_address(membership, &self.file, id) {
                Some(addr) => {
                    tracing::info!(node = %self.me, peer = %id, %addr, "opening a link to a member");
                    links.insert(id, self.open(id, addr));
                    opened.push(id);
                }
                None => tracing::warn!(
                    node = %self.me,
                    peer = %id,
                    "no address for a member: neither the membership nor the cluster file has one"
                ),
            }
        }
        opened
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use synod_core::Change;

    fn file() -> ClusterFile {
        ClusterFile::local(
            "c",
            "/tmp/x".into(),
            &[(17001, 17101), (17002, 17102), (17003, 17103)],
        )
    }

    /// Checkpoint builds are staggered by this rank: members in id order,
    /// the membership as executed (a node added later takes its place).
    #[test]
    fn a_nodes_rank_counts_the_members_before_it() {
        let m0 = Membership::initial(&[NodeId(3), NodeId(1), NodeId(5)], &[]);
        let view = PeerView::new(m0.clone());
        let ranks: Vec<usize> = [1, 3, 5].map(|id| view.rank(NodeId(id))).to_vec();
        assert_eq!(ranks, vec![0, 1, 2]);
        let m1 = m0
            .apply(&Change::AddLearner {
                id: NodeId(2),
                peer_addr: "127.0.0.1:17002".into(),
                client_addr: "127.0.0.1:17102".into(),
            })
            .unwrap();
        view.reconfigured(&m1);
        let ranks: Vec<usize> = [1, 2, 3, 5].map(|id| view.rank(NodeId(id))).to_vec();
        assert_eq!(ranks, vec![0, 1, 2, 3]);
    }

    #[test]
    fn members_the_file_does_not_list_are_admitted_and_removed_ones_refused() {
        let file = file();
        let m0 = Membership::initial(&[NodeId(1), NodeId(2), NodeId(3)], &[]);
        let view = PeerView::new(m0.clone());
        let me = NodeId(1);
        assert!(view.admits(me, NodeId(2), &file).is_ok());
        assert!(view.admits(me, NodeId(1), &file).is_err());
        let e = view.admits(me, NodeId(4), &file).unwrap_err();
        assert!(e.contains("not a peer"), "{e}");

        let m1 = m0
            .apply(&Change::AddLearner {
                id: NodeId(4),
                peer_addr: "127.0.0.1:17004".into(),
                client_addr: "127.0.0.1:17104".into(),
            })
            .unwrap();
        assert!(view.reconfigured(&m1).is_empty());
        assert!(view.admits(me, NodeId(4), &file).is_ok());
        assert_eq!(
            peer_address(&m1, &file, NodeId(4)).map(|a| a.to_string()),
            Some("127.0.0.1:17004".into())
        );
        // A founding member's address comes from the file.
        assert_eq!(
            peer_address(&m1, &file, NodeId(2)).map(|a| a.to_string()),
            Some("127.0.0.1:17002".into())
        );

        let m2 = m1.apply(&Change::Remove { id: NodeId(2) }).unwrap();
        assert_eq!(view.reconfigured(&m2), vec![NodeId(2)]);
        // Still in the file, but removed: refused, saying so.
        let e = view.admits(me, NodeId(2), &file).unwrap_err();
        assert!(e.contains("was removed"), "{e}");
    }
}

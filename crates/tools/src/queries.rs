//! What the engines ask a cluster's nodes over their admin channel: status,
//! the leader, convergence, a node's replicated state, its NEW-VIEWs, and
//! the partition switch. Unlike process control (`local.rs`) all of this
//! works on clusters the tools do not run.

use crate::local::{LocalCluster, poll};
use anyhow::{anyhow, bail};
use std::collections::BTreeMap;
use std::time::Duration;
use synod_apps::Services;
use synod_core::NodeId;
use synod_node::admin::query;
use synod_node::wire::{AdminReply, AdminRequest, NodeStatus, ViewRecord};

/// A node's replicated state and the slot it has executed through.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeState {
    pub executed: u64,
    pub services: Services,
}

/// Decodes a node's state from its answer to [`AdminRequest::Db`].
pub fn decode_state(reply: AdminReply) -> anyhow::Result<NodeState> {
    match reply {
        AdminReply::Db { executed, state } => {
            let services: Services =
                postcard::from_bytes(&state).map_err(|e| anyhow!("undecodable state: {e}"))?;
            Ok(NodeState { executed, services })
        }
        _ => bail!("unexpected answer"),
    }
}

/// Which peers a node stops hearing and stops talking to, and whether it
/// still serves clients.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cut {
    pub drop_from: Vec<u32>,
    pub drop_to: Vec<u32>,
    pub serve_clients: bool,
}

impl Cut {
    /// Cut off from `peers` both ways, still serving clients.
    pub fn both_ways(peers: Vec<u32>) -> Self {
        Cut {
            drop_from: peers.clone(),
            drop_to: peers,
            serve_clients: true,
        }
    }

    /// No cut: the node hears and reaches every peer.
    pub fn none() -> Self {
        Cut::both_ways(Vec::new())
    }
}

impl LocalCluster {
    /// Every running node's status (unreachable ones are left out).
    pub async fn statuses(&self) -> Vec<NodeStatus> {
        let mut out = Vec::new();
        for n in &self.file.nodes {
            if let Ok(AdminReply::Status(s)) = query(
                &self.file,
                &self.security,
                n.id,
                AdminRequest::Status,
                Duration::from_millis(300),
            )
            .await
            {
                out.push(s);
            }
        }
        out
    }

    /// The node that says it leads, if one answers.
    pub async fn leader(&self) -> Option<u32> {
        self.statuses()
            .await
            .iter()
            .find(|s| s.role == synod_core::Role::Leader)
            .map(|s| s.id.0)
    }

    /// Waits until a leader is elected and a majority follows it; returns its id.
    pub async fn wait_leader(&self, limit: Duration, not: Option<u32>) -> anyhow::Result<u32> {
        // The file's voters (learner entries follow the log without voting).
        let majority = self.file.nodes.iter().filter(|n| !n.learner).count() / 2 + 1;
        let leader = poll(limit, async || {
            let statuses = self.statuses().await;
            statuses
                .iter()
                .filter(|s| s.role == synod_core::Role::Leader && Some(s.id.0) != not)
                .find(|s| statuses.iter().filter(|t| t.ballot == s.ballot).count() >= majority)
                .map(|s| s.id.0)
        })
        .await;
        if let Some(id) = leader {
            return Ok(id);
        }
        bail!(
            "no leader elected within {limit:?}; see the node logs in {}",
            self.dir.display()
        )
    }

    /// Waits until every node in `nodes` answers and all have executed the
    /// same slot; returns it, or what each had reached at the deadline.
    pub async fn wait_converged(&self, nodes: &[u32], limit: Duration) -> Result<u64, String> {
        let mut last = String::new();
        let done = poll(limit, async || {
            let statuses: Vec<NodeStatus> = self
                .statuses()
                .await
                .into_iter()
                .filter(|s| nodes.contains(&s.id.0))
                .collect();
            let max = statuses.iter().map(|s| s.executed).max().unwrap_or(0);
            if statuses.len() == nodes.len() && statuses.iter().all(|s| s.executed == max) {
                return Some(max);
            }
            let reached: Vec<String> = statuses
                .iter()
                .map(|s| format!("n{}@{}", s.id.0, s.executed))
                .collect();
            last = format!(
                "{} of {} answered: {}",
                statuses.len(),
                nodes.len(),
                reached.join(" ")
            );
            None
        })
        .await;
        done.ok_or(last)
    }

    /// Node `id`'s replicated state.
    pub async fn state(&self, id: u32) -> anyhow::Result<NodeState> {
        let reply = query(
            &self.file,
            &self.security,
            id,
            AdminRequest::Db,
            Duration::from_secs(2),
        )
        .await
        .map_err(anyhow::Error::msg)?;
        decode_state(reply)
    }

    /// Every NEW-VIEW each answering node sent or accepted since it started.
    pub async fn views(&self) -> BTreeMap<u32, Vec<ViewRecord>> {
        let mut out = BTreeMap::new();
        for n in &self.file.nodes {
            if let Ok(AdminReply::Views(v)) = query(
                &self.file,
                &self.security,
                n.id,
                AdminRequest::Views,
                Duration::from_secs(2),
            )
            .await
            {
                out.insert(n.id, v);
            }
        }
        out
    }

    /// Sets node `node`'s partition switch (replacing its previous cut).
    pub async fn cut(&self, node: u32, cut: Cut, timeout: Duration) -> Result<(), String> {
        let ids = |peers: Vec<u32>| peers.into_iter().map(NodeId).collect();
        let request = AdminRequest::Partition {
            drop_from: ids(cut.drop_from),
            drop_to: ids(cut.drop_to),
            serve_clients: cut.serve_clients,
        };
        query(&self.file, &self.security, node, request, timeout)
            .await
            .map(|_| ())
    }
}

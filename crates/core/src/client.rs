//! The client's side of the protocol, sans-IO: the same logic drives the
//! simulator's clients and the real client library.
//!
//! A client has one request outstanding at a time, stamped with a timestamp
//! that grows per client. It sends to the node it believes leads (node 1 at
//! first, then whichever leader the last reply's ballot named). If no reply
//! comes before its timer expires, it broadcasts the request to every node:
//! a node that already executed it resends the cached reply, the others pass
//! it on to their leader. After `max_attempts` broadcasts it gives up and
//! reports the outcome as unknown: the request may still execute, exactly
//! once, or never (a later request of the same client makes it stale).
//!
//! The host may also report that the connection to a node is down
//! ([`Client::link_down`]: refused, or dropped). If the request went to
//! that node alone, the client broadcasts it at once instead of waiting out
//! its timer: a leader that died takes its open connections with it, and
//! the others know the next leader long before the timer would expire.

use crate::types::{ClientId, NodeId, Reply, Request, Time};
use bytes::Bytes;

#[derive(Clone, Debug)]
pub struct ClientConfig {
    pub id: ClientId,
    /// Every node of the cluster; the first is contacted first.
    pub nodes: Vec<NodeId>,
    /// How long to wait for a reply before (re)broadcasting.
    pub timeout: Time,
    /// Broadcasts before giving up with an unknown outcome.
    pub max_attempts: u32,
}

/// How a node is to handle a request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RequestKind {
    /// A command, through the log.
    #[default]
    Command,
    /// A linearizable read, answered without a log write (read index).
    Read,
    /// A serializable read, answered by the node from its own state.
    LocalRead,
}

/// What the host must do for the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientAction {
    Send {
        to: NodeId,
        request: Request,
        kind: RequestKind,
    },
    /// The outstanding request finished.
    Done { timestamp: u64, outcome: Outcome },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The request executed (exactly once); the application's result.
    Replied(Bytes),
    /// No reply after every retry: it may have executed once, or never.
    Unknown,
}

#[derive(Debug)]
struct InFlight {
    request: Request,
    kind: RequestKind,
    deadline: Time,
    attempts: u32,
    /// The one node the request went to, until it is broadcast.
    alone: Option<NodeId>,
}

#[derive(Debug)]
pub struct Client {
    config: ClientConfig,
    leader: NodeId,
    last_timestamp: u64,
    in_flight: Option<InFlight>,
    /// The last request whose outcome was unknown, kept so that it can be
    /// tried again with its own timestamp (never doubling it).
    unknown: Option<Request>,
}

/// `submit` was called while a request was outstanding.
#[derive(Debug, PartialEq, Eq)]
pub struct Busy;

impl Client {
    pub fn new(config: ClientConfig) -> Self {
        Self::resume(config, 0)
    }

    /// A client whose earlier incarnation used timestamps up to
    /// `last_timestamp`: its next request must go above them.
    pub fn resume(config: ClientConfig, last_timestamp: u64) -> Self {
        let leader = config.nodes.first().copied().unwrap_or(NodeId(1));
        Client {
            config,
            leader,
            last_timestamp,
            in_flight: None,
            unknown: None,
        }
    }

    pub fn id(&self) -> ClientId {
        self.config.id
    }

    /// The cluster's members changed (a real client rereads its cluster
    /// file): later broadcasts go to `nodes`. The believed leader is kept
    /// if it is still among them, else the first of them is tried next.
    pub fn set_nodes(&mut self, nodes: Vec<NodeId>) {
        if !nodes.contains(&self.leader)
            && let Some(&first) = nodes.first()
        {
            self.leader = first;
        }
        self.config.nodes = nodes;
    }

    /// The nodes this client knows.
    pub fn nodes(&self) -> &[NodeId] {
        &self.config.nodes
    }

    /// The node this client will contact first.
    pub fn leader(&self) -> NodeId {
        self.leader
    }

    pub fn is_busy(&self) -> bool {
        self.in_flight.is_some()
    }

    /// When `tick` next needs calling.
    pub fn deadline(&self) -> Option<Time> {
        self.in_flight.as_ref().map(|f| f.deadline)
    }

    /// Whether the last request ended with an unknown outcome (and nothing
    /// was submitted since).
    pub fn has_unknown(&self) -> bool {
        self.unknown.is_some()
    }

    /// Tries the request whose outcome was unknown again, with the same
    /// timestamp: if it executed meanwhile the cached reply comes back,
    /// otherwise it may execute now; either way at most once.
    pub fn retry_unknown(&mut self, now: Time) -> Option<Vec<ClientAction>> {
        if self.in_flight.is_some() {
            return None;
        }
        let request = self.unknown.take()?;
        let kind = RequestKind::Command;
        let send = ClientAction::Send {
            to: self.leader,
            request: request.clone(),
            kind,
        };
        self.in_flight = Some(InFlight {
            request,
            kind,
            deadline: now + self.config.timeout,
            attempts: 0,
            alone: Some(self.leader),
        });
        Some(vec![send])
    }

    /// Sends a new command to the believed leader.
    pub fn submit(&mut self, now: Time, command: Bytes) -> Result<Vec<ClientAction>, Busy> {
        self.send_new(now, command, RequestKind::Command)
    }

    /// Sends a read-only command: linearizable (to the believed leader, by
    /// read index) or `LocalRead` (answered by the node from its own state).
    /// A read whose outcome stays unknown is not kept for a retry: it
    /// changed nothing.
    pub fn submit_read(
        &mut self,
        now: Time,
        command: Bytes,
        kind: RequestKind,
    ) -> Result<Vec<ClientAction>, Busy> {
        self.send_new(now, command, kind)
    }

    fn send_new(
        &mut self,
        now: Time,
        command: Bytes,
        kind: RequestKind,
    ) -> Result<Vec<ClientAction>, Busy> {
        if self.in_flight.is_some() {
            return Err(Busy);
        }
        self.unknown = None;
        self.last_timestamp += 1;
        let request = Request {
            client: self.config.id,
            timestamp: self.last_timestamp,
            command,
        };
        let send = ClientAction::Send {
            to: self.leader,
            request: request.clone(),
            kind,
        };
        self.in_flight = Some(InFlight {
            request,
            kind,
            deadline: now + self.config.timeout,
            attempts: 0,
            alone: Some(self.leader),
        });
        Ok(vec![send])
    }

    /// A reply arrived. Follows its leader hint; completes the outstanding
    /// request if the reply is for it.
    pub fn on_reply(&mut self, reply: &Reply) -> Vec<ClientAction> {
        if reply.client != self.config.id {
            return Vec::new();
        }
        if let Some(leader) = reply.ballot.leader()
            && self.config.nodes.contains(&leader)
        {
            self.leader = leader;
        }
        match &self.in_flight {
            Some(f) if f.request.timestamp == reply.timestamp => {
                self.in_flight = None;
                vec![ClientAction::Done {
                    timestamp: reply.timestamp,
                    outcome: Outcome::Replied(reply.result.clone()),
                }]
            }
            _ => Vec::new(),
        }
    }

    /// Time passed: broadcast a request whose timer expired, or give up.
    pub fn tick(&mut self, now: Time) -> Vec<ClientAction> {
        let Some(f) = &mut self.in_flight else {
            return Vec::new();
        };
        if now < f.deadline {
            return Vec::new();
        }
        if f.attempts >= self.config.max_attempts {
            let timestamp = f.request.timestamp;
            self.unknown = self
                .in_flight
                .take()
                .filter(|f| f.kind == RequestKind::Command)
                .map(|f| f.request);
            // The leader we believed in did not answer; start elsewhere next.
            self.rotate_leader();
            return vec![ClientAction::Done {
                timestamp,
                outcome: Outcome::Unknown,
            }];
        }
        f.attempts += 1;
        f.deadline = now + self.config.timeout;
        f.alone = None;
        let (request, kind) = (f.request.clone(), f.kind);
        self.config
            .nodes
            .iter()
            .map(|&to| ClientAction::Send {
                to,
                request: request.clone(),
                kind,
            })
            .collect()
    }

    /// The host's connection to `node` is down (refused, reset, closed):
    /// whatever went to it is lost. If the outstanding request went to that
    /// node alone, it goes to every other node now (once per request; its
    /// timer and attempts are unchanged, so the usual broadcasts follow if
    /// this one is not answered either).
    pub fn link_down(&mut self, node: NodeId) -> Vec<ClientAction> {
        let Some(f) = &mut self.in_flight else {
            return Vec::new();
        };
        if f.alone != Some(node) {
            return Vec::new();
        }
        f.alone = None;
        let (request, kind) = (f.request.clone(), f.kind);
        self.config
            .nodes
            .iter()
            .filter(|&&to| to != node)
            .map(|&to| ClientAction::Send {
                to,
                request: request.clone(),
                kind,
            })
            .collect()
    }

    fn rotate_leader(&mut self) {
        let nodes = &self.config.nodes;
        if let Some(i) = nodes.iter().position(|&n| n == self.leader) {
            self.leader = nodes[(i + 1) % nodes.len()];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Ballot;

    #[test]
    fn an_unknown_request_is_retried_with_its_own_timestamp() {
        let mut c = client();
        c.submit(0, Bytes::from_static(b"x")).unwrap();
        let mut now = 0;
        let mut done = false;
        while !done {
            now += 100;
            done = c.tick(now).iter().any(|a| {
                matches!(
                    a,
                    ClientAction::Done {
                        outcome: Outcome::Unknown,
                        ..
                    }
                )
            });
        }
        assert!(c.has_unknown());
        let actions = c.retry_unknown(now).unwrap();
        match &actions[..] {
            [ClientAction::Send { request, .. }] => assert_eq!(request.timestamp, 1),
            other => panic!("{other:?}"),
        }
        assert!(
            c.retry_unknown(now).is_none(),
            "one retry in flight at a time"
        );
    }

    fn client() -> Client {
        Client::new(ClientConfig {
            id: ClientId(7),
            nodes: (1..=3).map(NodeId).collect(),
            timeout: 100,
            max_attempts: 2,
        })
    }

    fn reply(ts: u64, leader: u32) -> Reply {
        Reply {
            ballot: Ballot::new(1, NodeId(leader)),
            timestamp: ts,
            client: ClientId(7),
            result: Bytes::from_static(b"ok"),
        }
    }

    #[test]
    fn first_contact_is_node_1_and_timestamps_grow() {
        let mut c = client();
        let out = c.submit(0, Bytes::new()).unwrap();
        assert!(
            matches!(&out[0], ClientAction::Send { to: NodeId(1), request, .. } if request.timestamp == 1)
        );
        assert_eq!(c.submit(0, Bytes::new()), Err(Busy));
        c.on_reply(&reply(1, 1));
        let out = c.submit(0, Bytes::new()).unwrap();
        assert!(matches!(&out[0], ClientAction::Send { request, .. } if request.timestamp == 2));
    }

    #[test]
    fn follows_the_leader_named_in_a_reply() {
        let mut c = client();
        c.submit(0, Bytes::new()).unwrap();
        let done = c.on_reply(&reply(1, 3));
        assert!(matches!(
            &done[0],
            ClientAction::Done {
                timestamp: 1,
                outcome: Outcome::Replied(_)
            }
        ));
        assert_eq!(c.leader(), NodeId(3));
        let out = c.submit(0, Bytes::new()).unwrap();
        assert!(matches!(&out[0], ClientAction::Send { to: NodeId(3), .. }));
    }

    #[test]
    fn broadcasts_after_its_timer_expires_then_reports_unknown() {
        let mut c = client();
        c.submit(0, Bytes::new()).unwrap();
        assert!(c.tick(99).is_empty());
        let out = c.tick(100);
        assert_eq!(out.len(), 3, "broadcast to every node");
        assert_eq!(c.tick(200).len(), 3);
        let out = c.tick(300);
        assert_eq!(
            out,
            vec![ClientAction::Done {
                timestamp: 1,
                outcome: Outcome::Unknown
            }]
        );
        assert!(!c.is_busy());
    }

    #[test]
    fn a_dead_link_to_the_node_it_sent_to_broadcasts_at_once() {
        let mut c = client();
        c.submit(0, Bytes::new()).unwrap();
        assert!(c.link_down(NodeId(2)).is_empty(), "not the node it used");
        let out = c.link_down(NodeId(1));
        let to: Vec<NodeId> = out
            .iter()
            .map(|a| match a {
                ClientAction::Send { to, request, .. } => {
                    assert_eq!(request.timestamp, 1, "the same request");
                    *to
                }
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(to, vec![NodeId(2), NodeId(3)], "every other node, at once");
        assert!(c.link_down(NodeId(1)).is_empty(), "once per request");
        // The timer runs on as before: a broadcast at the deadline.
        assert!(c.tick(99).is_empty());
        assert_eq!(c.tick(100).len(), 3);
        assert!(c.link_down(NodeId(1)).is_empty(), "already broadcast");
    }

    #[test]
    fn a_dead_link_matters_only_while_a_request_is_outstanding() {
        let mut c = client();
        assert!(c.link_down(NodeId(1)).is_empty());
        c.submit(0, Bytes::new()).unwrap();
        c.on_reply(&reply(1, 1));
        assert!(c.link_down(NodeId(1)).is_empty());
        // A new request may broadcast early again.
        c.submit(0, Bytes::new()).unwrap();
        assert_eq!(c.link_down(NodeId(1)).len(), 2);
    }

    #[test]
    fn a_reply_for_an_older_request_completes_nothing() {
        let mut c = client();
        c.submit(0, Bytes::new()).unwrap();
        assert!(c.on_reply(&reply(0, 2)).is_empty());
        assert!(c.is_busy());
        assert_eq!(c.leader(), NodeId(2), "the hint is still useful");
    }
}

//! A deterministic test harness: a few replicas in one test, wired by a fake
//! network that the test controls (cut links, freeze nodes, crash and
//! restart them), with disks that sync at once. Everything runs through the
//! hosts' shared driver (`synod_core::host::drive`), so the replicas see
//! exactly the contract a real host gives them. Time moves only when the
//! test says so.

#![allow(dead_code)] // each test file uses a different part of it

use std::collections::{BTreeSet, VecDeque};
use std::convert::Infallible;
use synod_core::host::{self, Io};
use synod_core::{
    Change, ChangeRefused, CheckpointJob, ClientId, Config, DurableState, Envelope, Event, Log, MS,
    NodeId, PersistOp, Replica, Reply, Request, SnapshotError, StateMachine, Time, Value, Write,
};

/// An application that keeps every command it applied, in order, and
/// answers with how many it holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Journal(pub Vec<Vec<u8>>);

impl StateMachine for Journal {
    type Capture = Vec<Vec<u8>>;

    fn apply(&mut self, command: &[u8]) -> Vec<u8> {
        self.0.push(command.to_vec());
        (self.0.len() as u64).to_le_bytes().to_vec()
    }

    fn capture(&self) -> Vec<Vec<u8>> {
        self.0.clone()
    }

    fn serialize(capture: &Vec<Vec<u8>>) -> Vec<u8> {
        let mut out = Vec::new();
        for entry in capture {
            out.extend_from_slice(&(entry.len() as u32).to_le_bytes());
            out.extend_from_slice(entry);
        }
        out
    }

    /// `?len`: how many commands the journal holds. Anything else is not a
    /// query (it goes through the log).
    fn query(&self, command: &[u8]) -> Option<Vec<u8>> {
        (command == b"?len").then(|| (self.0.len() as u64).to_le_bytes().to_vec())
    }

    fn restore(&mut self, mut snapshot: &[u8]) -> Result<(), SnapshotError> {
        let mut entries = Vec::new();
        while !snapshot.is_empty() {
            let (len, rest) = snapshot
                .split_first_chunk::<4>()
                .ok_or_else(|| SnapshotError("a length cut short".into()))?;
            let len = u32::from_le_bytes(*len) as usize;
            let entry = rest
                .get(..len)
                .ok_or_else(|| SnapshotError("an entry cut short".into()))?;
            entries.push(entry.to_vec());
            snapshot = &rest[len..];
        }
        self.0 = entries;
        Ok(())
    }
}

/// A disk that syncs at once.
#[derive(Clone, Debug, Default)]
pub struct Disk(pub Vec<PersistOp>);

impl Log for Disk {
    type Error = Infallible;
    fn replace(&mut self, live: &[PersistOp]) -> Result<(), Infallible> {
        self.0 = live.to_vec();
        Ok(())
    }
    fn append(&mut self, ops: &[PersistOp]) -> Result<(), Infallible> {
        self.0.extend_from_slice(ops);
        Ok(())
    }
}

pub struct Cluster {
    pub now: Time,
    configs: Vec<Config>,
    replicas: Vec<Option<Replica<Journal>>>,
    disks: Vec<Disk>,
    frozen: BTreeSet<NodeId>,
    /// Directed links that drop everything: (from, to).
    cut: BTreeSet<(NodeId, NodeId)>,
    /// Directed links that drop messages of one kind: (from, to, kind).
    cut_kind: BTreeSet<(NodeId, NodeId, &'static str)>,
    network: VecDeque<Envelope>,
    /// Every reply any node gave, with the node.
    pub replies: Vec<(NodeId, Reply)>,
    /// Every event, with the node.
    pub events: Vec<(NodeId, Event)>,
    /// The kind of every message sent.
    sent: Vec<&'static str>,
}

/// The harness's I/O for one node.
struct HarnessIo<'a> {
    me: NodeId,
    disk: &'a mut Disk,
    network: &'a mut VecDeque<Envelope>,
    replies: &'a mut Vec<(NodeId, Reply)>,
    events: &'a mut Vec<(NodeId, Event)>,
    tokens: Vec<u64>,
    checkpoints: Vec<CheckpointJob<Journal>>,
}

impl Io<Journal> for HarnessIo<'_> {
    fn event(&mut self, event: Event) {
        self.events.push((self.me, event));
    }
    fn send(&mut self, envelope: Envelope) {
        assert_ne!(envelope.to, self.me, "a replica never sends to itself");
        self.network.push_back(envelope);
    }
    fn reply(&mut self, reply: Reply) {
        self.replies.push((self.me, reply));
    }
    fn write(&mut self, write: Write) {
        let Ok(()) = write.apply_to(self.disk);
        self.tokens.push(write.token);
    }
    fn checkpoint(&mut self, job: CheckpointJob<Journal>) {
        self.checkpoints.push(job);
    }
}

impl Cluster {
    /// `n` fresh nodes; `configure` adjusts each node's protocol config.
    pub fn new(n: u32, configure: impl Fn(&mut Config)) -> Self {
        let configs: Vec<Config> = (1..=n)
            .map(|id| {
                let mut config = Config::cluster(id, n);
                configure(&mut config);
                config
            })
            .collect();
        let replicas = configs
            .iter()
            .map(|c| {
                let mut r = Replica::new(c.clone(), Journal::default(), 0);
                r.record_executions(true);
                Some(r)
            })
            .collect();
        Cluster {
            now: 0,
            replicas,
            disks: vec![Disk::default(); n as usize],
            configs,
            frozen: BTreeSet::new(),
            cut: BTreeSet::new(),
            cut_kind: BTreeSet::new(),
            network: VecDeque::new(),
            replies: Vec::new(),
            events: Vec::new(),
            sent: Vec::new(),
        }
    }

    fn index(id: NodeId) -> usize {
        id.0 as usize - 1
    }

    fn ids(&self) -> Vec<NodeId> {
        (1..=self.replicas.len() as u32).map(NodeId).collect()
    }

    pub fn replica(&self, id: NodeId) -> &Replica<Journal> {
        self.replicas[Self::index(id)]
            .as_ref()
            .unwrap_or_else(|| panic!("{id} is down"))
    }

    fn live(&self, id: NodeId) -> bool {
        self.replicas[Self::index(id)].is_some() && !self.frozen.contains(&id)
    }

    /// Carries out node `id`'s output until it is quiet.
    fn drive(&mut self, id: NodeId) {
        let i = Self::index(id);
        loop {
            let Some(replica) = self.replicas[i].as_mut() else {
                return;
            };
            let sent_before = self.network.len();
            let mut io = HarnessIo {
                me: id,
                disk: &mut self.disks[i],
                network: &mut self.network,
                replies: &mut self.replies,
                events: &mut self.events,
                tokens: Vec::new(),
                checkpoints: Vec::new(),
            };
            host::drive(replica, &mut io);
            let (tokens, jobs) = (io.tokens, io.checkpoints);
            let new = self.network.iter().skip(sent_before).map(|e| e.msg.kind());
            self.sent.extend(new);
            if tokens.is_empty() && jobs.is_empty() {
                return;
            }
            for token in tokens {
                replica.persisted(self.now, token);
            }
            for job in jobs {
                replica.checkpoint_built(self.now, job.build());
            }
        }
    }

    /// Delivers messages, in the order sent, until none is left. Messages
    /// over a cut link, or to a crashed or frozen node, are lost.
    pub fn settle(&mut self) {
        for id in self.ids() {
            if self.live(id) {
                self.drive(id);
            }
        }
        let mut steps = 0;
        while let Some(env) = self.network.pop_front() {
            steps += 1;
            assert!(steps < 1_000_000, "the network never quiets down");
            if self.cut.contains(&(env.from, env.to))
                || self.cut_kind.contains(&(env.from, env.to, env.msg.kind()))
                || !self.live(env.to)
            {
                continue;
            }
            let (to, now) = (env.to, self.now);
            if let Some(r) = self.replicas[Self::index(to)].as_mut() {
                r.on_message(now, env.from, env.msg);
            }
            self.drive(to);
        }
    }

    /// Lets `dt` pass in ticks of 5 ms, settling after each.
    pub fn advance(&mut self, dt: Time) {
        let end = self.now + dt;
        while self.now < end {
            self.now = (self.now + 5 * MS).min(end);
            for id in self.ids() {
                if self.live(id) {
                    let now = self.now;
                    if let Some(r) = self.replicas[Self::index(id)].as_mut() {
                        r.tick(now);
                    }
                    self.drive(id);
                }
            }
            self.settle();
        }
    }

    /// The live, unfrozen node that leads with the highest ballot.
    pub fn leader(&self) -> Option<NodeId> {
        self.ids()
            .into_iter()
            .filter(|id| self.live(*id))
            .filter(|id| self.replica(*id).is_leader())
            .max_by_key(|id| self.replica(*id).status().view)
    }

    /// A cluster of `n` that has elected n1 and committed one command
    /// (client 1's `warm-up`), executed everywhere.
    pub fn running(n: u32) -> Self {
        let mut c = Cluster::new(n, |_| {});
        assert_eq!(c.wait_for_leader(1000 * MS), NodeId(1));
        c.submit(NodeId(1), 1, 1, b"warm-up");
        c.settle();
        for id in c.ids() {
            assert_eq!(c.replica(id).status().executed, 1, "{id}");
        }
        c
    }

    /// Advances time until some node leads (at most `limit`).
    pub fn wait_for_leader(&mut self, limit: Time) -> NodeId {
        let end = self.now + limit;
        while self.now < end {
            if let Some(l) = self.leader() {
                return l;
            }
            self.advance(5 * MS);
        }
        panic!("no leader within {limit} µs");
    }

    /// A client request arrives at `to`.
    pub fn submit(&mut self, to: NodeId, client: u64, timestamp: u64, command: &[u8]) {
        let request = Request {
            client: ClientId(client),
            timestamp,
            command: command.to_vec().into(),
        };
        let now = self.now;
        if let Some(r) = self.replicas[Self::index(to)].as_mut() {
            r.on_client_request(now, request);
        }
        self.drive(to);
    }

    /// A read-only request arrives at `to`.
    pub fn read(
        &mut self,
        to: NodeId,
        client: u64,
        timestamp: u64,
        command: &[u8],
        serializable: bool,
    ) {
        self.reads_together(to, &[(client, timestamp)], command, serializable);
    }

    /// Reads from several clients arrive at `to` in one turn.
    pub fn reads_together(
        &mut self,
        to: NodeId,
        reads: &[(u64, u64)],
        command: &[u8],
        serializable: bool,
    ) {
        let now = self.now;
        if let Some(r) = self.replicas[Self::index(to)].as_mut() {
            for &(client, timestamp) in reads {
                let request = Request {
                    client: ClientId(client),
                    timestamp,
                    command: command.to_vec().into(),
                };
                r.on_client_read(now, request, serializable);
            }
        }
        self.drive(to);
    }

    /// Advances time until a node other than `not` leads.
    pub fn wait_for_leader_other_than(&mut self, not: NodeId, limit: Time) -> NodeId {
        let end = self.now + limit;
        while self.now < end {
            let other = self
                .ids()
                .into_iter()
                .filter(|id| *id != not && self.live(*id) && self.replica(*id).is_leader())
                .max_by_key(|id| self.replica(*id).status().view);
            if let Some(l) = other {
                return l;
            }
            self.advance(5 * MS);
        }
        panic!("no leader but {not} within {limit} µs");
    }

    /// The reply `client` got for `timestamp`, if any, and from whom.
    pub fn reply(&self, client: u64, timestamp: u64) -> Option<(NodeId, Reply)> {
        self.replies
            .iter()
            .find(|(_, r)| r.client.0 == client && r.timestamp == timestamp)
            .cloned()
    }

    /// Messages of this kind sent so far are counted in `sent`.
    pub fn count_sent(&self, kind: &str) -> usize {
        self.sent.iter().filter(|k| **k == kind).count()
    }

    pub fn cut(&mut self, from: NodeId, to: NodeId) {
        self.cut.insert((from, to));
    }

    /// Drops the messages of one kind (`Message::kind`) from `from` to `to`.
    pub fn cut_kind(&mut self, from: NodeId, to: NodeId, kind: &'static str) {
        self.cut_kind.insert((from, to, kind));
    }

    /// Cuts `id` off from everyone, both ways.
    pub fn isolate(&mut self, id: NodeId) {
        for other in self.ids() {
            if other != id {
                self.cut.insert((id, other));
                self.cut.insert((other, id));
            }
        }
    }

    pub fn heal(&mut self) {
        self.cut.clear();
        self.cut_kind.clear();
    }

    /// The node takes no steps and hears nothing until thawed.
    pub fn freeze(&mut self, id: NodeId) {
        self.frozen.insert(id);
    }

    pub fn thaw(&mut self, id: NodeId) {
        self.frozen.remove(&id);
    }

    /// A new node `id` starts, knowing the voters `voters` and itself as a
    /// learner (it learns the real membership from the log).
    pub fn add_node(&mut self, id: NodeId, voters: &[NodeId]) {
        let i = Self::index(id);
        while self.replicas.len() <= i {
            self.replicas.push(None);
            self.disks.push(Disk::default());
            self.configs.push(Config::cluster(1, 1));
        }
        let mut config = Config::new(id, voters.to_vec());
        config.learners = vec![id];
        let mut r = Replica::new(config.clone(), Journal::default(), self.now);
        r.record_executions(true);
        self.configs[i] = config;
        self.replicas[i] = Some(r);
    }

    /// Asks `leader` to change the membership.
    pub fn change(&mut self, leader: NodeId, change: Change) -> Result<(), ChangeRefused> {
        let now = self.now;
        let r = self.replicas[Self::index(leader)]
            .as_mut()
            .unwrap_or_else(|| panic!("{leader} is down"));
        let result = r.propose_change(now, change);
        self.drive(leader);
        result
    }

    /// Asks `leader` to hand over to `to`.
    pub fn transfer(&mut self, leader: NodeId, to: NodeId) -> Result<(), ChangeRefused> {
        let now = self.now;
        let r = self.replicas[Self::index(leader)]
            .as_mut()
            .unwrap_or_else(|| panic!("{leader} is down"));
        let result = r.transfer_leadership(now, to);
        self.drive(leader);
        result
    }

    /// Wipes the node's disk and restarts it as a learner that lost its
    /// votes (what `synod node --rejoin` does).
    pub fn wipe(&mut self, id: NodeId) {
        let i = Self::index(id);
        self.replicas[i] = None;
        self.disks[i] = Disk(vec![PersistOp::NonVoting]);
        self.restart(id);
    }

    /// The node stops; what it wrote is durable (this disk syncs at once).
    pub fn crash(&mut self, id: NodeId) {
        self.replicas[Self::index(id)] = None;
    }

    /// The node restarts from its disk.
    pub fn restart(&mut self, id: NodeId) {
        let i = Self::index(id);
        let state = DurableState::replay(&self.disks[i].0);
        let mut r = Replica::restore(self.configs[i].clone(), Journal::default(), state, self.now);
        r.record_executions(true);
        self.replicas[i] = Some(r);
    }

    /// The value node `id` executed in `slot`, if it did (from its events).
    pub fn executed(&self, id: NodeId, slot: u64) -> Option<Value> {
        self.events
            .iter()
            .rev()
            .find_map(|(node, event)| match event {
                Event::Executed { slot: s, value, .. } if *node == id && *s == slot => {
                    Some(value.clone())
                }
                _ => None,
            })
    }

    /// Every node that executed `slot` executed the same value.
    pub fn assert_agreement(&self) {
        let mut chosen = std::collections::BTreeMap::new();
        for (node, event) in &self.events {
            if let Event::Executed { slot, value, .. } = event {
                let first = chosen.entry(*slot).or_insert((*node, value.clone()));
                assert_eq!(
                    &first.1, value,
                    "slot {slot}: {} executed {:?}, {node} executed {value:?}",
                    first.0, first.1
                );
            }
        }
    }
}

/// A batch of the commands given, for comparing with executed values.
pub fn commands(value: &Value) -> Vec<Vec<u8>> {
    value
        .requests()
        .iter()
        .map(|r| r.command.to_vec())
        .collect()
}

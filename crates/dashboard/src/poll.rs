//! The poller: every round it asks each node its status, a window of its
//! log and its NEW-VIEWs (and, every few rounds, its application state),
//! notes what changed in the page's event log, keeps per-second figures for
//! the chart, and publishes one JSON snapshot. Everything it keeps is
//! capped: [`HISTORY_SECONDS`] of figures, [`EVENT_LINES`] event lines.

use crate::Shared;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;
use synod_apps::inventory::ITEMS;
use synod_core::Ballot;
use synod_core::Role;
use synod_node::admin::query;
use synod_node::wire::{AdminReply, AdminRequest, NodeStatus, SlotStatus, ViewRecord};
use synod_tools::queries::{NodeState, decode_state};
use tokio::task::JoinSet;

/// Seconds of throughput and latency the chart shows.
pub const HISTORY_SECONDS: usize = 300;
/// Lines of the page's event log.
pub const EVENT_LINES: usize = 100;
/// Columns of the log grid.
pub const GRID_SLOTS: u64 = 40;
/// NEW-VIEWs shown (the latest).
const VIEWS_SHOWN: usize = 12;
/// Entries of one NEW-VIEW shown.
const VIEW_ENTRIES_SHOWN: usize = 6;
/// Characters of one value shown.
const VALUE_CHARS: usize = 160;
/// The application state is asked at most once a second, and less often
/// the larger it is: one export per this many bytes per second and node
/// (the node serialises its whole state for it), at least every
/// [`STATE_EVERY_MAX_MS`].
const STATE_BYTES_PER_SECOND: u64 = 256 * 1024;
const STATE_EVERY_MIN_MS: u64 = 1000;
const STATE_EVERY_MAX_MS: u64 = 30_000;
/// Keys of the kv store shown per node.
const KV_KEYS_SHOWN: usize = 8;
/// How long one admin question may take.
const QUERY_TIMEOUT: Duration = Duration::from_millis(300);
/// How long the application state may take (a node serialises all of it).
const STATE_TIMEOUT: Duration = Duration::from_millis(400);

#[derive(Clone, Debug, Serialize)]
pub struct EventLine {
    pub at_ms: u64,
    pub ok: bool,
    pub text: String,
}

/// One second of the chart.
#[derive(Clone, Debug, Serialize)]
pub struct Bin {
    /// Seconds since the dashboard started.
    pub t: u64,
    /// Slots the most advanced node executed in this second.
    pub slots: u64,
    /// Commands the page's load completed in this second.
    pub ops: u64,
    /// Latency percentiles of those commands, in milliseconds.
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

/// A failover the dashboard saw: the leader it killed, who took over, and
/// how long after the kill the dashboard first saw the new leader.
#[derive(Clone, Debug, Serialize)]
pub struct Failover {
    pub killed: u32,
    pub new_leader: u32,
    pub after_ms: u64,
}

/// What the dashboard remembers between rounds.
#[derive(Default)]
pub struct History {
    events: VecDeque<EventLine>,
    bins: VecDeque<Bin>,
    /// The second being counted and the executed slot it started at.
    second: Option<(u64, u64)>,
    rounds: u64,
    /// When to ask for the application state next (ms), and the period
    /// its size sets.
    next_state_ms: u64,
    pub state_every_ms: u64,
    /// The highest commit seen last round: the grid ends just past it.
    commit: u64,
    answering: BTreeMap<u32, bool>,
    roles: BTreeMap<u32, Role>,
    leader: Option<u32>,
    /// NEW-VIEW ballots already logged (the newest few).
    views_logged: BTreeSet<String>,
    /// Each node's latest NEW-VIEWs and the ballot it was at when asked.
    views: BTreeMap<u32, (Ballot, Vec<ViewRecord>)>,
    /// The last leader killed through the page, and when (ms).
    kill: Option<(u32, u64)>,
    failover: Option<Failover>,
    states: BTreeMap<u32, NodeState>,
    /// What the page did to each node that is not visible from its status
    /// (paused, partitioned).
    pub marks: BTreeMap<u32, BTreeSet<&'static str>>,
    /// The load's figures not yet in a closed second.
    pending: crate::load::Stats,
}

impl History {
    pub fn note(&mut self, at_ms: u64, ok: bool, text: String) {
        if self.events.len() >= EVENT_LINES {
            self.events.pop_front();
        }
        self.events.push_back(EventLine { at_ms, ok, text });
    }

    /// Whether `node` led when last looked at.
    pub fn leads(&self, node: u32) -> bool {
        self.leader == Some(node)
    }

    /// Notes that the page killed the leader `node` at `at_ms`: the next
    /// leader seen is timed from it.
    pub fn leader_killed(&mut self, node: u32, at_ms: u64) {
        self.kill = Some((node, at_ms));
    }

    pub fn mark(&mut self, node: u32, mark: &'static str, on: bool) {
        let marks = self.marks.entry(node).or_default();
        if on {
            marks.insert(mark);
        } else {
            marks.remove(mark);
        }
    }
}

/// What one node answered this round.
struct NodeRound {
    id: u32,
    status: Result<NodeStatus, String>,
    slots: Option<(u64, u64, Vec<SlotStatus>)>,
    /// None: not asked (the node's ballot has not changed since it was).
    views: Option<Vec<ViewRecord>>,
    state: Option<NodeState>,
    state_bytes: usize,
}

async fn ask_node(
    shared: Arc<Shared>,
    id: u32,
    from: u64,
    with_state: bool,
    views_at: Option<Ballot>,
) -> NodeRound {
    let file = &shared.cluster.file;
    let security = &shared.cluster.security;
    let mut round = NodeRound {
        id,
        status: Err(String::new()),
        slots: None,
        views: None,
        state: None,
        state_bytes: 0,
    };
    round.status = match query(file, security, id, AdminRequest::Status, QUERY_TIMEOUT).await {
        Ok(AdminReply::Status(s)) => Ok(s),
        Ok(_) => Err(format!("n{id} sent an unexpected answer")),
        Err(e) => Err(e),
    };
    if round.status.is_err() {
        return round;
    }
    let request = AdminRequest::Slots {
        from,
        count: GRID_SLOTS as u32,
    };
    if let Ok(AdminReply::Slots {
        truncated,
        checkpoint,
        slots,
    }) = query(file, security, id, request, QUERY_TIMEOUT).await
    {
        round.slots = Some((truncated, checkpoint, slots));
    }
    // NEW-VIEWs come with ballots: asked again only when the ballot moved.
    let ballot = round.status.as_ref().ok().map(|s| s.ballot);
    if ballot != views_at
        && let Ok(AdminReply::Views(views)) =
            query(file, security, id, AdminRequest::Views, QUERY_TIMEOUT).await
    {
        let skip = views.len().saturating_sub(VIEWS_SHOWN);
        round.views = Some(views.into_iter().skip(skip).collect());
    }
    if with_state
        && let Ok(reply) = query(file, security, id, AdminRequest::Db, STATE_TIMEOUT).await
    {
        if let AdminReply::Db { state, .. } = &reply {
            round.state_bytes = state.len();
        }
        if let Ok(state) = decode_state(reply) {
            round.state = Some(state);
        }
    }
    round
}

/// Polls until the task is aborted.
pub async fn run(shared: Arc<Shared>) {
    let mut ticker = tokio::time::interval(shared.poll);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        round(&shared).await;
    }
}

/// One round: ask every node, update the history, publish a snapshot.
pub async fn round(shared: &Arc<Shared>) {
    let started = shared.now_ms();
    let (from, with_state, views_at) = match shared.history.lock() {
        Ok(h) => (
            (h.commit + 3).saturating_sub(GRID_SLOTS).max(1),
            started >= h.next_state_ms,
            h.views
                .iter()
                .map(|(id, (b, _))| (*id, *b))
                .collect::<BTreeMap<_, _>>(),
        ),
        Err(_) => return,
    };
    let mut tasks = JoinSet::new();
    for node in &shared.cluster.file.nodes {
        let at = views_at.get(&node.id).copied();
        tasks.spawn(ask_node(shared.clone(), node.id, from, with_state, at));
    }
    let mut rounds = Vec::new();
    while let Some(done) = tasks.join_next().await {
        if let Ok(r) = done {
            rounds.push(r);
        }
    }
    rounds.sort_by_key(|r| r.id);
    let stats = shared
        .load
        .lock()
        .ok()
        .and_then(|l| l.as_ref().map(|l| (l.take(), l.clients)));
    let now = shared.now_ms();
    let json = {
        let Ok(mut h) = shared.history.lock() else {
            return;
        };
        let h = &mut *h;
        h.rounds += 1;
        if with_state {
            let bytes = rounds
                .iter()
                .map(|r| r.state_bytes as u64)
                .max()
                .unwrap_or(0);
            h.state_every_ms = (bytes * 1000 / STATE_BYTES_PER_SECOND)
                .clamp(STATE_EVERY_MIN_MS, STATE_EVERY_MAX_MS);
            h.next_state_ms = started + h.state_every_ms;
        }
        observe(h, &rounds, now, stats.as_ref().map(|(s, _)| s));
        snapshot(shared, h, &rounds, from, now, stats.map(|(_, c)| c))
    };
    shared.snapshot.send_replace(Arc::new(json));
}

/// The leader: the answering node that says it leads, with the highest
/// ballot if several do.
fn leader_of(rounds: &[NodeRound]) -> Option<&NodeStatus> {
    rounds
        .iter()
        .filter_map(|r| r.status.as_ref().ok())
        .filter(|s| s.role == Role::Leader)
        .max_by_key(|s| s.ballot)
}

/// Notes what changed since the last round.
fn observe(h: &mut History, rounds: &[NodeRound], now: u64, stats: Option<&crate::load::Stats>) {
    for r in rounds {
        let answering = r.status.is_ok();
        let before = h.answering.insert(r.id, answering);
        match (&r.status, before) {
            (Err(e), Some(true)) => {
                h.note(now, false, format!("n{} stopped answering ({e})", r.id))
            }
            (Ok(_), Some(false)) => h.note(now, true, format!("n{} answers again", r.id)),
            _ => {}
        }
        if let Ok(s) = &r.status {
            let role = h.roles.insert(r.id, s.role);
            if role != Some(s.role) && role.is_some() {
                let text = if s.role == Role::Leader {
                    format!("n{} leads with ballot {}", r.id, s.ballot)
                } else {
                    format!("n{} is now a {} (ballot {})", r.id, s.role, s.ballot)
                };
                h.note(now, true, text);
            }
        }
        if let Some(state) = &r.state {
            h.states.insert(r.id, state.clone());
        } else if !answering {
            h.states.remove(&r.id);
        }
        if let (Ok(st), Some(views)) = (&r.status, &r.views) {
            h.views.insert(r.id, (st.ballot, views.clone()));
        } else if !answering {
            h.views.remove(&r.id);
        }
        let Some(views) = h.views.get(&r.id).map(|(_, v)| v.clone()) else {
            continue;
        };
        for v in &views {
            // A NEW-VIEW is logged once, by the node that sent it.
            if v.ballot.node.0 != r.id {
                continue;
            }
            let key = v.ballot.to_string();
            if h.views_logged.insert(key.clone()) {
                if h.views_logged.len() > 4 * VIEWS_SHOWN
                    && let Some(first) = h.views_logged.iter().next().cloned()
                {
                    h.views_logged.remove(&first);
                }
                if h.rounds > 1 {
                    h.note(
                        now,
                        true,
                        format!(
                            "n{} sent NEW-VIEW {} from slot {} carrying {} entries",
                            r.id,
                            key,
                            v.start,
                            v.entries.len()
                        ),
                    );
                }
            }
        }
    }
    let leader = leader_of(rounds).map(|s| s.id.0);
    if leader != h.leader {
        if let (Some(new), Some((killed, at))) = (leader, h.kill)
            && new != killed
            && h.leader.is_none_or(|old| old == killed)
        {
            let after_ms = now.saturating_sub(at);
            h.failover = Some(Failover {
                killed,
                new_leader: new,
                after_ms,
            });
            h.kill = None;
            h.note(
                now,
                true,
                format!(
                    "failover: n{new} took over from n{killed}, seen {after_ms} ms after the kill"
                ),
            );
        }
        if leader.is_none() {
            h.note(now, false, "no node leads".into());
        }
        h.leader = leader;
    }
    h.commit = rounds
        .iter()
        .filter_map(|r| r.status.as_ref().ok())
        .map(|s| s.commit)
        .max()
        .unwrap_or(h.commit);
    // The chart: close the second when the next begins.
    let executed = rounds
        .iter()
        .filter_map(|r| r.status.as_ref().ok())
        .map(|s| s.executed)
        .max();
    let second = now / 1000;
    let mut bin = None;
    match h.second {
        Some((s, start)) if s != second => {
            let end = executed.unwrap_or(start);
            bin = Some(Bin {
                t: s,
                slots: end.saturating_sub(start),
                ops: 0,
                p50_ms: None,
                p99_ms: None,
            });
            h.second = Some((second, end));
        }
        None => h.second = executed.map(|e| (second, e)),
        _ => {}
    }
    // The load's figures gather until their second closes.
    if let Some(stats) = stats {
        h.pending.merge(stats);
    }
    if let Some(mut b) = bin {
        let stats = std::mem::take(&mut h.pending);
        b.ops = stats.ops;
        let mut lat = stats.latencies_us;
        lat.sort_unstable();
        b.p50_ms = percentile(&lat, 0.50);
        b.p99_ms = percentile(&lat, 0.99);
        if h.bins.len() >= HISTORY_SECONDS {
            h.bins.pop_front();
        }
        h.bins.push_back(b);
    }
}

fn percentile(sorted: &[u32], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted
        .get(i.min(sorted.len() - 1))
        .map(|us| f64::from(*us) / 1000.0)
}

fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

#[derive(Serialize)]
struct NodeJson {
    id: u32,
    answering: bool,
    error: Option<String>,
    role: Option<String>,
    ballot: Option<String>,
    promised: Option<String>,
    leader: Option<u32>,
    commit: Option<u64>,
    executed: Option<u64>,
    truncated: Option<u64>,
    checkpoint: Option<u64>,
    uptime_ms: Option<u64>,
    marks: Vec<&'static str>,
}

#[derive(Serialize)]
struct Cell {
    s: char,
    v: Option<String>,
    b: Option<String>,
}

#[derive(Serialize)]
struct GridRow {
    node: u32,
    cells: Vec<Cell>,
}

#[derive(Serialize)]
struct ViewJson {
    node: u32,
    ballot: String,
    start: u64,
    count: usize,
    entries: Vec<String>,
}

#[derive(Serialize)]
struct StateRow {
    key: String,
    values: Vec<Option<String>>,
    differs: bool,
}

#[derive(Serialize)]
struct LoadJson {
    clients: usize,
}

#[derive(Serialize)]
struct Snapshot<'a> {
    cluster: &'a str,
    at_ms: u64,
    poll_ms: u64,
    fault_injection: bool,
    process_control: bool,
    load: Option<LoadJson>,
    leader: Option<u32>,
    leader_ballot: Option<String>,
    nodes: Vec<NodeJson>,
    grid_from: u64,
    grid: Vec<GridRow>,
    views: Vec<ViewJson>,
    chart: &'a VecDeque<Bin>,
    state_nodes: Vec<u32>,
    state: Vec<StateRow>,
    state_every_ms: u64,
    events: &'a VecDeque<EventLine>,
    failover: Option<&'a Failover>,
}

fn snapshot(
    shared: &Shared,
    h: &History,
    rounds: &[NodeRound],
    from: u64,
    now: u64,
    load_clients: Option<usize>,
) -> String {
    let leader = leader_of(rounds);
    let nodes = rounds
        .iter()
        .map(|r| {
            let s = r.status.as_ref().ok();
            let slots = r.slots.as_ref();
            NodeJson {
                id: r.id,
                answering: s.is_some(),
                error: r.status.as_ref().err().cloned(),
                role: s.map(|s| s.role.to_string()),
                ballot: s.map(|s| s.ballot.to_string()),
                promised: s.map(|s| s.promised.to_string()),
                leader: s.and_then(|s| s.leader.map(|l| l.0)),
                commit: s.map(|s| s.commit),
                executed: s.map(|s| s.executed),
                truncated: slots.map(|(t, _, _)| *t),
                checkpoint: slots.map(|(_, c, _)| *c),
                uptime_ms: s.map(|s| s.uptime_ms),
                marks: h
                    .marks
                    .get(&r.id)
                    .map(|m| m.iter().copied().collect())
                    .unwrap_or_default(),
            }
        })
        .collect();
    let grid = rounds
        .iter()
        .map(|r| GridRow {
            node: r.id,
            cells: match &r.slots {
                Some((_, _, slots)) => slots
                    .iter()
                    .map(|s| Cell {
                        s: s.state.letter(),
                        v: s.value.as_deref().map(|v| shorten(v, VALUE_CHARS)),
                        b: s.ballot.map(|b| b.to_string()),
                    })
                    .collect(),
                None => Vec::new(),
            },
        })
        .collect();
    let mut views: Vec<ViewJson> = Vec::new();
    let mut seen = HashSet::new();
    let mut all: Vec<(u32, &ViewRecord)> = h
        .views
        .iter()
        .flat_map(|(id, (_, views))| views.iter().map(move |v| (*id, v)))
        .collect();
    // Newest ballot first; one line per ballot, from its sender if it answered.
    all.sort_by(|a, b| {
        b.1.ballot
            .cmp(&a.1.ballot)
            .then(((b.0 == b.1.ballot.node.0) as u8).cmp(&((a.0 == a.1.ballot.node.0) as u8)))
    });
    for (node, v) in all {
        if views.len() >= VIEWS_SHOWN || !seen.insert(v.ballot) {
            continue;
        }
        views.push(ViewJson {
            node,
            ballot: v.ballot.to_string(),
            start: v.start,
            count: v.entries.len(),
            entries: v
                .entries
                .iter()
                .take(VIEW_ENTRIES_SHOWN)
                .map(|e| shorten(e, VALUE_CHARS))
                .collect(),
        });
    }
    let (state_nodes, state) = state_table(&h.states);
    let snapshot = Snapshot {
        cluster: &shared.cluster.file.cluster_id,
        at_ms: now,
        poll_ms: shared.poll.as_millis() as u64,
        fault_injection: shared.fault_injection,
        process_control: !shared.cluster.dir.as_os_str().is_empty(),
        load: load_clients.map(|clients| LoadJson { clients }),
        leader: leader.map(|s| s.id.0),
        leader_ballot: leader.map(|s| s.ballot.to_string()),
        nodes,
        grid_from: from,
        grid,
        views,
        chart: &h.bins,
        state_nodes,
        state,
        state_every_ms: h.state_every_ms,
        events: &h.events,
        failover: h.failover.as_ref(),
    };
    serde_json::to_string(&snapshot)
        .unwrap_or_else(|e| serde_json::json!({ "error": format!("snapshot: {e}") }).to_string())
}

/// The application state as rows of (what, value per node), in one order
/// for every node, with the rows where nodes differ marked.
fn state_table(states: &BTreeMap<u32, NodeState>) -> (Vec<u32>, Vec<StateRow>) {
    let nodes: Vec<u32> = states.keys().copied().collect();
    let mut order: Vec<String> = Vec::new();
    let mut known: HashSet<String> = HashSet::new();
    let per_node: Vec<BTreeMap<String, String>> = states
        .values()
        .map(|st| {
            let rows = summarise(st);
            for (k, _) in &rows {
                if known.insert(k.clone()) {
                    order.push(k.clone());
                }
            }
            rows.into_iter().collect()
        })
        .collect();
    let rows = order
        .into_iter()
        .map(|key| {
            let values: Vec<Option<String>> =
                per_node.iter().map(|m| m.get(&key).cloned()).collect();
            let differs = values.windows(2).any(|w| w[0] != w[1]);
            StateRow {
                key,
                values,
                differs,
            }
        })
        .collect();
    (nodes, rows)
}

fn summarise(st: &NodeState) -> Vec<(String, String)> {
    let s = &st.services;
    let mut rows = vec![("executed through slot".to_string(), st.executed.to_string())];
    for (account, balance) in s.bank.balances() {
        rows.push((format!("bank {account}"), balance.to_string()));
    }
    rows.push(("bank total".into(), s.bank.total().to_string()));
    for (item, stock) in ITEMS.iter().zip(s.inventory.stock()) {
        rows.push((format!("stock of {item}"), stock.to_string()));
    }
    rows.push(("orders".into(), s.inventory.orders().len().to_string()));
    rows.push(("kv keys".into(), s.kv.len().to_string()));
    let mut hasher = std::hash::DefaultHasher::new();
    for (k, v) in s.kv.entries() {
        k.hash(&mut hasher);
        v.hash(&mut hasher);
    }
    rows.push((
        "kv fingerprint".into(),
        format!("{:08x}", hasher.finish() as u32),
    ));
    for (k, v) in s.kv.entries().take(KV_KEYS_SHOWN) {
        rows.push((
            format!("kv {}", shorten(k, 32)),
            shorten(&String::from_utf8_lossy(v), 24),
        ));
    }
    rows.push(("smallbank customers".into(), s.smallbank.len().to_string()));
    rows
}

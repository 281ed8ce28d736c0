//! The node's recent protocol log (`synod admin log`): the last
//! [`LINES`] things it sent, received and saw happen, oldest first.
//!
//! Messages are kept as data and written out only when the log is read.
//! Under load a node notes every message it exchanges (a follower one
//! FORWARD per client request, and the leader one more on receiving it),
//! and writing each line out on the spot cost two allocations and the
//! formatting for every one of them, read or not (docs/performance.md).
//! Heartbeats and their answers are left out: they would drown the rest.

use std::collections::VecDeque;
use std::fmt;
use synod_core::{Ballot, Message, NodeId, Slot, Time};

/// How many lines the log keeps.
pub(crate) const LINES: usize = 2000;

#[derive(Default)]
pub(crate) struct ProtocolLog {
    lines: VecDeque<(Time, Line)>,
}

enum Line {
    Message {
        sent: bool,
        kind: &'static str,
        peer: NodeId,
        about: About,
    },
    Text(String),
}

/// What a message's line says besides its kind: the slots or the ballot
/// it is about.
enum About {
    Nothing,
    Slot(Slot),
    Slots { first: Slot, last: Slot },
    Entries { start: Slot, count: usize },
    Ballot(Ballot),
}

impl About {
    fn of(msg: &Message) -> About {
        match msg {
            Message::Accept { slot, .. } => About::Slot(*slot),
            Message::Accepted { first, last, .. } if first == last => About::Slot(*first),
            Message::Accepted { first, last, .. } => About::Slots {
                first: *first,
                last: *last,
            },
            Message::NewView { start, entries, .. } => About::Entries {
                start: *start,
                count: entries.len(),
            },
            Message::Prepare { ballot, .. } | Message::Promise { ballot, .. } => {
                About::Ballot(*ballot)
            }
            _ => About::Nothing,
        }
    }
}

impl fmt::Display for About {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            About::Nothing => Ok(()),
            About::Slot(slot) => write!(f, " slot {slot}"),
            About::Slots { first, last } => write!(f, " slots {first}..={last}"),
            About::Entries { start, count } => write!(f, " slots {start}..+{count}"),
            About::Ballot(ballot) => write!(f, " {ballot}"),
        }
    }
}

impl fmt::Display for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Line::Message {
                sent: true,
                kind,
                peer,
                about,
            } => write!(f, "send {kind} to {peer}{about}"),
            Line::Message {
                sent: false,
                kind,
                peer,
                about,
            } => write!(f, "recv {kind} from {peer}{about}"),
            Line::Text(text) => f.write_str(text),
        }
    }
}

/// Heartbeats are left out of the log: they would drown the rest.
fn routine(msg: &Message) -> bool {
    matches!(
        msg,
        Message::Heartbeat { .. } | Message::HeartbeatAck { .. }
    )
}

impl ProtocolLog {
    /// Notes `msg`, sent to `to` at `now`.
    pub(crate) fn sent(&mut self, now: Time, to: NodeId, msg: &Message) {
        self.message(now, true, to, msg);
    }

    /// Notes `msg`, received from `from` at `now`.
    pub(crate) fn received(&mut self, now: Time, from: NodeId, msg: &Message) {
        self.message(now, false, from, msg);
    }

    /// Notes a line of text (events, admin actions), made only here.
    pub(crate) fn text(&mut self, now: Time, line: impl FnOnce() -> String) {
        self.push(now, Line::Text(line()));
    }

    /// The lines, oldest first, each with its time (seconds and
    /// milliseconds since the node started).
    pub(crate) fn render(&self) -> Vec<String> {
        self.lines
            .iter()
            .map(|(t, line)| format!("{:>8}.{:03} {line}", t / 1000, t % 1000))
            .collect()
    }

    fn message(&mut self, now: Time, sent: bool, peer: NodeId, msg: &Message) {
        if routine(msg) {
            return;
        }
        let line = Line::Message {
            sent,
            kind: msg.kind(),
            peer,
            about: About::of(msg),
        };
        self.push(now, line);
    }

    fn push(&mut self, now: Time, line: Line) {
        if self.lines.len() >= LINES {
            self.lines.pop_front();
        }
        self.lines.push_back((now, line));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use synod_core::{ClientId, Request, Value};

    fn ballot() -> Ballot {
        Ballot {
            round: 3,
            node: NodeId(1),
        }
    }

    #[test]
    fn messages_read_as_they_did_when_written_out_at_once() {
        let mut log = ProtocolLog::default();
        let b = ballot();
        let forward = Message::Forward {
            request: Request {
                client: ClientId(9),
                timestamp: 4,
                command: Bytes::from_static(b"put"),
            },
        };
        log.sent(
            1_234,
            NodeId(2),
            &Message::Accept {
                ballot: b,
                slot: 17,
                value: Value::Noop,
                commit: 16,
            },
        );
        log.received(
            1_235,
            NodeId(3),
            &Message::Accepted {
                ballot: b,
                first: 17,
                last: 17,
            },
        );
        log.received(
            1_236,
            NodeId(3),
            &Message::Accepted {
                ballot: b,
                first: 17,
                last: 20,
            },
        );
        log.sent(
            1_237,
            NodeId(2),
            &Message::NewView {
                ballot: b,
                start: 5,
                entries: vec![Value::Noop, Value::Noop],
                commit: 4,
            },
        );
        log.sent(2_000, NodeId(3), &Message::Prepare { ballot: b, from: 9 });
        log.received(2_001, NodeId(2), &forward);
        log.text(65_432, || "stepped down".to_string());
        assert_eq!(
            log.render(),
            [
                "       1.234 send ACCEPT to n2 slot 17",
                "       1.235 recv ACCEPTED from n3 slot 17",
                "       1.236 recv ACCEPTED from n3 slots 17..=20",
                "       1.237 send NEW-VIEW to n2 slots 5..+2",
                "       2.000 send PREPARE to n3 (3, n1)",
                "       2.001 recv FORWARD from n2",
                "      65.432 stepped down",
            ]
        );
    }

    #[test]
    fn heartbeats_are_left_out_and_the_log_keeps_its_last_lines() {
        let mut log = ProtocolLog::default();
        let b = ballot();
        log.sent(
            0,
            NodeId(2),
            &Message::Heartbeat {
                ballot: b,
                commit: 0,
                round: 1,
            },
        );
        log.received(
            0,
            NodeId(2),
            &Message::HeartbeatAck {
                ballot: b,
                commit: 0,
                truncated: 0,
                round: 1,
            },
        );
        assert!(log.render().is_empty());
        for slot in 0..(LINES as u64 + 5) {
            log.sent(
                slot,
                NodeId(2),
                &Message::Commit {
                    ballot: b,
                    commit: slot,
                },
            );
        }
        let lines = log.render();
        assert_eq!(lines.len(), LINES);
        assert_eq!(lines[0], "       0.005 send COMMIT to n2");
    }
}

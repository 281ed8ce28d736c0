//! The checkpoint rules: snapshots, restart from a checkpoint, state
//! transfer, truncation seen from a candidate, and divergence detection.

use bytes::Bytes;
use synod_core::executor::Executor;
use synod_core::{
    Ballot, ClientId, Config, Digest, DurableState, Event, Log, Membership, Message, NodeId,
    PersistOp, Replica, Request, SnapshotError, StateMachine, Value,
};

/// A state machine that sums the bytes of its commands.
#[derive(Default, Clone, Debug, PartialEq)]
struct Sum(u64);

impl StateMachine for Sum {
    type Capture = u64;
    fn apply(&mut self, command: &[u8]) -> Vec<u8> {
        self.0 += command.iter().map(|b| *b as u64).sum::<u64>();
        self.0.to_le_bytes().to_vec()
    }
    fn capture(&self) -> u64 {
        self.0
    }
    fn serialize(capture: &u64) -> Vec<u8> {
        capture.to_le_bytes().to_vec()
    }
    fn restore(&mut self, snapshot: &[u8]) -> Result<(), SnapshotError> {
        let bytes: [u8; 8] = snapshot
            .try_into()
            .map_err(|_| SnapshotError("want 8 bytes".into()))?;
        self.0 = u64::from_le_bytes(bytes);
        Ok(())
    }
}

/// An executor that ran `slots` slots of one request each (client 9).
fn executed(slots: u64) -> Executor<Sum> {
    let members = Membership::initial(&[NodeId(1), NodeId(2), NodeId(3)], &[]);
    let mut ex = Executor::new(Sum::default()).with_membership(members);
    for slot in 1..=slots {
        let request = Request {
            client: ClientId(9),
            timestamp: slot,
            command: Bytes::from(vec![slot as u8]),
        };
        ex.execute(slot, &Value::Batch(vec![request]));
    }
    ex
}

#[test]
fn a_snapshot_carries_the_state_the_slot_and_the_reply_table() {
    let ex = executed(7);
    let snapshot = ex.snapshot();
    let mut other = Executor::new(Sum::default());
    other.restore(&snapshot).unwrap();
    assert_eq!(other.executed(), 7);
    assert_eq!(other.app(), &Sum(28));
    assert_eq!(other.last_reply(ClientId(9)).map(|(ts, _)| ts), Some(7));
    assert_eq!(other.state_digest(), ex.state_digest());
    assert!(
        other.restore(&snapshot[..snapshot.len() - 3]).is_err(),
        "a cut snapshot is refused"
    );
    assert_eq!(other.executed(), 7, "a refused snapshot changes nothing");
}

/// The application's snapshot comes first, so snapshots of a growing
/// application share their beginning; and the layout written before that
/// (the application's snapshot last) is still restored.
#[test]
fn a_snapshot_begins_with_the_applications_and_the_layout_before_is_still_read() {
    let ex = executed(7);
    let snapshot = ex.snapshot();
    let app = Sum(28).snapshot();
    assert_eq!(&snapshot[..8], b"SYNEXEC\x02");
    assert_eq!(&snapshot[8..16], &app[..]);
    // The layout before: executed | membership | replies | application.
    let mut before = 7u64.to_le_bytes().to_vec();
    Membership::initial(&[NodeId(1), NodeId(2), NodeId(3)], &[]).encode(&mut before);
    before.extend_from_slice(&1u64.to_le_bytes());
    before.extend_from_slice(&9u64.to_le_bytes());
    before.extend_from_slice(&7u64.to_le_bytes());
    let reply = ex.last_reply(ClientId(9)).unwrap().1.clone();
    before.extend_from_slice(&(reply.len() as u64).to_le_bytes());
    before.extend_from_slice(&reply);
    before.extend_from_slice(&app);
    let mut other = Executor::new(Sum::default());
    other.restore(&before).unwrap();
    assert_eq!(other.state_digest(), ex.state_digest());
    assert_eq!(other.app(), &Sum(28));
    // Bytes left over after the reply table: refused.
    let mut longer = snapshot.clone();
    let trailer = longer.split_off(longer.len() - 8);
    longer.push(0);
    longer.extend_from_slice(&trailer);
    assert!(Executor::new(Sum::default()).restore(&longer).is_err());
}

#[test]
fn replaying_a_checkpoint_drops_the_entries_it_covers() {
    let b = Ballot::new(1, NodeId(1));
    let ops = [
        PersistOp::Accept {
            slot: 3,
            ballot: b,
            value: Value::Noop,
        },
        PersistOp::Accept {
            slot: 9,
            ballot: b,
            value: Value::Noop,
        },
        PersistOp::Checkpoint {
            slot: 7,
            snapshot: Bytes::from_static(b"s"),
        },
    ];
    let state = DurableState::replay(&ops);
    assert_eq!(state.accepted.keys().copied().collect::<Vec<_>>(), vec![9]);
    assert_eq!(state.checkpoint.map(|(s, _)| s), Some(7));
}

fn restored_at(slot: u64) -> Replica<Sum> {
    let snapshot = Bytes::from(executed(slot).snapshot());
    let durable = DurableState {
        checkpoint: Some((slot, snapshot)),
        ..Default::default()
    };
    Replica::restore(Config::cluster(3, 3), Sum::default(), durable, 0)
}

#[test]
fn a_restarted_node_resumes_from_its_checkpoint() {
    let r = restored_at(7);
    let s = r.status();
    assert_eq!(
        (s.executed, s.commit, s.checkpoint, s.truncated),
        (7, 7, 7, 7)
    );
    assert_eq!(r.app(), &Sum(28));
}

#[test]
fn a_lagging_node_installs_a_snapshot_sent_in_pieces() {
    let snapshot = executed(7).snapshot();
    let d = Digest::of(&snapshot);
    let mut r = Replica::new(Config::cluster(3, 3), Sum::default(), 0);
    let (first, rest) = snapshot.split_at(10);
    let total = snapshot.len() as u64;
    let piece = |offset: usize, data: &[u8]| Message::Snapshot {
        slot: 7,
        digest: d,
        offset: offset as u64,
        total,
        data: Bytes::copy_from_slice(data),
    };
    r.on_message(1, NodeId(1), piece(0, first));
    assert_eq!(r.status().executed, 0, "half a snapshot installs nothing");
    r.on_message(2, NodeId(1), piece(10, rest));
    let ready = r.ready();
    assert!(ready.events.contains(&Event::SnapshotInstalled { slot: 7 }));
    let write = ready.write.expect("the installed checkpoint is written");
    assert!(
        write
            .append
            .iter()
            .any(|op| matches!(op, PersistOp::Checkpoint { slot: 7, .. }))
    );
    assert_eq!(r.status().executed, 7);
    assert_eq!(r.app(), &Sum(28));

    // A snapshot whose bytes do not match its digest is refused.
    let mut r = Replica::new(Config::cluster(3, 3), Sum::default(), 0);
    let mut bad = snapshot.clone();
    bad[0] ^= 1;
    r.on_message(
        1,
        NodeId(1),
        Message::Snapshot {
            slot: 7,
            digest: d,
            offset: 0,
            total,
            data: Bytes::from(bad),
        },
    );
    assert_eq!(r.status().executed, 0);
}

#[test]
fn a_candidate_behind_a_peers_truncation_steps_aside() {
    let config = Config::cluster(1, 3);
    let timeout = config.election_timeout;
    let mut r = Replica::new(config, Sum::default(), 0);
    r.tick(timeout + 1);
    let ready = r.ready();
    let ballot = ready
        .events
        .iter()
        .find_map(|e| match e {
            Event::Candidacy { ballot } => Some(*ballot),
            _ => None,
        })
        .expect("n1 stands first in a fresh cluster");
    // n2 promises, but it truncated through slot 40 and we know nothing yet.
    r.on_message(
        timeout + 2,
        NodeId(2),
        Message::Promise {
            ballot,
            from: 1,
            accepted: vec![],
            commit: 50,
            truncated: 40,
        },
    );
    let ready = r.ready();
    assert!(
        ready
            .events
            .iter()
            .any(|e| matches!(e, Event::SteppedDown { why, .. } if why.contains("checkpoint"))),
        "{:?}",
        ready.events
    );
    assert!(!r.is_leader());
}

/// Constrained election on real processes (docs/liveness.md, "The
/// scenarios on real processes"): n5 lagged past the others' checkpoint,
/// and now hears n2, n3, n4 but not n1, the leader of its view. A promise
/// that shows the truncation sends its catch-up to the promiser, which
/// holds the snapshot, not to n1, which it cannot reach.
#[test]
fn a_candidate_behind_a_peers_truncation_catches_up_from_that_peer() {
    let config = Config::cluster(5, 5);
    let (timeout, retransmit) = (config.election_timeout, config.retransmit_interval);
    let mut r = Replica::new(config, Sum::default(), 0);
    let mut disk = VecLog::default();
    let leader = Ballot {
        round: 1,
        node: NodeId(1),
    };
    let new_view = Message::NewView {
        ballot: leader,
        start: 1,
        entries: vec![],
        commit: 0,
    };
    r.on_message(1, NodeId(1), new_view);
    settle(&mut r, 1, &mut disk);
    // n1 falls silent; n5 stands in its turn (after n2, n3, n4).
    let mut now = 1;
    let ballot = loop {
        now += 1_000;
        assert!(now < 10 * timeout, "n5 never stood");
        r.tick(now);
        let ready = r.ready();
        let stood = ready.events.iter().find_map(|e| match e {
            Event::Candidacy { ballot } => Some(*ballot),
            _ => None,
        });
        if let Some(write) = &ready.write {
            let Ok(()) = write.apply_to(&mut disk);
            r.persisted(now, write.token);
        }
        settle(&mut r, now, &mut disk);
        if let Some(b) = stood {
            break b;
        }
    };
    // n2 promises, but it truncated through slot 40 and n5 knows nothing.
    let promise = Message::Promise {
        ballot,
        from: 1,
        accepted: vec![],
        commit: 50,
        truncated: 40,
    };
    r.on_message(now, NodeId(2), promise);
    settle(&mut r, now, &mut disk);
    assert!(!r.is_leader());
    let mut asked = Vec::new();
    for _ in 0..3 {
        now += retransmit;
        r.tick(now);
        let ready = r.ready();
        asked.extend(
            ready
                .messages
                .iter()
                .filter(|env| matches!(env.msg, Message::CatchUp { .. }))
                .map(|env| env.to),
        );
        if let Some(write) = &ready.write {
            let Ok(()) = write.apply_to(&mut disk);
            r.persisted(now, write.token);
        }
        settle(&mut r, now, &mut disk);
        if !asked.is_empty() {
            break;
        }
    }
    assert_eq!(
        asked.first(),
        Some(&NodeId(2)),
        "catch-up went to {asked:?}"
    );
}

#[test]
fn a_different_digest_at_the_same_checkpoint_is_a_divergence() {
    let mut r = restored_at(7);
    let ours = Digest::of(&executed(7).snapshot());
    r.on_message(
        1,
        NodeId(1),
        Message::Checkpoint {
            slot: 7,
            digest: ours,
        },
    );
    assert!(
        !r.ready()
            .events
            .iter()
            .any(|e| matches!(e, Event::Divergence { .. }))
    );
    r.on_message(
        2,
        NodeId(2),
        Message::Checkpoint {
            slot: 7,
            digest: Digest([0; 32]),
        },
    );
    let events = r.ready().events;
    assert!(
        events.iter().any(|e| matches!(
            e,
            Event::Divergence {
                slot: 7,
                peer: NodeId(2),
                ..
            }
        )),
        "{events:?}"
    );
}

/// Carries out `r`'s outputs until it is quiet, as a host whose disk syncs
/// at once: each write goes to `disk` (`Write::apply_to`) and is reported
/// durable right away, and each checkpoint is built at once. Returns what
/// went to peers.
fn settle(r: &mut Replica<Sum>, now: u64, disk: &mut VecLog) -> Vec<Message> {
    let mut to_peers = Vec::new();
    loop {
        let ready = r.ready();
        to_peers.extend(ready.messages.into_iter().map(|env| env.msg));
        let built = !ready.checkpoints.is_empty();
        for job in ready.checkpoints {
            r.checkpoint_built(now, job.build());
        }
        if let Some(write) = &ready.write {
            let Ok(()) = write.apply_to(disk);
            r.persisted(now, write.token);
        } else if !built {
            return to_peers;
        }
    }
}

/// A log kept in memory.
#[derive(Default, Clone)]
struct VecLog(Vec<PersistOp>);

impl Log for VecLog {
    type Error = std::convert::Infallible;
    fn replace(&mut self, live: &[PersistOp]) -> Result<(), Self::Error> {
        self.0 = live.to_vec();
        Ok(())
    }
    fn append(&mut self, ops: &[PersistOp]) -> Result<(), Self::Error> {
        self.0.extend_from_slice(ops);
        Ok(())
    }
}

fn request(client: u64) -> Request {
    Request {
        client: ClientId(client),
        timestamp: 1,
        command: Bytes::from(vec![client as u8]),
    }
}

/// A leader's turn that executes a checkpointed slot (so a quorum holds the
/// checkpoint and the log is compacted) and also proposes a new slot, which
/// the leader accepts itself. The compaction must keep that acceptance: the
/// leader counts it toward the slot's quorum.
#[test]
fn a_compaction_keeps_an_acceptance_made_in_the_same_turn() {
    let mut config = Config::cluster(1, 3);
    config.checkpoint_interval = 5;
    let timeout = config.election_timeout;
    let mut r = Replica::new(config, Sum::default(), 0);
    let mut disk = VecLog::default();
    let mut now = timeout + 1;
    r.tick(now);
    let ballot = r
        .ready()
        .events
        .iter()
        .find_map(|e| match e {
            Event::Candidacy { ballot } => Some(*ballot),
            _ => None,
        })
        .expect("n1 stands first in a fresh cluster");
    let n2 = NodeId(2);
    let promise = Message::Promise {
        ballot,
        from: 1,
        accepted: vec![],
        commit: 0,
        truncated: 0,
    };
    r.on_message(now, n2, promise);
    settle(&mut r, now, &mut disk);
    assert!(r.is_leader());
    // n2 already holds a checkpoint at slot 5, so ours makes a quorum.
    let digest = Digest([7; 32]);
    r.on_message(now, n2, Message::Checkpoint { slot: 5, digest });
    for slot in 1..=5 {
        now += 1;
        r.on_client_request(now, request(slot));
        settle(&mut r, now, &mut disk);
        if slot < 5 {
            let (first, last) = (slot, slot);
            let acked = Message::Accepted {
                ballot,
                first,
                last,
            };
            r.on_message(now, n2, acked);
            settle(&mut r, now, &mut disk);
        }
    }
    assert_eq!(r.status().executed, 4);
    // n2's acknowledgement chooses slot 5: a checkpoint falls due there.
    now += 1;
    let acked = Message::Accepted {
        ballot,
        first: 5,
        last: 5,
    };
    r.on_message(now, n2, acked);
    let ready = r.ready();
    let mut jobs = ready.checkpoints.into_iter();
    let job = jobs.next().expect("a checkpoint at slot 5");
    assert_eq!(job.slot(), 5);
    if let Some(write) = &ready.write {
        let Ok(()) = write.apply_to(&mut disk);
        r.persisted(now, write.token);
    }
    // One turn: the checkpoint comes back built (a quorum holds slot 5:
    // truncation and compaction), and a new request is proposed in slot 6.
    r.checkpoint_built(now, job.build());
    r.on_client_request(now, request(6));
    let ready = r.ready();
    assert!(ready.events.contains(&Event::Truncated { slot: 5 }));
    let write = ready.write.expect("the turn writes");
    let live = write.replace.clone().expect("the turn compacts the log");
    let holds_6 = |ops: &[PersistOp]| {
        ops.iter()
            .any(|op| matches!(op, PersistOp::Accept { slot: 6, .. }))
    };
    assert!(
        holds_6(&write.append),
        "the leader accepted slot 6 this turn"
    );
    assert!(holds_6(&live), "the compaction keeps it: {live:?}");
    // Whichever order a host applied them in, slot 6 would survive:
    // appending first and then compacting leaves `live`; compacting first
    // (as `Write::apply_to` does) leaves `live` and the turn's records.
    let compacted_last = live;
    let mut compacted_first = disk.clone();
    let Ok(()) = write.apply_to(&mut compacted_first);
    for ops in [compacted_last, compacted_first.0] {
        let state = DurableState::replay(&ops);
        assert_eq!(state.checkpoint.as_ref().map(|(s, _)| *s), Some(5));
        assert!(state.accepted.contains_key(&6), "{state:?}");
        assert_eq!(state.promised, ballot);
    }
}

/// n1 leads a fresh cluster of 3, knowing nothing chosen, while n2 and n3
/// hold a checkpoint at slot 40 and truncated their logs through it: they
/// will never vote on slots 1-40 again, so n1 can never decide them. Once
/// their heartbeat acknowledgements say so, n1 steps down to catch up
/// instead of leading a cluster that cannot make progress.
#[test]
fn a_leader_behind_a_quorums_truncation_steps_down() {
    for (n2_truncated, n3_truncated, steps_down) in [
        (40, 40, true),
        // One truncated peer leaves n1 and n3: still a quorum.
        (40, 0, false),
        // A node that lost its disk never votes: it counts as truncated.
        (40, u64::MAX, true),
    ] {
        let config = Config::cluster(1, 3);
        let (timeout, heartbeat) = (config.election_timeout, config.heartbeat_interval);
        let mut r = Replica::new(config, Sum::default(), 0);
        let mut disk = VecLog::default();
        let mut now = timeout + 1;
        r.tick(now);
        let ballot = r
            .ready()
            .events
            .iter()
            .find_map(|e| match e {
                Event::Candidacy { ballot } => Some(*ballot),
                _ => None,
            })
            .expect("n1 stands first in a fresh cluster");
        let promise = Message::Promise {
            ballot,
            from: 1,
            accepted: vec![],
            commit: 0,
            truncated: 0,
        };
        r.on_message(now, NodeId(2), promise);
        settle(&mut r, now, &mut disk);
        assert!(r.is_leader());
        for (peer, truncated) in [(2, n2_truncated), (3, n3_truncated)] {
            let ack = Message::HeartbeatAck {
                ballot,
                commit: 50,
                truncated,
                round: 1,
            };
            r.on_message(now, NodeId(peer), ack);
        }
        now += heartbeat;
        r.tick(now);
        let ready = r.ready();
        let stepped_down = ready
            .events
            .iter()
            .any(|e| matches!(e, Event::SteppedDown { why, .. } if why.contains("checkpoint")));
        assert_eq!(
            (stepped_down, r.is_leader()),
            (steps_down, !steps_down),
            "peers truncated through {n2_truncated} and {n3_truncated}: {:?}",
            ready.events
        );
    }
}

//! The wire format, in one place.
//!
//! Every connection carries frames:
//!
//! ```text
//! +--------+---------+----------------+---------------------------+
//! | "SYND" | version | length (u32 BE)| payload: postcard(Frame)  |
//! +--------+---------+----------------+---------------------------+
//!    4 B       1 B          4 B            `length` bytes
//! ```
//!
//! The first frame on a connection is a [`Frame::Hello`] naming the cluster
//! and who is calling (a peer node, a client, an admin tool). A node refuses,
//! with a [`Frame::Refused`] and a logged reason, a stranger: a wrong magic
//! (not our protocol), another version, another cluster id, a frame above
//! the size limit, or a payload that does not decode. A refused connection
//! is closed; the node goes on serving everyone else.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use serde::{Deserialize, Serialize};
use synod_core::{
    Ballot, Change, ClientId, Membership, Message, NodeId, Reply, Request, Role, Slot,
};
use thiserror::Error;

pub const MAGIC: [u8; 4] = *b"SYND";
/// 2: a PROMISE names the PREPARE it answers (`from`). Nodes of another
/// version refuse each other at the hello: a cluster is upgraded across a
/// version change all at once (docs/deploy.md).
pub const VERSION: u8 = 2;
pub const HEADER_LEN: usize = 9;
/// The default limit on one frame's payload.
pub const DEFAULT_MAX_FRAME: usize = 16 << 20;

/// Who opened a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Caller {
    Peer(NodeId),
    Client(ClientId),
    /// One connection carrying the requests of many clients (a load
    /// generator, a proxy): replies go back by each request's client id.
    ClientGroup,
    Admin,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Frame {
    Hello {
        cluster: String,
        caller: Caller,
    },
    /// The handshake was accepted.
    Welcome {
        node: NodeId,
    },
    /// The connection is refused; the reason is for the log.
    Refused {
        reason: String,
    },
    /// Node to node: one protocol message.
    Peer(Message),
    Request(Request),
    Reply(Reply),
    Admin(AdminRequest),
    AdminReply(AdminReply),
    /// A read-only request, answered without a log write: linearizable by
    /// read index, or `serializable` from the node's own state however
    /// stale (docs/protocol.md, "Reads"). Its reply is a [`Frame::Reply`].
    /// Added after version 2 shipped, at the end, so version-2 frames
    /// decode unchanged; a node without it refuses the frame.
    Read {
        request: Request,
        serializable: bool,
    },
}

impl Frame {
    /// The frame's name, for logs and refusals.
    pub fn kind(&self) -> &'static str {
        match self {
            Frame::Hello { .. } => "HELLO",
            Frame::Welcome { .. } => "WELCOME",
            Frame::Refused { .. } => "REFUSED",
            Frame::Peer(_) => "PEER",
            Frame::Request(_) => "REQUEST",
            Frame::Reply(_) => "REPLY",
            Frame::Admin(_) => "ADMIN",
            Frame::AdminReply(_) => "ADMIN-REPLY",
            Frame::Read { .. } => "READ",
        }
    }
}

/// What `synod admin` asks a node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AdminRequest {
    Status,
    /// The application state (PrintDB).
    Db,
    /// The messages and slots the node handled recently (PrintLog).
    Log,
    /// What the node knows of one slot (PrintStatus).
    Slot(Slot),
    /// Every NEW-VIEW this node sent or accepted (PrintView).
    Views,
    /// Fault injection: drop every message from the peers in `drop_from`
    /// and to the peers in `drop_to` (a one-way cut is one list without the
    /// other), and ignore clients unless `serve_clients`. Empty lists heal.
    /// The scenario runner and the nemesis cut links with it, not killing.
    Partition {
        drop_from: Vec<NodeId>,
        drop_to: Vec<NodeId>,
        serve_clients: bool,
    },
    /// Up to `count` consecutive slots from `from` as this node sees them
    /// (capped at [`MAX_SLOTS`]), with the point its log is truncated
    /// through: one question for a window of the log, for the dashboard.
    Slots {
        from: Slot,
        count: u32,
    },
    /// The membership this node has executed: its epoch, voters, learners.
    Members,
    /// Leader transfer (docs/membership.md): the leader, asked, stops
    /// proposing, waits until `to` has its whole log, and hands over; `to`
    /// stands at once. Refused at a node that does not lead.
    TransferLeader {
        to: NodeId,
    },
    /// A membership change (docs/membership.md): add a learner, promote
    /// one, remove a member. Asked of the leader, which proposes it once
    /// nothing else is in flight and answers at once (`Done`: the change
    /// is under way, not yet executed; the tool polls `Members` for it),
    /// or refuses, naming the leader, when it does not lead, another
    /// change or handover is under way, or a learner to promote has not
    /// caught up. Appended after `TransferLeader`, so older frames decode
    /// unchanged.
    Change(Change),
}

impl AdminRequest {
    /// Whether this request changes the cluster (then it needs an admin
    /// certificate, docs/security.md) rather than only reading it.
    pub fn changes_cluster(&self) -> bool {
        match self {
            AdminRequest::Partition { .. }
            | AdminRequest::TransferLeader { .. }
            | AdminRequest::Change(_) => true,
            AdminRequest::Members
            | AdminRequest::Status
            | AdminRequest::Db
            | AdminRequest::Log
            | AdminRequest::Slot(_)
            | AdminRequest::Views
            | AdminRequest::Slots { .. } => false,
        }
    }

    /// The request's name, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            AdminRequest::Status => "status",
            AdminRequest::Db => "db",
            AdminRequest::Log => "log",
            AdminRequest::Slot(_) => "slot",
            AdminRequest::Views => "views",
            AdminRequest::Partition { .. } => "partition",
            AdminRequest::Slots { .. } => "slots",
            AdminRequest::Members => "members",
            AdminRequest::TransferLeader { .. } => "transfer-leader",
            AdminRequest::Change(Change::AddLearner { .. }) => "add",
            AdminRequest::Change(Change::Promote { .. }) => "promote",
            AdminRequest::Change(Change::Remove { .. }) => "remove",
        }
    }
}

/// The most slots one [`AdminRequest::Slots`] answers.
pub const MAX_SLOTS: u32 = 512;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    pub id: NodeId,
    pub role: Role,
    pub ballot: Ballot,
    pub promised: Ballot,
    pub leader: Option<NodeId>,
    pub commit: Slot,
    pub executed: Slot,
    pub uptime_ms: u64,
}

/// How far a slot has come at one node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SlotState {
    /// Nothing known here yet.
    Unknown,
    /// At or below this node's checkpoint: its log entry is gone.
    Truncated,
    /// Accepted, not known chosen.
    Accepted,
    /// Known chosen (committed), not yet executed.
    Chosen,
    /// Executed.
    Executed,
}

impl SlotState {
    /// The one-letter form the admin views print: `.`, X, A, C, E.
    pub fn letter(self) -> char {
        match self {
            SlotState::Unknown => '.',
            SlotState::Truncated => 'X',
            SlotState::Accepted => 'A',
            SlotState::Chosen => 'C',
            SlotState::Executed => 'E',
        }
    }
}

impl std::fmt::Display for SlotState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.letter())
    }
}

/// A slot as one node sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotStatus {
    pub slot: Slot,
    pub state: SlotState,
    pub ballot: Option<Ballot>,
    pub value: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewRecord {
    pub ballot: Ballot,
    pub start: Slot,
    pub entries: Vec<String>,
    pub uptime_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AdminReply {
    Status(NodeStatus),
    /// The application's state as it exports it (`Inspect::export`; for
    /// the built-in services, postcard bytes of `synod_apps::Services`).
    Db {
        executed: Slot,
        state: Vec<u8>,
    },
    Log(Vec<String>),
    Slot(SlotStatus),
    Views(Vec<ViewRecord>),
    Done,
    /// A window of the log: each slot's state is X when the log is
    /// truncated through it (its effect lives in a checkpoint), E when
    /// executed, C when known chosen, A when only accepted, and `.` when
    /// this node knows nothing of it yet.
    Slots {
        truncated: Slot,
        checkpoint: Slot,
        slots: Vec<SlotStatus>,
    },
    Members(Membership),
    /// The node refused the request; why, in words.
    Refused(String),
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum WireError {
    #[error("not a synod frame (magic {0:02x?}, expected \"SYND\")")]
    BadMagic([u8; 4]),
    #[error("unsupported protocol version {0} (this node speaks {VERSION})")]
    BadVersion(u8),
    #[error("frame of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    #[error("undecodable frame payload: {0}")]
    Decode(String),
}

/// Encodes one frame, header included.
pub fn encode(frame: &Frame) -> Bytes {
    let mut buf = BytesMut::with_capacity(64);
    encode_into(frame, &mut buf);
    buf.freeze()
}

/// Appends one encoded frame to `buf` (for writing many with one syscall).
pub fn encode_into(frame: &Frame, buf: &mut BytesMut) {
    // Frames are plain data; serialising into memory cannot fail.
    let payload = postcard::to_stdvec(frame).expect("frames always serialise");
    buf.reserve(HEADER_LEN + payload.len());
    buf.put_slice(&MAGIC);
    buf.put_u8(VERSION);
    buf.put_u32(payload.len() as u32);
    buf.put_slice(&payload);
}

/// Decodes frames from a byte stream.
#[derive(Debug)]
pub struct Decoder {
    max_frame: usize,
}

/// The most a decoder reserves ahead for a frame's payload.
const RESERVE_STEP: usize = 256 * 1024;

/// The largest frame a connection may send before its hello is accepted:
/// enough for any hello, far too little to matter times many connections.
pub const HELLO_MAX_FRAME: usize = 4 * 1024;

impl Decoder {
    pub fn new(max_frame: usize) -> Self {
        Decoder { max_frame }
    }

    /// Changes the largest frame accepted from now on.
    pub fn set_max_frame(&mut self, max_frame: usize) {
        self.max_frame = max_frame;
    }

    /// Takes one whole frame off the front of `buf`, or returns `Ok(None)`
    /// if more bytes are needed. Checks the header before waiting for the
    /// payload, so a stranger is refused after 9 bytes, not 16 MiB.
    pub fn decode(&self, buf: &mut BytesMut) -> Result<Option<Frame>, WireError> {
        if buf.len() < HEADER_LEN {
            // Refuse a wrong magic as soon as it shows.
            let n = buf.len().min(4);
            if buf[..n] != MAGIC[..n] {
                let mut magic = [0; 4];
                magic[..n].copy_from_slice(&buf[..n]);
                return Err(WireError::BadMagic(magic));
            }
            return Ok(None);
        }
        let magic = [buf[0], buf[1], buf[2], buf[3]];
        if magic != MAGIC {
            return Err(WireError::BadMagic(magic));
        }
        if buf[4] != VERSION {
            return Err(WireError::BadVersion(buf[4]));
        }
        let len = u32::from_be_bytes([buf[5], buf[6], buf[7], buf[8]]) as usize;
        if len > self.max_frame {
            return Err(WireError::TooLarge {
                size: len,
                limit: self.max_frame,
            });
        }
        if buf.len() < HEADER_LEN + len {
            // Room for the next part of the payload, not all of it: memory
            // grows with the bytes that actually arrive, not with the
            // length a sender claims.
            buf.reserve((HEADER_LEN + len - buf.len()).min(RESERVE_STEP));
            return Ok(None);
        }
        buf.advance(HEADER_LEN);
        let payload = buf.split_to(len);
        postcard::from_bytes(&payload)
            .map(Some)
            .map_err(|e| WireError::Decode(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello() -> Frame {
        Frame::Hello {
            cluster: "c".into(),
            caller: Caller::Peer(NodeId(2)),
        }
    }

    #[test]
    fn frames_round_trip_across_split_reads() {
        let frames = vec![
            hello(),
            Frame::Peer(Message::Heartbeat {
                ballot: Ballot::default(),
                commit: 7,
                round: 2,
            }),
            Frame::Request(Request {
                client: ClientId(9),
                timestamp: 3,
                command: Bytes::from_static(b"x"),
            }),
        ];
        let mut wire = BytesMut::new();
        for f in &frames {
            encode_into(f, &mut wire);
        }
        let d = Decoder::new(DEFAULT_MAX_FRAME);
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        // Feed one byte at a time: every split point must work.
        for b in wire.iter() {
            buf.put_u8(*b);
            while let Some(f) = d.decode(&mut buf).unwrap() {
                got.push(f);
            }
        }
        assert_eq!(got, frames);
        assert!(buf.is_empty());
    }

    #[test]
    fn garbage_is_refused_at_once() {
        let d = Decoder::new(DEFAULT_MAX_FRAME);
        let mut buf = BytesMut::from(&b"GET / HTTP/1.1\r\n"[..]);
        assert!(matches!(d.decode(&mut buf), Err(WireError::BadMagic(_))));
        let mut buf = BytesMut::from(&b"SX"[..]);
        assert!(matches!(d.decode(&mut buf), Err(WireError::BadMagic(_))));
    }

    #[test]
    fn oversized_frames_and_other_versions_are_refused_before_the_payload() {
        let d = Decoder::new(1024);
        let mut buf = BytesMut::new();
        buf.put_slice(&MAGIC);
        buf.put_u8(VERSION);
        buf.put_u32(1 << 30);
        assert_eq!(
            d.decode(&mut buf),
            Err(WireError::TooLarge {
                size: 1 << 30,
                limit: 1024
            })
        );
        let mut buf = BytesMut::from(&encode(&hello())[..]);
        buf[4] = 99;
        assert_eq!(d.decode(&mut buf), Err(WireError::BadVersion(99)));
    }

    #[test]
    fn a_payload_that_does_not_decode_is_an_error() {
        let d = Decoder::new(DEFAULT_MAX_FRAME);
        let mut buf = BytesMut::new();
        buf.put_slice(&MAGIC);
        buf.put_u8(VERSION);
        buf.put_u32(3);
        buf.put_slice(&[0xff, 0xff, 0xff]);
        assert!(matches!(d.decode(&mut buf), Err(WireError::Decode(_))));
    }

    #[test]
    fn the_change_request_is_appended_so_older_admin_frames_decode_unchanged() {
        // postcard writes a variant's index first: the ones that shipped
        // keep theirs, and the change request takes the next.
        let index = |r: &AdminRequest| postcard::to_stdvec(r).unwrap()[0];
        assert_eq!(index(&AdminRequest::Members), 7);
        assert_eq!(index(&AdminRequest::TransferLeader { to: NodeId(2) }), 8);
        let change = AdminRequest::Change(Change::AddLearner {
            id: NodeId(4),
            peer_addr: "127.0.0.1:7004".into(),
            client_addr: "127.0.0.1:7104".into(),
        });
        assert_eq!(index(&change), 9);
        assert!(change.changes_cluster());
        assert_eq!(change.name(), "add");
        let frame = Frame::Admin(change);
        let mut buf = BytesMut::from(&encode(&frame)[..]);
        let d = Decoder::new(DEFAULT_MAX_FRAME);
        assert_eq!(d.decode(&mut buf).unwrap(), Some(frame));
    }
}

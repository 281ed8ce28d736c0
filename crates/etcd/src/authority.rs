//! Tolerating the `:authority` that etcd 3.4's clients send with a scheme.
//!
//! grpc-go, as etcd 3.4's client library uses it, names a connection's
//! authority after the endpoint exactly as given, URL scheme included:
//! `etcdctl --endpoints=http://127.0.0.1:2379 endpoint status` sends
//! `:authority: http://127.0.0.1:2379` (so do its `defrag`, `hashkv` and
//! `move-leader`, which dial each endpoint on its own; over TLS the name
//! comes from the certificate's server name and is well formed). etcd's
//! server ignores the value; h2, which serves synod's gRPC, refuses the
//! request as malformed (RST_STREAM PROTOCOL_ERROR), as strict HTTP/2
//! proxies do. [`AuthorityFix`] reads a connection's bytes before h2 does
//! and rewrites such a value, `scheme://host:port` to `scheme:x@host:port`:
//! well formed (the scheme becomes user information) and of the same
//! length. The length matters: a header block may add the value to the
//! HPACK table that both ends keep, whose size counts each entry's length
//! (RFC 7541 §4.1), and the client goes on sizing its own copy. Nothing
//! reads the authority, so what it then says is moot.
//!
//! Everything else passes through unchanged. Only a HEADERS frame that
//! holds a whole header block, within HTTP/2's default frame size (which
//! the server keeps), is held back to be looked at; anything this reader
//! does not understand it passes on for h2 to judge.

use std::pin::Pin;
use std::task::{Context, Poll, ready};
use tokio::io::{AsyncRead, ReadBuf};

/// The client connection preface (RFC 9113 §3.4).
const PREFACE_LEN: usize = 24;
const FRAME_HEADER_LEN: usize = 9;
/// HTTP/2's default SETTINGS_MAX_FRAME_SIZE; the server does not raise it.
const MAX_FRAME: usize = 16_384;
const HEADERS: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY: u8 = 0x20;
/// How much one read from the connection takes.
const READ_CHUNK: usize = 16 * 1024;

/// A connection's read half, with `:authority` values fixed as above.
pub struct AuthorityFix<R> {
    inner: R,
    rewriter: Rewriter,
    /// Bytes read and looked at, not yet handed on; `ready[at..]` remain.
    ready: Vec<u8>,
    at: usize,
    chunk: Box<[u8]>,
}

impl<R> AuthorityFix<R> {
    pub fn new(inner: R) -> Self {
        AuthorityFix {
            inner,
            rewriter: Rewriter::default(),
            ready: Vec::new(),
            at: 0,
            chunk: vec![0; READ_CHUNK].into_boxed_slice(),
        }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for AuthorityFix<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let me = &mut *self;
        loop {
            if me.at < me.ready.len() {
                let n = out.remaining().min(me.ready.len() - me.at);
                out.put_slice(&me.ready[me.at..me.at + n]);
                me.at += n;
                if me.at == me.ready.len() {
                    me.ready.clear();
                    me.at = 0;
                }
                return Poll::Ready(Ok(()));
            }
            let mut chunk = ReadBuf::new(&mut me.chunk);
            ready!(Pin::new(&mut me.inner).poll_read(cx, &mut chunk))?;
            if chunk.filled().is_empty() {
                // The end: what is held back goes on as it came.
                me.rewriter.finish(&mut me.ready);
                if me.ready.is_empty() {
                    return Poll::Ready(Ok(()));
                }
                continue;
            }
            me.rewriter.feed(chunk.filled(), &mut me.ready);
        }
    }
}

/// The frame-by-frame state of the bytes from a client (sans IO).
#[derive(Debug)]
enum State {
    /// Passing on the connection preface: this many bytes remain.
    Preface(usize),
    /// Gathering a frame header.
    FrameHeader {
        header: [u8; FRAME_HEADER_LEN],
        have: usize,
    },
    /// Passing on a frame's payload unread: this many bytes remain.
    Payload(usize),
    /// Holding a HEADERS frame until its payload is whole.
    Headers {
        header: [u8; FRAME_HEADER_LEN],
        payload: Vec<u8>,
        len: usize,
    },
}

impl State {
    fn next_frame() -> State {
        State::FrameHeader {
            header: [0; FRAME_HEADER_LEN],
            have: 0,
        }
    }
}

#[derive(Debug)]
pub(crate) struct Rewriter {
    state: State,
}

impl Default for Rewriter {
    fn default() -> Self {
        Rewriter {
            state: State::Preface(PREFACE_LEN),
        }
    }
}

impl Rewriter {
    /// Takes the next bytes from the client; appends to `out` those that
    /// can go on to h2.
    pub(crate) fn feed(&mut self, mut input: &[u8], out: &mut Vec<u8>) {
        while !input.is_empty() {
            match &mut self.state {
                State::Preface(left) | State::Payload(left) => {
                    let n = (*left).min(input.len());
                    out.extend_from_slice(&input[..n]);
                    input = &input[n..];
                    *left -= n;
                    if *left == 0 {
                        self.state = State::next_frame();
                    }
                }
                State::FrameHeader { header, have } => {
                    let n = (FRAME_HEADER_LEN - *have).min(input.len());
                    header[*have..*have + n].copy_from_slice(&input[..n]);
                    input = &input[n..];
                    *have += n;
                    if *have == FRAME_HEADER_LEN {
                        let header = *header;
                        let len = usize::from(header[0]) << 16
                            | usize::from(header[1]) << 8
                            | usize::from(header[2]);
                        let whole_block = header[3] == HEADERS && header[4] & END_HEADERS != 0;
                        if whole_block && len <= MAX_FRAME {
                            self.state = State::Headers {
                                header,
                                payload: Vec::with_capacity(len),
                                len,
                            };
                            self.finish_headers(out);
                        } else {
                            out.extend_from_slice(&header);
                            self.state = if len == 0 {
                                State::next_frame()
                            } else {
                                State::Payload(len)
                            };
                        }
                    }
                }
                State::Headers { payload, len, .. } => {
                    let n = (*len - payload.len()).min(input.len());
                    payload.extend_from_slice(&input[..n]);
                    input = &input[n..];
                    self.finish_headers(out);
                }
            }
        }
    }

    /// A HEADERS frame whose payload is whole goes on, rewritten if need
    /// be.
    fn finish_headers(&mut self, out: &mut Vec<u8>) {
        let State::Headers {
            header,
            payload,
            len,
        } = &self.state
        else {
            return;
        };
        if payload.len() < *len {
            return;
        }
        match rewrite_headers_payload(header[4], payload) {
            Some(fixed) => {
                let n = fixed.len();
                out.extend_from_slice(&[(n >> 16) as u8, (n >> 8) as u8, n as u8]);
                out.extend_from_slice(&header[3..]);
                out.extend_from_slice(&fixed);
            }
            None => {
                out.extend_from_slice(header);
                out.extend_from_slice(payload);
            }
        }
        self.state = State::next_frame();
    }

    /// The connection ended: whatever is held back goes on as it came.
    pub(crate) fn finish(&mut self, out: &mut Vec<u8>) {
        match std::mem::replace(&mut self.state, State::Payload(0)) {
            State::FrameHeader { header, have } => out.extend_from_slice(&header[..have]),
            State::Headers {
                header, payload, ..
            } => {
                out.extend_from_slice(&header);
                out.extend_from_slice(&payload);
            }
            State::Preface(_) | State::Payload(_) => {}
        }
    }
}

/// A HEADERS frame's payload with its `:authority` fixed, or `None` if it
/// needs no fixing (or is not understood, or would outgrow a frame).
fn rewrite_headers_payload(flags: u8, payload: &[u8]) -> Option<Vec<u8>> {
    let mut start = 0;
    let mut pad = 0;
    if flags & PADDED != 0 {
        pad = usize::from(*payload.first()?);
        start = 1;
    }
    if flags & PRIORITY != 0 {
        start += 5;
    }
    let end = payload.len().checked_sub(pad)?;
    let block = payload.get(start..end)?;
    let fixed = rewrite_block(block)?;
    let mut out = Vec::with_capacity(payload.len() - block.len() + fixed.len());
    out.extend_from_slice(&payload[..start]);
    out.extend_from_slice(&fixed);
    out.extend_from_slice(&payload[end..]);
    (out.len() <= MAX_FRAME).then_some(out)
}

/// An HPACK header block (RFC 7541 §6) with each `:authority` literal
/// that holds a URL rewritten; `None` if there is none, or the block is
/// not understood.
fn rewrite_block(block: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut copied = 0;
    let mut at = 0;
    while at < block.len() {
        let first = block[at];
        let name_prefix = if first & 0x80 != 0 {
            // Indexed field: nothing literal.
            at = read_int(block, at, 7)?.1;
            continue;
        } else if first & 0xc0 == 0x40 {
            6 // literal with incremental indexing
        } else if first & 0xe0 == 0x20 {
            // Dynamic table size update.
            at = read_int(block, at, 5)?.1;
            continue;
        } else {
            4 // literal without indexing, or never indexed
        };
        let (name_index, next) = read_int(block, at, name_prefix)?;
        at = next;
        let is_authority = if name_index == 0 {
            let (name, next) = read_string(block, at)?;
            at = next;
            name == b":authority"
        } else {
            // The static table's first entry (RFC 7541 Appendix A).
            name_index == 1
        };
        let value_at = at;
        at = string_end(block, at)?;
        // Only the authority's value is decoded: every request's header
        // block passes through here.
        if is_authority && let Some(fixed) = fix_authority(&read_string(block, value_at)?.0) {
            out.extend_from_slice(&block[copied..value_at]);
            write_raw_string(&fixed, &mut out);
            copied = at;
        }
    }
    if copied == 0 {
        return None;
    }
    out.extend_from_slice(&block[copied..]);
    Some(out)
}

/// `scheme://rest` as `scheme:x@rest`, the same length; `None` for an
/// authority without a scheme.
fn fix_authority(value: &[u8]) -> Option<Vec<u8>> {
    let sep = value.windows(3).position(|w| w == b"://")?;
    let mut fixed = value.to_vec();
    fixed[sep..sep + 3].copy_from_slice(b":x@");
    Some(fixed)
}

/// An HPACK integer with an `prefix`-bit prefix at `block[at]` (RFC 7541
/// §5.1): its value and where the next field starts.
fn read_int(block: &[u8], mut at: usize, prefix: u8) -> Option<(usize, usize)> {
    let max = (1usize << prefix) - 1;
    let mut value = usize::from(*block.get(at)?) & max;
    at += 1;
    if value < max {
        return Some((value, at));
    }
    let mut shift = 0;
    loop {
        let b = *block.get(at)?;
        at += 1;
        // Far beyond any length in a 16 KiB frame: not ours to read.
        if shift > 21 {
            return None;
        }
        value += usize::from(b & 0x7f) << shift;
        shift += 7;
        if b & 0x80 == 0 {
            return Some((value, at));
        }
    }
}

/// Where the HPACK string literal at `block[at]` (RFC 7541 §5.2) ends.
fn string_end(block: &[u8], at: usize) -> Option<usize> {
    let (len, start) = read_int(block, at, 7)?;
    let end = start.checked_add(len)?;
    (end <= block.len()).then_some(end)
}

/// The HPACK string literal at `block[at]`, Huffman decoded: its octets
/// and where the next field starts.
fn read_string(block: &[u8], at: usize) -> Option<(Vec<u8>, usize)> {
    let huffman = *block.get(at)? & 0x80 != 0;
    let end = string_end(block, at)?;
    let (_, start) = read_int(block, at, 7)?;
    let raw = &block[start..end];
    let octets = if huffman {
        let mut decoded = Vec::with_capacity(raw.len() * 2);
        httlib_huffman::decode(raw, &mut decoded, httlib_huffman::DecoderSpeed::FourBits).ok()?;
        decoded
    } else {
        raw.to_vec()
    };
    Some((octets, end))
}

/// `octets` as an HPACK string literal, not Huffman coded.
fn write_raw_string(octets: &[u8], out: &mut Vec<u8>) {
    let len = octets.len();
    if len < 0x7f {
        out.push(len as u8);
    } else {
        out.push(0x7f);
        let mut rest = len - 0x7f;
        while rest >= 0x80 {
            out.push((rest & 0x7f) as u8 | 0x80);
            rest >>= 7;
        }
        out.push(rest as u8);
    }
    out.extend_from_slice(octets);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The first HEADERS frame of `etcdctl endpoint status` (etcd 3.4.23)
    /// against `http://127.0.0.1:23999`, as captured: POST, http, path
    /// `/etcdserverpb.Maintenance/Status`, then `:authority` (static name
    /// 1, Huffman-coded value, indexed incrementally), content type and
    /// the rest.
    const CAPTURED: &str = "8386459760a924882d9dcb6571afa066a925a87510ac6e48d36a3f41909d29aee30c044eae05c0b86e0997df7f5f8b1d75d0620d263d4c4d65647a8b9acac8b4c7602bb2caecff40027465864d833505b11f40899acac8b24d494f6a7f860befbcfb42b7408d25062d495875996ee5b1063d5f03332e34";

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn frame(kind: u8, flags: u8, payload: &[u8]) -> Vec<u8> {
        let n = payload.len();
        let mut f = vec![
            (n >> 16) as u8,
            (n >> 8) as u8,
            n as u8,
            kind,
            flags,
            0,
            0,
            0,
            1,
        ];
        f.extend_from_slice(payload);
        f
    }

    fn connection(frames: &[Vec<u8>]) -> Vec<u8> {
        let mut bytes = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        bytes.extend_from_slice(&frame(0x4, 0, &[]));
        for f in frames {
            bytes.extend_from_slice(f);
        }
        bytes
    }

    fn through(bytes: &[u8], pieces: usize) -> Vec<u8> {
        let mut r = Rewriter::default();
        let mut out = Vec::new();
        for chunk in bytes.chunks(pieces.max(1)) {
            r.feed(chunk, &mut out);
        }
        r.finish(&mut out);
        out
    }

    /// Every field of a header block, decoded: (name index or 0, name,
    /// value).
    fn fields(block: &[u8]) -> Vec<(usize, Vec<u8>, Vec<u8>)> {
        let mut at = 0;
        let mut fields = Vec::new();
        while at < block.len() {
            let first = block[at];
            if first & 0x80 != 0 {
                let (i, next) = read_int(block, at, 7).unwrap();
                fields.push((i, Vec::new(), Vec::new()));
                at = next;
                continue;
            }
            let prefix = if first & 0xc0 == 0x40 { 6 } else { 4 };
            let (i, mut next) = read_int(block, at, prefix).unwrap();
            let mut name = Vec::new();
            if i == 0 {
                (name, next) = read_string(block, next).unwrap();
            }
            let (value, next) = read_string(block, next).unwrap();
            fields.push((i, name, value));
            at = next;
        }
        fields
    }

    #[test]
    fn an_etcd_3_4_authority_is_rewritten_to_a_well_formed_one_of_the_same_length() {
        let block = hex(CAPTURED);
        let before = fields(&block);
        let authority = before.iter().find(|(i, _, _)| *i == 1).unwrap();
        assert_eq!(authority.2, b"http://127.0.0.1:23999");

        let out = through(&connection(&[frame(HEADERS, END_HEADERS, &block)]), 7);
        let fixed = &out[PREFACE_LEN + FRAME_HEADER_LEN..];
        let len = usize::from(fixed[0]) << 16 | usize::from(fixed[1]) << 8 | usize::from(fixed[2]);
        assert_eq!(
            len,
            fixed.len() - FRAME_HEADER_LEN,
            "the frame length follows"
        );
        assert_eq!(&fixed[3..9], &[HEADERS, END_HEADERS, 0, 0, 0, 1]);
        let after = fields(&fixed[FRAME_HEADER_LEN..]);
        assert_eq!(after.len(), before.len());
        for (b, a) in before.iter().zip(&after) {
            if b.0 == 1 {
                assert_eq!(a.2, b"http:x@127.0.0.1:23999");
                assert_eq!(a.2.len(), b.2.len(), "same length: the HPACK tables agree");
                let text = std::str::from_utf8(&a.2).unwrap();
                assert!(text.parse::<http::uri::Authority>().is_ok(), "{text}");
                let before = std::str::from_utf8(&b.2).unwrap();
                assert!(before.parse::<http::uri::Authority>().is_err(), "{before}");
            } else {
                assert_eq!(a, b, "every other field unchanged");
            }
        }
    }

    #[test]
    fn padding_and_priority_are_kept_around_the_rewritten_block() {
        let block = hex(CAPTURED);
        let mut payload = vec![3u8]; // pad length
        payload.extend_from_slice(&[0x80, 0, 0, 0, 16]); // priority
        payload.extend_from_slice(&block);
        payload.extend_from_slice(&[0, 0, 0]);
        let fixed = rewrite_headers_payload(PADDED | PRIORITY | END_HEADERS, &payload).unwrap();
        assert_eq!(&fixed[..6], &payload[..6]);
        assert_eq!(&fixed[fixed.len() - 3..], &[0, 0, 0]);
        let block = &fixed[6..fixed.len() - 3];
        assert!(
            fields(block)
                .iter()
                .any(|(i, _, v)| *i == 1 && v == b"http:x@127.0.0.1:23999")
        );
    }

    #[test]
    fn well_formed_authorities_and_other_frames_pass_untouched() {
        // `:authority: 127.0.0.1:2379`, raw, then a DATA frame, a
        // HEADERS frame continued in a CONTINUATION, and a PING.
        let mut block = vec![0x41, 14];
        block.extend_from_slice(b"127.0.0.1:2379");
        let frames = [
            frame(HEADERS, END_HEADERS, &block),
            frame(0x0, 0x1, b"http://not-a-header"),
            frame(HEADERS, 0, &hex(CAPTURED)[..20]),
            frame(0x9, END_HEADERS, &hex(CAPTURED)[20..]),
            frame(0x6, 0, &[0; 8]),
        ];
        let bytes = connection(&frames);
        for pieces in [1, 5, 9, 4096] {
            assert_eq!(through(&bytes, pieces), bytes);
        }
    }

    #[test]
    fn a_connection_cut_mid_frame_hands_on_what_came() {
        let bytes = connection(&[frame(HEADERS, END_HEADERS, &hex(CAPTURED))]);
        for cut in [
            3,
            PREFACE_LEN + 4,
            PREFACE_LEN + 9 + 4,
            PREFACE_LEN + 9 + 20,
        ] {
            assert_eq!(through(&bytes[..cut], 3), &bytes[..cut]);
        }
    }

    #[tokio::test]
    async fn the_reader_hands_h2_the_rewritten_bytes() {
        use tokio::io::AsyncReadExt;
        let bytes = connection(&[frame(HEADERS, END_HEADERS, &hex(CAPTURED))]);
        let mut reader = AuthorityFix::new(&bytes[..]);
        let mut got = Vec::new();
        reader.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, through(&bytes, bytes.len()));
        assert_ne!(got, bytes);
    }

    proptest! {
        /// Whatever a client sends, and however it is split: no panic, the
        /// same bytes out for every split, and unchanged unless a HEADERS
        /// frame held an authority with a scheme.
        #[test]
        fn any_bytes_any_split(body in proptest::collection::vec(any::<u8>(), 0..400), split in 1usize..64) {
            let mut bytes = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
            bytes.extend_from_slice(&body);
            let whole = through(&bytes, bytes.len());
            prop_assert_eq!(through(&bytes, split), whole.clone());
            if !whole.windows(3).any(|w| w == b":x@") {
                prop_assert_eq!(whole, bytes);
            }
        }
    }
}

//! KV's unary calls (Range, Put, DeleteRange, Txn, Compact) served without
//! tonic's per-call machinery: the request's one message is read and
//! decoded, the service's own method answers it, and the reply goes back as
//! one data frame and the `grpc-status` trailer.
//!
//! The answers are the same as tonic's: the same messages, the same
//! statuses for a missing, malformed, compressed or oversized request. A
//! request whose message is compressed (`grpc-encoding` other than
//! identity) goes to tonic, which refuses the encoding as it always did.

use crate::pb::etcdserverpb::kv_server::Kv;
use bytes::{BufMut, Bytes, BytesMut};
use http::HeaderValue;
use http_body::Frame;
use http_body_util::BodyExt;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use tonic::Status;
use tonic::body::Body;

/// The largest request message taken (tonic's default, which the other
/// services keep).
pub const MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;
/// A gRPC message's prefix: a compression flag and a 4-byte length.
const PREFIX: usize = 5;

/// The KV call a request's path names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Range,
    Put,
    DeleteRange,
    Txn,
    Compact,
}

impl Method {
    /// The method of a path `/etcdserverpb.KV/<method>`, for a request this
    /// path may serve: its message, if any, is not compressed.
    pub fn of<T>(request: &http::Request<T>) -> Option<Method> {
        let compressed = request
            .headers()
            .get("grpc-encoding")
            .is_some_and(|e| e != "identity");
        if compressed {
            return None;
        }
        match request.uri().path().strip_prefix("/etcdserverpb.KV/")? {
            "Range" => Some(Method::Range),
            "Put" => Some(Method::Put),
            "DeleteRange" => Some(Method::DeleteRange),
            "Txn" => Some(Method::Txn),
            "Compact" => Some(Method::Compact),
            _ => None,
        }
    }
}

/// Answers `request`, a call of `method`, with `kv`.
pub async fn call<K, B>(kv: &K, method: Method, request: http::Request<B>) -> http::Response<Body>
where
    K: Kv,
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let message = match read_message(request.into_body()).await {
        Ok(message) => message,
        Err(status) => return status.into_http(),
    };
    match method {
        Method::Range => respond(message, |m| kv.range(m)).await,
        Method::Put => respond(message, |m| kv.put(m)).await,
        Method::DeleteRange => respond(message, |m| kv.delete_range(m)).await,
        Method::Txn => respond(message, |m| kv.txn(m)).await,
        Method::Compact => respond(message, |m| kv.compact(m)).await,
    }
}

/// Decodes `message` for `method` and answers with what it returns.
async fn respond<M, R, F>(
    message: Bytes,
    method: impl FnOnce(tonic::Request<M>) -> F,
) -> http::Response<Body>
where
    M: prost::Message + Default,
    R: prost::Message,
    F: Future<Output = Result<tonic::Response<R>, Status>>,
{
    match M::decode(message) {
        Ok(m) => answer(method(tonic::Request::new(m)).await),
        Err(e) => Status::internal(e.to_string()).into_http(),
    }
}

/// The one message of a unary request's body, without its prefix; refused
/// as tonic refuses it, and no more than [`MAX_REQUEST_BYTES`] kept.
async fn read_message<B>(mut body: B) -> Result<Bytes, Status>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    // Nearly always the message comes whole in one data frame: keep that
    // frame's bytes rather than copy them.
    let mut first: Option<Bytes> = None;
    let mut joined = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| Status::from_error(e.into()))?;
        let Ok(data) = frame.into_data() else {
            continue; // trailers: a unary request's carry nothing used here
        };
        if data.is_empty() {
            continue;
        }
        if first.is_none() && joined.is_empty() {
            first = Some(data);
        } else {
            if let Some(bytes) = first.take() {
                joined.extend_from_slice(&bytes);
            }
            joined.extend_from_slice(&data);
        }
        let held = first.as_ref().map_or(joined.len(), Bytes::len);
        if held > PREFIX + MAX_REQUEST_BYTES {
            break; // the prefix says how much too large
        }
    }
    let bytes = first.unwrap_or_else(|| joined.freeze());
    if bytes.is_empty() {
        return Err(Status::internal("Missing request message."));
    }
    if bytes.len() < PREFIX {
        return Err(Status::internal("Unexpected EOF decoding stream."));
    }
    match bytes[0] {
        0 => {}
        1 => {
            return Err(Status::internal(
                "protocol error: received message with compressed-flag but no grpc-encoding was specified",
            ));
        }
        flag => {
            return Err(Status::internal(format!(
                "protocol error: received message with invalid compression flag: {flag} \
                 (valid flags are 0 and 1) while receiving request"
            )));
        }
    }
    let len = u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]) as usize;
    if len > MAX_REQUEST_BYTES {
        return Err(Status::out_of_range(format!(
            "Error, decoded message length too large: found {len} bytes, the limit is: {MAX_REQUEST_BYTES} bytes"
        )));
    }
    if bytes.len() < PREFIX + len {
        return Err(Status::internal("Unexpected EOF decoding stream."));
    }
    Ok(bytes.slice(PREFIX..PREFIX + len))
}

/// The service's answer as gRPC: the message and an OK trailer, or the
/// status alone.
fn answer<M: prost::Message>(reply: Result<tonic::Response<M>, Status>) -> http::Response<Body> {
    let message = match reply {
        Ok(reply) => reply.into_inner(),
        Err(status) => return status.into_http(),
    };
    let len = message.encoded_len();
    let Ok(prefix_len) = u32::try_from(len) else {
        return Status::out_of_range(format!(
            "Error, encoded message length too large: found {len} bytes, the limit is: {} bytes",
            u32::MAX
        ))
        .into_http();
    };
    let mut frame = BytesMut::with_capacity(PREFIX + len);
    frame.put_u8(0);
    frame.put_u32(prefix_len);
    // Cannot fail: the buffer holds the message's whole encoded length.
    let _ = message.encode(&mut frame);
    let mut response = http::Response::new(Body::new(Reply {
        message: Some(frame.freeze()),
        trailer_sent: false,
    }));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    response
}

/// A unary reply's body: the message, then `grpc-status: 0`.
struct Reply {
    message: Option<Bytes>,
    trailer_sent: bool,
}

impl http_body::Body for Reply {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if let Some(message) = self.message.take() {
            return Poll::Ready(Some(Ok(Frame::data(message))));
        }
        if self.trailer_sent {
            return Poll::Ready(None);
        }
        self.trailer_sent = true;
        let mut trailers = http::HeaderMap::with_capacity(1);
        trailers.insert("grpc-status", HeaderValue::from_static("0"));
        Poll::Ready(Some(Ok(Frame::trailers(trailers))))
    }

    fn is_end_stream(&self) -> bool {
        self.message.is_none() && self.trailer_sent
    }

    // No exact `size_hint`: from one hyper adds a content-length header to
    // the answer, which tonic's answers do not carry, and which is one
    // header more to encode here and to decode and check at the client.
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryBackend;
    use crate::pb::etcdserverpb as pb;
    use crate::pb::etcdserverpb::kv_server::KvServer;
    use crate::service::{EtcdOptions, KvService, Shared};
    use http_body_util::{Full, StreamBody};
    use prost::Message;
    use std::sync::Arc;
    use tonic::codegen::Service;

    fn kv() -> Arc<KvService<MemoryBackend>> {
        let closing = tokio::sync::watch::channel(false).1;
        let shared = Shared::new(
            Arc::new(MemoryBackend::start()),
            EtcdOptions::default(),
            closing,
        );
        Arc::new(KvService::new(shared))
    }

    fn framed(flag: u8, message: &[u8]) -> Bytes {
        let mut b = BytesMut::new();
        b.put_u8(flag);
        b.put_u32(message.len() as u32);
        b.extend_from_slice(message);
        b.freeze()
    }

    fn request<B>(path: &str, body: B) -> http::Request<B> {
        http::Request::builder()
            .method("POST")
            .uri(format!("http://localhost{path}"))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(body)
            .unwrap()
    }

    /// A response as the client sees it: grpc-status (from the trailers,
    /// or the headers of a trailers-only reply), message and data bytes,
    /// and the body's exact size if it gives one (hyper then sends a
    /// content-length header).
    async fn seen(response: http::Response<Body>) -> (String, String, Bytes, Option<u64>) {
        let (parts, body) = response.into_parts();
        let exact = http_body::Body::size_hint(&body).exact();
        let collected = body.collect().await.unwrap();
        let trailers = collected.trailers().cloned().unwrap_or_default();
        let field = |name: &str| {
            trailers
                .get(name)
                .or_else(|| parts.headers.get(name))
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default()
        };
        let (status, message) = (
            field("grpc-status"),
            percent_decoded(&field("grpc-message")),
        );
        assert_eq!(
            parts.headers.get("content-type").map(|v| v.as_bytes()),
            Some(&b"application/grpc"[..])
        );
        (status, message, collected.to_bytes(), exact)
    }

    /// grpc-message as sent: percent-encoded.
    fn percent_decoded(s: &str) -> String {
        let mut out = Vec::new();
        let mut bytes = s.bytes();
        while let Some(b) = bytes.next() {
            if b == b'%' {
                let hex: String = bytes.by_ref().take(2).map(char::from).collect();
                out.push(u8::from_str_radix(&hex, 16).unwrap());
            } else {
                out.push(b);
            }
        }
        String::from_utf8(out).unwrap()
    }

    async fn fast(
        kv: &KvService<MemoryBackend>,
        path: &str,
        body: Bytes,
    ) -> (String, String, Bytes, Option<u64>) {
        let request = request(path, Full::new(body));
        let method = Method::of(&request).expect("a KV unary path");
        seen(call(kv, method, request).await).await
    }

    async fn through_tonic(
        kv: &Arc<KvService<MemoryBackend>>,
        path: &str,
        body: Bytes,
    ) -> (String, String, Bytes, Option<u64>) {
        let mut server = KvServer::from_arc(Arc::clone(kv));
        let response = server.call(request(path, Full::new(body))).await.unwrap();
        seen(response).await
    }

    fn put(key: &str, value: &str) -> Vec<u8> {
        pb::PutRequest {
            key: key.into(),
            value: value.into(),
            prev_kv: true,
            ..Default::default()
        }
        .encode_to_vec()
    }

    #[test]
    fn only_kv_unary_calls_without_compression_take_this_path() {
        let r = |path: &str, encoding: Option<&str>| {
            let mut b = http::Request::builder().uri(format!("http://h{path}"));
            if let Some(e) = encoding {
                b = b.header("grpc-encoding", e);
            }
            Method::of(&b.body(()).unwrap())
        };
        assert_eq!(r("/etcdserverpb.KV/Put", None), Some(Method::Put));
        assert_eq!(
            r("/etcdserverpb.KV/Range", Some("identity")),
            Some(Method::Range)
        );
        assert_eq!(r("/etcdserverpb.KV/Txn", None), Some(Method::Txn));
        assert_eq!(
            r("/etcdserverpb.KV/DeleteRange", None),
            Some(Method::DeleteRange)
        );
        assert_eq!(r("/etcdserverpb.KV/Compact", None), Some(Method::Compact));
        assert_eq!(r("/etcdserverpb.KV/Put", Some("gzip")), None);
        assert_eq!(r("/etcdserverpb.KV/Watch", None), None);
        assert_eq!(r("/etcdserverpb.Lease/LeaseGrant", None), None);
        assert_eq!(r("/etcdserverpb.KV/Put/extra", None), None);
    }

    /// The same requests, each sent to a store of its own through tonic's
    /// server and through this path in the same order: the same answers,
    /// byte for byte, good and bad.
    #[tokio::test]
    async fn answers_as_tonic_does() {
        let (a, b) = (kv(), kv());
        let range = pb::RangeRequest {
            key: "k".into(),
            range_end: vec![0],
            ..Default::default()
        }
        .encode_to_vec();
        let txn = pb::TxnRequest {
            compare: vec![pb::Compare {
                key: "k1".into(),
                target: pb::compare::CompareTarget::Version as i32,
                result: pb::compare::CompareResult::Equal as i32,
                target_union: Some(pb::compare::TargetUnion::Version(1)),
                ..Default::default()
            }],
            success: vec![pb::RequestOp {
                request: Some(pb::request_op::Request::RequestPut(pb::PutRequest {
                    key: "k2".into(),
                    value: "v".into(),
                    ..Default::default()
                })),
            }],
            ..Default::default()
        }
        .encode_to_vec();
        let delete = pb::DeleteRangeRequest {
            key: "k1".into(),
            prev_kv: true,
            ..Default::default()
        }
        .encode_to_vec();
        let compact = pb::CompactionRequest {
            revision: 2,
            ..Default::default()
        }
        .encode_to_vec();
        let calls: Vec<(&str, Bytes)> = vec![
            ("/etcdserverpb.KV/Put", framed(0, &put("k1", "v1"))),
            ("/etcdserverpb.KV/Put", framed(0, &put("k1", "v2"))),
            ("/etcdserverpb.KV/Range", framed(0, &range)),
            ("/etcdserverpb.KV/Txn", framed(0, &txn)),
            ("/etcdserverpb.KV/DeleteRange", framed(0, &delete)),
            ("/etcdserverpb.KV/Compact", framed(0, &compact)),
            // A compacted revision: the backend's error.
            ("/etcdserverpb.KV/Compact", framed(0, &compact)),
            // An empty key: the service's own check.
            ("/etcdserverpb.KV/Put", framed(0, &put("", "v"))),
            // Not a protobuf message.
            ("/etcdserverpb.KV/Put", framed(0, &[0xff, 0xff, 0xff])),
            // No message at all.
            ("/etcdserverpb.KV/Range", Bytes::new()),
            // Flagged compressed without an encoding.
            ("/etcdserverpb.KV/Put", framed(1, &put("k", "v"))),
        ];
        for (path, body) in calls {
            let want = through_tonic(&a, path, body.clone()).await;
            let got = fast(&b, path, body).await;
            assert_eq!(got, want, "{path}");
        }
        // The stores went the same way: the last put's answer matches too.
        let want = through_tonic(&a, "/etcdserverpb.KV/Put", framed(0, &put("z", "1"))).await;
        let got = fast(&b, "/etcdserverpb.KV/Put", framed(0, &put("z", "1"))).await;
        assert_eq!(got.0, "0");
        assert_eq!(got, want);
    }

    #[tokio::test]
    async fn a_message_split_over_frames_is_joined() {
        let kv = kv();
        let whole = framed(0, &put("split", "value"));
        let pieces: Vec<Result<Frame<Bytes>, Infallible>> = whole
            .chunks(3)
            .map(|c| Ok(Frame::data(Bytes::copy_from_slice(c))))
            .collect();
        let body = StreamBody::new(tokio_stream::iter(pieces));
        let request = request("/etcdserverpb.KV/Put", body);
        let (status, _, data, _) = seen(call(&*kv, Method::Put, request).await).await;
        assert_eq!(status, "0");
        let reply = pb::PutResponse::decode(&data[PREFIX..]).unwrap();
        assert_eq!(reply.header.unwrap().revision, 2);
    }

    #[tokio::test]
    async fn truncated_messages_and_bad_flags_are_refused() {
        let kv = kv();
        let whole = framed(0, &put("k", "v"));
        let cut = whole.slice(..whole.len() - 1);
        let (status, message, _, _) = fast(&kv, "/etcdserverpb.KV/Put", cut).await;
        assert_eq!(status, (tonic::Code::Internal as i32).to_string());
        assert!(message.contains("Unexpected EOF"), "{message}");
        let (status, _, _, _) = fast(&kv, "/etcdserverpb.KV/Put", whole.slice(..3)).await;
        assert_eq!(status, (tonic::Code::Internal as i32).to_string());
        let (status, message, _, _) = fast(&kv, "/etcdserverpb.KV/Put", framed(7, b"")).await;
        assert_eq!(status, (tonic::Code::Internal as i32).to_string());
        assert!(message.contains("invalid compression flag"), "{message}");
    }

    /// A body that never ends is read no further than the limit: the
    /// request is refused as too large rather than held in memory.
    #[tokio::test]
    async fn an_oversized_request_is_refused_without_reading_it_all() {
        let kv = kv();
        let mut head = BytesMut::new();
        head.put_u8(0);
        head.put_u32(u32::MAX);
        let chunk = Bytes::from(vec![0u8; 64 * 1024]);
        let frames = std::iter::once(head.freeze())
            .chain(std::iter::repeat(chunk))
            .map(|b| Ok::<_, Infallible>(Frame::data(b)));
        let request = request(
            "/etcdserverpb.KV/Put",
            StreamBody::new(tokio_stream::iter(frames)),
        );
        let (status, message, _, _) = seen(call(&*kv, Method::Put, request).await).await;
        assert_eq!(status, (tonic::Code::OutOfRange as i32).to_string());
        assert!(message.contains("too large"), "{message}");
    }
}

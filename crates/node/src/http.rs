//! The metrics endpoint: a small HTTP/1 server on the node's
//! `metrics_addr`, answering `GET /metrics` (the registry of
//! [`crate::metrics`] in the Prometheus text format) and `GET /health`
//! (etcd's shape: `{"health":"true","reason":""}` with 200, or `"false"`
//! and the reason with 503).
//!
//! It reads only atomics that the node's tasks keep current, so a scrape
//! never waits for the core task nor makes it wait.
//!
//! What a connection can cost is bounded, as on the node's other ports:
//! at most [`MAX_CONNECTIONS`] at once (more are closed as they arrive);
//! one request per connection; its head within [`HEAD_TIMEOUT`] and
//! [`MAX_HEAD_BYTES`]; a request body is never read; the whole exchange
//! within [`CONNECTION_TIMEOUT`].

use crate::metrics::Metrics;
use crate::net::BoundedListener;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{ALLOW, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// Connections held at once: a scraper or two and a person with curl.
pub const MAX_CONNECTIONS: usize = 16;
/// How long a connection has to send its request's head.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one connection may last in all.
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(10);
/// The connection's read buffer (hyper's default is 400 KiB): a request
/// head larger than this is refused (431) rather than buffered.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;

/// Serves `metrics` on `listener` until the node stops.
pub(crate) async fn serve(listener: TcpListener, metrics: Arc<Metrics>) {
    let mut listener = BoundedListener::new(listener, MAX_CONNECTIONS, "metrics");
    loop {
        let (stream, from, slot) = listener.accept().await;
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let response = respond(&metrics, &request);
                async move { Ok::<_, Infallible>(response) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEAD_TIMEOUT)
                .max_buf_size(MAX_HEAD_BYTES)
                .keep_alive(false)
                .serve_connection(TokioIo::new(stream), service);
            match tokio::time::timeout(CONNECTION_TIMEOUT, connection).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::debug!(%from, "metrics: connection ended: {e}"),
                Err(_) => tracing::debug!(%from, "metrics: connection timed out"),
            }
            drop(slot);
        });
    }
}

/// The answer to one request.
fn respond(metrics: &Metrics, request: &Request<Incoming>) -> Response<Full<Bytes>> {
    let path = request.uri().path();
    if path != "/metrics" && path != "/health" {
        return plain(
            StatusCode::NOT_FOUND,
            "not found: try /metrics or /health\n",
        );
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "only GET\n");
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    if path == "/metrics" {
        return match metrics.encode() {
            Ok(text) => with_type(
                StatusCode::OK,
                prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
                text,
            ),
            Err(_) => plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the metrics did not encode\n",
            ),
        };
    }
    let health = metrics.health();
    let body = HealthBody {
        health: if health.problem.is_none() {
            "true"
        } else {
            "false"
        },
        reason: health.problem.as_deref().unwrap_or(""),
        leader: health.leader,
    };
    let status = if health.problem.is_none() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    match serde_json::to_string(&body) {
        Ok(json) => with_type(status, "application/json", json + "\n"),
        Err(_) => plain(StatusCode::INTERNAL_SERVER_ERROR, "health did not encode\n"),
    }
}

/// etcd's `/health` body (`health` is a string there too), with the
/// leader this node follows.
#[derive(serde::Serialize)]
struct HealthBody<'a> {
    health: &'static str,
    reason: &'a str,
    leader: u64,
}

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    with_type(status, "text/plain; charset=utf-8", text.to_string())
}

fn with_type(
    status: StatusCode,
    content_type: &'static str,
    body: String,
) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

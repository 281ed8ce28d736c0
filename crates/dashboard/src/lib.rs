//! synod-dashboard: a live web view of a synod cluster.
//!
//! One hand-written page (HTML, a small script, a style sheet, all built
//! into the binary) shows every node, a window of the replicated log slot
//! by slot, the NEW-VIEWs, throughput and latency, and the application
//! state per node. A poller asks every node's admin views several times a
//! second ([`poll`]) and publishes one JSON snapshot, which the page
//! receives over server-sent events (`GET /events`).
//!
//! Where the cluster file enables fault injection (`[testing]
//! fault_injection = true`), the page also kills, pauses, resumes,
//! restarts and partitions nodes and starts and stops a load
//! (`POST /api/control`, [`control`]). Those requests need the random token
//! the dashboard prints at startup; everything else is read-only.

mod control;
mod load;
mod poll;

use anyhow::Context;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};
use synod_node::ClusterFile;
use synod_tools::local::LocalCluster;
use tokio::sync::watch;
use tokio_stream::wrappers::WatchStream;
use tokio_stream::{Stream, StreamExt};

/// At most this many pages receive the event stream at once; more are
/// refused (503) rather than let memory grow with them.
pub const MAX_SSE_CLIENTS: usize = 16;
/// The default time between two rounds of admin queries.
pub const DEFAULT_POLL: Duration = Duration::from_millis(250);

const INDEX_HTML: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const STYLE_CSS: &str = include_str!("assets/style.css");

/// What the dashboard watches and where it listens.
#[derive(Clone, Debug)]
pub struct DashboardOptions {
    /// The cluster file. When it is `cluster.toml` in a directory made by
    /// `synod cluster up` (or the demo), the node processes can be
    /// controlled; otherwise only partitions and the load work.
    pub cluster: PathBuf,
    /// Where to serve the page (port 0: any free port).
    pub listen: SocketAddr,
    /// The `synod` binary, to restart nodes with.
    pub binary: PathBuf,
    /// The time between two rounds of admin queries.
    pub poll: Duration,
}

/// The state every request handler and the poller share.
pub(crate) struct Shared {
    pub cluster: Arc<LocalCluster>,
    pub fault_injection: bool,
    pub token: String,
    pub poll: Duration,
    pub started: Instant,
    pub snapshot: watch::Sender<Arc<String>>,
    pub history: Mutex<poll::History>,
    pub load: Mutex<Option<load::Load>>,
    pub sse_clients: AtomicUsize,
}

impl Shared {
    /// Milliseconds since the dashboard started (the page's clock).
    pub fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Appends a line to the page's event log.
    pub fn note(&self, ok: bool, text: String) {
        let at = self.now_ms();
        if let Ok(mut h) = self.history.lock() {
            h.note(at, ok, text);
        }
    }
}

/// A running dashboard.
pub struct Dashboard {
    addr: SocketAddr,
    token: String,
    server: tokio::task::JoinHandle<()>,
    poller: tokio::task::JoinHandle<()>,
    shared: Arc<Shared>,
}

impl Dashboard {
    /// Loads the cluster file, binds `options.listen`, and starts serving
    /// and polling (on the current tokio runtime).
    pub async fn start(options: DashboardOptions) -> anyhow::Result<Dashboard> {
        let cluster = open_cluster(&options.cluster, &options.binary)?;
        let fault_injection = cluster.file.testing.fault_injection;
        let token = format!("{:032x}", rand::random::<u128>());
        let (snapshot, _) = watch::channel(Arc::new(String::from("{}")));
        let shared = Arc::new(Shared {
            cluster: Arc::new(cluster),
            fault_injection,
            token: token.clone(),
            poll: options.poll.max(Duration::from_millis(50)),
            started: Instant::now(),
            snapshot,
            history: Mutex::new(poll::History::default()),
            load: Mutex::new(None),
            sse_clients: AtomicUsize::new(0),
        });
        let listener = tokio::net::TcpListener::bind(options.listen)
            .await
            .with_context(|| format!("listening on {}", options.listen))?;
        let addr = listener.local_addr()?;
        // One round before serving, so the first page shows the cluster.
        poll::round(&shared).await;
        let poller = tokio::spawn(poll::run(shared.clone()));
        let app = router(shared.clone());
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("dashboard: the HTTP server stopped: {e}");
            }
        });
        Ok(Dashboard {
            addr,
            token,
            server,
            poller,
            shared,
        })
    }

    /// Where the page is served.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The credential the control endpoint asks for.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The page's address with the credential: whoever opens it can use
    /// the controls.
    pub fn url(&self) -> String {
        format!("http://{}/?token={}", self.addr, self.token)
    }

    /// The page's address without the credential (view only).
    pub fn view_url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Pages receiving the event stream now.
    pub fn pages(&self) -> usize {
        self.shared.sse_clients.load(Ordering::SeqCst)
    }

    /// Whether the cluster file allows the controls.
    pub fn fault_injection(&self) -> bool {
        self.shared.fault_injection
    }

    /// Stops serving, polling and any load the page started.
    pub async fn stop(self) {
        self.server.abort();
        self.poller.abort();
        let load = self.shared.load.lock().ok().and_then(|mut l| l.take());
        if let Some(load) = load {
            load.stop();
        }
    }
}

/// The cluster as the dashboard drives it: a directory made by `synod
/// cluster up` when the file is its `cluster.toml`, else an external one.
fn open_cluster(path: &Path, binary: &Path) -> anyhow::Result<LocalCluster> {
    let file = ClusterFile::load(path)?;
    let local = path.file_name().is_some_and(|n| n == "cluster.toml")
        && path.parent().is_some_and(|d| {
            std::fs::read_dir(d).is_ok_and(|mut entries| {
                entries.any(|e| {
                    e.is_ok_and(|e| {
                        let name = e.file_name();
                        let name = name.to_string_lossy();
                        name.starts_with('n') && name.ends_with(".pid")
                    })
                })
            })
        });
    if local {
        let dir = path.parent().unwrap_or(Path::new("."));
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        return LocalCluster::open(dir, binary.to_path_buf());
    }
    LocalCluster::external(file)
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/", get(index))
        .route(
            "/app.js",
            get(|| async { asset("text/javascript", APP_JS) }),
        )
        .route("/style.css", get(|| async { asset("text/css", STYLE_CSS) }))
        .route("/snapshot.js", get(snapshot_js))
        .route("/api/snapshot", get(snapshot_json))
        .route("/events", get(events))
        .route("/api/control", post(control::handle))
        .with_state(shared)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

async fn index() -> Response {
    let mut response = asset("text/html; charset=utf-8", INDEX_HTML);
    // The page loads nothing from elsewhere and runs only its own script.
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'",
        ),
    );
    response
}

/// The current snapshot as a script calling the page's renderer: loaded
/// by the page itself, so its first view is drawn before the load event
/// (what `chromium --dump-dom` and `--screenshot` capture).
async fn snapshot_js(State(shared): State<Arc<Shared>>) -> Response {
    let json = shared.snapshot.borrow().clone();
    let body = format!("synodRender({json});\n");
    (
        [
            (header::CONTENT_TYPE, "text/javascript"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

async fn snapshot_json(State(shared): State<Arc<Shared>>) -> Response {
    let json = shared.snapshot.borrow().clone();
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        json.as_str().to_owned(),
    )
        .into_response()
}

/// Decrements the count of event-stream clients when a page goes away.
struct ClientSlot(Arc<Shared>);

impl Drop for ClientSlot {
    fn drop(&mut self) {
        self.0.sse_clients.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The event stream of one page, holding its place among the clients.
struct Counted<S> {
    inner: S,
    _slot: ClientSlot,
}

impl<S: Stream + Unpin> Stream for Counted<S> {
    type Item = S::Item;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<S::Item>> {
        Pin::new(&mut self.inner).poll_next(cx)
    }
}

/// `GET /events`: every new snapshot as one `data:` line of JSON (the
/// current one at once), until the page goes away.
async fn events(State(shared): State<Arc<Shared>>) -> Response {
    let taken = shared.sse_clients.fetch_add(1, Ordering::SeqCst);
    let slot = ClientSlot(shared.clone());
    if taken >= MAX_SSE_CLIENTS {
        drop(slot);
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the dashboard serves at most {MAX_SSE_CLIENTS} pages at once; close one"),
        )
            .into_response();
    }
    let stream = WatchStream::new(shared.snapshot.subscribe())
        .map(|json| Ok::<Event, Infallible>(Event::default().data(json.as_str())));
    Sse::new(Counted {
        inner: stream,
        _slot: slot,
    })
    .keep_alive(KeepAlive::default())
    .into_response()
}

/// Reads the event stream at `addr` as a page would, until the task is
/// aborted or the stream ends; adds the bytes received to `received`. For
/// measuring what a connected page costs without a browser.
pub async fn follow_events(addr: SocketAddr, received: Arc<std::sync::atomic::AtomicU64>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut stream) = tokio::net::TcpStream::connect(addr).await else {
        return;
    };
    let request =
        format!("GET /events HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n");
    if stream.write_all(request.as_bytes()).await.is_err() {
        return;
    }
    let mut buf = vec![0u8; 64 * 1024];
    while let Ok(n) = stream.read(&mut buf).await {
        if n == 0 {
            return;
        }
        received.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// Compares two strings in time independent of where they differ.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The credential of a request: the `x-synod-token` header, or `token`
/// in the query string.
pub(crate) fn authorised(shared: &Shared, headers: &HeaderMap, query: Option<&str>) -> bool {
    let given = headers
        .get("x-synod-token")
        .and_then(|v| v.to_str().ok())
        .or_else(|| {
            query?
                .split('&')
                .find_map(|pair| pair.strip_prefix("token="))
        });
    given.is_some_and(|t| same_secret(t, &shared.token))
}

#[cfg(test)]
mod tests {
    use super::same_secret;

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "ab"));
        assert!(!same_secret("", "a"));
    }
}

//! `POST /api/control`: the page's buttons. Each request needs the
//! dashboard's token, and the cluster file must enable fault injection;
//! otherwise it is refused with a reason the page shows. Every action, done
//! or refused, goes to the page's event log.

use crate::load::Load;
use crate::{Shared, authorised};
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use synod_tools::queries::Cut;

/// The clients of a load the page starts, unless it says otherwise.
pub const DEFAULT_LOAD_CLIENTS: usize = 8;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlRequest {
    /// kill, pause, resume, restart, partition, heal, load-start, load-stop.
    pub action: String,
    pub node: Option<u32>,
    /// For load-start.
    pub clients: Option<usize>,
}

#[derive(Debug, Serialize)]
pub struct ControlReply {
    pub ok: bool,
    pub message: String,
}

fn reply(status: StatusCode, ok: bool, message: String) -> Response {
    let body = serde_json::to_string(&ControlReply { ok, message })
        .unwrap_or_else(|_| String::from("{\"ok\":false,\"message\":\"unprintable\"}"));
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

pub const REFUSED_TOKEN: &str = "refused: the controls need the dashboard's token; open the \
     address the dashboard printed at startup (it ends in ?token=...)";
pub const REFUSED_DISABLED: &str = "refused: fault injection is disabled for this cluster; add \
     `[testing]` with `fault_injection = true` to its cluster file and restart the dashboard";

pub async fn handle(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    // Without fault injection nothing is controlled, token or not (and no
    // token was printed).
    if !shared.fault_injection {
        return reply(StatusCode::FORBIDDEN, false, REFUSED_DISABLED.into());
    }
    if !authorised(&shared, &headers, query.as_deref()) {
        shared.note(
            false,
            "a control request without the token was refused".into(),
        );
        return reply(StatusCode::UNAUTHORIZED, false, REFUSED_TOKEN.into());
    }
    let request: ControlRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return reply(
                StatusCode::BAD_REQUEST,
                false,
                format!(
                    "not a control request ({e}); send {{\"action\": \"kill\", \"node\": 1}} or {{\"action\": \"load-start\"}}"
                ),
            );
        }
    };
    let what = match request.node {
        Some(n) => format!("{} n{n}", request.action),
        None => request.action.clone(),
    };
    match act(&shared, &request).await {
        Ok(message) => {
            shared.note(true, format!("page: {what}: {message}"));
            reply(StatusCode::OK, true, message)
        }
        Err((status, message)) => {
            shared.note(false, format!("page: {what} refused: {message}"));
            reply(status, false, message)
        }
    }
}

type ActError = (StatusCode, String);

fn node_of(shared: &Shared, request: &ControlRequest) -> Result<u32, ActError> {
    let Some(node) = request.node else {
        return Err((
            StatusCode::BAD_REQUEST,
            format!("{} needs a node", request.action),
        ));
    };
    if shared.cluster.file.node(node).is_none() {
        return Err((
            StatusCode::BAD_REQUEST,
            format!(
                "n{node} is not in this cluster (nodes 1..={})",
                shared.cluster.file.nodes.len()
            ),
        ));
    }
    Ok(node)
}

async fn act(shared: &Arc<Shared>, request: &ControlRequest) -> Result<String, ActError> {
    let conflict = |e: String| (StatusCode::CONFLICT, e);
    match request.action.as_str() {
        "kill" | "pause" | "resume" | "restart" => {
            let node = node_of(shared, request)?;
            let action = request.action.clone();
            let cluster = shared.cluster.clone();
            let at = shared.now_ms();
            // Asked before the kill: the poller may see the leader gone
            // before this request is done.
            let was_leader = shared.history.lock().is_ok_and(|h| h.leads(node));
            let done = tokio::task::spawn_blocking(move || match action.as_str() {
                "kill" => cluster.kill(node),
                "pause" => cluster.pause(node),
                "resume" => cluster.resume(node),
                _ => cluster.restart(node),
            })
            .await
            .map_err(|e| conflict(format!("the {} task failed: {e}", request.action)))?;
            done.map_err(|e| conflict(format!("{e:#}")))?;
            if let Ok(mut h) = shared.history.lock() {
                match request.action.as_str() {
                    "kill" => {
                        if was_leader {
                            h.leader_killed(node, at);
                        }
                        h.mark(node, "paused", false);
                        h.mark(node, "partitioned", false);
                    }
                    "pause" => h.mark(node, "paused", true),
                    "resume" => h.mark(node, "paused", false),
                    _ => {
                        h.mark(node, "paused", false);
                        h.mark(node, "partitioned", false);
                    }
                }
            }
            Ok(match request.action.as_str() {
                "kill" => format!("n{node} killed (SIGKILL)"),
                "pause" => format!("n{node} paused (SIGSTOP)"),
                "resume" => format!("n{node} resumed (SIGCONT)"),
                _ => format!("n{node} restarted from its data"),
            })
        }
        "partition" | "heal" => {
            let node = node_of(shared, request)?;
            let partition = request.action == "partition";
            let cut = if partition {
                Cut::both_ways(
                    shared
                        .cluster
                        .file
                        .nodes
                        .iter()
                        .map(|n| n.id)
                        .filter(|id| *id != node)
                        .collect(),
                )
            } else {
                Cut::none()
            };
            shared
                .cluster
                .cut(node, cut, Duration::from_secs(1))
                .await
                .map_err(conflict)?;
            if let Ok(mut h) = shared.history.lock() {
                h.mark(node, "partitioned", partition);
            }
            Ok(if partition {
                format!("n{node} cut off from every other node (it still serves clients)")
            } else {
                format!("n{node} hears and reaches every node again")
            })
        }
        "load-start" => {
            let mut load = shared
                .load
                .lock()
                .map_err(|_| conflict("the load's lock is poisoned".into()))?;
            if let Some(l) = load.as_ref() {
                return Err(conflict(format!(
                    "a load of {} clients already runs",
                    l.clients
                )));
            }
            let started = Load::start(
                &shared.cluster.file,
                &shared.cluster.security,
                request.clients.unwrap_or(DEFAULT_LOAD_CLIENTS),
            );
            let message = format!("load of {} clients started", started.clients);
            *load = Some(started);
            Ok(message)
        }
        "load-stop" => {
            let stopped = shared
                .load
                .lock()
                .map_err(|_| conflict("the load's lock is poisoned".into()))?
                .take();
            match stopped {
                Some(l) => {
                    l.stop();
                    Ok("load stopped".into())
                }
                None => Err(conflict("no load runs".into())),
            }
        }
        other => Err((
            StatusCode::BAD_REQUEST,
            format!(
                "unknown action {other:?} (kill, pause, resume, restart, partition, heal, load-start, load-stop)"
            ),
        )),
    }
}

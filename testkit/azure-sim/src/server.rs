//! The HTTP front: one axum fallback handler on one port that reads the whole request, applies any
//! scripted fault, routes by path prefix to the identity, Log Analytics or Sentinel module, and logs
//! the answer. Routing by hand keeps Sentinel's case-insensitive path segments simple.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::{Query, Request, State as AxumState};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::config::SimConfig;
use crate::fault::{FaultKind, FaultTarget};
use crate::model::RecordedRequest;
use crate::state::State;
use crate::throttle::{self, Throttle, Verdict};
use crate::{identity, loganalytics, sentinel};

/// Shared simulator internals behind [`crate::AzureSim`].
#[derive(Debug)]
pub(crate) struct Inner {
    /// Configuration given at start.
    pub config: SimConfig,
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
    /// Secret the identity endpoint expects in `X-IDENTITY-HEADER`.
    pub identity_header: String,
    /// Client id of the simulated system-assigned identity.
    pub client_id: String,
    /// Mutable world.
    pub state: Mutex<State>,
    /// Tokens the identity endpoint issued: shared by every workspace one server hosts.
    pub tokens: Arc<Mutex<HashMap<String, crate::state::IssuedToken>>>,
    /// ARM buckets, when `config.arm_throttle` is set (own lock: checked before the state lock);
    /// one set for every workspace of the server (the principal's).
    pub throttle: Option<Arc<Mutex<Throttle>>>,
    /// Requests refused by the throttling model.
    pub throttled: AtomicUsize,
    /// The principal's query queue, shared by every workspace of the server.
    pub query_gate: Option<Arc<crate::query_queue::Gate>>,
}

impl Inner {
    /// Locks the state; a panic in another holder cannot leave it half-written in a way that
    /// matters to tests, so poisoning is ignored.
    pub fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A fully read request, so handlers can be plain synchronous functions.
#[derive(Debug)]
pub(crate) struct Req {
    /// Upper-case method.
    pub method: String,
    /// Path as sent.
    pub path: String,
    /// Decoded query parameters.
    pub params: HashMap<String, String>,
    /// Headers.
    pub headers: HeaderMap,
    /// Body bytes.
    pub body: Bytes,
}

impl Req {
    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The token from `Authorization: Bearer <token>`, `Err(())` when the header is missing.
    pub fn bearer(&self) -> Result<Option<&str>, ()> {
        let value = self.header("authorization").ok_or(())?;
        let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
        Ok(scheme.eq_ignore_ascii_case("bearer").then_some(token.trim()))
    }
}

/// A JSON response.
pub(crate) fn json_response(status: u16, body: &Value) -> Response {
    let mut resp = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        body.to_string(),
    )
        .into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    resp
}

/// The `{"error":{"code","message"}}` body shared by ARM and Log Analytics.
pub(crate) fn error_response(status: u16, code: &str, message: &str) -> Response {
    json_response(status, &json!({"error": {"code": code, "message": message}}))
}

/// The router serving all three APIs for one or several workspaces on one server: each request goes to the workspace its
/// path names (the ARM workspace path, or the Log Analytics workspace id); token requests and
/// anything else go to the first.
pub(crate) fn fleet_router(members: Vec<Arc<Inner>>) -> axum::Router {
    axum::Router::new()
        .fallback(dispatch_fleet)
        .with_state(Arc::new(members))
}

/// The member a path belongs to.
fn member_for<'a>(members: &'a [Arc<Inner>], path: &str) -> &'a Arc<Inner> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let found = members.iter().find(|m| {
        let ws = &m.config.workspace;
        match segs.as_slice() {
            ["v1", "workspaces", id, ..] => id.eq_ignore_ascii_case(&ws.workspace_id),
            [s, sub, r, rg, _, _, _, name, ..]
                if s.eq_ignore_ascii_case("subscriptions") && r.eq_ignore_ascii_case("resourcegroups") =>
            {
                sub.eq_ignore_ascii_case(&ws.subscription_id)
                    && rg.eq_ignore_ascii_case(&ws.resource_group)
                    && name.eq_ignore_ascii_case(&ws.workspace_name)
            }
            _ => false,
        }
    });
    found.unwrap_or(&members[0])
}

async fn dispatch_fleet(AxumState(members): AxumState<Arc<Vec<Arc<Inner>>>>, request: Request) -> Response {
    let member = member_for(&members, request.uri().path()).clone();
    dispatch(AxumState(member), request).await
}

/// Which fault target a request belongs to, if any.
fn classify(method: &str, path: &str) -> Option<FaultTarget> {
    let lower = path.to_ascii_lowercase();
    if lower.starts_with("/msi/token") {
        return Some(FaultTarget::Token);
    }
    if lower.starts_with("/v1/workspaces/") {
        return Some(FaultTarget::Query);
    }
    if !lower.starts_with("/subscriptions/") {
        return None;
    }
    let segs: Vec<&str> = lower.trim_matches('/').split('/').collect();
    if method == "GET" && segs.len() == 8 && segs[6] == "workspaces" {
        return Some(FaultTarget::WorkspaceGet);
    }
    let rest = segs.get(10..).unwrap_or(&[]);
    Some(match (method, rest) {
        ("GET", ["incidents", _]) => FaultTarget::IncidentGet,
        ("PUT", ["incidents", _]) => FaultTarget::IncidentPut,
        ("POST", ["incidents", _, "alerts"]) => FaultTarget::AlertsList,
        ("PUT", ["incidents", _, "comments", _]) => FaultTarget::CommentPut,
        _ => FaultTarget::AnyArm,
    })
}

/// The answer to a `FaultKind::Status` fault.
fn fault_status(code: u16, retry_after_secs: Option<u64>) -> Response {
    let name = match code {
        400 => "BadRequest",
        401 => "AuthenticationFailed",
        403 => "Forbidden",
        404 => "NotFound",
        409 => "Conflict",
        429 => "TooManyRequests",
        500 => "InternalServerError",
        502 => "BadGateway",
        503 => "ServiceUnavailable",
        504 => "GatewayTimeout",
        _ => "SimulatedFault",
    };
    let mut resp = error_response(code, name, &format!("Simulated fault: HTTP {code}."));
    if let Some(secs) = retry_after_secs {
        resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

/// Recorded 504 body of the Log Analytics query API.
fn gateway_timeout(target: FaultTarget) -> Response {
    if target == FaultTarget::Query {
        return json_response(
            504,
            &json!({"error": {
                "message": "Gateway timeout",
                "code": "GatewayTimeout",
                "correlationId": uuid::Uuid::new_v4().to_string(),
                "innererror": {"code": "GatewayTimeout", "message": "Kusto query timed out"}
            }}),
        );
    }
    error_response(
        504,
        "GatewayTimeout",
        "The gateway did not receive a response within the specified time period.",
    )
}

/// A 200 JSON answer of `bytes` bytes (`{"padding":"xxx…"}`), with a `Content-Length` or in 1 MiB
/// chunks without one.
fn huge_body(bytes: usize, chunked: bool) -> Response {
    const HEAD: &str = "{\"padding\":\"";
    const TAIL: &str = "\"}";
    let fill = bytes.saturating_sub(HEAD.len() + TAIL.len());
    let json = [(axum::http::header::CONTENT_TYPE, "application/json")];
    if !chunked {
        let mut body = String::with_capacity(bytes);
        body.push_str(HEAD);
        body.extend(std::iter::repeat_n('x', fill));
        body.push_str(TAIL);
        return (axum::http::StatusCode::OK, json, body).into_response();
    }
    const CHUNK: usize = 1 << 20;
    let pieces = std::iter::once(axum::body::Bytes::from_static(HEAD.as_bytes()))
        .chain((0..fill.div_ceil(CHUNK)).map(move |i| axum::body::Bytes::from(vec![b'x'; CHUNK.min(fill - i * CHUNK)])))
        .chain(std::iter::once(axum::body::Bytes::from_static(TAIL.as_bytes())))
        .map(Ok::<_, std::convert::Infallible>);
    (
        axum::http::StatusCode::OK,
        json,
        axum::body::Body::from_stream(futures::stream::iter(pieces)),
    )
        .into_response()
}

/// Decodes the query string (serde_urlencoded via axum).
fn params(uri: &Uri) -> HashMap<String, String> {
    Query::<HashMap<String, String>>::try_from_uri(uri)
        .map(|q| q.0)
        .unwrap_or_default()
}

/// Handles every request.
async fn dispatch(AxumState(sim): AxumState<Arc<Inner>>, request: Request) -> Response {
    let method = request.method().as_str().to_ascii_uppercase();
    let path = request.uri().path().to_string();
    let raw_query = request.uri().query().map(str::to_string);
    let params = params(request.uri());
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 64 << 20).await.unwrap_or_default();
    let req = Req {
        method: method.clone(),
        path: path.clone(),
        params,
        headers: parts.headers,
        body,
    };
    let record = |status: u16| {
        sim.lock().requests.push(RecordedRequest {
            method: method.clone(),
            path: path.clone(),
            query: raw_query.clone(),
            status,
        });
    };

    if !sim.config.latency.is_zero() {
        tokio::time::sleep(sim.config.latency).await;
    }
    let target = classify(&method, &path);
    if target == Some(FaultTarget::Query) {
        // Recorded on arrival, before any delay: a test sees a re-sent query at once.
        let prefer = req.header("prefer").unwrap_or_default().to_owned();
        sim.lock().query_prefer.push(prefer);
        if let Some(gate) = &sim.query_gate
            && let Err(response) = gate.pass().await
        {
            record(429);
            return response;
        }
    }
    // ARM's front door throttles before the resource provider sees the request (and before any
    // scripted fault is used up). Only ARM paths are counted.
    let mut allowed = None;
    if let (Some(throttle), Some(_)) = (
        &sim.throttle,
        target.filter(|t| !matches!(t, FaultTarget::Token | FaultTarget::Query)),
    ) {
        let verdict = throttle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .check(&method, std::time::Instant::now());
        match verdict {
            Verdict::Allowed { class, remaining } => allowed = Some((class, remaining)),
            Verdict::Throttled { class, retry_after } => {
                sim.throttled.fetch_add(1, Ordering::Relaxed);
                let response = throttle::too_many_requests(
                    class,
                    retry_after,
                    &sim.config.workspace.subscription_id,
                    &sim.client_id,
                );
                record(429);
                return response;
            }
        }
    }
    let fault = target.and_then(|t| sim.lock().faults.take(t));
    let mut partial = None;
    let serve = |partial: Option<FaultKind>| match target {
        Some(FaultTarget::Token) => identity::token(&sim, &req),
        Some(FaultTarget::Query) => loganalytics::query(&sim, &req, partial.as_ref()),
        Some(_) => sentinel::handle(&sim, &req),
        None => error_response(404, "NotFound", "The requested path does not exist."),
    };
    let response = match (fault, target) {
        (Some(FaultKind::Stall(d)), _) => {
            tokio::time::sleep(d).await;
            record(0);
            // Unwinding the connection task drops the socket without an answer; resume_unwind
            // skips the panic hook, so nothing is printed.
            std::panic::resume_unwind(Box::new("azure-sim: stalled connection closed"));
        }
        (Some(FaultKind::Status { code, retry_after_secs }), _) => Some(fault_status(code, retry_after_secs)),
        (Some(FaultKind::GatewayTimeout), Some(t)) => Some(gateway_timeout(t)),
        (Some(FaultKind::Delay(d)), _) => {
            tokio::time::sleep(d).await;
            None
        }
        (Some(FaultKind::Garbage), _) => Some(
            (
                axum::http::StatusCode::OK,
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                "{\"unexpected\":true}",
            )
                .into_response(),
        ),
        (Some(FaultKind::HugeBody { bytes, chunked }), _) => Some(huge_body(bytes, chunked)),
        (Some(FaultKind::NoContent), Some(FaultTarget::Query)) => Some(no_content()),
        (Some(kind @ (FaultKind::PartialError | FaultKind::PartialFailure)), _) => {
            partial = Some(kind);
            None
        }
        (Some(FaultKind::AppliedThenStatus(code)), Some(t)) => {
            serve(None);
            Some(if code == 504 {
                gateway_timeout(t)
            } else {
                fault_status(code, None)
            })
        }
        (Some(FaultKind::AppliedThenDropped), _) => {
            serve(None);
            record(0);
            std::panic::resume_unwind(Box::new("azure-sim: reply lost after the write was applied"));
        }
        _ => None,
    };
    let response = response.unwrap_or_else(|| serve(partial));
    let mut response = response;
    if let Some((class, remaining)) = allowed {
        throttle::add_remaining(&mut response, class, remaining);
    }
    record(response.status().as_u16());
    response
}

/// An empty 204, the documented answer of the query API for a workspace with no data.
fn no_content() -> Response {
    (StatusCode::NO_CONTENT, Body::empty()).into_response()
}

/// An empty 200, the documented answer to a query POST without a JSON body.
pub(crate) fn empty_ok() -> Response {
    (StatusCode::OK, Body::empty()).into_response()
}

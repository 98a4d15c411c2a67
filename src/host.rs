//! The Azure Functions custom-handler protocol: the HTTP server the Functions host starts.
//!
//! | Request from the host                         | Meaning                                   |
//! |-----------------------------------------------|-------------------------------------------|
//! | `GET /`                                       | readiness probe and health ping           |
//! | `POST /SyncTimer` (invocation envelope)       | timer fired: run one reconciliation       |
//! | `POST /api/SecurityAlertWebhook` (forwarded)  | a caller's request, forwarded as is       |
//! | `POST /SecurityAlertWebhook` (envelope)       | the same, when forwarding is switched off |
//!
//! Paths are matched case-insensitively (the host forwards the caller's casing). Timer replies
//! are always a JSON object `{"Outputs":{},"Logs":[…],"ReturnValue":…}`: an empty body would make
//! the host wait until the function timeout. A failed run answers 500, so the invocation shows
//! as failed in Application Insights; the host then drops `Logs`, which is why every line is
//! also written to stdout/stderr (captured by the host as `Host.Function.Console`).

use std::{sync::Arc, time::Instant};

use axum::{
    Router,
    body::Bytes,
    extract::{Request, State},
    http::{HeaderMap, Method, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};
use tokio::sync::{Mutex, OnceCell};
use tracing::Instrument;

pub use crate::engine::{rare_counts, report_line, summary_lines, summary_lines_with};
use crate::{
    config::{Config, ConfigError},
    engine::{EngineOptions, IncidentReport, SingleOutcome},
    fleet::Fleet,
    webhook::MAX_BODY_BYTES,
};

/// Everything a request handler needs. The settings are read at start-up (no I/O beyond the
/// environment); the engines (credential and HTTPS clients, which read the system trust store)
/// are built once, on first use, so the listener answers the host's readiness probe at once.
#[derive(Debug)]
pub struct App {
    config: Result<Arc<Config>, String>,
    engine: OnceCell<Result<Fleet, String>>,
    run_lock: Mutex<()>,
    /// Given to the engine when it is built.
    stop: tokio::sync::watch::Receiver<bool>,
}

impl App {
    /// An app over working engines.
    pub fn new(config: Config, fleet: Fleet) -> Self {
        Self {
            config: Ok(Arc::new(config)),
            engine: OnceCell::new_with(Some(Ok(fleet))),
            run_lock: Mutex::new(()),
            stop: tokio::sync::watch::channel(false).1,
        }
    }

    /// An app that cannot work: every invocation fails with `reason` (bad settings, no
    /// credential), but the process still starts and answers the readiness probe.
    pub fn broken(reason: String) -> Self {
        Self {
            config: Err(reason),
            engine: OnceCell::new(),
            run_lock: Mutex::new(()),
            stop: tokio::sync::watch::channel(false).1,
        }
    }

    /// Reads the settings from the environment. The engine is built later, by
    /// [`App::prepare`] or the first invocation, whichever comes first; it stops when `stop`
    /// becomes `true` (the host's SIGTERM).
    pub fn from_env(stop: tokio::sync::watch::Receiver<bool>) -> Self {
        match Config::from_env() {
            Ok(config) => Self {
                config: Ok(Arc::new(config)),
                engine: OnceCell::new(),
                run_lock: Mutex::new(()),
                stop,
            },
            Err(ConfigError(errors)) => Self::broken(ConfigError(errors).to_string()),
        }
    }

    /// The configuration problem, if any. A problem building the engine (no credential) is
    /// known only once it is built: see [`App::prepare`].
    pub fn setup_error(&self) -> Option<&str> {
        match (&self.config, self.engine.get()) {
            (Err(e), _) | (Ok(_), Some(Err(e))) => Some(e),
            _ => None,
        }
    }

    /// Builds the engine now if it is not built yet (the serving binary calls this in the
    /// background once the listener is up); the error is what every invocation will report.
    pub async fn prepare(&self) -> Result<(), String> {
        self.engine().await.map(|_| ()).map_err(str::to_owned)
    }

    /// The configuration and the engines, building them on first use. Concurrent first
    /// callers wait for one build.
    async fn engine(&self) -> Result<(&Config, &Fleet), &str> {
        let config = self.config.as_ref().map_err(String::as_str)?;
        let engine = self
            .engine
            .get_or_init(|| async {
                let config = config.clone();
                let stop = self.stop.clone();
                // Building the clients reads the trust store from disk: keep it off the workers
                // that answer requests.
                tokio::task::spawn_blocking(move || crate::build_fleet(&config).map(|f| f.with_stop(stop)))
                    .await
                    .unwrap_or_else(|e| Err(format!("building the Azure clients failed: {e}")))
            })
            .await;
        match engine {
            Ok(engine) => Ok((config, engine)),
            Err(e) => Err(e),
        }
    }
}

/// The handler's router.
pub fn router(app: Arc<App>) -> Router {
    Router::new().fallback(dispatch).with_state(app)
}

async fn dispatch(State(app): State<Arc<App>>, request: Request) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    // Only the path is logged: the query may carry the function key (`code`).
    let path = request.uri().path().to_owned();
    let invocation_id = header_text(request.headers(), "x-azure-functions-invocationid").unwrap_or_default();
    let route = path.to_ascii_lowercase();
    let response = match (route.trim_end_matches('/'), &method) {
        ("", &Method::GET) => json_response(StatusCode::OK, json!({ "status": "ready" })),
        ("/synctimer", &Method::POST) => sync_timer(&app, request, &invocation_id).await,
        ("/api/securityalertwebhook", &Method::POST) => {
            let span = tracing::info_span!("SecurityAlertWebhook", invocation_id = %invocation_id);
            let (status, body) = forwarded_webhook(&app, request).instrument(span).await;
            let mut response = json_response(status, body);
            if status == StatusCode::SERVICE_UNAVAILABLE {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, WEBHOOK_RETRY_AFTER_SECONDS.into());
            }
            response
        }
        ("/securityalertwebhook", &Method::POST) => {
            let span = tracing::info_span!("SecurityAlertWebhook", invocation_id = %invocation_id);
            envelope_webhook(&app, request).instrument(span).await
        }
        ("" | "/synctimer" | "/api/securityalertwebhook" | "/securityalertwebhook", _) => json_response(
            StatusCode::METHOD_NOT_ALLOWED,
            error_body(
                "method-not-allowed",
                &format!("{method} is not supported here; use POST"),
            ),
        ),
        _ => json_response(StatusCode::NOT_FOUND, error_body("not-found", "no such function")),
    };
    if route != "/" {
        tracing::info!(%method, path = %path, status = response.status().as_u16(), elapsed_ms = started.elapsed().as_millis() as u64, invocation_id = %invocation_id, "request handled");
    }
    response
}

fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

fn error_body(code: &str, message: &str) -> Value {
    json!({ "error": { "code": code, "message": message } })
}

/// What the timer envelope says about this run.
#[derive(Debug, Default)]
struct TimerInfo {
    is_past_due: bool,
    last: Option<String>,
}

fn timer_info(envelope: &Value) -> TimerInfo {
    // The binding name is the app's choice; take the first Data value that looks like TimerInfo.
    let timer = envelope.get("Data").and_then(Value::as_object).and_then(|d| {
        d.values()
            .find(|v| v.get("IsPastDue").is_some() || v.get("ScheduleStatus").is_some())
    });
    let Some(timer) = timer else {
        return TimerInfo::default();
    };
    let last = timer
        .get("ScheduleStatus")
        .and_then(|s| s.get("Last"))
        .and_then(Value::as_str)
        // Before the first stored status the host sends 0001-01-01.
        .filter(|l| !l.starts_with("0001-01-01"))
        .map(str::to_owned);
    TimerInfo {
        is_past_due: timer.get("IsPastDue").and_then(Value::as_bool).unwrap_or(false),
        last,
    }
}

async fn sync_timer(app: &App, request: Request, invocation_id: &str) -> Response {
    let body = match axum::body::to_bytes(request.into_body(), MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(e) => {
            return invocation(
                StatusCode::BAD_REQUEST,
                vec![format!("SyncTimer: could not read the invocation body: {e}")],
                json!({ "status": "failed" }),
            );
        }
    };
    let envelope: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            let line = format!("SyncTimer: the invocation body is not JSON ({e})");
            tracing::error!("{line}");
            return invocation(
                StatusCode::BAD_REQUEST,
                vec![line],
                json!({ "status": "failed", "error": "invalid invocation body" }),
            );
        }
    };
    let timer = timer_info(&envelope);
    let (_config, fleet) = match app.engine().await {
        Ok(x) => x,
        Err(reason) => {
            let line = format!("SyncTimer: not run: {reason}");
            tracing::error!(invocation_id, "{line}");
            return invocation(
                StatusCode::INTERNAL_SERVER_ERROR,
                vec![line],
                json!({ "status": "failed", "error": reason }),
            );
        }
    };
    let Ok(_guard) = app.run_lock.try_lock() else {
        let line = "SyncTimer: skipped: a reconciliation is already running in this process".to_owned();
        tracing::warn!(invocation_id, "{line}");
        return invocation(
            StatusCode::OK,
            vec![line],
            json!({ "status": "skipped", "reason": "run-in-progress" }),
        );
    };
    let run_id = if invocation_id.is_empty() {
        uuid::Uuid::new_v4().to_string()
    } else {
        invocation_id.to_owned()
    };
    let workspaces = if fleet.len() > 1 {
        format!(", {} workspaces", fleet.len())
    } else {
        String::new()
    };
    let mut logs = vec![format!(
        "SyncTimer: run {run_id} started (IsPastDue={}, last run {}, dry run {}{workspaces})",
        timer.is_past_due,
        timer.last.as_deref().unwrap_or("none recorded"),
        if fleet.options().dry_run { "on" } else { "off" }
    )];
    let span = tracing::info_span!("SyncTimer", invocation_id = %run_id);
    let run = fleet.reconcile(run_id).instrument(span).await;
    let lines = run.lines();
    // With several workspaces the last line is the whole run's; it also goes to the log.
    if let (true, Some(line)) = (fleet.len() > 1, lines.last()) {
        if run.is_failure() {
            tracing::error!("{line}");
        } else {
            tracing::info!("{line}");
        }
    }
    logs.extend(lines);
    // One workspace failing fails the invocation (so it shows, and alerts, in Application
    // Insights), although every other workspace was synced.
    let status = if run.is_failure() {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    };
    invocation(status, logs, run.to_value())
}

fn invocation(status: StatusCode, logs: Vec<String>, return_value: Value) -> Response {
    json_response(
        status,
        json!({ "Outputs": {}, "Logs": logs, "ReturnValue": return_value }),
    )
}

/// The forwarded request: the caller's headers and body, as sent.
async fn forwarded_webhook(app: &App, request: Request) -> (StatusCode, Value) {
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(_) => {
            return (
                StatusCode::PAYLOAD_TOO_LARGE,
                error_body(
                    "payload-too-large",
                    &format!("the body is larger than {MAX_BODY_BYTES} bytes"),
                ),
            );
        }
    };
    webhook_core(app, header_text(&parts.headers, "content-type").as_deref(), bytes).await
}

/// Envelope mode: the caller's request is inside `Data.req`; the reply goes in `Outputs.res`.
async fn envelope_webhook(app: &App, request: Request) -> Response {
    let bytes = axum::body::to_bytes(request.into_body(), MAX_BODY_BYTES * 2)
        .await
        .unwrap_or_default();
    let envelope: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let req = envelope.get("Data").and_then(|d| d.get("req"));
    let content_type = req
        .and_then(|r| r.get("Headers"))
        .and_then(Value::as_object)
        .and_then(|h| h.iter().find(|(k, _)| k.eq_ignore_ascii_case("content-type")))
        .and_then(|(_, v)| v.as_array().and_then(|a| a.first()).or(Some(v)))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let body = req
        .and_then(|r| r.get("Body"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let (status, reply) = if body.len() > MAX_BODY_BYTES {
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            error_body(
                "payload-too-large",
                &format!("the body is larger than {MAX_BODY_BYTES} bytes"),
            ),
        )
    } else {
        webhook_core(app, content_type.as_deref(), Bytes::copy_from_slice(body.as_bytes())).await
    };
    let mut headers = json!({ "Content-Type": "application/json" });
    if status == StatusCode::SERVICE_UNAVAILABLE {
        headers["Retry-After"] = json!(WEBHOOK_RETRY_AFTER_SECONDS.to_string());
    }
    let res = json!({ "statusCode": status.as_u16(), "headers": headers, "body": reply.to_string() });
    json_response(
        StatusCode::OK,
        json!({ "Outputs": { "res": res }, "Logs": [format!("SecurityAlertWebhook: answered {}", status.as_u16())], "ReturnValue": null }),
    )
}

/// Validates the request and syncs the incident at once.
async fn webhook_core(app: &App, content_type: Option<&str>, body: Bytes) -> (StatusCode, Value) {
    // The host forwards Content-Type only with a non-empty body, so emptiness is checked first.
    if body.iter().all(u8::is_ascii_whitespace) {
        return (
            StatusCode::BAD_REQUEST,
            error_body(
                "empty-body",
                "the body is empty; send a Sentinel incident payload or {\"incidentId\": \"…\"}",
            ),
        );
    }
    let is_json = content_type
        .map(|c| c.split(';').next().unwrap_or_default().trim().to_ascii_lowercase())
        .is_some_and(|m| {
            m == "application/json" || m == "text/json" || (m.starts_with("application/") && m.ends_with("+json"))
        });
    if !is_json {
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            error_body(
                "unsupported-media-type",
                "send the payload as Content-Type: application/json",
            ),
        );
    }
    let payload: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                error_body("invalid-json", &format!("the body is not valid JSON: {e}")),
            );
        }
    };
    let (config, fleet) = match app.engine().await {
        Ok(x) => x,
        Err(reason) => {
            tracing::error!("SecurityAlertWebhook: not run: {reason}");
            return (StatusCode::INTERNAL_SERVER_ERROR, error_body("configuration", reason));
        }
    };
    let (index, name) = match fleet.route(&payload).await {
        Ok(x) => x,
        Err(r) => {
            tracing::warn!(
                status = r.status,
                code = r.code,
                "SecurityAlertWebhook: payload refused: {}",
                r.message
            );
            return (
                StatusCode::from_u16(r.status).unwrap_or(StatusCode::BAD_REQUEST),
                error_body(r.code, &r.message),
            );
        }
    };
    let engine = &fleet.engines()[index];
    let timeout = std::time::Duration::from_secs(config.webhook_timeout_seconds);
    let Some(outcome) = engine.sync_one_within(&name, timeout).await else {
        let message = format!(
            "Azure did not answer in time (throttled or slow); nothing was half-written for incident {name}: call again after {WEBHOOK_RETRY_AFTER_SECONDS} s"
        );
        tracing::warn!(incident = %name, "SecurityAlertWebhook: answered 503: {message}");
        let mut body = error_body("azure-busy", &message);
        body["error"]["retryAfterSeconds"] = json!(WEBHOOK_RETRY_AFTER_SECONDS);
        return (StatusCode::SERVICE_UNAVAILABLE, body);
    };
    match outcome {
        SingleOutcome::Done(report) => {
            tracing::info!(workspace = %engine.workspace().workspace_name, incident = %report.incident, action = report.action.as_str(), reason = %report.reason, "SecurityAlertWebhook: {}", report_line(&report));
            (
                StatusCode::OK,
                webhook_reply(&report, engine.options(), engine.workspace().arm_id()),
            )
        }
        SingleOutcome::NotFound => (
            StatusCode::NOT_FOUND,
            error_body(
                "incident-not-found",
                &format!(
                    "incident {name} does not exist in the workspace {}",
                    engine.workspace().workspace_name
                ),
            ),
        ),
        SingleOutcome::Failed(report) => {
            tracing::error!(workspace = %engine.workspace().workspace_name, incident = %report.incident, reason = %report.reason, detail = %report.detail, "SecurityAlertWebhook: incident not synced");
            let mut body = webhook_reply(&report, engine.options(), engine.workspace().arm_id());
            body["error"] = json!({ "code": "sync-failed", "message": report.detail });
            (StatusCode::BAD_GATEWAY, body)
        }
    }
}

/// `Retry-After` of a webhook call that ran out of time.
pub const WEBHOOK_RETRY_AFTER_SECONDS: u64 = 60;

fn webhook_reply(report: &IncidentReport, options: EngineOptions, workspace: String) -> Value {
    json!({
        "workspace": workspace,
        "incident": report.incident,
        "incidentNumber": report.incident_number,
        "statusBefore": report.status_before,
        "statusAfter": report.status_after,
        "action": report.action.as_str(),
        "reason": report.reason,
        "detail": report.detail,
        "dryRun": options.dry_run,
        "alerts": report.alerts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timer_variants_from_the_reference_are_understood() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/functions-host/timer-payload-variants.json"
        );
        let variants: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let info = |name: &str| timer_info(&json!({ "Data": { "myTimer": variants[name] } }));
        assert!(!info("scheduled_run_with_monitor").is_past_due);
        assert_eq!(
            info("scheduled_run_with_monitor").last.as_deref(),
            Some("2026-09-24T13:05:00.0096035+00:00")
        );
        assert_eq!(info("first_run_with_monitor_no_stored_status").last, None);
        assert!(info("past_due_run_at_host_start").is_past_due);
        assert_eq!(info("use_monitor_false_or_sub_minute_schedule").last, None);
        assert!(!timer_info(&json!({})).is_past_due);
    }
}

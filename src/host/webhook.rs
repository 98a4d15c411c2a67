//! `SecurityAlertWebhook`: a caller's request (forwarded as is, or inside an invocation
//! envelope), routed to its workspace and synced at once, answered within
//! `SYNC_WEBHOOK_TIMEOUT_SECONDS`. Every refusal is a [`WebhookError`], which knows its status.

use axum::{
    body::Bytes,
    extract::Request,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use super::{App, error_body, header_text, json_response};
use crate::{
    domain::IncidentName,
    engine::report_line,
    engine::{Engine, IncidentReport, Late, SingleOutcome},
    fleet::RouteError,
    webhook::{MAX_BODY_BYTES, Rejection},
};

/// `Retry-After` of a webhook call that ran out of time.
pub const WEBHOOK_RETRY_AFTER_SECONDS: u64 = 60;

/// Why a webhook call was not answered with a sync report.
#[derive(Debug)]
enum WebhookError {
    /// The body is larger than [`MAX_BODY_BYTES`].
    TooLarge,
    /// The body is empty.
    EmptyBody,
    /// The body could not be read (the connection broke mid-way).
    BodyUnreadable(String),
    /// Envelope mode: what the host sent is not an invocation envelope with a request.
    InvalidEnvelope(String),
    /// The body is not sent as JSON.
    UnsupportedMediaType,
    /// The body is not valid JSON.
    InvalidJson(String),
    /// The settings or the credential are broken.
    Configuration(String),
    /// The payload was refused (malformed, another workspace, an id that cannot be checked).
    Refused(Rejection),
    /// Azure did not answer in time: the incident (when routing got that far) and what the
    /// sync may have written.
    AzureBusy(Option<IncidentName>, Late),
    /// The incident does not exist in its workspace.
    NotFound { name: IncidentName, workspace: String },
    /// Azure failed; the reply carries the report.
    SyncFailed(Value),
}

impl WebhookError {
    fn status(&self) -> StatusCode {
        match self {
            Self::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::EmptyBody | Self::InvalidJson(_) | Self::BodyUnreadable(_) | Self::InvalidEnvelope(_) => {
                StatusCode::BAD_REQUEST
            }
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Configuration(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Refused(Rejection::Invalid(_)) => StatusCode::BAD_REQUEST,
            Self::Refused(Rejection::Foreign(_)) => StatusCode::FORBIDDEN,
            Self::Refused(Rejection::Unreadable(_)) => StatusCode::BAD_GATEWAY,
            Self::AzureBusy(..) => StatusCode::SERVICE_UNAVAILABLE,
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::SyncFailed(_) => StatusCode::BAD_GATEWAY,
        }
    }

    fn body(self) -> Value {
        match self {
            Self::TooLarge => error_body(
                "payload-too-large",
                &format!("the body is larger than {MAX_BODY_BYTES} bytes"),
            ),
            Self::EmptyBody => error_body(
                "empty-body",
                "the body is empty; send a Sentinel incident payload or {\"incidentId\": \"…\"}",
            ),
            Self::UnsupportedMediaType => error_body(
                "unsupported-media-type",
                "send the payload as Content-Type: application/json",
            ),
            Self::InvalidJson(e) => error_body("invalid-json", &format!("the body is not valid JSON: {e}")),
            Self::BodyUnreadable(e) => {
                error_body("body-unreadable", &format!("the request body could not be read: {e}"))
            }
            Self::InvalidEnvelope(e) => error_body(
                "invalid-envelope",
                &format!("the invocation envelope from the host cannot be read: {e}"),
            ),
            Self::Configuration(reason) => error_body("configuration", &reason),
            Self::Refused(r) => error_body(r.code(), r.message()),
            Self::AzureBusy(name, late) => {
                let mut body = error_body("azure-busy", &busy_message(name.as_ref(), late));
                body["error"]["retryAfterSeconds"] = json!(WEBHOOK_RETRY_AFTER_SECONDS);
                body
            }
            Self::NotFound { name, workspace } => error_body(
                "incident-not-found",
                &format!("incident {name} does not exist in the workspace {workspace}"),
            ),
            Self::SyncFailed(body) => body,
        }
    }

    /// The status and the body, for a reply inside an invocation envelope.
    fn into_parts(self) -> (StatusCode, Value) {
        (self.status(), self.body())
    }
}

impl IntoResponse for WebhookError {
    fn into_response(self) -> Response {
        let (status, body) = self.into_parts();
        let mut response = json_response(status, body);
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, WEBHOOK_RETRY_AFTER_SECONDS.into());
        }
        response
    }
}

/// What a 503 says: why, what may have happened, and what completes it.
fn busy_message(name: Option<&IncidentName>, late: Late) -> String {
    let after = WEBHOOK_RETRY_AFTER_SECONDS;
    match (name, late) {
        (None, _) => format!(
            "Azure did not answer in time (throttled or slow): the ids of the workspaces this payload may belong to were not read, so it was not routed and nothing was written: call again after {after} s"
        ),
        (Some(name), Late::NothingWritten) => format!(
            "Azure did not answer in time (throttled or slow); nothing was written to incident {name}: call again after {after} s"
        ),
        (Some(name), Late::MayHaveWritten) => format!(
            "Azure did not answer in time (throttled or slow); a write to incident {name} was sent and may have been applied without its audit comment: calling again after {after} s, or the next timer run, completes it (with exactly one comment)"
        ),
    }
}

/// The forwarded request: the caller's headers and body, as sent.
pub(super) async fn forwarded(app: &App, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let reply = match read_body(body, MAX_BODY_BYTES).await {
        Ok(bytes) => sync(app, header_text(&parts.headers, "content-type").as_deref(), bytes).await,
        Err(error) => Err(error),
    };
    match reply {
        Ok(body) => json_response(StatusCode::OK, body),
        Err(error) => error.into_response(),
    }
}

/// The whole body, at most `limit` bytes: [`WebhookError::TooLarge`] past it, and
/// [`WebhookError::BodyUnreadable`] when reading it fails.
async fn read_body(body: axum::body::Body, limit: usize) -> Result<Bytes, WebhookError> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let too_large = std::error::Error::source(&e).is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
        if too_large {
            WebhookError::TooLarge
        } else {
            WebhookError::BodyUnreadable(e.to_string())
        }
    })
}

/// Envelope mode: the caller's request is inside `Data.req`; the reply goes in `Outputs.res`.
pub(super) async fn envelope(app: &App, request: Request) -> Response {
    // The caller's body travels as a JSON string inside the envelope: up to twice its size.
    let reply = match read_body(request.into_body(), MAX_BODY_BYTES * 2).await {
        Ok(bytes) => match caller_request(&bytes) {
            Ok((_, body)) if body.len() > MAX_BODY_BYTES => Err(WebhookError::TooLarge),
            Ok((content_type, body)) => sync(app, content_type.as_deref(), Bytes::from(body)).await,
            Err(error) => Err(error),
        },
        Err(error) => Err(error),
    };
    let (status, reply) = match reply {
        Ok(body) => (StatusCode::OK, body),
        Err(error) => error.into_parts(),
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

/// The caller's Content-Type and body from an invocation envelope (`Data.req.Headers`,
/// `Data.req.Body`; a request without a body has none).
fn caller_request(envelope: &[u8]) -> Result<(Option<String>, String), WebhookError> {
    let envelope: Value =
        serde_json::from_slice(envelope).map_err(|e| WebhookError::InvalidEnvelope(format!("it is not JSON ({e})")))?;
    let req = envelope
        .get("Data")
        .and_then(|d| d.get("req"))
        .filter(|r| r.is_object())
        .ok_or_else(|| WebhookError::InvalidEnvelope("it has no request (Data.req)".into()))?;
    let content_type = req
        .get("Headers")
        .and_then(Value::as_object)
        .and_then(|h| h.iter().find(|(k, _)| k.eq_ignore_ascii_case("content-type")))
        .and_then(|(_, v)| v.as_array().and_then(|a| a.first()).or(Some(v)))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let body = match req.get("Body") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(body)) => body.clone(),
        Some(_) => {
            return Err(WebhookError::InvalidEnvelope(
                "its Data.req.Body is not a string".into(),
            ));
        }
    };
    Ok((content_type, body))
}

/// Validates the request, routes it to its workspace and syncs the incident at once.
async fn sync(app: &App, content_type: Option<&str>, body: Bytes) -> Result<Value, WebhookError> {
    let started = tokio::time::Instant::now();
    // The host forwards Content-Type only with a non-empty body, so emptiness is checked first.
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(WebhookError::EmptyBody);
    }
    let is_json = content_type
        .map(|c| c.split(';').next().unwrap_or_default().trim().to_ascii_lowercase())
        .is_some_and(|m| {
            m == "application/json" || m == "text/json" || (m.starts_with("application/") && m.ends_with("+json"))
        });
    if !is_json {
        return Err(WebhookError::UnsupportedMediaType);
    }
    let payload: Value = serde_json::from_slice(&body).map_err(|e| WebhookError::InvalidJson(e.to_string()))?;
    let (config, fleet) = app.fleet().await.map_err(|reason| {
        tracing::error!("SecurityAlertWebhook: not run: {reason}");
        WebhookError::Configuration(reason.to_owned())
    })?;
    // The whole answer (routing, the id reads it needs, the sync) is due by this deadline.
    let deadline = started + std::time::Duration::from_secs(config.webhook_timeout_seconds);
    let (index, name) = match fleet.route(&payload, deadline).await {
        Ok(target) => target,
        Err(RouteError::Late) => {
            let error = WebhookError::AzureBusy(None, Late::NothingWritten);
            tracing::warn!(
                "SecurityAlertWebhook: answered 503: {}",
                busy_message(None, Late::NothingWritten)
            );
            return Err(error);
        }
        Err(RouteError::Refused(rejection)) => {
            let (code, message) = (rejection.code(), rejection.message().to_owned());
            let error = WebhookError::Refused(rejection);
            tracing::warn!(
                status = error.status().as_u16(),
                code,
                "SecurityAlertWebhook: payload refused: {message}"
            );
            return Err(error);
        }
    };
    let engine = &fleet.engines()[index];
    let outcome = match engine.sync_one_within(&name, started, deadline).await {
        Ok(outcome) => outcome,
        Err(late) => {
            tracing::warn!(incident = %name, "SecurityAlertWebhook: answered 503: {}", busy_message(Some(&name), late));
            return Err(WebhookError::AzureBusy(Some(name), late));
        }
    };
    let workspace = &engine.workspace().workspace_name;
    match outcome {
        SingleOutcome::Done(report) => {
            tracing::info!(workspace = %workspace, incident = %report.incident, action = report.action.as_str(), reason = %report.reason, "SecurityAlertWebhook: {}", report_line(&report));
            Ok(reply(&report, engine))
        }
        SingleOutcome::NotFound => Err(WebhookError::NotFound {
            name,
            workspace: workspace.clone(),
        }),
        SingleOutcome::Failed(report) => {
            tracing::error!(workspace = %workspace, incident = %report.incident, reason = %report.reason, detail = %report.detail, "SecurityAlertWebhook: incident not synced");
            let mut body = reply(&report, engine);
            body["error"] = json!({ "code": "sync-failed", "message": report.detail });
            Err(WebhookError::SyncFailed(body))
        }
    }
}

/// The reply: what happened to the incident.
fn reply(report: &IncidentReport, engine: &Engine) -> Value {
    json!({
        "workspace": engine.workspace().arm_id(),
        "incident": report.incident,
        "incidentNumber": report.incident_number,
        "statusBefore": report.status_before,
        "statusAfter": report.status_after,
        "action": report.action.as_str(),
        "reason": report.reason,
        "detail": report.detail,
        "dryRun": engine.options().dry_run,
        "alerts": report.alerts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_body_over_the_limit_is_too_large_and_a_broken_one_is_unreadable() {
        let big = axum::body::Body::from(vec![b'x'; 11]);
        assert!(matches!(read_body(big, 10).await, Err(WebhookError::TooLarge)));
        let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
            Ok(Bytes::from_static(b"{\"incidentId\"")),
            Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "connection reset by the caller",
            )),
        ];
        let broken = axum::body::Body::from_stream(futures::stream::iter(chunks));
        match read_body(broken, 1000).await {
            Err(e @ WebhookError::BodyUnreadable(_)) => {
                let (status, body) = e.into_parts();
                assert_eq!(status, StatusCode::BAD_REQUEST);
                assert_eq!(body["error"]["code"], "body-unreadable");
                assert!(
                    body["error"]["message"].as_str().unwrap().contains("connection reset"),
                    "{body}"
                );
            }
            other => panic!("{other:?}"),
        }
    }
}

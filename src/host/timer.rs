//! `POST /SyncTimer`: the timer's invocation envelope in, one reconciliation of every workspace,
//! and the invocation response out (`{"Outputs":{},"Logs":[…],"ReturnValue":…}`).

use axum::{
    extract::Request,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};
use tracing::Instrument;

use super::{App, json_response};
use crate::webhook::MAX_BODY_BYTES;

/// What the timer envelope says about this run.
#[derive(Debug, Default)]
pub(super) struct TimerInfo {
    pub(super) is_past_due: bool,
    pub(super) last: Option<String>,
}

pub(super) fn timer_info(envelope: &Value) -> TimerInfo {
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

/// An invocation that did not run.
#[derive(Debug)]
enum TimerError {
    /// The body could not be read.
    Unreadable(String),
    /// The body is not JSON.
    NotJson(String),
    /// The settings or the credential are broken: every invocation fails until they are fixed.
    NotRun(String),
}

impl IntoResponse for TimerError {
    fn into_response(self) -> Response {
        match self {
            Self::Unreadable(e) => invocation(
                StatusCode::BAD_REQUEST,
                vec![format!("SyncTimer: could not read the invocation body: {e}")],
                json!({ "status": "failed" }),
            ),
            Self::NotJson(e) => invocation(
                StatusCode::BAD_REQUEST,
                vec![format!("SyncTimer: the invocation body is not JSON ({e})")],
                json!({ "status": "failed", "error": "invalid invocation body" }),
            ),
            Self::NotRun(reason) => invocation(
                StatusCode::INTERNAL_SERVER_ERROR,
                vec![format!("SyncTimer: not run: {reason}")],
                json!({ "status": "failed", "error": reason }),
            ),
        }
    }
}

pub(super) async fn sync_timer(app: &App, request: Request, invocation_id: &str) -> Response {
    match run(app, request, invocation_id).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn run(app: &App, request: Request, invocation_id: &str) -> Result<Response, TimerError> {
    let body = axum::body::to_bytes(request.into_body(), MAX_BODY_BYTES)
        .await
        .map_err(|e| TimerError::Unreadable(e.to_string()))?;
    let envelope: Value = serde_json::from_slice(&body).map_err(|e| {
        tracing::error!("SyncTimer: the invocation body is not JSON ({e})");
        TimerError::NotJson(e.to_string())
    })?;
    let timer = timer_info(&envelope);
    let (_, fleet) = app.fleet().await.map_err(|reason| {
        tracing::error!(invocation_id, "SyncTimer: not run: {reason}");
        TimerError::NotRun(reason.to_owned())
    })?;
    let Ok(_guard) = app.run_lock.try_lock() else {
        let line = "SyncTimer: skipped: a reconciliation is already running in this process".to_owned();
        tracing::warn!(invocation_id, "{line}");
        return Ok(invocation(
            StatusCode::OK,
            vec![line],
            json!({ "status": "skipped", "reason": "run-in-progress" }),
        ));
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
    Ok(invocation(status, logs, run.to_value()))
}

fn invocation(status: StatusCode, logs: Vec<String>, return_value: Value) -> Response {
    json_response(
        status,
        json!({ "Outputs": {}, "Logs": logs, "ReturnValue": return_value }),
    )
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

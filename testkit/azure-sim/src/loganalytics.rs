//! The Log Analytics query API (`/v1/workspaces/{workspaceId}/query`, POST and GET forms), with the
//! documented status codes and bodies: 401/403 by token, 404 for unknown workspaces, the empty 200
//! for a POST without JSON, `BadArgumentError` for any query other than the product's.

use axum::response::Response;
use serde_json::{Value, json};

use crate::fault::FaultKind;
use crate::identity::{self, TokenError};
use crate::query;
use crate::server::{Inner, Req, empty_ok, json_response};
use crate::state::Audience;
use crate::timefmt;

/// Documented 404 body.
fn path_not_found() -> Response {
    json_response(
        404,
        &json!({"error": {"message": "The requested path does not exist", "code": "PathNotFoundError"}}),
    )
}

/// Documented 400 body for a query that does not parse (here: is not the product's query).
fn syntax_error() -> Response {
    json_response(
        400,
        &json!({"error": {
            "message": "The request had some invalid properties",
            "code": "BadArgumentError",
            "innererror": {"code": "SyntaxError", "message": "Syntax Error"}
        }}),
    )
}

/// A `PartialError` object with one engine error whose inner error is `code` / `message`, in the
/// shape of the recorded partial error (`tests/fixtures/loganalytics-api/recorded/partial-error-200.json`).
fn partial(code: &str, message: &str) -> Value {
    json!({
        "code": "PartialError",
        "message": "There were some errors when processing your query.",
        "details": [{
            "code": "EngineError",
            "message": "Something went wrong processing your query on the server.",
            "innererror": {"code": code, "message": message, "severity": 2, "severityName": "Error"}
        }]
    })
}

/// The `PartialError` a truncated answer carries: past 500,000 records (or 64 MB) the service
/// cuts the result and says so with `E_QUERY_RESULT_SET_TOO_LARGE` (Kusto query limits,
/// https://aka.ms/kustoquerylimits).
fn too_many_records(limit: usize) -> Value {
    partial(
        "-2133196797",
        &format!(
            "Query result set has exceeded the internal record count limit {limit} (E_QUERY_RESULT_SET_TOO_LARGE; see https://aka.ms/kustoquerylimits)"
        ),
    )
}

/// The recorded `PartialError` object (the 64 MB data-size limit), added by the `PartialError` fault.
fn partial_error() -> Value {
    partial(
        "-2133196797",
        "Query result set has exceeded the internal data size limit 64000000 (E_QUERY_RESULT_SET_TOO_LARGE; see https://aka.ms/kustoquerylimits)",
    )
}

/// A `PartialError` that is not about the result's size (see `FaultKind::PartialFailure`).
fn low_memory() -> Value {
    partial(
        "-2133196793",
        "Query execution lacks memory resources to complete (80DA0007): Partial query failure: Low memory condition (E_LOW_MEMORY_CONDITION)",
    )
}

/// Answers a query request; `partial` (a `PartialError` or `PartialFailure` fault) adds its
/// error object to a successful answer.
pub(crate) fn query(sim: &Inner, req: &Req, partial: Option<&FaultKind>) -> Response {
    let segs: Vec<&str> = req.path.trim_matches('/').split('/').collect();
    let [v1, workspaces, workspace_id, op] = segs.as_slice() else {
        return path_not_found();
    };
    if !v1.eq_ignore_ascii_case("v1")
        || !workspaces.eq_ignore_ascii_case("workspaces")
        || !op.eq_ignore_ascii_case("query")
        || !matches!(req.method.as_str(), "GET" | "POST")
    {
        return path_not_found();
    }
    match identity::check(sim, req, Audience::LogAnalytics) {
        Ok(()) => {}
        Err(TokenError::Missing) => {
            return json_response(
                401,
                &json!({"error": {"code": "AuthenticationFailed", "message": "Authentication failed. The 'Authorization' header is missing."}}),
            );
        }
        Err(TokenError::WrongTenant(_)) => {
            // The documented 403 of the query API (documented-errors/errors.json).
            return json_response(
                403,
                &json!({"error": {"code": "InsufficientAccessError", "message": "The provided credentials have insufficient access to perform the requested operation"}}),
            );
        }
        Err(_) => {
            return json_response(
                403,
                &json!({"error": {"code": "InvalidAuthenticationToken", "message": "The access token is invalid."}}),
            );
        }
    }
    if let Some(denied) = crate::access::query_denied(sim) {
        return denied;
    }
    if !workspace_id.eq_ignore_ascii_case(&sim.config.workspace.workspace_id) {
        return path_not_found();
    }
    let text = if req.method == "POST" {
        let is_json = req
            .header("content-type")
            .is_some_and(|ct| ct.trim_start().to_ascii_lowercase().starts_with("application/json"));
        // Documented gotcha: without a JSON body the service answers 200 with nothing at all.
        if !is_json || req.body.is_empty() {
            return empty_ok();
        }
        let Ok(body) = serde_json::from_slice::<Value>(&req.body) else {
            return syntax_error();
        };
        match body.get("query").and_then(Value::as_str) {
            Some(q) => q.to_string(),
            None => return syntax_error(),
        }
    } else {
        match req.params.get("query") {
            Some(q) => q.clone(),
            None => return syntax_error(),
        }
    };
    let Some(params) = query::recognise(&text) else {
        return syntax_error();
    };
    let mut rows = {
        let state = sim.lock();
        query::evaluate(&state.tables, timefmt::now(), sim.config.ingestion_delay, params)
    };
    let truncated = sim.config.query_record_limit.filter(|&limit| rows.len() > limit);
    if let Some(limit) = truncated {
        rows.truncate(limit);
    }
    let mut body = query::encode(&rows);
    if let Some(limit) = truncated {
        body["error"] = too_many_records(limit);
    } else if let Some(kind) = partial {
        body["error"] = match kind {
            FaultKind::PartialFailure => low_memory(),
            _ => partial_error(),
        };
    }
    json_response(200, &body)
}

//! The Sentinel incidents REST API under ARM: path routing (segments matched case-insensitively, as
//! real ids use `/Incidents/`), bearer-token audience, api-version allow-list, workspace check, and
//! the `{"error":{"code","message"}}` CloudError bodies. Operations live in `incidents` and
//! `comments`; opaque paging tokens live here because both use them.

use axum::response::Response;
use serde_json::{Value, json};

use crate::identity::{self, TokenError};
use crate::server::{Inner, Req, error_response, json_response};
use crate::state::Audience;
use crate::{comments, incidents};

/// API versions the simulator accepts (incident schema identical for the fields used).
pub(crate) const API_VERSIONS: [&str; 5] = ["2024-09-01", "2025-03-01", "2025-06-01", "2025-09-01", "2025-12-01"];

/// Fixed path segments between subscription and the Sentinel collection (index, expected text).
const FIXED: [(usize, &str); 7] = [
    (0, "subscriptions"),
    (2, "resourcegroups"),
    (4, "providers"),
    (5, "microsoft.operationalinsights"),
    (6, "workspaces"),
    (8, "providers"),
    (9, "microsoft.securityinsights"),
];

/// 404 for an unknown incident.
pub(crate) fn incident_not_found(id: &str) -> Response {
    error_response(404, "NotFound", &format!("Incident '{id}' was not found."))
}

/// 400 with code `BadRequest`.
pub(crate) fn bad_request(message: &str) -> Response {
    error_response(400, "BadRequest", message)
}

/// Encodes an offset as an opaque `$skipToken`.
pub(crate) fn skip_token(offset: usize) -> String {
    format!("offset:{offset}").bytes().map(|b| format!("{b:02x}")).collect()
}

/// Decodes a `$skipToken` (absent = start); `None` when it is not one of ours.
pub(crate) fn parse_skip_token(req: &Req) -> Option<usize> {
    let Some(token) = req.params.get("$skipToken") else {
        return Some(0);
    };
    if token.len() % 2 != 0 {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(token.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()?.strip_prefix("offset:")?.parse().ok()
}

/// One page of a list: `{"value":[..], "nextLink"?}` with an absolute nextLink to the same URL.
pub(crate) fn page(sim: &Inner, req: &Req, items: Vec<Value>, page_size: usize, extra_params: &str) -> Response {
    let Some(offset) = parse_skip_token(req) else {
        return bad_request("The $skipToken is invalid.");
    };
    let page_size = page_size.max(1);
    let end = offset.saturating_add(page_size).min(items.len());
    let value: Vec<Value> = items.get(offset..end).map(<[Value]>::to_vec).unwrap_or_default();
    let mut body = json!({ "value": value });
    if end < items.len() {
        body["nextLink"] = json!(format!(
            "{}{}?api-version={}{}&$skipToken={}",
            sim.base_url,
            req.path,
            req.params["api-version"],
            extra_params,
            skip_token(end)
        ));
    }
    json_response(200, &body)
}

/// Answers any request under `/subscriptions/`.
pub(crate) fn handle(sim: &Inner, req: &Req) -> Response {
    match identity::check(sim, req, Audience::Arm) {
        Ok(()) => {}
        Err(TokenError::Missing) => {
            return error_response(
                401,
                "AuthenticationFailed",
                "Authentication failed. The 'Authorization' header is missing.",
            );
        }
        Err(TokenError::Invalid) => {
            return error_response(401, "InvalidAuthenticationToken", "The access token is invalid.");
        }
        Err(TokenError::Expired) => {
            return error_response(401, "ExpiredAuthenticationToken", "The access token has expired.");
        }
        Err(TokenError::WrongTenant(tenant)) => {
            // ARM's answer to a token of another tenant (no Lighthouse delegation).
            return error_response(
                401,
                "InvalidAuthenticationTokenTenant",
                &format!(
                    "The access token is from the wrong issuer 'https://sts.windows.net/{}/'. It must match the tenant 'https://sts.windows.net/{tenant}/' associated with this subscription. Please use the authority (URL) 'https://login.windows.net/{tenant}' to get the token.",
                    crate::IDENTITY_TENANT
                ),
            );
        }
        Err(TokenError::WrongAudience(_)) => {
            return error_response(
                401,
                "InvalidAuthenticationTokenAudience",
                "The access token has been obtained for wrong audience or resource 'https://api.loganalytics.io'. It should exactly match with one of the allowed audiences 'https://management.core.windows.net/','https://management.core.windows.net','https://management.azure.com/','https://management.azure.com'.",
            );
        }
    }
    // The workspace resource itself (Microsoft.OperationalInsights, its own API versions).
    if let Some(response) = crate::workspace::handle(sim, req) {
        return response;
    }
    let Some(version) = req.params.get("api-version") else {
        return error_response(
            400,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        );
    };
    if !API_VERSIONS.contains(&version.as_str()) {
        return error_response(
            400,
            "InvalidApiVersionParameter",
            &format!(
                "The api-version '{version}' is invalid. The supported versions are '{}'.",
                API_VERSIONS.join(",")
            ),
        );
    }
    let segs: Vec<&str> = req.path.trim_matches('/').split('/').collect();
    let ws = &sim.config.workspace;
    let shape_ok = segs.len() >= 10 && FIXED.iter().all(|&(i, text)| segs[i].eq_ignore_ascii_case(text));
    if !shape_ok {
        return error_response(404, "NotFound", "The requested resource path was not found.");
    }
    if let Some(denied) = crate::access::sentinel_denied(sim, req) {
        return denied;
    }
    if !segs[1].eq_ignore_ascii_case(&ws.subscription_id)
        || !segs[3].eq_ignore_ascii_case(&ws.resource_group)
        || !segs[7].eq_ignore_ascii_case(&ws.workspace_name)
    {
        return error_response(
            404,
            "ResourceNotFound",
            &format!(
                "The Resource 'Microsoft.OperationalInsights/workspaces/{}' under resource group '{}' was not found.",
                segs[7], segs[3]
            ),
        );
    }
    let rest: Vec<String> = segs[10..].iter().map(|s| s.to_ascii_lowercase()).collect();
    let rest: Vec<&str> = segs[10..]
        .iter()
        .zip(&rest)
        .enumerate()
        // Collection names compare case-insensitively; ids are passed through as sent.
        .map(|(i, (orig, lower))| if i % 2 == 0 { lower.as_str() } else { *orig })
        .collect();
    match (req.method.as_str(), rest.as_slice()) {
        ("GET", ["incidents"]) => incidents::list(sim, req),
        ("PUT", ["incidents"]) => error_response_405(sim, req, version),
        ("GET", ["incidents", id]) => incidents::get(sim, id),
        ("PUT", ["incidents", id]) => incidents::put(sim, id, &req.body),
        ("POST", ["incidents", id, "alerts"]) => incidents::alerts(sim, req, id),
        ("GET", ["incidents", id, "comments"]) => comments::list(sim, req, id),
        ("GET", ["incidents", id, "comments", cid]) => comments::get(sim, id, cid),
        ("PUT", ["incidents", id, "comments", cid]) => comments::put(sim, id, cid, &req.body),
        _ => error_response(404, "NotFound", "The requested resource path was not found."),
    }
}

/// The observed 405 body for a PUT on the incidents collection.
fn error_response_405(sim: &Inner, req: &Req, version: &str) -> Response {
    json_response(
        405,
        &json!({"error": {
            "code": "UnsupportedApiVersion",
            "message": format!(
                "The HTTP resource that matches the request URI '{}{}' with API version '{version}' does not support HTTP method 'PUT'.",
                sim.base_url, req.path
            ),
            "innerError": null
        }}),
    )
}

//! The App Service managed-identity token endpoint (`GET /msi/token`, protocol 2019-08-01), issuing
//! opaque tokens bound to one audience so the other endpoints can reject tokens minted for the
//! wrong resource, the way Entra-issued tokens are rejected.

use axum::response::Response;
use serde_json::json;

use crate::server::{Inner, Req, json_response};
use crate::state::{Audience, IssuedToken};

/// Maps a `resource` parameter to the audience it names.
fn audience_of(resource: &str) -> Option<Audience> {
    let host = resource.trim_end_matches('/').to_ascii_lowercase();
    match host.as_str() {
        "https://management.azure.com"
        | "https://management.core.windows.net"
        | "https://management.usgovcloudapi.net"
        | "https://management.chinacloudapi.cn" => Some(Audience::Arm),
        "https://api.loganalytics.io" | "https://api.loganalytics.us" | "https://api.loganalytics.azure.cn" => {
            Some(Audience::LogAnalytics)
        }
        _ => None,
    }
}

/// The error body of this endpoint (undocumented upstream; OAuth-style here).
fn bad_request(description: &str) -> Response {
    json_response(
        400,
        &json!({"error": "invalid_request", "error_description": description}),
    )
}

/// Answers a token request.
pub(crate) fn token(sim: &Inner, req: &Req) -> Response {
    if req.method != "GET" {
        return bad_request("Only GET is supported.");
    }
    if req.header("x-identity-header") != Some(sim.identity_header.as_str()) {
        return bad_request("The X-IDENTITY-HEADER header is missing or does not match IDENTITY_HEADER.");
    }
    if req.params.get("api-version").map(String::as_str) != Some("2019-08-01") {
        return bad_request("api-version must be 2019-08-01.");
    }
    let Some(resource) = req.params.get("resource") else {
        return bad_request("The resource parameter is required.");
    };
    let Some(audience) = audience_of(resource) else {
        return bad_request(&format!("Unknown resource '{resource}'."));
    };
    let expires_on = chrono::Utc::now().timestamp() + sim.config.token_lifetime_secs;
    let tag = match audience {
        Audience::Arm => "arm",
        Audience::LogAnalytics => "la",
    };
    let access_token = format!("sim.{tag}.{}", uuid::Uuid::new_v4().simple());
    sim.tokens
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(access_token.clone(), IssuedToken { audience, expires_on });
    *sim.lock().token_requests.entry(audience).or_default() += 1;
    let client_id = req
        .params
        .get("client_id")
        .cloned()
        .unwrap_or_else(|| sim.client_id.clone());
    json_response(
        200,
        &json!({
            "access_token": access_token,
            "expires_on": expires_on.to_string(),
            "resource": resource,
            "token_type": "Bearer",
            "client_id": client_id,
        }),
    )
}

/// Why a presented token was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum TokenError {
    /// No `Authorization` header.
    Missing,
    /// Not a token this simulator issued (or not a Bearer header).
    Invalid,
    /// Issued for another audience.
    WrongAudience(Audience),
    /// Past its expiry.
    Expired,
    /// Issued in the identity's tenant for a workspace of another tenant that did not delegate
    /// it (Azure Lighthouse): the tenant id the resource belongs to.
    WrongTenant(String),
}

/// Checks the request's bearer token against `wanted`.
pub(crate) fn check(sim: &Inner, req: &Req, wanted: Audience) -> Result<(), TokenError> {
    let token = req
        .bearer()
        .map_err(|()| TokenError::Missing)?
        .ok_or(TokenError::Invalid)?;
    let issued = sim
        .tokens
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(token)
        .cloned()
        .ok_or(TokenError::Invalid)?;
    if issued.audience != wanted {
        return Err(TokenError::WrongAudience(issued.audience));
    }
    if issued.expires_on <= chrono::Utc::now().timestamp() {
        return Err(TokenError::Expired);
    }
    match &sim.config.foreign_tenant {
        Some(t) if !t.delegated => Err(TokenError::WrongTenant(t.tenant_id.clone())),
        _ => Ok(()),
    }
}

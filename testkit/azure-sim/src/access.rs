//! Role assignments of the simulated identity on the workspace. Off by default: the identity holds
//! both roles the product needs, and nothing here changes an answer. A test that revokes one
//! ([`crate::AzureSim::revoke_role`]) gets the 403 the real services send to a principal without
//! it, so the product's "which role is missing" messages can be checked.
//!
//! - Sentinel (Resource Manager) without **Microsoft Sentinel Responder**: `403 AuthorizationFailed`
//!   from the ARM gateway, in the shape quoted from the live service in Azure/Azure-Sentinel
//!   issue #4549 ("The client '…' with object id '…' does not have authorization to perform action
//!   'Microsoft.SecurityInsights/incidents/comments/write' over scope '…' or the scope is invalid.
//!   If access was recently granted, please refresh your credentials.", header
//!   `x-ms-failure-cause: gateway`). Authorization is checked on the request's scope before the
//!   resource provider looks the workspace up, so it comes before any 404.
//! - Log Analytics without **Log Analytics Reader**: the documented `403 InsufficientAccessError`
//!   (MicrosoftDocs/azure-monitor-docs `articles/azure-monitor/logs/api/errors.md`; case
//!   `insufficient-permissions` of `tests/fixtures/loganalytics-api/documented-errors/errors.json`).
//!
//! Simplification: each role is all-or-nothing for its API (no Sentinel Reader that may read but
//! not write).

use std::collections::HashSet;

use axum::http::HeaderValue;
use axum::response::Response;
use serde_json::json;

use crate::server::{Inner, Req, error_response, json_response};

/// A role the product's identity needs on the workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Microsoft Sentinel Responder: read and update incidents, write comments.
    SentinelResponder,
    /// Log Analytics Reader: run queries.
    LogAnalyticsReader,
}

/// The roles taken away from the identity (empty: everything allowed).
#[derive(Debug, Default)]
pub(crate) struct Revoked(HashSet<Role>);

impl Revoked {
    /// Takes `role` away.
    pub(crate) fn revoke(&mut self, role: Role) {
        self.0.insert(role);
    }

    /// Gives `role` back.
    pub(crate) fn grant(&mut self, role: Role) {
        self.0.remove(&role);
    }

    fn lacks(&self, role: Role) -> bool {
        self.0.contains(&role)
    }
}

/// The ARM action a Sentinel request needs: the resource type of the path (collection names
/// after `Microsoft.SecurityInsights`) and `read`, `write`, `delete` or `action`.
fn action(req: &Req) -> String {
    let segs: Vec<&str> = req.path.trim_matches('/').split('/').collect();
    let kinds: Vec<String> = segs
        .get(10..)
        .unwrap_or(&[])
        .iter()
        .step_by(2)
        .map(|s| s.to_ascii_lowercase())
        .collect();
    let verb = match req.method.as_str() {
        "GET" => "read",
        "PUT" | "PATCH" => "write",
        "DELETE" => "delete",
        // A POST under an incident (`…/alerts`) is an action on that sub-resource.
        _ => "action",
    };
    format!("Microsoft.SecurityInsights/{}/{verb}", kinds.join("/"))
}

/// The gateway's 403 when the identity lacks Microsoft Sentinel Responder; `None` when allowed.
pub(crate) fn sentinel_denied(sim: &Inner, req: &Req) -> Option<Response> {
    if !sim.lock().revoked.lacks(Role::SentinelResponder) {
        return None;
    }
    let principal = &sim.client_id;
    let mut response = error_response(
        403,
        "AuthorizationFailed",
        &format!(
            "The client '{principal}' with object id '{principal}' does not have authorization to perform action '{}' over scope '{}' or the scope is invalid. If access was recently granted, please refresh your credentials.",
            action(req),
            req.path
        ),
    );
    response
        .headers_mut()
        .insert("x-ms-failure-cause", HeaderValue::from_static("gateway"));
    Some(response)
}

/// The query API's 403 when the identity lacks Log Analytics Reader; `None` when allowed.
pub(crate) fn query_denied(sim: &Inner) -> Option<Response> {
    if !sim.lock().revoked.lacks(Role::LogAnalyticsReader) {
        return None;
    }
    Some(json_response(
        403,
        &json!({"error": {
            "message": "The provided credentials have insufficient access to perform the requested operation",
            "code": "InsufficientAccessError"
        }}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, tail: &str) -> Req {
        Req {
            method: method.into(),
            path: format!(
                "/subscriptions/s/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/ws/providers/Microsoft.SecurityInsights/{tail}"
            ),
            params: Default::default(),
            headers: Default::default(),
            body: Default::default(),
        }
    }

    #[test]
    fn actions_name_the_resource_type_and_verb() {
        assert_eq!(
            action(&req("GET", "incidents")),
            "Microsoft.SecurityInsights/incidents/read"
        );
        assert_eq!(
            action(&req("PUT", "incidents/abc")),
            "Microsoft.SecurityInsights/incidents/write"
        );
        assert_eq!(
            action(&req("PUT", "Incidents/abc/comments/c1")),
            "Microsoft.SecurityInsights/incidents/comments/write"
        );
        assert_eq!(
            action(&req("POST", "incidents/abc/alerts")),
            "Microsoft.SecurityInsights/incidents/alerts/action"
        );
    }
}

//! The workspace resource under ARM: `GET /subscriptions/{sub}/resourceGroups/{rg}/providers/
//! Microsoft.OperationalInsights/workspaces/{name}?api-version=…`, whose `properties.customerId`
//! is the Log Analytics workspace id the query API takes (Workspaces - Get, REST reference
//! operationalinsights 2023-09-01; Log Analytics Reader grants `workspaces/read`).

use axum::response::Response;
use serde_json::json;

use crate::server::{Inner, Req, error_response, json_response};

/// API versions of `Microsoft.OperationalInsights/workspaces` the simulator accepts.
const API_VERSIONS: [&str; 3] = ["2022-10-01", "2023-09-01", "2025-02-01"];

/// Answers a request for the workspace resource itself; `None` for any other path.
pub(crate) fn handle(sim: &Inner, req: &Req) -> Option<Response> {
    let segs: Vec<&str> = req.path.trim_matches('/').split('/').collect();
    let fixed = [
        (0, "subscriptions"),
        (2, "resourcegroups"),
        (4, "providers"),
        (5, "microsoft.operationalinsights"),
        (6, "workspaces"),
    ];
    if segs.len() != 8 || !fixed.iter().all(|&(i, t)| segs[i].eq_ignore_ascii_case(t)) {
        return None;
    }
    if req.method != "GET" {
        return Some(error_response(
            405,
            "MethodNotAllowed",
            "The workspace is read-only here.",
        ));
    }
    let version = req.params.get("api-version").map(String::as_str).unwrap_or_default();
    if !API_VERSIONS.contains(&version) {
        return Some(error_response(
            400,
            "InvalidApiVersionParameter",
            &format!(
                "The api-version '{version}' is invalid. The supported versions are '{}'.",
                API_VERSIONS.join(",")
            ),
        ));
    }
    let ws = &sim.config.workspace;
    if !segs[1].eq_ignore_ascii_case(&ws.subscription_id)
        || !segs[3].eq_ignore_ascii_case(&ws.resource_group)
        || !segs[7].eq_ignore_ascii_case(&ws.workspace_name)
    {
        return Some(error_response(
            404,
            "ResourceNotFound",
            &format!(
                "The Resource 'Microsoft.OperationalInsights/workspaces/{}' under resource group '{}' was not found.",
                segs[7], segs[3]
            ),
        ));
    }
    Some(json_response(
        200,
        &json!({
            "id": ws.resource_id(),
            "name": ws.workspace_name,
            "type": "Microsoft.OperationalInsights/workspaces",
            "location": "westeurope",
            "properties": {
                "customerId": ws.workspace_id,
                "provisioningState": "Succeeded",
                "sku": { "name": "PerGB2018" },
                "retentionInDays": 90
            }
        }),
    ))
}

//! The `SecurityAlertWebhook` payload: a Sentinel incident-trigger body posted by a playbook (which an
//! automation rule runs), or a minimal `{"incidentId": "<name or full ARM id>"}`. Parsing turns it
//! into a checked [`IncidentName`] of the configured workspace, or a 4xx error that says what is
//! wrong. Nothing from the payload reaches a URL unless it passed [`IncidentName::parse`].

use serde_json::Value;

use crate::domain::{IncidentArmId, IncidentName, WorkspaceGuid, WorkspaceResourceId};

/// Largest body accepted, in bytes. Incident-trigger payloads carry the incident with its alerts,
/// entities and comments; large incidents reach a few hundred KiB, so 4 MiB leaves headroom while
/// keeping a hostile body from costing memory.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// Why a payload was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Rejection {
    /// HTTP status to answer with.
    pub status: u16,
    /// Stable error code.
    pub code: &'static str,
    /// What is wrong, for the caller.
    pub message: String,
}

impl Rejection {
    fn bad(message: impl Into<String>) -> Self {
        Self {
            status: 400,
            code: "invalid-payload",
            message: message.into(),
        }
    }

    fn foreign(message: impl Into<String>) -> Self {
        Self {
            status: 403,
            code: "wrong-workspace",
            message: message.into(),
        }
    }
}

/// The workspace this instance serves; payloads for any other are refused.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    /// The workspace's ARM id.
    pub workspace: &'a WorkspaceResourceId,
    /// The workspace's GUID.
    pub workspace_id: &'a WorkspaceGuid,
}

/// Extracts the incident a payload is about.
pub fn incident_from(payload: &Value, scope: Scope<'_>) -> Result<IncidentName, Rejection> {
    let Some(object) = payload.as_object() else {
        return Err(Rejection::bad("the body must be a JSON object"));
    };
    if let Some(id) = object.get("incidentId") {
        let id = id
            .as_str()
            .ok_or_else(|| Rejection::bad("incidentId must be a string"))?;
        return if id.starts_with('/') {
            from_arm_id(id, scope)
        } else {
            IncidentName::parse(id).map_err(|e| Rejection::bad(format!("incidentId: {e}")))
        };
    }
    let Some(incident) = object.get("object") else {
        return Err(Rejection::bad(
            "expected {\"incidentId\": \"<name or ARM id>\"} or a Sentinel incident-trigger payload with object.id / object.name",
        ));
    };
    let incident = incident
        .as_object()
        .ok_or_else(|| Rejection::bad("object must be a JSON object"))?;
    check_workspace_fields(object, scope)?;
    let id = optional_string(incident.get("id"), "object.id")?;
    let name = optional_string(incident.get("name"), "object.name")?;
    match (id, name) {
        (Some(id), name) => {
            let from_id = from_arm_id(id, scope)?;
            if let Some(name) = name
                && name != from_id.as_str()
            {
                return Err(Rejection::bad(
                    "object.name does not match the last segment of object.id",
                ));
            }
            Ok(from_id)
        }
        (None, Some(name)) => IncidentName::parse(name).map_err(|e| Rejection::bad(format!("object.name: {e}"))),
        (None, None) => Err(Rejection::bad("object has neither id nor name")),
    }
}

fn from_arm_id(id: &str, scope: Scope<'_>) -> Result<IncidentName, Rejection> {
    let parsed = IncidentArmId::parse(id).map_err(|e| Rejection::bad(e.to_string()))?;
    if !parsed.workspace.same_as(scope.workspace) {
        return Err(Rejection::foreign(
            "the incident belongs to another workspace than the one this function serves",
        ));
    }
    Ok(parsed.name)
}

/// `workspaceId` and `workspaceInfo` are optional, but when present they must name our workspace.
fn check_workspace_fields(object: &serde_json::Map<String, Value>, scope: Scope<'_>) -> Result<(), Rejection> {
    if let Some(id) = optional_string(object.get("workspaceId"), "workspaceId")?
        && !id.eq_ignore_ascii_case(scope.workspace_id.as_str())
    {
        return Err(Rejection::foreign(
            "workspaceId is not the workspace this function serves",
        ));
    }
    if let Some(info) = object.get("workspaceInfo") {
        let info = info
            .as_object()
            .ok_or_else(|| Rejection::bad("workspaceInfo must be a JSON object"))?;
        for (key, ours) in [
            ("SubscriptionId", &scope.workspace.subscription_id),
            ("ResourceGroupName", &scope.workspace.resource_group),
            ("WorkspaceName", &scope.workspace.workspace_name),
        ] {
            if let Some(value) = optional_string(info.get(key), key)?
                && !value.eq_ignore_ascii_case(ours)
            {
                return Err(Rejection::foreign(format!(
                    "workspaceInfo.{key} is not the workspace this function serves"
                )));
            }
        }
    }
    Ok(())
}

fn optional_string<'v>(value: Option<&'v Value>, what: &str) -> Result<Option<&'v str>, Rejection> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(Rejection::bad(format!("{what} must be a string"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const WS: &str = "/subscriptions/d0cfe6b2-9ac0-4464-9919-dccaee2e48c0/resourceGroups/myRg/providers/Microsoft.OperationalInsights/workspaces/myWorkspace";
    const NAME: &str = "73e01a99-5cd7-4139-a149-9f2736ff2ab5";

    fn parse(payload: Value) -> Result<IncidentName, Rejection> {
        let ws = WorkspaceResourceId::parse(WS).unwrap();
        let id = WorkspaceGuid::parse("c8c99641-985d-4e4e-8e91-fb3466cd0e5b").unwrap();
        incident_from(
            &payload,
            Scope {
                workspace: &ws,
                workspace_id: &id,
            },
        )
    }

    #[test]
    fn the_constructed_incident_trigger_payload_parses() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/sentinel-webhook/constructed-incident-trigger.json"
        );
        let payload: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert_eq!(parse(payload).unwrap().as_str(), NAME);
    }

    #[test]
    fn minimal_payloads_take_a_name_or_an_arm_id() {
        assert_eq!(parse(json!({ "incidentId": NAME })).unwrap().as_str(), NAME);
        let arm = format!("{WS}/providers/Microsoft.SecurityInsights/Incidents/{NAME}");
        assert_eq!(
            parse(json!({ "incidentId": arm, "extra": [1, 2] })).unwrap().as_str(),
            NAME
        );
        assert_eq!(parse(json!({ "object": { "name": NAME } })).unwrap().as_str(), NAME);
    }

    #[test]
    fn other_workspaces_are_forbidden() {
        let other = WS.replace("myWorkspace", "otherWs");
        let r =
            parse(json!({ "incidentId": format!("{other}/providers/Microsoft.SecurityInsights/Incidents/{NAME}") }))
                .unwrap_err();
        assert_eq!(r.status, 403);
        let r = parse(json!({ "workspaceId": "00000000-0000-0000-0000-000000000000", "object": { "name": NAME } }))
            .unwrap_err();
        assert_eq!(r.status, 403);
        let r = parse(json!({ "workspaceInfo": { "SubscriptionId": "x" }, "object": { "name": NAME } })).unwrap_err();
        assert_eq!(r.status, 403);
        let other_sub = WS.replace("d0cfe6b2", "aaaaaaaa");
        let r = parse(
            json!({ "object": { "id": format!("{other_sub}/providers/Microsoft.SecurityInsights/Incidents/{NAME}") } }),
        )
        .unwrap_err();
        assert_eq!(r.status, 403);
    }

    #[test]
    fn malformed_payloads_are_bad_requests() {
        for payload in [
            json!([]),
            json!("x"),
            json!({}),
            json!({ "incidentId": 5 }),
            json!({ "incidentId": "../x" }),
            json!({ "incidentId": "a/b" }),
            json!({ "incidentId": "a%2Fb" }),
            json!({ "incidentId": "https://evil.example/x" }),
            json!({ "incidentId": " a" }),
            json!({ "object": "x" }),
            json!({ "object": {} }),
            json!({ "object": { "name": "a?b" } }),
            json!({ "object": { "id": format!("{WS}/providers/Microsoft.SecurityInsights/Incidents/{NAME}"), "name": "other" } }),
        ] {
            let r = parse(payload.clone()).unwrap_err();
            assert_eq!(r.status, 400, "{payload}");
        }
    }

    mod fuzz {
        use super::*;
        use proptest::prelude::*;

        fn arbitrary_json() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<i64>().prop_map(|n| json!(n)),
                any::<String>().prop_map(Value::String),
                "[a-zA-Z0-9/._%?#: -]{0,40}".prop_map(Value::String),
            ];
            leaf.prop_recursive(6, 64, 8, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
                    prop::collection::vec(
                        (
                            prop_oneof![
                                Just("incidentId".to_owned()),
                                Just("object".to_owned()),
                                Just("id".to_owned()),
                                Just("name".to_owned()),
                                Just("workspaceId".to_owned()),
                                Just("workspaceInfo".to_owned()),
                                any::<String>()
                            ],
                            inner
                        ),
                        0..8
                    )
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
                ]
            })
        }

        fn allowed(name: &str) -> bool {
            (1..=128).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

            #[test]
            fn never_panics_and_never_yields_an_id_outside_the_allowed_form(payload in arbitrary_json()) {
                if let Ok(name) = parse(payload) {
                    prop_assert!(allowed(name.as_str()), "accepted {:?}", name.as_str());
                }
            }

            #[test]
            fn any_incident_id_string_is_checked(id in any::<String>()) {
                let result = parse(json!({ "incidentId": id.clone() }));
                match result {
                    Ok(name) => prop_assert!(allowed(name.as_str()) && (name.as_str() == id || id.starts_with('/'))),
                    Err(r) => prop_assert!(r.status == 400 || r.status == 403),
                }
            }

            #[test]
            fn arm_ids_with_hostile_names_are_refused(name in "[a-z]{0,3}([/?#% ]|\\.\\.|%2F)[a-z]{0,3}") {
                let id = format!("{WS}/providers/Microsoft.SecurityInsights/Incidents/{name}");
                let refused = parse(json!({ "incidentId": id })).is_err();
                prop_assert!(refused);
            }
        }
    }
}

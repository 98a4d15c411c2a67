//! The `SecurityAlertWebhook` payload: a Sentinel incident-trigger body posted by a playbook (which an
//! automation rule runs), or a minimal `{"incidentId": "<name or full ARM id>"}`. Parsing turns it
//! into a checked [`IncidentName`] and the configured workspace it belongs to (the payload's
//! `object.id`, `workspaceInfo` and `workspaceId` say which), or a 4xx error that says what is
//! wrong: 403 for a workspace this function does not serve, decided without any Azure call when
//! the payload names the workspace by its ARM id or `workspaceInfo`. Nothing from the payload
//! reaches a URL unless it passed [`IncidentName::parse`].

use serde_json::Value;

use crate::domain::{IncidentArmId, IncidentName, WorkspaceGuid, WorkspaceResourceId};

/// Largest body accepted, in bytes. Incident-trigger payloads carry the incident with its alerts,
/// entities and comments; large incidents reach a few hundred KiB, so 4 MiB leaves headroom while
/// keeping a hostile body from costing memory.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// Why a payload was refused. What HTTP status each answers with is the host's business.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// The payload is malformed, or names its incident ambiguously.
    #[error("{0}")]
    Invalid(String),
    /// The payload names a workspace this function does not serve.
    #[error("{0}")]
    Foreign(String),
    /// A workspace's id could not be read from its resource, so the payload's `workspaceId`
    /// cannot be checked.
    #[error("{0}")]
    Unreadable(String),
}

impl Rejection {
    fn bad(message: impl Into<String>) -> Self {
        Self::Invalid(message.into())
    }

    fn foreign(message: impl Into<String>) -> Self {
        Self::Foreign(message.into())
    }

    /// The stable error code of the reply.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "invalid-payload",
            Self::Foreign(_) => "wrong-workspace",
            Self::Unreadable(_) => "workspace-id-unreadable",
        }
    }

    /// What is wrong, for the caller.
    pub fn message(&self) -> &str {
        match self {
            Self::Invalid(m) | Self::Foreign(m) | Self::Unreadable(m) => m,
        }
    }
}

/// One workspace this instance serves; payloads for any other are refused.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    /// The workspace's ARM id.
    pub workspace: &'a WorkspaceResourceId,
    /// The workspace's GUID, when known without a call (settings, or read before).
    pub workspace_id: Option<&'a WorkspaceGuid>,
}

/// The incident a payload is about, and which configured workspace it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Index into the scopes. `None`: only the payload's `workspaceId` names the workspace and
    /// some workspace's GUID is not known yet; read them and route again.
    pub workspace: Option<usize>,
    /// The incident.
    pub name: IncidentName,
    /// The payload's `workspaceId`, when it still has to be compared with the chosen
    /// workspace's GUID (not known without a call); a mismatch is a 403.
    pub unverified_workspace_id: Option<String>,
}

/// Extracts the incident a payload is about and the workspace it belongs to, among `scopes`
/// (at least one). Every workspace the payload names (`object.id` or `incidentId` as a full ARM
/// id, `workspaceInfo`, `workspaceId`) must be a configured one, or the answer is 403; a bare
/// incident name is accepted only when one workspace is configured.
pub fn incident_from(payload: &Value, scopes: &[Scope<'_>]) -> Result<Target, Rejection> {
    let Some(object) = payload.as_object() else {
        return Err(Rejection::bad("the body must be a JSON object"));
    };
    if let Some(id) = object.get("incidentId") {
        let id = id
            .as_str()
            .ok_or_else(|| Rejection::bad("incidentId must be a string"))?;
        if id.starts_with('/') {
            let (workspace, name) = from_arm_id(id, scopes)?;
            return Ok(Target {
                workspace: Some(workspace),
                name,
                unverified_workspace_id: None,
            });
        }
        let name = IncidentName::parse(id).map_err(|e| Rejection::bad(format!("incidentId: {e}")))?;
        return only_workspace(scopes, name, "incidentId is a bare incident name");
    }
    let Some(incident) = object.get("object") else {
        return Err(Rejection::bad(
            "expected {\"incidentId\": \"<name or ARM id>\"} or a Sentinel incident-trigger payload with object.id / object.name",
        ));
    };
    let incident = incident
        .as_object()
        .ok_or_else(|| Rejection::bad("object must be a JSON object"))?;
    // Which configured workspaces the payload's fields leave.
    let mut allowed = vec![true; scopes.len()];
    let mut named = workspace_info(object, scopes, &mut allowed)?;
    let id = optional_string(incident.get("id"), "object.id")?;
    let name = optional_string(incident.get("name"), "object.name")?;
    let name = match (id, name) {
        (Some(id), name) => {
            let parsed = IncidentArmId::parse(id).map_err(|e| Rejection::bad(e.to_string()))?;
            if let Some(name) = name
                && name != parsed.name.as_str()
            {
                return Err(Rejection::bad(
                    "object.name does not match the last segment of object.id",
                ));
            }
            for (ok, scope) in allowed.iter_mut().zip(scopes) {
                *ok &= parsed.workspace.same_as(scope.workspace);
            }
            if !allowed.contains(&true) {
                return Err(Rejection::foreign(if named {
                    "object.id and workspaceInfo name different workspaces, or one this function does not serve"
                } else {
                    "the incident belongs to another workspace than the ones this function serves"
                }));
            }
            named = true;
            parsed.name
        }
        (None, Some(name)) => IncidentName::parse(name).map_err(|e| Rejection::bad(format!("object.name: {e}")))?,
        (None, None) => return Err(Rejection::bad("object has neither id nor name")),
    };
    let claimed = optional_string(object.get("workspaceId"), "workspaceId")?;
    if let Some(claimed) = claimed {
        // A known GUID that differs rules its workspace out; an unknown one is checked later.
        for (ok, scope) in allowed.iter_mut().zip(scopes) {
            *ok &= scope
                .workspace_id
                .is_none_or(|g| claimed.eq_ignore_ascii_case(g.as_str()));
        }
        if !allowed.contains(&true) {
            return Err(Rejection::foreign(
                "workspaceId is not a workspace this function serves",
            ));
        }
    }
    let left: Vec<usize> = (0..scopes.len()).filter(|&i| allowed[i]).collect();
    // A workspace whose known id is the claimed one is the answer (ids are unique), whatever
    // workspaces with ids not known yet are left.
    if let Some(claimed) = claimed
        && let Some(&i) = left.iter().find(|&&i| {
            scopes[i]
                .workspace_id
                .is_some_and(|g| claimed.eq_ignore_ascii_case(g.as_str()))
        })
    {
        return Ok(Target {
            workspace: Some(i),
            name,
            unverified_workspace_id: None,
        });
    }
    let unverified = |i: usize| claimed.filter(|_| scopes[i].workspace_id.is_none()).map(str::to_owned);
    match (left.as_slice(), claimed) {
        ([only], _) => Ok(Target {
            workspace: Some(*only),
            name,
            unverified_workspace_id: unverified(*only),
        }),
        (_, Some(claimed)) => Ok(Target {
            workspace: None,
            name,
            unverified_workspace_id: Some(claimed.to_owned()),
        }),
        (_, None) if named => Err(Rejection::bad(
            "workspaceInfo matches several of the workspaces this function serves; give all three of its fields, or object.id",
        )),
        (_, None) => only_workspace(scopes, name, "the payload names no workspace"),
    }
}

/// A bare name: fine with one workspace, ambiguous with several.
fn only_workspace(scopes: &[Scope<'_>], name: IncidentName, why: &str) -> Result<Target, Rejection> {
    if scopes.len() == 1 {
        return Ok(Target {
            workspace: Some(0),
            name,
            unverified_workspace_id: None,
        });
    }
    Err(Rejection::bad(format!(
        "{why}, and this function serves {} workspaces: send the incident's full ARM id (incidentId or object.id) or workspaceInfo",
        scopes.len()
    )))
}

fn from_arm_id(id: &str, scopes: &[Scope<'_>]) -> Result<(usize, IncidentName), Rejection> {
    let parsed = IncidentArmId::parse(id).map_err(|e| Rejection::bad(e.to_string()))?;
    let workspace = scopes
        .iter()
        .position(|s| parsed.workspace.same_as(s.workspace))
        .ok_or_else(|| {
            Rejection::foreign("the incident belongs to another workspace than the ones this function serves")
        })?;
    Ok((workspace, parsed.name))
}

/// `workspaceInfo` is optional, but each field present must match a configured workspace:
/// rules out the others in `allowed`. `true` when it named anything.
fn workspace_info(
    object: &serde_json::Map<String, Value>,
    scopes: &[Scope<'_>],
    allowed: &mut [bool],
) -> Result<bool, Rejection> {
    let Some(info) = object.get("workspaceInfo") else {
        return Ok(false);
    };
    let info = info
        .as_object()
        .ok_or_else(|| Rejection::bad("workspaceInfo must be a JSON object"))?;
    let mut named = false;
    for key in ["SubscriptionId", "ResourceGroupName", "WorkspaceName"] {
        let Some(value) = optional_string(info.get(key), key)? else {
            continue;
        };
        named = true;
        for (ok, scope) in allowed.iter_mut().zip(scopes) {
            let ours = match key {
                "SubscriptionId" => &scope.workspace.subscription_id,
                "ResourceGroupName" => &scope.workspace.resource_group,
                _ => &scope.workspace.workspace_name,
            };
            *ok &= value.eq_ignore_ascii_case(ours);
        }
        if !allowed.contains(&true) {
            return Err(Rejection::foreign(format!(
                "workspaceInfo.{key} is not a workspace this function serves"
            )));
        }
    }
    Ok(named)
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
        let target = incident_from(
            &payload,
            &[Scope {
                workspace: &ws,
                workspace_id: Some(&id),
            }],
        )?;
        assert_eq!((target.workspace, target.unverified_workspace_id), (Some(0), None));
        Ok(target.name)
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
        assert!(matches!(r, Rejection::Foreign(_)), "{r:?}");
        let r = parse(json!({ "workspaceId": "00000000-0000-0000-0000-000000000000", "object": { "name": NAME } }))
            .unwrap_err();
        assert!(matches!(r, Rejection::Foreign(_)), "{r:?}");
        let r = parse(json!({ "workspaceInfo": { "SubscriptionId": "x" }, "object": { "name": NAME } })).unwrap_err();
        assert!(matches!(r, Rejection::Foreign(_)), "{r:?}");
        let other_sub = WS.replace("d0cfe6b2", "aaaaaaaa");
        let r = parse(
            json!({ "object": { "id": format!("{other_sub}/providers/Microsoft.SecurityInsights/Incidents/{NAME}") } }),
        )
        .unwrap_err();
        assert!(matches!(r, Rejection::Foreign(_)), "{r:?}");
    }

    const WS_B: &str = "/subscriptions/0f7b9c1e-2d3a-4b5c-8d6e-7f8091a2b3c4/resourceGroups/customer-rg/providers/Microsoft.OperationalInsights/workspaces/customer-ws";
    const GUID_B: &str = "3a9e1f52-6c7d-4e8f-9a0b-1c2d3e4f5a6b";

    /// Two workspaces; the second's GUID known or not.
    fn route(payload: Value, b_known: bool) -> Result<Target, Rejection> {
        let a = WorkspaceResourceId::parse(WS).unwrap();
        let b = WorkspaceResourceId::parse(WS_B).unwrap();
        let ga = WorkspaceGuid::parse("c8c99641-985d-4e4e-8e91-fb3466cd0e5b").unwrap();
        let gb = WorkspaceGuid::parse(GUID_B).unwrap();
        let scopes = [
            Scope {
                workspace: &a,
                workspace_id: Some(&ga),
            },
            Scope {
                workspace: &b,
                workspace_id: b_known.then_some(&gb),
            },
        ];
        incident_from(&payload, &scopes)
    }

    #[test]
    fn with_several_workspaces_the_payload_says_which() {
        let in_b = format!("{WS_B}/providers/Microsoft.SecurityInsights/Incidents/{NAME}");
        let t = route(json!({ "incidentId": in_b }), true).unwrap();
        assert_eq!((t.workspace, t.name.as_str()), (Some(1), NAME));
        let info_b = json!({ "SubscriptionId": "0f7b9c1e-2d3a-4b5c-8d6e-7f8091a2b3c4", "ResourceGroupName": "customer-rg", "WorkspaceName": "customer-ws" });
        let trigger = json!({ "workspaceId": GUID_B, "workspaceInfo": info_b, "object": { "id": in_b, "name": NAME } });
        assert_eq!(route(trigger.clone(), true).unwrap().workspace, Some(1));
        // B's GUID unknown: routed by ARM id, the workspaceId is left to compare.
        let t = route(trigger, false).unwrap();
        assert_eq!(
            (t.workspace, t.unverified_workspace_id.as_deref()),
            (Some(1), Some(GUID_B))
        );
        // workspaceInfo alone, or the workspaceId alone, is enough.
        assert_eq!(
            route(json!({ "workspaceInfo": info_b, "object": { "name": NAME } }), true)
                .unwrap()
                .workspace,
            Some(1)
        );
        assert_eq!(
            route(json!({ "workspaceId": GUID_B, "object": { "name": NAME } }), true)
                .unwrap()
                .workspace,
            Some(1)
        );
        // A's GUID differs, B's is not known: B, to be verified.
        let t = route(json!({ "workspaceId": GUID_B, "object": { "name": NAME } }), false).unwrap();
        assert_eq!(
            (t.workspace, t.unverified_workspace_id.as_deref()),
            (Some(1), Some(GUID_B))
        );
        // A known GUID that differs from the one of the workspace object.id names is refused.
        let r = route(json!({ "workspaceId": GUID_B, "object": { "id": format!("{WS}/providers/Microsoft.SecurityInsights/Incidents/{NAME}") } }), true).unwrap_err();
        assert!(matches!(r, Rejection::Foreign(_)), "{r:?}");
        // Conflicting ARM fields, and foreign ones, are refused.
        let r = route(json!({ "workspaceInfo": info_b, "object": { "id": format!("{WS}/providers/Microsoft.SecurityInsights/Incidents/{NAME}") } }), true).unwrap_err();
        assert!(matches!(r, Rejection::Foreign(_)), "{r:?}");
        let other = WS_B.replace("customer-ws", "third-ws");
        let r = route(
            json!({ "incidentId": format!("{other}/providers/Microsoft.SecurityInsights/Incidents/{NAME}") }),
            false,
        )
        .unwrap_err();
        assert_eq!(r.code(), "wrong-workspace");
        // A bare name, or a partial workspaceInfo that fits both, is ambiguous.
        for payload in [json!({ "incidentId": NAME }), json!({ "object": { "name": NAME } })] {
            let r = route(payload, true).unwrap_err();
            assert!(matches!(r, Rejection::Invalid(_)), "{r:?}");
            assert!(
                r.message().contains("this function serves 2 workspaces"),
                "{}",
                r.message()
            );
        }
        let both = WS.replace("myRg", "customer-rg").replace(
            "d0cfe6b2-9ac0-4464-9919-dccaee2e48c0",
            "0f7b9c1e-2d3a-4b5c-8d6e-7f8091a2b3c4",
        );
        let a = WorkspaceResourceId::parse(&both).unwrap();
        let b = WorkspaceResourceId::parse(WS_B).unwrap();
        let scopes = [
            Scope {
                workspace: &a,
                workspace_id: None,
            },
            Scope {
                workspace: &b,
                workspace_id: None,
            },
        ];
        let r = incident_from(
            &json!({ "workspaceInfo": { "ResourceGroupName": "customer-rg" }, "object": { "name": NAME } }),
            &scopes,
        )
        .unwrap_err();
        assert!(matches!(r, Rejection::Invalid(_)), "{}", r.message());
        // No GUID known and only the workspaceId names the workspace: the ids must be read first.
        let t = incident_from(&json!({ "workspaceId": GUID_B, "object": { "name": NAME } }), &scopes).unwrap();
        assert_eq!(
            (t.workspace, t.unverified_workspace_id.as_deref()),
            (None, Some(GUID_B))
        );
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
            assert!(matches!(r, Rejection::Invalid(_)), "{payload}");
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
                    Err(r) => prop_assert!(matches!(r, Rejection::Invalid(_) | Rejection::Foreign(_))),
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

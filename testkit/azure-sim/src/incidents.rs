//! Incident operations: GET one, list, PUT (create or full replace with etag check and the close
//! rules observed on the real service), and the alerts of an incident. Responses copy the shapes of
//! the official 2025-09-01 examples and of real captures (`/Incidents/` in ids, quoted etags).

use axum::response::Response;
use serde_json::{Map, Value, json};

use crate::sentinel::{bad_request, incident_not_found, page};
use crate::server::{Inner, Req, error_response, json_response};
use crate::state::{Incident, State, new_etag};
use crate::tables::{Label, OwnerInfo, labels_value};
use crate::timefmt;

/// Allowed severities.
const SEVERITIES: [&str; 4] = ["High", "Medium", "Low", "Informational"];
/// Allowed statuses.
const STATUSES: [&str; 3] = ["New", "Active", "Closed"];
/// Allowed classifications.
const CLASSIFICATIONS: [&str; 4] = ["Undetermined", "TruePositive", "BenignPositive", "FalsePositive"];
/// Allowed classification reasons.
const REASONS: [&str; 4] = [
    "SuspiciousActivity",
    "SuspiciousButExpected",
    "IncorrectAlertLogic",
    "InaccurateData",
];

/// ARM id of an incident.
pub(crate) fn incident_id(sim: &Inner, name: &str) -> String {
    format!(
        "{}/providers/Microsoft.SecurityInsights/Incidents/{name}",
        sim.config.workspace.resource_id()
    )
}

/// The REST representation of an incident.
pub(crate) fn render(sim: &Inner, state: &State, inc: &Incident) -> Value {
    let id = incident_id(sim, &inc.name);
    let mut p = Map::new();
    p.insert("title".into(), json!(inc.title));
    if let Some(d) = &inc.description {
        p.insert("description".into(), json!(d));
    }
    p.insert("severity".into(), json!(inc.severity));
    p.insert("status".into(), json!(inc.status));
    // Open incidents omit the classification keys entirely (real capture).
    for (key, value) in [
        ("classification", &inc.classification),
        ("classificationReason", &inc.classification_reason),
        ("classificationComment", &inc.classification_comment),
    ] {
        if let Some(v) = value {
            p.insert(key.into(), json!(v));
        }
    }
    let owner_type = if inc.owner.is_unassigned() {
        Value::Null
    } else {
        json!("Unknown")
    };
    p.insert(
        "owner".into(),
        json!({
            "objectId": inc.owner.object_id,
            "email": inc.owner.email,
            "assignedTo": inc.owner.assigned_to,
            "userPrincipalName": inc.owner.user_principal_name,
            "ownerType": owner_type,
        }),
    );
    p.insert("labels".into(), labels_value(&inc.labels));
    p.insert("incidentNumber".into(), json!(inc.number));
    p.insert(
        "incidentUrl".into(),
        json!(format!(
            "https://portal.azure.com/#asset/Microsoft_Azure_Security_Insights/Incident{id}"
        )),
    );
    p.insert("createdTimeUtc".into(), json!(timefmt::format(inc.created)));
    p.insert("lastModifiedTimeUtc".into(), json!(timefmt::format(inc.last_modified)));
    if let Some(t) = inc.first_activity {
        p.insert("firstActivityTimeUtc".into(), json!(timefmt::format(t)));
    }
    if let Some(t) = inc.last_activity {
        p.insert("lastActivityTimeUtc".into(), json!(timefmt::format(t)));
    }
    p.insert("providerName".into(), json!(inc.provider));
    p.insert("providerIncidentId".into(), json!(inc.number.to_string()));
    p.insert("relatedAnalyticRuleIds".into(), json!([]));
    p.insert(
        "additionalData".into(),
        json!({
            "alertsCount": inc.alert_ids.len(),
            "bookmarksCount": 0,
            "commentsCount": inc.comments.len(),
            "alertProductNames": state.alert_product_names(&inc.alert_ids),
            "tactics": [],
        }),
    );
    json!({
        "name": inc.name,
        "type": "Microsoft.SecurityInsights/Incidents",
        "etag": inc.etag,
        "id": id,
        "properties": Value::Object(p),
    })
}

/// `GET …/incidents/{id}`; applies any race edit queued for after this read.
pub(crate) fn get(sim: &Inner, name: &str) -> Response {
    let mut state = sim.lock();
    let Some(inc) = state.incidents.get(name) else {
        return incident_not_found(name);
    };
    let body = render(sim, &state, inc);
    state.apply_edits_after_get(name);
    json_response(200, &body)
}

/// `GET …/incidents` with `$top` (≤ 1000, the page size) and `$skipToken`, ordered by number.
pub(crate) fn list(sim: &Inner, req: &Req) -> Response {
    let top = match req.params.get("$top").map(|t| t.parse::<usize>()) {
        None => 50,
        Some(Ok(n)) if (1..=1000).contains(&n) => n,
        Some(_) => return bad_request("The value of $top must be an integer between 1 and 1000."),
    };
    let items: Vec<Value> = {
        let state = sim.lock();
        let mut incs: Vec<&Incident> = state.incidents.values().collect();
        incs.sort_by_key(|i| i.number);
        incs.iter().map(|i| render(sim, &state, i)).collect()
    };
    page(sim, req, items, top, &format!("&$top={top}"))
}

/// A validation failure message (kept small; turned into a 400 by `put`).
fn reject(message: &str) -> String {
    message.to_string()
}

/// A string property, `None` when absent or null.
fn opt_str<'a>(props: &'a Map<String, Value>, key: &str) -> Result<Option<&'a str>, String> {
    match props.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(reject(&format!("'{key}' must be a string."))),
    }
}

/// A required enum-valued property.
fn required_enum(props: &Map<String, Value>, key: &str, allowed: &[&str]) -> Result<String, String> {
    match opt_str(props, key)? {
        None | Some("") => Err(reject(&format!("'{key}' must not be empty."))),
        Some(v) if allowed.contains(&v) => Ok(v.to_string()),
        Some(v) => Err(reject(&format!("'{v}' is not a valid value for '{key}'."))),
    }
}

/// Checks the classification rules: Closed needs one, TP/BP/FP need their matching reason.
fn check_classification(status: &str, classification: Option<&str>, reason: Option<&str>) -> Result<(), String> {
    if let Some(c) = classification
        && !CLASSIFICATIONS.contains(&c)
    {
        return Err(reject(&format!("'{c}' is not a valid value for 'classification'.")));
    }
    if let Some(r) = reason
        && !REASONS.contains(&r)
    {
        return Err(reject(&format!(
            "'{r}' is not a valid value for 'classificationReason'."
        )));
    }
    if status == "Closed" && classification.is_none() {
        return Err(reject("classification must be set when closing an incident."));
    }
    match (classification, reason) {
        (None, None) | (Some("Undetermined"), None) => Ok(()),
        (Some(c), None) => Err(reject(&format!("classification '{c}' must have classificationReason."))),
        (Some("TruePositive"), Some("SuspiciousActivity"))
        | (Some("BenignPositive"), Some("SuspiciousButExpected"))
        | (Some("FalsePositive"), Some("IncorrectAlertLogic" | "InaccurateData")) => Ok(()),
        (c, Some(r)) => Err(reject(&format!(
            "classificationReason '{r}' is not valid for classification '{}'.",
            c.unwrap_or("")
        ))),
    }
}

/// Parses the writable `owner` object (null or absent = unassigned).
fn parse_owner(props: &Map<String, Value>) -> Result<OwnerInfo, String> {
    match props.get("owner") {
        None | Some(Value::Null) => Ok(OwnerInfo::default()),
        Some(Value::Object(o)) => Ok(OwnerInfo {
            object_id: opt_str(o, "objectId")?.map(str::to_string),
            email: opt_str(o, "email")?.map(str::to_string),
            assigned_to: opt_str(o, "assignedTo")?.map(str::to_string),
            user_principal_name: opt_str(o, "userPrincipalName")?.map(str::to_string),
        }),
        Some(_) => Err(reject("'owner' must be an object.")),
    }
}

/// Parses the writable `labels` array.
fn parse_labels(props: &Map<String, Value>) -> Result<Vec<Label>, String> {
    let items = match props.get("labels") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(reject("'labels' must be an array.")),
    };
    items
        .iter()
        .map(|item| {
            let o = item.as_object().ok_or_else(|| reject("A label must be an object."))?;
            let name = opt_str(o, "labelName")?.ok_or_else(|| reject("'labelName' is required."))?;
            let label_type = opt_str(o, "labelType")?.unwrap_or("User");
            Ok(Label {
                name: name.to_string(),
                label_type: label_type.to_string(),
            })
        })
        .collect()
}

/// Parses an optional writable timestamp.
fn parse_time(props: &Map<String, Value>, key: &str) -> Result<Option<chrono::DateTime<chrono::Utc>>, String> {
    match opt_str(props, key)? {
        None => Ok(None),
        Some(s) => timefmt::parse(s)
            .map(Some)
            .ok_or_else(|| reject(&format!("'{key}' is not a valid date-time."))),
    }
}

/// `PUT …/incidents/{id}`: full replace of the writable properties, 200 update / 201 create.
pub(crate) fn put(sim: &Inner, name: &str, body: &[u8]) -> Response {
    let parsed: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(_) => return bad_request("The request content was invalid and could not be deserialized."),
    };
    let Some(props) = parsed.get("properties").and_then(Value::as_object) else {
        return bad_request("'properties' is required.");
    };
    let validated = (|| {
        let title = match opt_str(props, "title")? {
            Some(t) if !t.trim().is_empty() => t.to_string(),
            _ => return Err(reject("'Title' must have a non-empty value.")),
        };
        let severity = required_enum(props, "severity", &SEVERITIES)?;
        let status = required_enum(props, "status", &STATUSES)?;
        let classification = opt_str(props, "classification")?;
        let reason = opt_str(props, "classificationReason")?;
        check_classification(&status, classification, reason)?;
        Ok((
            title,
            severity,
            status,
            classification.map(str::to_string),
            reason.map(str::to_string),
            opt_str(props, "classificationComment")?.map(str::to_string),
            opt_str(props, "description")?.map(str::to_string),
            parse_owner(props)?,
            parse_labels(props)?,
            parse_time(props, "firstActivityTimeUtc")?,
            parse_time(props, "lastActivityTimeUtc")?,
        ))
    })();
    let (title, severity, status, classification, reason, comment, description, owner, labels, first, last) =
        match validated {
            Ok(v) => v,
            Err(message) => return bad_request(&message),
        };
    let etag = match parsed.get("etag") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return bad_request("'etag' must be a string."),
    };

    let mut state = sim.lock();
    let now = timefmt::now();
    let created = !state.incidents.contains_key(name);
    if created {
        let number = state.take_number();
        state.incidents.insert(
            name.to_string(),
            Incident {
                name: name.to_string(),
                number,
                title: String::new(),
                description: None,
                severity: String::new(),
                status: String::new(),
                classification: None,
                classification_reason: None,
                classification_comment: None,
                owner: OwnerInfo::default(),
                labels: Vec::new(),
                alert_ids: Vec::new(),
                provider: crate::state::SENTINEL_PROVIDER.into(),
                etag: String::new(),
                created: now,
                last_modified: now,
                first_activity: None,
                last_activity: None,
                comments: Vec::new(),
            },
        );
    } else if let Some(sent) = &etag
        && *sent != state.incidents[name].etag
    {
        return error_response(
            409,
            "Conflict",
            &format!("Newer version of resource '{name}' exists. Data was not saved"),
        );
    }
    let inc = state.incidents.get_mut(name).expect("inserted or present");
    let open = status != "Closed";
    let closing = !open && inc.status != "Closed";
    inc.title = title;
    inc.severity = severity;
    inc.status = status;
    // An open incident carries no classification, so reopening drops it.
    inc.classification = if open { None } else { classification };
    inc.classification_reason = if open { None } else { reason };
    inc.classification_comment = if open { None } else { comment };
    inc.description = description;
    inc.owner = owner;
    inc.labels = labels;
    inc.first_activity = first;
    inc.last_activity = last;
    inc.etag = new_etag();
    inc.last_modified = now;
    if closing && state.is_xdr(name) {
        // The close syncs to Defender XDR, which resolves every alert still open in it.
        state.xdr_resolve_open_alerts(name);
    }
    state.write_incident_row(name);
    let body = render(sim, &state, &state.incidents[name]);
    json_response(if created { 201 } else { 200 }, &body)
}

/// `POST …/incidents/{id}/alerts`: the incident's alerts with their current status, paged; further
/// pages are fetched by POSTing to `nextLink` as well.
pub(crate) fn alerts(sim: &Inner, req: &Req, name: &str) -> Response {
    let items: Vec<Value> = {
        let state = sim.lock();
        let Some(inc) = state.incidents.get(name) else {
            return incident_not_found(name);
        };
        let ws = &sim.config.workspace;
        inc.alert_ids
            .iter()
            .filter_map(|id| state.alerts.get(id))
            .map(|a| {
                let generated = timefmt::format(a.created);
                json!({
                    "name": a.id,
                    "type": "Microsoft.SecurityInsights/Entities",
                    "id": format!("{}/providers/Microsoft.SecurityInsights/Entities/{}", ws.resource_id(), a.id),
                    "kind": "SecurityAlert",
                    "properties": {
                        "additionalData": {"AlertMessageEnqueueTime": generated},
                        "alertDisplayName": a.display_name,
                        "alertType": a.display_name,
                        "confidenceLevel": "Unknown",
                        "endTimeUtc": generated,
                        "friendlyName": a.display_name,
                        "processingEndTime": generated,
                        "productName": a.product_name,
                        "resourceIdentifiers": [{
                            "type": "LogAnalytics",
                            "resourceGroup": ws.resource_group,
                            "subscriptionId": ws.subscription_id,
                            "workspaceId": ws.workspace_id,
                        }],
                        "severity": a.severity,
                        "startTimeUtc": generated,
                        "status": a.status,
                        "systemAlertId": a.id,
                        "tactics": [],
                        "timeGenerated": generated,
                        "vendorName": "Microsoft",
                    }
                })
            })
            .collect()
    };
    sim.lock().apply_changes_after_alerts(name);
    page(sim, req, items, sim.config.alerts_page_size, "")
}

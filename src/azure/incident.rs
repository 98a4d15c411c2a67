//! The Sentinel incident resource as the REST API reads and writes it (2025-09-01), and the PUT
//! body of an update. A PUT replaces every writable property, so an update is built from a fresh
//! GET: all writable properties are copied, only status, classification and labels change, and
//! the GET's etag goes in the body.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::AzureError;
use crate::domain::{Classification, IncidentStatus};

const SERVICE: &str = "Sentinel";

/// An incident resource (`Incident` = `ResourceWithEtag` + properties).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Incident {
    /// Full ARM id.
    pub id: String,
    /// Incident name (the id's last segment).
    pub name: String,
    /// Resource type.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// Concurrency token, a quoted string.
    #[serde(default)]
    pub etag: Option<String>,
    /// The incident's properties.
    pub properties: IncidentProperties,
}

/// `IncidentProperties`: the writable ones by name, everything else kept as it came.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IncidentProperties {
    /// Title (required on PUT).
    pub title: String,
    /// Severity (required on PUT).
    pub severity: String,
    /// Status (required on PUT).
    pub status: String,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Classification, when closed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classification: Option<String>,
    /// Classification reason, when closed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classification_reason: Option<String>,
    /// Classification comment, when closed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classification_comment: Option<String>,
    /// Owner; all fields null when unassigned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<Owner>,
    /// Labels.
    #[serde(default)]
    pub labels: Vec<Label>,
    /// First activity time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_activity_time_utc: Option<String>,
    /// Last activity time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_activity_time_utc: Option<String>,
    /// Human-facing number (read-only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident_number: Option<i64>,
    /// Read-only and newer properties, kept as they came.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `IncidentOwnerInfo`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Owner {
    /// Object id of the user or group.
    #[serde(default)]
    pub object_id: Option<String>,
    /// Email.
    #[serde(default)]
    pub email: Option<String>,
    /// Display name.
    #[serde(default)]
    pub assigned_to: Option<String>,
    /// UPN.
    #[serde(default)]
    pub user_principal_name: Option<String>,
    /// User, Group or Unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_type: Option<String>,
}

impl Owner {
    /// Someone is assigned.
    pub fn is_assigned(&self) -> bool {
        [
            &self.object_id,
            &self.email,
            &self.assigned_to,
            &self.user_principal_name,
        ]
        .iter()
        .any(|f| f.as_deref().is_some_and(|v| !v.is_empty()))
    }
}

/// `IncidentLabel`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Label {
    /// Label text.
    pub label_name: String,
    /// User or AutoAssigned (read-only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_type: Option<String>,
}

impl Incident {
    /// The status, parsed.
    pub fn status(&self) -> Result<IncidentStatus, AzureError> {
        IncidentStatus::parse(&self.properties.status).map_err(|e| AzureError::Decode {
            service: SERVICE,
            message: e.to_string(),
        })
    }

    /// Owner assigned?
    pub fn has_owner(&self) -> bool {
        self.properties.owner.as_ref().is_some_and(Owner::is_assigned)
    }

    /// Label names.
    pub fn label_names(&self) -> Vec<String> {
        self.properties.labels.iter().map(|l| l.label_name.clone()).collect()
    }

    /// `providerName`: `Azure Sentinel`, or `Microsoft XDR` once the workspace is in the
    /// Defender portal (read-only).
    pub fn provider_name(&self) -> Option<&str> {
        self.properties.other.get("providerName").and_then(Value::as_str)
    }

    /// `additionalData.alertsCount`: how many alerts the incident holds now, as the REST API
    /// knows it (alerts join incidents long before the tables show it).
    pub fn alerts_count(&self) -> Option<usize> {
        self.properties
            .other
            .get("additionalData")?
            .get("alertsCount")?
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
    }

    /// The PUT body that makes `update` on this incident, keeping every other writable property
    /// as read.
    pub fn update_body(&self, update: &Update) -> Value {
        let p = &self.properties;
        let mut props = Map::new();
        props.insert("title".into(), json!(p.title));
        props.insert("severity".into(), json!(p.severity));
        props.insert("status".into(), json!(update.status.as_str()));
        if let Some(d) = &p.description {
            props.insert("description".into(), json!(d));
        }
        if let Some(owner) = p.owner.as_ref().filter(|o| o.is_assigned()) {
            props.insert("owner".into(), serde_json::to_value(owner).unwrap_or(Value::Null));
        }
        let mut labels: Vec<Value> = p
            .labels
            .iter()
            .filter(|l| Some(l.label_name.as_str()) != update.remove_label)
            .map(|l| json!({ "labelName": l.label_name, "labelType": l.label_type.as_deref().unwrap_or("User") }))
            .collect();
        if !p.labels.iter().any(|l| l.label_name == update.add_label) {
            labels.push(json!({ "labelName": update.add_label, "labelType": "User" }));
        }
        props.insert("labels".into(), Value::Array(labels));
        for (key, value) in [
            ("firstActivityTimeUtc", &p.first_activity_time_utc),
            ("lastActivityTimeUtc", &p.last_activity_time_utc),
        ] {
            if let Some(v) = value {
                props.insert(key.into(), json!(v));
            }
        }
        match &update.classification {
            ClassificationUpdate::Set(classification, comment) => {
                props.insert("classification".into(), json!(classification.as_str()));
                if let Some(reason) = classification.reason() {
                    props.insert("classificationReason".into(), json!(reason));
                }
                props.insert("classificationComment".into(), json!(comment));
            }
            ClassificationUpdate::Keep => {
                for (key, value) in [
                    ("classification", &p.classification),
                    ("classificationReason", &p.classification_reason),
                    ("classificationComment", &p.classification_comment),
                ] {
                    if let Some(v) = value {
                        props.insert(key.into(), json!(v));
                    }
                }
            }
            // A PUT replaces the properties: leaving them out clears them.
            ClassificationUpdate::Clear => {}
        }
        let mut body = Map::new();
        if let Some(etag) = &self.etag {
            body.insert("etag".into(), json!(etag));
        }
        body.insert("properties".into(), Value::Object(props));
        Value::Object(body)
    }
}

/// A change to write: the new status, the classification, and this tool's labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    /// The new status.
    pub status: IncidentStatus,
    /// What becomes of the classification triple.
    pub classification: ClassificationUpdate,
    /// Label added (kept if already there).
    pub add_label: &'static str,
    /// Label removed, if any.
    pub remove_label: Option<&'static str>,
}

/// What an update does to `classification`, `classificationReason`, `classificationComment`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClassificationUpdate {
    /// Written as read.
    Keep,
    /// Set (a close): the pair and the comment.
    Set(Classification, String),
    /// Removed (a reopen: an Active incident carries no close classification).
    Clear,
}

impl Update {
    /// Closed with `classification` and `comment`, adding `label`.
    pub fn close(classification: Classification, comment: String, label: &'static str) -> Self {
        Self {
            status: IncidentStatus::Closed,
            classification: ClassificationUpdate::Set(classification, comment),
            add_label: label,
            remove_label: None,
        }
    }

    /// Active, adding `label`.
    pub fn activate(label: &'static str) -> Self {
        Self {
            status: IncidentStatus::Active,
            classification: ClassificationUpdate::Keep,
            add_label: label,
            remove_label: None,
        }
    }

    /// Active again, the close's classification cleared, `remove` replaced by `add`.
    pub fn reopen(add: &'static str, remove: &'static str) -> Self {
        Self {
            status: IncidentStatus::Active,
            classification: ClassificationUpdate::Clear,
            add_label: add,
            remove_label: Some(remove),
        }
    }
}

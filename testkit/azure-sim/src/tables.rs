//! The two Log Analytics tables, kept as append-only logs with one full row per change, the way
//! Sentinel and Defender for Cloud feed a real workspace. Queries read them; REST reads never do.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::timefmt;

/// An incident owner as both the REST API and the `Owner` column carry it (all `None` = unassigned).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct OwnerInfo {
    /// Entra object id.
    pub object_id: Option<String>,
    /// Mail address.
    pub email: Option<String>,
    /// Display name.
    pub assigned_to: Option<String>,
    /// User principal name.
    pub user_principal_name: Option<String>,
}

impl OwnerInfo {
    /// The `Owner` dynamic value of the SecurityIncident table.
    pub fn column_value(&self) -> Value {
        json!({
            "objectId": self.object_id,
            "email": self.email,
            "assignedTo": self.assigned_to,
            "userPrincipalName": self.user_principal_name,
        })
    }

    /// Whether nobody is assigned.
    pub fn is_unassigned(&self) -> bool {
        self.object_id.is_none()
            && self.email.is_none()
            && self.assigned_to.is_none()
            && self.user_principal_name.is_none()
    }
}

/// One incident label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Label {
    /// Label text.
    pub name: String,
    /// `User` or `AutoAssigned`.
    pub label_type: String,
}

/// The `Labels` dynamic value (also the REST `labels` array).
pub(crate) fn labels_value(labels: &[Label]) -> Value {
    Value::Array(
        labels
            .iter()
            .map(|l| json!({"labelName": l.name, "labelType": l.label_type}))
            .collect(),
    )
}

/// One row of SecurityIncident: the full state of an incident at `time_generated`.
#[derive(Debug, Clone)]
pub(crate) struct IncidentRow {
    /// When this version was written.
    pub time_generated: DateTime<Utc>,
    /// Incident GUID (REST id).
    pub incident_name: String,
    /// Incident number.
    pub incident_number: i64,
    /// Title.
    pub title: String,
    /// Description ("" when unset).
    pub description: String,
    /// Severity.
    pub severity: String,
    /// Status.
    pub status: String,
    /// Classification ("" when unset, as Kusto stores missing strings).
    pub classification: String,
    /// Classification reason ("" when unset).
    pub classification_reason: String,
    /// Classification comment ("" when unset).
    pub classification_comment: String,
    /// Owner.
    pub owner: OwnerInfo,
    /// Labels.
    pub labels: Vec<Label>,
    /// SystemAlertIds of the incident's alerts.
    pub alert_ids: Vec<String>,
    /// Distinct product names of those alerts (`AdditionalData.alertProductNames`).
    pub alert_product_names: Vec<String>,
    /// `ProviderName`.
    pub provider_name: String,
    /// When the incident was created.
    pub created_time: DateTime<Utc>,
    /// When the incident was last modified.
    pub last_modified_time: DateTime<Utc>,
    /// Written but not yet ingested, whatever its age (see `AzureSim::attach_alert`): the REST
    /// API already shows the change, queries do not until `AzureSim::ingest_held_rows`.
    pub held: bool,
}

impl IncidentRow {
    /// The row as a JSON object keyed by column name; dynamic columns are JSON values.
    pub fn to_json(&self) -> Value {
        json!({
            "TimeGenerated": timefmt::format(self.time_generated),
            "IncidentName": self.incident_name,
            "IncidentNumber": self.incident_number,
            "Title": self.title,
            "Description": self.description,
            "Severity": self.severity,
            "Status": self.status,
            "Classification": self.classification,
            "ClassificationReason": self.classification_reason,
            "ClassificationComment": self.classification_comment,
            "Owner": self.owner.column_value(),
            "Labels": labels_value(&self.labels),
            "AlertIds": self.alert_ids,
            "AdditionalData": {
                "alertsCount": self.alert_ids.len(),
                "alertProductNames": self.alert_product_names,
            },
            "ProviderName": self.provider_name,
            "CreatedTime": timefmt::format(self.created_time),
            "LastModifiedTime": timefmt::format(self.last_modified_time),
            "Type": "SecurityIncident",
        })
    }
}

/// One row of SecurityAlert: the state of an alert at `time_generated`.
#[derive(Debug, Clone)]
pub(crate) struct AlertRow {
    /// When this version was written.
    pub time_generated: DateTime<Utc>,
    /// Alert id.
    pub system_alert_id: String,
    /// Status.
    pub status: String,
    /// Product name.
    pub product_name: String,
    /// Display name (also `AlertName`).
    pub display_name: String,
    /// Severity.
    pub severity: String,
    /// Written but not yet ingested (see [`IncidentRow::held`]).
    pub held: bool,
}

impl AlertRow {
    /// The row as a JSON object keyed by column name.
    pub fn to_json(&self) -> Value {
        json!({
            "TimeGenerated": timefmt::format(self.time_generated),
            "SystemAlertId": self.system_alert_id,
            "Status": self.status,
            "ProductName": self.product_name,
            "DisplayName": self.display_name,
            "AlertName": self.display_name,
            "AlertSeverity": self.severity,
            "VendorName": "Microsoft",
            "Type": "SecurityAlert",
        })
    }
}

/// Both tables.
#[derive(Debug, Default)]
pub(crate) struct Tables {
    /// SecurityIncident rows in write order.
    pub incidents: Vec<IncidentRow>,
    /// SecurityAlert rows in write order.
    pub alerts: Vec<AlertRow>,
}

impl IncidentRow {
    /// Whether queries see this row at `now`.
    pub fn visible(&self, now: DateTime<Utc>, delay: std::time::Duration) -> bool {
        !self.held && is_visible(self.time_generated, now, delay)
    }
}

impl AlertRow {
    /// Whether queries see this row at `now`.
    pub fn visible(&self, now: DateTime<Utc>, delay: std::time::Duration) -> bool {
        !self.held && is_visible(self.time_generated, now, delay)
    }
}

/// Whether a row written at `time_generated` has been ingested by `now`.
pub(crate) fn is_visible(time_generated: DateTime<Utc>, now: DateTime<Utc>, delay: std::time::Duration) -> bool {
    // A row is queryable once the ingestion pipeline has caught up with it; seeds backdated by
    // more than the delay are therefore visible at once, like history in a real workspace.
    let delay = chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX);
    time_generated
        .checked_add_signed(delay)
        .is_some_and(|visible_at| visible_at <= now)
}

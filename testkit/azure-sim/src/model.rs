//! Plain data the tests hand to the simulator (seeds, analyst edits) and get back from it (views of
//! an incident, the request log). None of it is serialized on the wire.

/// A Defender for Cloud alert to create with [`crate::AzureSim::add_alert`].
#[derive(Debug, Clone)]
pub struct AlertSeed {
    /// Alert status: `New`, `InProgress`, `Resolved`, `Dismissed` or `Unknown`.
    pub status: String,
    /// SecurityAlert `ProductName`, e.g. `Azure Security Center`.
    pub product_name: String,
    /// Alert display name (`AlertName` / `DisplayName`).
    pub display_name: String,
    /// How long ago the alert's (only) SecurityAlert row was written.
    pub last_changed_ago: chrono::Duration,
}

impl Default for AlertSeed {
    fn default() -> Self {
        AlertSeed {
            status: "New".into(),
            product_name: "Azure Security Center".into(),
            display_name: "Suspicious activity".into(),
            last_changed_ago: chrono::Duration::hours(1),
        }
    }
}

/// A Sentinel incident to create with [`crate::AzureSim::add_incident`].
#[derive(Debug, Clone)]
pub struct IncidentSeed {
    /// Incident title.
    pub title: String,
    /// `High`, `Medium`, `Low` or `Informational`.
    pub severity: String,
    /// `New`, `Active` or `Closed`.
    pub status: String,
    /// Assigned owner; `None` when unassigned.
    pub owner: Option<Owner>,
    /// Label names (labelType `User`).
    pub labels: Vec<String>,
    /// SystemAlertIds of the incident's alerts.
    pub alert_ids: Vec<String>,
    /// How long ago the incident's (only) SecurityIncident row was written.
    pub last_modified_ago: chrono::Duration,
    /// Classification, for seeding an already closed incident.
    pub classification: Option<String>,
    /// Classification reason, for seeding an already closed incident.
    pub classification_reason: Option<String>,
}

impl Default for IncidentSeed {
    fn default() -> Self {
        IncidentSeed {
            title: "DfC incident".into(),
            severity: "Medium".into(),
            status: "New".into(),
            owner: None,
            labels: Vec::new(),
            alert_ids: Vec::new(),
            last_modified_ago: chrono::Duration::hours(1),
            classification: None,
            classification_reason: None,
        }
    }
}

/// An incident owner as the portal assigns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// Entra object id (GUID).
    pub object_id: String,
    /// Mail address.
    pub email: String,
    /// User principal name.
    pub user_principal_name: String,
    /// Display name shown as "assigned to".
    pub assigned_to: String,
}

/// A change an analyst makes in the portal; every `None`/empty field means "leave as is".
#[derive(Debug, Clone, Default)]
pub struct AnalystEdit {
    /// New status.
    pub status: Option<String>,
    /// `Some(None)` unassigns, `Some(Some(o))` assigns `o`.
    pub owner: Option<Option<Owner>>,
    /// Labels to add (labelType `User`).
    pub add_labels: Vec<String>,
    /// Labels to remove, by name.
    pub remove_labels: Vec<String>,
    /// New classification and reason.
    pub classification: Option<(String, Option<String>)>,
}

/// The current (REST) state of an incident, for assertions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentView {
    /// Incident name (GUID, the REST id).
    pub name: String,
    /// Incident number.
    pub number: i64,
    /// `New`, `Active` or `Closed`.
    pub status: String,
    /// Classification, if any.
    pub classification: Option<String>,
    /// Classification reason, if any.
    pub classification_reason: Option<String>,
    /// Classification comment, if any.
    pub classification_comment: Option<String>,
    /// Owner's object id, if assigned.
    pub owner_object_id: Option<String>,
    /// Label names.
    pub labels: Vec<String>,
    /// Current etag, quoted as the API returns it.
    pub etag: String,
    /// Comments in creation order.
    pub comments: Vec<CommentView>,
    /// Title.
    pub title: String,
    /// Severity.
    pub severity: String,
    /// Description (empty when unset).
    pub description: String,
}

/// One incident comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommentView {
    /// Comment id chosen by the writer.
    pub id: String,
    /// Comment text.
    pub message: String,
}

/// One request the simulator answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// HTTP method, e.g. `GET`.
    pub method: String,
    /// Path as sent.
    pub path: String,
    /// Raw query string, if any.
    pub query: Option<String>,
    /// Status code answered; 0 when the connection was closed without an answer.
    pub status: u16,
}

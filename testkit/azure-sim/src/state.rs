//! The simulator's mutable world: current incidents and alerts (what REST reads), the tables (what
//! queries read), issued tokens, the request log and pending faults. Every change to an incident or
//! alert goes through here so that the matching table row is appended in the same step.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};

use crate::fault::FaultQueue;
use crate::model::{AlertSeed, AnalystEdit, CommentView, IncidentSeed, IncidentView, Owner, RecordedRequest};
use crate::tables::{AlertRow, IncidentRow, Label, OwnerInfo, Tables};
use crate::timefmt;

/// Token audiences the identity endpoint issues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Audience {
    /// Azure Resource Manager (Sentinel REST API).
    Arm,
    /// Log Analytics query API.
    LogAnalytics,
}

/// A token handed out by the identity endpoint.
#[derive(Debug, Clone)]
pub(crate) struct IssuedToken {
    /// Who may accept it.
    pub audience: Audience,
    /// Unix seconds after which it is rejected.
    pub expires_on: i64,
}

/// An incident comment.
#[derive(Debug, Clone)]
pub(crate) struct Comment {
    /// Id chosen by the writer.
    pub id: String,
    /// Text.
    pub message: String,
    /// Unquoted etag, as comment responses carry it.
    pub etag: String,
    /// Creation time.
    pub created: DateTime<Utc>,
    /// Last change.
    pub last_modified: DateTime<Utc>,
}

/// `providerName` of incidents Sentinel's own rules create.
pub(crate) const SENTINEL_PROVIDER: &str = "Azure Sentinel";
/// `providerName` of incidents Defender XDR creates in a workspace onboarded to the Defender portal.
pub(crate) const XDR_PROVIDER: &str = "Microsoft XDR";

/// Current state of an incident.
#[derive(Debug, Clone)]
pub(crate) struct Incident {
    /// GUID (REST id, `IncidentName`).
    pub name: String,
    /// Incident number.
    pub number: i64,
    /// Title.
    pub title: String,
    /// Description.
    pub description: Option<String>,
    /// Severity.
    pub severity: String,
    /// Status.
    pub status: String,
    /// Classification.
    pub classification: Option<String>,
    /// Classification reason.
    pub classification_reason: Option<String>,
    /// Classification comment.
    pub classification_comment: Option<String>,
    /// Owner.
    pub owner: OwnerInfo,
    /// Labels.
    pub labels: Vec<Label>,
    /// Alert ids.
    pub alert_ids: Vec<String>,
    /// `providerName`: `Azure Sentinel`, or `Microsoft XDR` for an incident Defender XDR made
    /// (a workspace in the Defender portal).
    pub provider: String,
    /// Quoted etag.
    pub etag: String,
    /// Creation time.
    pub created: DateTime<Utc>,
    /// Last modification.
    pub last_modified: DateTime<Utc>,
    /// First activity.
    pub first_activity: Option<DateTime<Utc>>,
    /// Last activity.
    pub last_activity: Option<DateTime<Utc>>,
    /// Comments in creation order.
    pub comments: Vec<Comment>,
}

/// Current state of an alert.
#[derive(Debug, Clone)]
pub(crate) struct Alert {
    /// SystemAlertId.
    pub id: String,
    /// Status.
    pub status: String,
    /// Product name.
    pub product_name: String,
    /// Display name.
    pub display_name: String,
    /// Severity.
    pub severity: String,
    /// When the alert was generated.
    pub created: DateTime<Utc>,
}

/// Everything behind the simulator's lock.
#[derive(Debug, Default)]
pub(crate) struct State {
    /// Incidents by name.
    pub incidents: BTreeMap<String, Incident>,
    /// Alerts by SystemAlertId.
    pub alerts: HashMap<String, Alert>,
    /// The Log Analytics tables.
    pub tables: Tables,
    /// Number given to the next incident.
    pub next_number: i64,
    /// Issued tokens by token text.
    /// Successful token requests per audience.
    pub token_requests: HashMap<Audience, usize>,
    /// Requests answered.
    pub requests: Vec<RecordedRequest>,
    /// Faults still to inject.
    pub faults: FaultQueue,
    /// Changes to apply right after the next GET of an incident.
    pub after_get: HashMap<String, Vec<AfterGet>>,
    /// Changes to apply right after the next alert list of an incident is answered.
    pub after_alerts: HashMap<String, Vec<AfterGet>>,
    /// The `Prefer` header of every query request, in order ("" when absent).
    pub query_prefer: Vec<String>,
    /// While set, new table rows are written held (not ingested; see `tables::IncidentRow::held`).
    pub hold_rows: bool,
    /// Roles taken away from the identity (`crate::access`); none by default.
    pub revoked: crate::access::Revoked,
}

/// A change applied right after the next GET of an incident, so the etag that GET returned is
/// stale by the time the caller writes.
#[derive(Debug, Clone)]
pub(crate) enum AfterGet {
    /// An analyst's portal edit.
    Edit(AnalystEdit),
    /// An alert attached to the incident (REST at once, tables later).
    Attach(String),
}

/// A fresh quoted incident etag.
pub(crate) fn new_etag() -> String {
    format!("\"{}\"", uuid::Uuid::new_v4())
}

impl From<&Owner> for OwnerInfo {
    fn from(o: &Owner) -> Self {
        OwnerInfo {
            object_id: Some(o.object_id.clone()),
            email: Some(o.email.clone()),
            assigned_to: Some(o.assigned_to.clone()),
            user_principal_name: Some(o.user_principal_name.clone()),
        }
    }
}

/// Labels added by a person.
fn user_labels(names: &[String]) -> Vec<Label> {
    names
        .iter()
        .map(|n| Label {
            name: n.clone(),
            label_type: "User".into(),
        })
        .collect()
}

impl State {
    /// Creates an alert and writes its first SecurityAlert row.
    pub fn add_alert(&mut self, seed: AlertSeed) -> String {
        let id = uuid::Uuid::new_v4().to_string();
        let at = timefmt::to_ticks(Utc::now() - seed.last_changed_ago);
        let alert = Alert {
            id: id.clone(),
            status: seed.status,
            product_name: seed.product_name,
            display_name: seed.display_name,
            severity: "Medium".into(),
            created: at,
        };
        self.alerts.insert(id.clone(), alert);
        self.write_alert_row(&id, at);
        id
    }

    /// Changes an alert's status (a Defender for Cloud side change) and writes a row now.
    pub fn set_alert_status(&mut self, id: &str, status: &str) {
        let alert = self
            .alerts
            .get_mut(id)
            .unwrap_or_else(|| panic!("azure-sim: unknown alert {id}"));
        alert.status = status.to_string();
        self.write_alert_row(id, timefmt::now());
    }

    /// Appends the alert's current state to SecurityAlert.
    fn write_alert_row(&mut self, id: &str, at: DateTime<Utc>) {
        let a = &self.alerts[id];
        self.tables.alerts.push(AlertRow {
            time_generated: at,
            system_alert_id: a.id.clone(),
            status: a.status.clone(),
            product_name: a.product_name.clone(),
            display_name: a.display_name.clone(),
            severity: a.severity.clone(),
            held: self.hold_rows,
        });
    }

    /// The next incident number.
    pub fn take_number(&mut self) -> i64 {
        self.next_number += 1;
        self.next_number
    }

    /// Creates an incident from a seed and writes its first SecurityIncident row.
    pub fn add_incident(&mut self, seed: IncidentSeed) -> String {
        self.add_incident_from(seed, SENTINEL_PROVIDER)
    }

    /// Seeds an incident created by `provider`.
    pub fn add_incident_from(&mut self, seed: IncidentSeed, provider: &str) -> String {
        let name = uuid::Uuid::new_v4().to_string();
        let at = timefmt::to_ticks(Utc::now() - seed.last_modified_ago);
        let incident = Incident {
            name: name.clone(),
            number: self.take_number(),
            title: seed.title,
            description: Some(String::new()),
            severity: seed.severity,
            status: seed.status,
            classification: seed.classification,
            classification_reason: seed.classification_reason,
            classification_comment: None,
            owner: seed.owner.as_ref().map(OwnerInfo::from).unwrap_or_default(),
            labels: user_labels(&seed.labels),
            alert_ids: seed.alert_ids,
            provider: SENTINEL_PROVIDER.into(),
            etag: new_etag(),
            created: at,
            last_modified: at,
            first_activity: Some(at),
            last_activity: Some(at),
            comments: Vec::new(),
        };
        self.incidents.insert(name.clone(), incident);
        self.incidents.get_mut(&name).expect("inserted").provider = provider.into();
        self.write_incident_row(&name);
        name
    }

    /// Whether Defender XDR owns this incident (created it, and syncs it both ways).
    pub fn is_xdr(&self, name: &str) -> bool {
        self.incidents.get(name).is_some_and(|i| i.provider == XDR_PROVIDER)
    }

    /// What Defender XDR does when one of its incidents is closed, whoever closed it: every
    /// alert of it that is still open (New, InProgress, Unknown), of any product, is resolved
    /// (defender-xdr `manage-incidents`: "resolving an incident resolves all its active alerts").
    pub fn xdr_resolve_open_alerts(&mut self, name: &str) {
        let open: Vec<String> = self.incidents[name]
            .alert_ids
            .iter()
            .filter(|id| {
                self.alerts
                    .get(*id)
                    .is_some_and(|a| !matches!(a.status.as_str(), "Resolved" | "Dismissed"))
            })
            .cloned()
            .collect();
        for id in open {
            self.set_alert_status(&id, "Resolved");
        }
    }

    /// Defender XDR changes one of its incidents itself (auto-resolve, re-activation when an
    /// alert reopens, a merge): new status, classification as given, optional label, new etag
    /// and row; a close resolves the open alerts.
    pub fn xdr_set_status(&mut self, name: &str, status: &str, classification: Option<&str>, label: Option<&str>) {
        assert!(self.is_xdr(name), "azure-sim: {name} is not a Microsoft XDR incident");
        let inc = self.incidents.get_mut(name).expect("checked");
        inc.status = status.into();
        inc.classification = classification.map(str::to_string);
        inc.classification_reason = None;
        inc.classification_comment = None;
        if let Some(label) = label
            && !inc.labels.iter().any(|l| l.name == label)
        {
            inc.labels.extend(user_labels(&[label.to_string()]));
        }
        inc.etag = new_etag();
        inc.last_modified = timefmt::now();
        if status == "Closed" {
            self.xdr_resolve_open_alerts(name);
        }
        self.write_incident_row(name);
    }

    /// Applies a portal edit: new etag, new modification time, new row.
    pub fn analyst_edit(&mut self, name: &str, edit: AnalystEdit) {
        let inc = self
            .incidents
            .get_mut(name)
            .unwrap_or_else(|| panic!("azure-sim: unknown incident {name}"));
        if let Some(status) = edit.status {
            // Reopening in the portal drops the classification, as open incidents carry none.
            if status != "Closed" {
                inc.classification = None;
                inc.classification_reason = None;
                inc.classification_comment = None;
            }
            inc.status = status;
        }
        if let Some(owner) = edit.owner {
            inc.owner = owner.as_ref().map(OwnerInfo::from).unwrap_or_default();
        }
        inc.labels.retain(|l| !edit.remove_labels.contains(&l.name));
        inc.labels.extend(user_labels(&edit.add_labels));
        if let Some((classification, reason)) = edit.classification {
            inc.classification = Some(classification);
            inc.classification_reason = reason;
        }
        inc.etag = new_etag();
        inc.last_modified = timefmt::now();
        self.write_incident_row(name);
    }

    /// Distinct product names of an incident's known alerts.
    pub fn alert_product_names(&self, alert_ids: &[String]) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for id in alert_ids {
            if let Some(a) = self.alerts.get(id)
                && !names.contains(&a.product_name)
            {
                names.push(a.product_name.clone());
            }
        }
        names
    }

    /// Appends the incident's current state to SecurityIncident, stamped with its last change.
    pub fn write_incident_row(&mut self, name: &str) {
        let inc = &self.incidents[name];
        let row = IncidentRow {
            time_generated: inc.last_modified,
            incident_name: inc.name.clone(),
            incident_number: inc.number,
            title: inc.title.clone(),
            description: inc.description.clone().unwrap_or_default(),
            severity: inc.severity.clone(),
            status: inc.status.clone(),
            classification: inc.classification.clone().unwrap_or_default(),
            classification_reason: inc.classification_reason.clone().unwrap_or_default(),
            classification_comment: inc.classification_comment.clone().unwrap_or_default(),
            owner: inc.owner.clone(),
            labels: inc.labels.clone(),
            alert_ids: inc.alert_ids.clone(),
            alert_product_names: self.alert_product_names(&inc.alert_ids),
            provider_name: inc.provider.clone(),
            created_time: inc.created,
            last_modified_time: inc.last_modified,
            held: self.hold_rows,
        };
        self.tables.incidents.push(row);
    }

    /// Applies the changes queued for after the next GET of this incident, if any.
    pub fn apply_edits_after_get(&mut self, name: &str) {
        let changes = self.after_get.remove(name);
        self.apply_changes(name, changes);
    }

    /// Applies the changes queued for after the next alert list of this incident, if any.
    pub fn apply_changes_after_alerts(&mut self, name: &str) {
        let changes = self.after_alerts.remove(name);
        self.apply_changes(name, changes);
    }

    fn apply_changes(&mut self, name: &str, changes: Option<Vec<AfterGet>>) {
        if let Some(changes) = changes {
            for change in changes {
                match change {
                    AfterGet::Edit(edit) => self.analyst_edit(name, edit),
                    AfterGet::Attach(alert) => self.attach_alert(name, &alert),
                }
            }
        }
    }

    /// Attaches an existing alert to an incident, as Defender XDR correlation, Sentinel alert
    /// grouping or an analyst ("add alert to incident") do: the REST API shows it at once and the
    /// incident gets a new etag; the SecurityIncident row recording it (and the alert's own
    /// SecurityAlert row) are held back until `ingest_held_rows`, the way ingestion lags REST.
    pub fn attach_alert(&mut self, name: &str, alert_id: &str) {
        assert!(
            self.alerts.contains_key(alert_id),
            "azure-sim: unknown alert {alert_id}"
        );
        let inc = self
            .incidents
            .get_mut(name)
            .unwrap_or_else(|| panic!("azure-sim: unknown incident {name}"));
        if !inc.alert_ids.iter().any(|a| a == alert_id) {
            inc.alert_ids.push(alert_id.to_string());
        }
        inc.etag = new_etag();
        inc.last_modified = timefmt::now();
        let held = std::mem::replace(&mut self.hold_rows, true);
        self.write_incident_row(name);
        self.hold_rows = held;
        for row in self.tables.alerts.iter_mut().filter(|r| r.system_alert_id == alert_id) {
            row.held = true;
        }
    }

    /// Ingests every held row: queries see them from now on.
    pub fn ingest_held_rows(&mut self) {
        self.tables.incidents.iter_mut().for_each(|r| r.held = false);
        self.tables.alerts.iter_mut().for_each(|r| r.held = false);
    }

    /// The test-facing view of an incident.
    pub fn view(&self, name: &str) -> Option<IncidentView> {
        let inc = self.incidents.get(name)?;
        Some(IncidentView {
            name: inc.name.clone(),
            number: inc.number,
            status: inc.status.clone(),
            classification: inc.classification.clone(),
            classification_reason: inc.classification_reason.clone(),
            classification_comment: inc.classification_comment.clone(),
            owner_object_id: inc.owner.object_id.clone(),
            labels: inc.labels.iter().map(|l| l.name.clone()).collect(),
            etag: inc.etag.clone(),
            comments: inc
                .comments
                .iter()
                .map(|c| CommentView {
                    id: c.id.clone(),
                    message: c.message.clone(),
                })
                .collect(),
            title: inc.title.clone(),
            severity: inc.severity.clone(),
            description: inc.description.clone().unwrap_or_default(),
        })
    }
}

//! The Microsoft Sentinel incidents REST API (Microsoft.SecurityInsights), for one workspace:
//! read an incident, replace it with an etag, list its alerts, write a comment, and read the
//! first incident of the list (the preflight probe of `handler check`); and the workspace resource
//! itself, for its Log Analytics id. The clients of several workspaces share one pipeline
//! ([`IncidentsClient::for_workspace`]), hence one Resource Manager pacer: ARM throttles the
//! principal, not the workspace.
//!
//! The incident resource and the body of an update live in `super::incident` (re-exported
//! here). A 409 on a PUT means someone changed the incident since it was read; the caller
//! re-reads and decides again.

use std::sync::Arc;

use azure_core::{
    credentials::TokenCredential,
    http::{Method, Url},
};
use serde::Deserialize;
use serde_json::{Value, json};

pub use super::incident::{ClassificationUpdate, Incident, IncidentProperties, Label, Owner, Update};
use super::{AzureError, transport::ServiceClient};
use crate::domain::AlertState;
use crate::domain::{AlertStatus, IncidentName, WorkspaceGuid, WorkspaceResourceId};

const SERVICE: &str = "Sentinel";
/// API version of `Microsoft.OperationalInsights/workspaces` reads (the templates' too).
pub const WORKSPACE_API_VERSION: &str = "2023-09-01";
/// Most pages followed for one list, a guard against a service that keeps sending `nextLink`.
const MAX_PAGES: usize = 100;

/// A page of a list answer.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Page<T> {
    value: Vec<T>,
    #[serde(default)]
    next_link: Option<String>,
}

/// An alert entity from `POST …/incidents/{id}/alerts`.
#[derive(Debug, Clone, Deserialize)]
pub struct AlertEntity {
    /// Entity name.
    #[serde(default)]
    pub name: Option<String>,
    /// `SecurityAlertProperties` (only what this tool reads).
    pub properties: AlertProperties,
}

/// The alert properties this tool reads.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertProperties {
    /// The alert's `SystemAlertId`.
    #[serde(default)]
    pub system_alert_id: Option<String>,
    /// Lifecycle status.
    #[serde(default)]
    pub status: Option<String>,
    /// Product that raised it.
    #[serde(default)]
    pub product_name: Option<String>,
    /// Display name.
    #[serde(default)]
    pub alert_display_name: Option<String>,
}

impl AlertEntity {
    /// The policy's view of this alert.
    pub fn state(&self) -> AlertState {
        let p = &self.properties;
        AlertState {
            id: p
                .system_alert_id
                .clone()
                .or_else(|| self.name.clone())
                .unwrap_or_default(),
            status: p
                .status
                .as_deref()
                .map(AlertStatus::parse_lenient)
                .unwrap_or(AlertStatus::Unknown),
            product: p.product_name.clone().unwrap_or_default(),
        }
    }
}

/// An incident comment from `GET …/incidents/{id}/comments` (only what this tool reads).
#[derive(Debug, Clone, Deserialize)]
pub struct CommentEntity {
    /// Comment id.
    #[serde(default)]
    pub name: Option<String>,
    /// Its properties.
    pub properties: CommentProperties,
}

/// The comment properties this tool reads.
#[derive(Debug, Clone, Deserialize)]
pub struct CommentProperties {
    /// The text.
    #[serde(default)]
    pub message: String,
}

/// Result of a conditional PUT.
#[derive(Debug)]
pub enum PutOutcome {
    /// Saved; the incident as the service now has it.
    Saved(Box<Incident>),
    /// 409: a newer version exists. When `after_retry`, an earlier try of this very write got
    /// no usable answer and may have been applied (the retry carried its now stale etag).
    Conflict {
        /// The 409 answered a retry.
        after_retry: bool,
    },
}

/// Client of one workspace's incidents.
#[derive(Debug, Clone)]
pub struct IncidentsClient {
    client: ServiceClient,
    endpoint: Url,
    workspace: WorkspaceResourceId,
    api_version: String,
}

impl IncidentsClient {
    /// A client for `workspace` at the ARM `endpoint`, with tokens for `scope`.
    pub fn new(
        endpoint: &Url,
        workspace: &WorkspaceResourceId,
        api_version: &str,
        credential: Arc<dyn TokenCredential>,
        scope: &'static str,
    ) -> Self {
        Self {
            client: ServiceClient::with_policies(
                SERVICE,
                credential,
                scope,
                vec![Arc::new(super::throttle::ArmPacing::arm_defaults())],
            ),
            endpoint: endpoint.clone(),
            workspace: workspace.clone(),
            api_version: api_version.to_owned(),
        }
    }

    /// A client of `workspace` on the same pipeline (same pacer, same connections).
    pub fn for_workspace(&self, workspace: &WorkspaceResourceId) -> Self {
        Self {
            workspace: workspace.clone(),
            ..self.clone()
        }
    }

    /// The workspace this client reaches.
    pub fn workspace(&self) -> &WorkspaceResourceId {
        &self.workspace
    }

    /// The workspace's Log Analytics id, read from its resource (`GET` of
    /// `Microsoft.OperationalInsights/workspaces`, `properties.customerId`; Log Analytics Reader
    /// allows it). For a workspace delegated through Azure Lighthouse the home tenant's token
    /// is accepted, as for its incidents.
    pub async fn workspace_id(&self) -> Result<WorkspaceGuid, AzureError> {
        let mut url = self.endpoint.clone();
        url.path_segments_mut()
            .expect("an http(s) URL has path segments")
            .pop_if_empty()
            .extend(&self.incidents_path()[..8]);
        url.query_pairs_mut().append_pair("api-version", WORKSPACE_API_VERSION);
        let answer = self.client.send(Method::Get, url, None).await?;
        if answer.status != 200 {
            return Err(answer.into_error("Resource Manager"));
        }
        let body: Value = answer.json("Resource Manager")?;
        let id = body["properties"]["customerId"].as_str().unwrap_or_default();
        WorkspaceGuid::parse(id).map_err(|e| AzureError::Decode {
            service: "Resource Manager",
            message: format!("the workspace resource's properties.customerId: {}", e.problem),
        })
    }

    /// The same client whose calls have priority in the pacer (the webhook's).
    pub fn interactive(&self) -> Self {
        Self {
            client: self.client.interactive(),
            ..self.clone()
        }
    }

    /// URL of the incident, or of something under it.
    fn url(&self, name: &IncidentName, tail: &[&str]) -> Url {
        let mut url = self.endpoint.clone();
        {
            let mut segments = url.path_segments_mut().expect("an http(s) URL has path segments");
            segments.pop_if_empty().extend(self.incidents_path());
            segments.push(name.as_str()).extend(tail);
        }
        url.query_pairs_mut().append_pair("api-version", &self.api_version);
        url
    }

    /// Reads the first incident of the workspace's list (`GET …/incidents?$top=1`, the
    /// `Incidents_List` operation): the cheapest call that proves the identity may read
    /// incidents and that the service accepts the configured api-version. `None` when the
    /// workspace has no incident. Used by `handler check`; never follows `nextLink`.
    pub async fn first_incident(&self) -> Result<Option<Incident>, AzureError> {
        let mut url = self.endpoint.clone();
        url.path_segments_mut()
            .expect("an http(s) URL has path segments")
            .pop_if_empty()
            .extend(self.incidents_path());
        url.query_pairs_mut()
            .append_pair("api-version", &self.api_version)
            .append_pair("$top", "1");
        let answer = self.client.send(Method::Get, url, None).await?;
        if answer.status != 200 {
            return Err(answer.into_error(SERVICE));
        }
        let page: Page<Incident> = answer.json(SERVICE)?;
        Ok(page.value.into_iter().next())
    }

    /// Path segments of the workspace's incident collection.
    fn incidents_path(&self) -> [&str; 11] {
        [
            "subscriptions",
            &self.workspace.subscription_id,
            "resourceGroups",
            &self.workspace.resource_group,
            "providers",
            "Microsoft.OperationalInsights",
            "workspaces",
            &self.workspace.workspace_name,
            "providers",
            "Microsoft.SecurityInsights",
            "incidents",
        ]
    }

    /// Reads the incident; `None` when it does not exist.
    pub async fn get(&self, name: &IncidentName) -> Result<Option<Incident>, AzureError> {
        let answer = self.client.send(Method::Get, self.url(name, &[]), None).await?;
        match answer.status {
            200 => answer.json(SERVICE).map(Some),
            404 => Ok(None),
            _ => Err(answer.into_error(SERVICE)),
        }
    }

    /// Replaces the incident with `body` (which carries the etag).
    pub async fn put(&self, name: &IncidentName, body: &Value) -> Result<PutOutcome, AzureError> {
        let answer = self.client.send(Method::Put, self.url(name, &[]), Some(body)).await?;
        match answer.status {
            200 | 201 => answer.json(SERVICE).map(|i| PutOutcome::Saved(Box::new(i))),
            409 => Ok(PutOutcome::Conflict {
                after_retry: answer.tries > 1,
            }),
            _ => Err(answer.into_error(SERVICE)),
        }
    }

    /// Lists the incident's alerts with their current status, following `nextLink`.
    pub async fn alerts(&self, name: &IncidentName) -> Result<Vec<AlertEntity>, AzureError> {
        // The alert list is a POST action; its further pages are POSTed to `nextLink` as well.
        self.all_pages(Method::Post, self.url(name, &["alerts"]), "alerts")
            .await
    }

    /// The incident's comments, following `nextLink` (an incident holds at most 100).
    pub async fn comments(&self, name: &IncidentName) -> Result<Vec<CommentProperties>, AzureError> {
        let comments: Vec<CommentEntity> = self
            .all_pages(Method::Get, self.url(name, &["comments"]), "comments")
            .await?;
        Ok(comments.into_iter().map(|c| c.properties).collect())
    }

    /// Every item of a paged list, following `nextLink` on the configured endpoint only.
    async fn all_pages<T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        mut url: Url,
        what: &str,
    ) -> Result<Vec<T>, AzureError> {
        let mut items = Vec::new();
        for _ in 0..MAX_PAGES {
            let answer = self.client.send(method, url.clone(), None).await?;
            if answer.status != 200 {
                return Err(answer.into_error(SERVICE));
            }
            let page: Page<T> = answer.json(SERVICE)?;
            items.extend(page.value);
            match page.next_link {
                None => return Ok(items),
                Some(link) => url = self.checked_next_link(&link)?,
            }
        }
        Err(AzureError::Decode {
            service: SERVICE,
            message: format!("more than {MAX_PAGES} pages of {what}"),
        })
    }

    /// Does the comment `comment_id` exist on the incident?
    pub async fn comment_exists(&self, name: &IncidentName, comment_id: &str) -> Result<bool, AzureError> {
        let answer = self
            .client
            .send(Method::Get, self.url(name, &["comments", comment_id]), None)
            .await?;
        match answer.status {
            200 => Ok(true),
            404 => Ok(false),
            _ => Err(answer.into_error(SERVICE)),
        }
    }

    /// Creates or replaces the comment `comment_id` on the incident.
    pub async fn put_comment(&self, name: &IncidentName, comment_id: &str, message: &str) -> Result<(), AzureError> {
        let body = json!({ "properties": { "message": message } });
        let answer = self
            .client
            .send(Method::Put, self.url(name, &["comments", comment_id]), Some(&body))
            .await?;
        match answer.status {
            200 | 201 => Ok(()),
            _ => Err(answer.into_error(SERVICE)),
        }
    }

    /// A `nextLink` is followed only if it points at the configured endpoint: a link to another
    /// host would carry our bearer token there.
    fn checked_next_link(&self, link: &str) -> Result<Url, AzureError> {
        let url = Url::parse(link).map_err(|e| AzureError::Decode {
            service: SERVICE,
            message: format!("nextLink is not a URL: {e}"),
        })?;
        if url.origin() != self.endpoint.origin() {
            return Err(AzureError::Decode {
                service: SERVICE,
                message: format!(
                    "nextLink points to another host ({})",
                    url.origin().ascii_serialization()
                ),
            });
        }
        Ok(url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Classification, IncidentStatus};

    fn example(path: &str) -> Value {
        let full = format!(
            "{}/{path}",
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/sentinel-api/2025-09-01/incidents"
            )
        );
        serde_json::from_str(&std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"))).unwrap()
    }

    #[test]
    fn official_incident_examples_deserialize() {
        let get: Incident =
            serde_json::from_value(example("GetIncidentById.json")["responses"]["200"]["body"].clone()).unwrap();
        assert_eq!(get.status().unwrap(), IncidentStatus::Closed);
        assert!(get.has_owner());
        assert_eq!(get.etag.as_deref(), Some("\"0300bf09-0000-0000-0000-5c37296e0000\""));
        assert_eq!(get.properties.incident_number, Some(3177));
        assert!(get.properties.other.contains_key("additionalData"));
        let list: Page<Incident> =
            serde_json::from_value(example("GetIncidents.json")["responses"]["200"]["body"].clone()).unwrap();
        assert_eq!(list.value.len(), 1);
        let created: Incident =
            serde_json::from_value(example("CreateIncident.json")["responses"]["201"]["body"].clone()).unwrap();
        assert_eq!(
            created.properties.classification_reason.as_deref(),
            Some("IncorrectAlertLogic")
        );
    }

    #[test]
    fn official_alert_list_example_deserializes() {
        let page: Page<AlertEntity> =
            serde_json::from_value(example("GetAllIncidentAlerts.json")["responses"]["200"]["body"].clone()).unwrap();
        let state = page.value[0].state();
        assert_eq!(state.id, "baa8a239-6fde-4ab7-a093-d09f7b75c58c");
        assert_eq!(state.status, AlertStatus::New);
        assert!(state.is_defender());
    }

    #[test]
    fn update_body_keeps_writable_properties_and_sets_the_close_triple() {
        let mut incident: Incident =
            serde_json::from_value(example("GetIncidentById.json")["responses"]["200"]["body"].clone()).unwrap();
        incident.properties.status = "New".into();
        incident.properties.classification = None;
        incident.properties.classification_reason = None;
        incident.properties.classification_comment = None;
        let body = incident.update_body(&Update::close(
            Classification::BenignPositive,
            "why".into(),
            "dfc-sync-closed",
        ));
        let p = &body["properties"];
        assert_eq!(body["etag"], json!("\"0300bf09-0000-0000-0000-5c37296e0000\""));
        assert_eq!(p["title"], json!("My incident"));
        assert_eq!(p["severity"], json!("High"));
        assert_eq!(p["status"], json!("Closed"));
        assert_eq!(p["classification"], json!("BenignPositive"));
        assert_eq!(p["classificationReason"], json!("SuspiciousButExpected"));
        assert_eq!(p["owner"]["objectId"], json!("2046feea-040d-4a46-9e2b-91c2941bfa70"));
        assert_eq!(
            p["labels"],
            json!([{ "labelName": "dfc-sync-closed", "labelType": "User" }])
        );
        assert_eq!(p["description"], json!("This is a demo incident"));
        // Read-only properties are not sent back.
        assert!(p.get("incidentNumber").is_none() && p.get("additionalData").is_none());

        // Undetermined has no reason; a reopen clears the triple and swaps the labels.
        let body = incident.update_body(&Update::close(
            Classification::Undetermined,
            "why".into(),
            "dfc-sync-closed",
        ));
        assert_eq!(body["properties"]["classification"], json!("Undetermined"));
        assert!(body["properties"].get("classificationReason").is_none());
        let mut closed = incident.clone();
        closed.properties.status = "Closed".into();
        closed.properties.classification = Some("TruePositive".into());
        closed.properties.classification_reason = Some("SuspiciousActivity".into());
        closed.properties.classification_comment = Some("c".into());
        closed.properties.labels = serde_json::from_value(
            json!([{ "labelName": "dfc-sync-closed", "labelType": "User" }, { "labelName": "x" }]),
        )
        .unwrap();
        let body = closed.update_body(&Update::reopen("dfc-sync-reopened", "dfc-sync-closed"));
        let p = &body["properties"];
        assert_eq!(p["status"], json!("Active"));
        for key in ["classification", "classificationReason", "classificationComment"] {
            assert!(p.get(key).is_none(), "{key}");
        }
        assert_eq!(
            p["labels"],
            json!([{ "labelName": "x", "labelType": "User" }, { "labelName": "dfc-sync-reopened", "labelType": "User" }])
        );
    }

    #[test]
    fn next_links_to_other_hosts_are_refused() {
        let credential: Arc<dyn TokenCredential> = crate::azure::identity::credential(None).unwrap().0;
        let endpoint = Url::parse("https://management.azure.com").unwrap();
        let ws = WorkspaceResourceId::parse("/subscriptions/d0cfe6b2-9ac0-4464-9919-dccaee2e48c0/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/ws").unwrap();
        let client = IncidentsClient::new(
            &endpoint,
            &ws,
            "2025-09-01",
            credential,
            "https://management.azure.com/.default",
        );
        assert!(
            client
                .checked_next_link("https://management.azure.com/x?$skipToken=1")
                .is_ok()
        );
        assert!(client.checked_next_link("https://evil.example/x").is_err());
        assert!(client.checked_next_link("http://management.azure.com/x").is_err());
        let url = client.url(&IncidentName::parse("abc").unwrap(), &["comments", "c1"]);
        assert_eq!(
            url.path(),
            "/subscriptions/d0cfe6b2-9ac0-4464-9919-dccaee2e48c0/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/ws/providers/Microsoft.SecurityInsights/incidents/abc/comments/c1"
        );
        assert_eq!(url.query(), Some("api-version=2025-09-01"));
    }
}

//! `azure-sim` is the test double of the Azure services dfc-sentinel-sync talks to, served over
//! real HTTP on one loopback port: the App Service managed-identity token endpoint, the Log
//! Analytics query API and the Microsoft Sentinel incidents REST API. State is kept the way a
//! workspace keeps it: current incidents and alerts for REST, plus the append-only SecurityIncident
//! and SecurityAlert tables (one row per change, visible after an ingestion delay) for queries.
//!
//! # Layout
//! - `config`: [`SimConfig`] and [`Workspace`].
//! - `model`: seeds, analyst edits and views the tests exchange with the simulator.
//! - `fault`: scripted faults ([`Fault`]).
//! - `state`: the world behind the lock; keeps REST state and table rows in step.
//! - `tables`: SecurityIncident / SecurityAlert rows.
//! - `query`: recognises the product's KQL and evaluates its meaning over the rows.
//! - `server`: the axum front, latency, throttling, fault application and request log.
//! - `throttle`: the opt-in ARM token-bucket throttling model ([`ArmThrottle`]).
//! - `access`: the identity's roles on the workspace; all held unless a test revokes one ([`Role`]).
//! - `identity`, `loganalytics`, `sentinel` (+ `incidents`, `comments`): the three APIs.
//! - `timefmt`: 100 ns ticks and Kusto-style timestamps.

mod access;
mod comments;
mod config;
mod fault;
mod identity;
mod incidents;
mod loganalytics;
mod model;
mod query;
mod query_queue;
mod sentinel;
mod server;
mod state;
mod tables;
mod throttle;
mod timefmt;
mod workspace;

use std::sync::{Arc, Mutex};

pub use access::Role;
pub use config::{ArmThrottle, ForeignTenant, SimConfig, Workspace};
pub use query_queue::QueryQueue;

/// Tenant id of the simulated identity (and of every workspace without a `foreign_tenant`).
pub const IDENTITY_TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
pub use fault::{Fault, FaultKind, FaultTarget};
pub use model::{AlertSeed, AnalystEdit, CommentView, IncidentSeed, IncidentView, Owner, RecordedRequest};
pub use state::Audience;

use server::Inner;
use state::State;

/// A running simulator; clones share the same server and state. The server task stops when the
/// tokio runtime that started it shuts down.
#[derive(Debug, Clone)]
pub struct AzureSim {
    /// Shared internals.
    inner: Arc<Inner>,
}

impl AzureSim {
    /// Binds 127.0.0.1:0 and serves all three APIs on that port.
    pub async fn start(config: SimConfig) -> std::io::Result<AzureSim> {
        let mut fleet = Self::start_fleet(vec![config]).await?;
        Ok(fleet.remove(0))
    }

    /// One server (one port, one identity endpoint, one token store) hosting a workspace per
    /// config, as one principal sees several workspaces: each request reaches the workspace its
    /// path names. The first config's identity endpoint issues the tokens; a workspace with a
    /// `foreign_tenant` accepts them only when it is delegated (Azure Lighthouse). Each returned
    /// handle seeds and inspects its own workspace. Panics on an empty list.
    pub async fn start_fleet(configs: Vec<SimConfig>) -> std::io::Result<Vec<AzureSim>> {
        assert!(!configs.is_empty(), "azure-sim: a fleet needs at least one workspace");
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let port = listener.local_addr()?.port();
        let identity_header = format!("sim-identity-{}", uuid::Uuid::new_v4().simple());
        let tokens = Arc::new(Mutex::new(std::collections::HashMap::new()));
        let query_gate = configs[0].query_queue.map(|q| Arc::new(query_queue::Gate::new(q)));
        // ARM throttles the principal per subscription (and region), not per workspace: one set
        // of buckets per subscription, shared by its workspaces, shaped by its first config that
        // asks for throttling.
        let mut throttles: std::collections::HashMap<String, Arc<Mutex<throttle::Throttle>>> =
            std::collections::HashMap::new();
        for config in &configs {
            if let Some(t) = &config.arm_throttle {
                throttles
                    .entry(config.workspace.subscription_id.to_ascii_lowercase())
                    .or_insert_with(|| Arc::new(Mutex::new(throttle::Throttle::new(t, std::time::Instant::now()))));
            }
        }
        let members: Vec<Arc<Inner>> = configs
            .into_iter()
            .map(|config| {
                Arc::new(Inner {
                    throttle: throttles
                        .get(&config.workspace.subscription_id.to_ascii_lowercase())
                        .cloned(),
                    config,
                    base_url: format!("http://127.0.0.1:{port}"),
                    identity_header: identity_header.clone(),
                    client_id: "5e29463d-0a3b-4c4f-9a3e-2b6e0c1d8f70".into(),
                    state: Mutex::new(State::default()),
                    tokens: tokens.clone(),
                    query_gate: query_gate.clone(),
                    throttled: Default::default(),
                })
            })
            .collect();
        let app = server::fleet_router(members.clone());
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "azure-sim server stopped");
            }
        });
        Ok(members.into_iter().map(|inner| AzureSim { inner }).collect())
    }

    /// The principal's query queue so far (`SimConfig::query_queue`): the most queries that ran
    /// at once, and how many were answered 429 after waiting too long. `(0, 0)` without a queue.
    pub fn query_queue_stats(&self) -> (usize, usize) {
        use std::sync::atomic::Ordering;
        self.inner.query_gate.as_ref().map_or((0, 0), |g| {
            (g.peak.load(Ordering::SeqCst), g.rejected.load(Ordering::SeqCst))
        })
    }

    /// `http://127.0.0.1:<port>`: the ARM, Log Analytics and identity base URL.
    pub fn base_url(&self) -> String {
        self.inner.base_url.clone()
    }

    /// Value for `IDENTITY_ENDPOINT`: `<base>/msi/token`.
    pub fn identity_endpoint(&self) -> String {
        format!("{}/msi/token", self.inner.base_url)
    }

    /// Value for `IDENTITY_HEADER`: the secret the token endpoint expects.
    pub fn identity_header(&self) -> String {
        self.inner.identity_header.clone()
    }

    /// The simulated workspace.
    pub fn workspace(&self) -> &Workspace {
        &self.inner.config.workspace
    }

    /// Creates a Defender for Cloud alert; returns its SystemAlertId.
    pub fn add_alert(&self, seed: AlertSeed) -> String {
        self.inner.lock().add_alert(seed)
    }

    /// Creates a Sentinel incident with the next incident number; returns its name (GUID).
    pub fn add_incident(&self, seed: IncidentSeed) -> String {
        self.inner.lock().add_incident(seed)
    }

    /// Seeds an incident that Defender XDR created, as in a workspace onboarded to the Defender
    /// portal: `providerName` `Microsoft XDR` (REST and `SecurityIncident.ProviderName`), and
    /// closing it, by anyone, resolves every alert still open in it, of every product (alert
    /// status syncs both ways between Defender for Cloud and XDR). Returns its name.
    pub fn add_xdr_incident(&self, seed: IncidentSeed) -> String {
        self.inner.lock().add_incident_from(seed, state::XDR_PROVIDER)
    }

    /// Defender XDR resolves one of its incidents itself (all its alerts resolved): status
    /// Closed, no classification from Sentinel's side, every open alert Resolved, new etag and
    /// rows. Panics unless the incident is an XDR one.
    pub fn xdr_close(&self, incident: &str) {
        self.inner.lock().xdr_set_status(incident, "Closed", None, None);
    }

    /// Defender XDR sets one of its incidents Active again (an alert of it reopened). Panics
    /// unless the incident is an XDR one.
    pub fn xdr_reactivate(&self, incident: &str) {
        self.inner.lock().xdr_set_status(incident, "Active", None, None);
    }

    /// Defender XDR merges `from` into `into`: `from`'s alerts move to `into` (new etag and row
    /// there), and `from` is closed automatically and tagged `Redirected`. Panics unless both
    /// are XDR incidents.
    pub fn xdr_merge(&self, from: &str, into: &str) {
        let mut state = self.inner.lock();
        assert!(state.is_xdr(into), "azure-sim: {into} is not a Microsoft XDR incident");
        let moved = std::mem::take(&mut state.incidents.get_mut(from).expect("known incident").alert_ids);
        let target = state.incidents.get_mut(into).expect("checked");
        for id in moved {
            if !target.alert_ids.contains(&id) {
                target.alert_ids.push(id);
            }
        }
        target.etag = state::new_etag();
        target.last_modified = timefmt::now();
        state.write_incident_row(into);
        state.xdr_set_status(from, "Closed", None, Some("Redirected"));
    }

    /// Changes an alert's status on the Defender for Cloud side (new SecurityAlert row now).
    /// Panics on an unknown alert id: that is a bug in the calling test.
    pub fn set_alert_status(&self, alert_id: &str, status: &str) {
        self.inner.lock().set_alert_status(alert_id, status);
    }

    /// Edits an incident as an analyst in the portal (new etag, new SecurityIncident row now).
    /// Panics on an unknown incident.
    pub fn analyst_edit(&self, incident: &str, edit: AnalystEdit) {
        self.inner.lock().analyst_edit(incident, edit);
    }

    /// Race helper: applies `edit` right after the next GET of `incident` is answered, so the
    /// etag that GET returned is stale by the time the caller PUTs.
    pub fn edit_after_next_get(&self, incident: &str, edit: AnalystEdit) {
        self.inner
            .lock()
            .after_get
            .entry(incident.to_string())
            .or_default()
            .push(state::AfterGet::Edit(edit));
    }

    /// Creates an alert and attaches it to an open incident at once, as Defender XDR
    /// correlation, Sentinel alert grouping or an analyst do: the REST API (incident, alert list,
    /// `additionalData.alertsCount`) shows it now and the incident's etag changes, while the
    /// SecurityIncident/SecurityAlert rows stay un-ingested until [`AzureSim::ingest_held_rows`].
    /// Returns the alert's id. Panics on an unknown incident.
    pub fn attach_alert(&self, incident: &str, seed: AlertSeed) -> String {
        let mut state = self.inner.lock();
        let id = state.add_alert(seed);
        state.attach_alert(incident, &id);
        id
    }

    /// Race helper: creates an alert now and attaches it (as [`AzureSim::attach_alert`]) right
    /// after the next GET of `incident` is answered, between the caller's read and its write.
    pub fn attach_after_next_get(&self, incident: &str, seed: AlertSeed) -> String {
        self.attach_later(incident, seed, |state| &mut state.after_get)
    }

    /// Race helper: creates an alert now and attaches it right after the next alert list of
    /// `incident` is answered: the caller's list is then older than the incident it writes.
    pub fn attach_after_next_alerts_list(&self, incident: &str, seed: AlertSeed) -> String {
        self.attach_later(incident, seed, |state| &mut state.after_alerts)
    }

    /// Creates an alert (its rows held back) and queues its attachment in `queue`.
    fn attach_later(
        &self,
        incident: &str,
        seed: AlertSeed,
        queue: impl FnOnce(&mut State) -> &mut std::collections::HashMap<String, Vec<state::AfterGet>>,
    ) -> String {
        let mut state = self.inner.lock();
        let id = state.add_alert(seed);
        for row in state.tables.alerts.iter_mut().filter(|r| r.system_alert_id == id) {
            row.held = true;
        }
        queue(&mut state)
            .entry(incident.to_string())
            .or_default()
            .push(state::AfterGet::Attach(id.clone()));
        id
    }

    /// Appends a SecurityIncident row that copies `incident`'s latest row with another `Status`
    /// and, if given, another `IncidentName`: the values a table can hold that the REST API's
    /// enums do not (a status added by a later service version, a name that is not an id).
    /// The REST state is not touched. Panics on an unknown incident.
    pub fn write_odd_incident_row(&self, incident: &str, status: &str, name: Option<&str>) {
        let mut state = self.inner.lock();
        let mut row = state
            .tables
            .incidents
            .iter()
            .rev()
            .find(|r| r.incident_name == incident)
            .unwrap_or_else(|| panic!("azure-sim: unknown incident {incident}"))
            .clone();
        row.status = status.to_string();
        if let Some(name) = name {
            row.incident_name = name.to_string();
        }
        row.time_generated = timefmt::now();
        state.tables.incidents.push(row);
    }

    /// Ingests the rows held back by [`AzureSim::attach_alert`]: queries see them from now on.
    pub fn ingest_held_rows(&self) {
        self.inner.lock().ingest_held_rows();
    }

    /// Current status of an alert (as Defender for Cloud and the REST API report it).
    pub fn alert_status(&self, alert_id: &str) -> Option<String> {
        self.inner.lock().alerts.get(alert_id).map(|a| a.status.clone())
    }

    /// Current REST state of an incident.
    pub fn incident(&self, name: &str) -> Option<IncidentView> {
        self.inner.lock().view(name)
    }

    /// Every request answered so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.inner.lock().requests.clone()
    }

    /// Requests answered 429 by the ARM throttling model (not by scripted faults) so far.
    pub fn throttled_requests(&self) -> usize {
        self.inner.throttled.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Tokens left now in the (read, write) ARM buckets of this workspace's subscription; `None`
    /// when its subscription is not throttled.
    pub fn arm_tokens(&self) -> Option<(f64, f64)> {
        let throttle = self.inner.throttle.as_ref()?;
        let mut t = throttle.lock().unwrap_or_else(|e| e.into_inner());
        Some(t.available(std::time::Instant::now()))
    }

    /// The `Prefer` header of every query request that arrived so far ("" when absent), recorded
    /// on arrival (before any scripted delay): its length is the number of queries sent.
    pub fn query_prefer_headers(&self) -> Vec<String> {
        self.inner.lock().query_prefer.clone()
    }

    /// Forgets the request log.
    pub fn clear_requests(&self) {
        self.inner.lock().requests.clear();
    }

    /// Takes `role` away from the identity: from now on its API answers 403 as the real service
    /// does to a principal without that role (see `access`). Until then both roles are held.
    pub fn revoke_role(&self, role: Role) {
        self.inner.lock().revoked.revoke(role);
    }

    /// Gives a revoked role back (a role assignment that finished propagating).
    pub fn grant_role(&self, role: Role) {
        self.inner.lock().revoked.grant(role);
    }

    /// Queues a fault; faults matching a request are used in insertion order.
    pub fn inject(&self, fault: Fault) {
        self.inner.lock().faults.push(fault);
    }

    /// Number of tokens issued for `audience`.
    pub fn token_requests(&self, audience: Audience) -> usize {
        self.inner.lock().token_requests.get(&audience).copied().unwrap_or(0)
    }

    /// Visible rows of (SecurityIncident, SecurityAlert) as JSON objects keyed by column name;
    /// dynamic columns (Owner, Labels, AlertIds, AdditionalData) are JSON values, datetimes
    /// ISO-8601 strings.
    pub fn table_rows(&self) -> (Vec<serde_json::Value>, Vec<serde_json::Value>) {
        let now = timefmt::now();
        let delay = self.inner.config.ingestion_delay;
        let state = self.inner.lock();
        let incidents = state
            .tables
            .incidents
            .iter()
            .filter(|r| r.visible(now, delay))
            .map(tables::IncidentRow::to_json)
            .collect();
        let alerts = state
            .tables
            .alerts
            .iter()
            .filter(|r| r.visible(now, delay))
            .map(tables::AlertRow::to_json)
            .collect();
        (incidents, alerts)
    }

    /// The exact query text the product sends for a lookback of `days` over the whole
    /// workspace (one partition), reopen off, for tests and demos.
    pub fn sync_query(days: u32) -> String {
        Self::sync_query_reopening(days, false)
    }

    /// [`AzureSim::sync_query`] with `let reopenClosed = <reopen>;`.
    pub fn sync_query_reopening(days: u32, reopen: bool) -> String {
        format!(
            "let lookback = {days}d;\nlet partitions = 1;\nlet partition = 0;\nlet reopenClosed = {reopen};\n{}",
            query::SYNC_QUERY
        )
    }
}

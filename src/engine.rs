//! One reconciliation run, and the sync of one incident, with the run summary both produce.
//!
//! A run asks Log Analytics once for open incidents that hold a Defender for Cloud alert changed
//! inside the lookback window ([`crate::queries`]). The policy runs first on that snapshot, so
//! incidents that must wait cost no further call. For the rest, each incident is synced on its
//! own: read fresh (GET: status, owner, labels, etag), decided again on the fresh state, written
//! with the etag, and given an audit comment. A 409 means someone changed it meanwhile: read
//! again and decide again, at most [`MAX_ATTEMPTS`] times; the person's change always wins.
//! One incident failing never stops the others; the summary counts and lists every failure.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::Serialize;

use crate::{
    azure::{
        AzureError,
        incidents::{IncidentsClient, PutOutcome},
        logs::{LogsClient, Reader, Table},
    },
    domain::{AlertStatus, IncidentName, IncidentStatus},
    policy::{self, AlertState, Decision, IncidentState, PolicyOptions, Reason},
    queries,
};

/// How many times one incident is read, decided and written before giving up on conflicts.
pub const MAX_ATTEMPTS: u32 = 3;
/// Incidents synced at the same time within a run. The rate toward Resource Manager is set by
/// the token buckets in [`crate::azure::throttle`]; four in flight keep that budget used at
/// 20-200 ms per call without piling requests up behind the pacer (docs/benchmarks.md).
pub const CONCURRENCY: usize = 4;
/// Most incident reports a run summary carries (changed and failed ones first); the counts always
/// cover every incident. Keeps the invocation response small on large workspaces.
pub const MAX_REPORTS: usize = 1000;

/// Options of the engine.
#[derive(Debug, Clone, Copy)]
pub struct EngineOptions {
    /// Decide and report, write nothing.
    pub dry_run: bool,
    /// Policy switches.
    pub policy: PolicyOptions,
    /// Lookback window of the query, in days.
    pub lookback_days: u32,
    /// A run stops starting new incidents after this long.
    pub run_budget: Duration,
}

/// What happened to one incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Closed by this run.
    Closed,
    /// Set Active by this run.
    Activated,
    /// Dry run: would have closed it.
    WouldClose,
    /// Dry run: would have set it Active.
    WouldActivate,
    /// Left as it is (see the reason).
    Unchanged,
    /// Not synced because of an error.
    Failed,
    /// Not started: the run's time budget ran out.
    NotReached,
}

impl Action {
    /// The summary's word for this action.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Activated => "activated",
            Self::WouldClose => "would-close",
            Self::WouldActivate => "would-activate",
            Self::Unchanged => "unchanged",
            Self::Failed => "failed",
            Self::NotReached => "not-reached",
        }
    }
}

/// The report on one incident.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IncidentReport {
    /// Incident name.
    pub incident: String,
    /// Incident number, when known.
    pub incident_number: Option<i64>,
    /// Status before this sync.
    pub status_before: Option<IncidentStatus>,
    /// Status after this sync.
    pub status_after: Option<IncidentStatus>,
    /// What was done.
    pub action: Action,
    /// Reason code (`Reason::code`, or `error`).
    pub reason: String,
    /// Why, in words.
    pub detail: String,
    /// The alerts the decision was based on.
    pub alerts: Vec<AlertState>,
    /// Writes that hit a newer version (409) and were retried.
    pub conflicts: u32,
}

impl IncidentReport {
    fn new(incident: &IncidentName, number: Option<i64>) -> Self {
        Self {
            incident: incident.to_string(),
            incident_number: number,
            status_before: None,
            status_after: None,
            action: Action::Unchanged,
            reason: String::new(),
            detail: String::new(),
            alerts: Vec::new(),
            conflicts: 0,
        }
    }

    fn failed(mut self, error: impl std::fmt::Display) -> Self {
        self.action = Action::Failed;
        self.reason = "error".into();
        self.detail = error.to_string();
        self
    }

    fn left(mut self, reason: Reason) -> Self {
        self.action = Action::Unchanged;
        self.reason = reason.code().into();
        self.detail = reason.describe().into();
        self.status_after = self.status_before;
        self
    }
}

/// Outcome of syncing one incident by name (the webhook's question).
#[derive(Debug)]
pub enum SingleOutcome {
    /// Synced (or decided); the report says what happened.
    Done(IncidentReport),
    /// The incident does not exist in the workspace.
    NotFound,
    /// Azure failed; the report holds the error.
    Failed(IncidentReport),
}

/// Summary of one run.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunSummary {
    /// Run id, also in every log line of the run.
    pub run_id: String,
    /// When the run started.
    pub started_at: DateTime<Utc>,
    /// Milliseconds the run took.
    pub duration_ms: u64,
    /// Dry run?
    pub dry_run: bool,
    /// Lookback window in days.
    pub lookback_days: u32,
    /// `succeeded`, `failed` (some incident or the query failed) or `incomplete` (budget ran out).
    pub status: String,
    /// The run-level error (query failed, configuration), if any.
    pub error: Option<String>,
    /// Candidate incidents the query returned.
    pub scanned: usize,
    /// Incidents changed (or that would be, in a dry run).
    pub changed: usize,
    /// Closed.
    pub closed: usize,
    /// Set Active.
    pub activated: usize,
    /// Left as they are.
    pub unchanged: usize,
    /// Left as they are, by reason code.
    pub skipped: BTreeMap<String, usize>,
    /// Failed.
    pub failed: usize,
    /// Not started because the time budget ran out.
    pub not_reached: usize,
    /// Calls made, by kind (`query`, `get`, `put`, `alerts`, `comment`).
    pub calls: BTreeMap<String, usize>,
    /// The incidents the run looked at: changed and failed ones first, at most [`MAX_REPORTS`].
    pub incidents: Vec<IncidentReport>,
    /// Reports left out of `incidents` because of [`MAX_REPORTS`] (all of them unchanged
    /// unless more than that many changed).
    pub incidents_omitted: usize,
}

impl RunSummary {
    fn start(run_id: String, dry_run: bool, lookback_days: u32) -> Self {
        Self {
            run_id,
            started_at: Utc::now(),
            duration_ms: 0,
            dry_run,
            lookback_days,
            status: "succeeded".into(),
            error: None,
            scanned: 0,
            changed: 0,
            closed: 0,
            activated: 0,
            unchanged: 0,
            skipped: BTreeMap::new(),
            failed: 0,
            not_reached: 0,
            calls: BTreeMap::new(),
            incidents: Vec::new(),
            incidents_omitted: 0,
        }
    }

    /// Did anything fail?
    pub fn is_failure(&self) -> bool {
        self.error.is_some() || self.failed > 0 || self.not_reached > 0
    }

    fn finish(&mut self) {
        for r in &self.incidents {
            match r.action {
                Action::Closed | Action::WouldClose => {
                    self.changed += 1;
                    self.closed += 1;
                }
                Action::Activated | Action::WouldActivate => {
                    self.changed += 1;
                    self.activated += 1;
                }
                Action::Unchanged => {
                    self.unchanged += 1;
                    *self.skipped.entry(r.reason.clone()).or_default() += 1;
                }
                Action::Failed => self.failed += 1,
                Action::NotReached => self.not_reached += 1,
            }
        }
        self.status = if self.error.is_some() || self.failed > 0 {
            "failed".into()
        } else if self.not_reached > 0 {
            "incomplete".into()
        } else {
            "succeeded".into()
        };
        self.duration_ms = (Utc::now() - self.started_at).num_milliseconds().max(0) as u64;
        self.incidents.sort_by(|a, b| {
            (a.action == Action::Unchanged)
                .cmp(&(b.action == Action::Unchanged))
                .then(a.incident_number.cmp(&b.incident_number))
                .then(a.incident.cmp(&b.incident))
        });
        if self.incidents.len() > MAX_REPORTS {
            self.incidents_omitted = self.incidents.len() - MAX_REPORTS;
            self.incidents.truncate(MAX_REPORTS);
        }
    }
}

/// Counts calls by kind for the summary (and the benchmarks).
#[derive(Debug, Default)]
struct CallCounter(std::sync::Mutex<BTreeMap<String, usize>>);

impl CallCounter {
    fn add(&self, kind: &str) {
        if let Ok(mut m) = self.0.lock() {
            *m.entry(kind.to_owned()).or_default() += 1;
        }
    }
    fn take(&self) -> BTreeMap<String, usize> {
        self.0.lock().map(|mut m| std::mem::take(&mut *m)).unwrap_or_default()
    }
}

/// A candidate incident from the query: its logged state and its alerts.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// Incident name.
    pub name: IncidentName,
    /// Incident number.
    pub number: Option<i64>,
    /// Logged incident state (may lag the real one).
    pub state: IncidentState,
    /// Alerts; `status` is `None` when the alert has no row inside the window.
    pub alerts: Vec<(String, Option<AlertStatus>, Option<String>)>,
}

/// Groups the query's rows (one per incident and alert) into candidates.
pub fn candidates_from(table: &Table) -> Result<Vec<Candidate>, AzureError> {
    let r = Reader::new(table);
    // Columns as declared in `queries::SYNC_CANDIDATE_COLUMNS`; an int column may also come as long.
    let column = |name: &'static str| {
        let (_, kind) = queries::SYNC_CANDIDATE_COLUMNS
            .iter()
            .find(|(n, _)| *n == name)
            .expect("every column read is declared");
        let kinds: &[&str] = if *kind == "int" {
            &["int", "long"]
        } else {
            std::slice::from_ref(kind)
        };
        r.column(name, kinds)
    };
    let c_name = column("IncidentName")?;
    let c_number = column("IncidentNumber")?;
    let c_status = column("IncidentStatus")?;
    let c_owner = column("Owner")?;
    let c_labels = column("Labels")?;
    let c_alert = column("SystemAlertId")?;
    let c_alert_status = column("AlertStatus")?;
    let c_product = column("AlertProductName")?;
    let mut by_name: BTreeMap<String, Candidate> = BTreeMap::new();
    for row in r.rows() {
        let bad = |message: String| AzureError::Decode {
            service: "Log Analytics",
            message,
        };
        let name_text = r
            .string(row, c_name)?
            .ok_or_else(|| bad("a row has no IncidentName".into()))?;
        let name = IncidentName::parse(&name_text).map_err(|e| bad(e.to_string()))?;
        let candidate = match by_name.entry(name_text) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(e) => {
                let status_text = r.string(row, c_status)?.unwrap_or_default();
                let status = IncidentStatus::parse(&status_text).map_err(|e| bad(e.to_string()))?;
                let owner = r.dynamic(row, c_owner)?;
                let has_owner = ["objectId", "email", "assignedTo", "userPrincipalName"]
                    .iter()
                    .any(|k| owner.get(k).and_then(|v| v.as_str()).is_some_and(|s| !s.is_empty()));
                let labels = r
                    .dynamic(row, c_labels)?
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|l| l.get("labelName").and_then(|n| n.as_str()).map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                e.insert(Candidate {
                    name,
                    number: r.integer(row, c_number)?,
                    state: IncidentState {
                        status,
                        has_owner,
                        labels,
                    },
                    alerts: Vec::new(),
                })
            }
        };
        let Some(alert_id) = r.string(row, c_alert)? else {
            continue;
        };
        let status = r.string(row, c_alert_status)?.map(|s| AlertStatus::parse_lenient(&s));
        let product = r.string(row, c_product)?;
        if !candidate.alerts.iter().any(|(id, _, _)| *id == alert_id) {
            candidate.alerts.push((alert_id, status, product));
        }
    }
    Ok(by_name.into_values().collect())
}

/// Runs reconciliations and single-incident syncs against one workspace.
#[derive(Debug, Clone)]
pub struct Engine {
    logs: LogsClient,
    incidents: IncidentsClient,
    options: EngineOptions,
    calls: Arc<CallCounter>,
}

impl Engine {
    /// An engine over the two clients.
    pub fn new(logs: LogsClient, incidents: IncidentsClient, options: EngineOptions) -> Self {
        Self {
            logs,
            incidents,
            options,
            calls: Arc::default(),
        }
    }

    /// The engine's options.
    pub fn options(&self) -> EngineOptions {
        self.options
    }

    /// One reconciliation of the whole workspace.
    pub async fn reconcile(&self, run_id: String) -> RunSummary {
        let mut summary = RunSummary::start(run_id, self.options.dry_run, self.options.lookback_days);
        let deadline = tokio::time::Instant::now() + self.options.run_budget;
        // Stop starting incidents a little before the deadline, so those in flight can finish
        // instead of being cut off mid-sync.
        let start_cutoff = deadline - (self.options.run_budget / 4).min(Duration::from_secs(30));
        tracing::info!(run_id = %summary.run_id, dry_run = self.options.dry_run, lookback_days = self.options.lookback_days, "run started");
        let query = queries::sync_candidates(self.options.lookback_days);
        self.calls.add("query");
        let answer = match tokio::time::timeout_at(deadline, self.logs.query(&query)).await {
            Ok(answer) => answer,
            Err(_) => Err(AzureError::Transport {
                service: "Log Analytics",
                message: "no answer within the run's time budget (SYNC_RUN_BUDGET_SECONDS)".into(),
            }),
        };
        // `None`: the documented 204 of a workspace with no data, so no candidates.
        let candidates = match answer.and_then(|t| t.map_or(Ok(Vec::new()), |t| candidates_from(&t))) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(run_id = %summary.run_id, error = %e, "run failed: the candidate query did not complete; nothing was changed");
                summary.error = Some(format!("candidate query failed: {e}"));
                summary.calls = self.calls.take();
                summary.finish();
                return summary;
            }
        };
        summary.scanned = candidates.len();
        let run_id = summary.run_id.clone();
        let reports: Vec<IncidentReport> = futures::stream::iter(candidates)
            .map(|candidate| {
                let run_id = run_id.clone();
                async move {
                    if tokio::time::Instant::now() >= start_cutoff {
                        let mut r = IncidentReport::new(&candidate.name, candidate.number);
                        r.action = Action::NotReached;
                        r.reason = "budget".into();
                        r.detail =
                            "the run's time budget (SYNC_RUN_BUDGET_SECONDS) was nearly used up before this incident; the next run takes it".into();
                        return r;
                    }
                    let report = match tokio::time::timeout_at(deadline, self.sync_candidate(&candidate)).await {
                        Ok(r) => r,
                        Err(_) => IncidentReport::new(&candidate.name, candidate.number).failed(
                            "the run's time budget (SYNC_RUN_BUDGET_SECONDS) ran out while syncing this incident",
                        ),
                    };
                    log_report(&run_id, &report);
                    report
                }
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        summary.incidents = reports;
        summary.calls = self.calls.take();
        summary.finish();
        tracing::info!(
            run_id = %summary.run_id,
            status = %summary.status,
            scanned = summary.scanned,
            changed = summary.changed,
            closed = summary.closed,
            activated = summary.activated,
            unchanged = summary.unchanged,
            failed = summary.failed,
            not_reached = summary.not_reached,
            duration_ms = summary.duration_ms,
            "run finished"
        );
        summary
    }

    /// Syncs one candidate from the query. The logged snapshot decides first: when even the
    /// alerts seen inside the window say "leave it", no REST call is made. Alerts without a row
    /// inside the window are read fresh from the REST API before anything is written.
    async fn sync_candidate(&self, candidate: &Candidate) -> IncidentReport {
        let seen: Vec<AlertState> = candidate
            .alerts
            .iter()
            .filter_map(|(id, status, product)| {
                status.map(|s| AlertState {
                    id: id.clone(),
                    status: s,
                    product: product.clone().unwrap_or_default(),
                })
            })
            .collect();
        if let Decision::Leave(reason) = policy::decide(&candidate.state, &seen, self.options.policy) {
            let mut report = IncidentReport::new(&candidate.name, candidate.number);
            report.status_before = Some(candidate.state.status);
            report.alerts = seen;
            return report.left(reason);
        }
        let all_seen = seen.len() == candidate.alerts.len();
        self.sync(
            &candidate.name,
            candidate.number,
            if all_seen { Some(seen) } else { None },
            Some(candidate.state.status),
        )
        .await
    }

    /// Syncs one incident by name, reading its alerts fresh from the REST API (the webhook path).
    pub async fn sync_one(&self, name: &IncidentName) -> SingleOutcome {
        let report = self.sync(name, None, None, None).await;
        if report.action == Action::Failed {
            if report.reason == "not-found" {
                return SingleOutcome::NotFound;
            }
            return SingleOutcome::Failed(report);
        }
        SingleOutcome::Done(report)
    }

    /// Read fresh, decide, write with the etag; on 409 start over. `logged` is the status the
    /// query saw: when the fresh status differs and carries this tool's label, the change may be
    /// ours from a run whose audit comment failed, so the comment is checked and restored.
    async fn sync(
        &self,
        name: &IncidentName,
        number: Option<i64>,
        known_alerts: Option<Vec<AlertState>>,
        logged: Option<IncidentStatus>,
    ) -> IncidentReport {
        let mut report = IncidentReport::new(name, number);
        let mut alerts = known_alerts;
        for attempt in 1..=MAX_ATTEMPTS {
            self.calls.add("get");
            let incident = match self.incidents.get(name).await {
                Ok(Some(i)) => i,
                Ok(None) => {
                    let mut r = report.failed("the incident does not exist in the workspace");
                    r.reason = "not-found".into();
                    return r;
                }
                Err(e) => return report.failed(e),
            };
            report.incident_number = incident.properties.incident_number.or(report.incident_number);
            let status = match incident.status() {
                Ok(s) => s,
                Err(e) => return report.failed(e),
            };
            if attempt == 1 {
                report.status_before = Some(status);
            }
            let state = IncidentState {
                status,
                has_owner: incident.has_owner(),
                labels: incident.label_names(),
            };
            if attempt == 1
                && !self.options.dry_run
                && let Some(previous) = logged.filter(|l| *l != status)
                && let Some(done) = own_change(&incident, &state)
            {
                let restored = match self.alerts_once(name, &mut alerts).await {
                    Ok(list) => self.restore_comment(name, done, previous, &list).await,
                    Err(e) => Err(e),
                };
                if let Err(e) = restored {
                    return report.failed(format!(
                        "the audit comment of an earlier change could not be checked or restored: {e}"
                    ));
                }
            }
            if status == IncidentStatus::Closed {
                // Closed incidents are never touched; no need to read their alerts.
                report.alerts = alerts.unwrap_or_default();
                return report.left(Reason::IncidentClosed);
            }
            let current_alerts = match self.alerts_once(name, &mut alerts).await {
                Ok(list) => list,
                Err(e) => return report.failed(e),
            };
            report.alerts = current_alerts.clone();
            let decision = policy::decide(&state, &current_alerts, self.options.policy);
            let (target, close) = match decision {
                Decision::Leave(reason) => {
                    report.status_after = Some(status);
                    return report.left(reason);
                }
                Decision::Close(c) => (
                    IncidentStatus::Closed,
                    Some((c, policy::classification_comment(c, &current_alerts))),
                ),
                Decision::Activate => (IncidentStatus::Active, None),
            };
            if self.options.dry_run {
                report.action = if target == IncidentStatus::Closed {
                    Action::WouldClose
                } else {
                    Action::WouldActivate
                };
                report.reason = reason_code(decision).into();
                report.detail = format!("dry run, nothing written: would have {}", decision_detail(decision));
                report.status_after = Some(status);
                return report;
            }
            let label = policy::label_for(decision).unwrap_or(policy::LABEL_CLOSED);
            let body = incident.update_body(target, close, label);
            self.calls.add("put");
            match self.incidents.put(name, &body).await {
                Ok(PutOutcome::Saved(saved)) => {
                    report.status_after = saved.status().ok().or(Some(target));
                    report.action = if target == IncidentStatus::Closed {
                        Action::Closed
                    } else {
                        Action::Activated
                    };
                    report.reason = reason_code(decision).into();
                    report.detail = decision_detail(decision);
                    return self
                        .write_comment(report, name, decision, status, &current_alerts)
                        .await;
                }
                Ok(PutOutcome::Conflict) => {
                    report.conflicts += 1;
                    tracing::info!(incident = %name, attempt, "incident changed since it was read (409); reading it again");
                    continue;
                }
                Err(e) => return report.failed(e),
            }
        }
        report.failed(format!(
            "the incident kept changing: {MAX_ATTEMPTS} writes in a row hit a newer version (409); will retry next run"
        ))
    }

    /// Adds the audit comment. Its id is derived from the incident and the transition, so a
    /// repeated write replaces the same comment instead of adding a second one.
    async fn write_comment(
        &self,
        mut report: IncidentReport,
        name: &IncidentName,
        decision: Decision,
        previous: IncidentStatus,
        alerts: &[AlertState],
    ) -> IncidentReport {
        let comment_id = comment_id(name, decision);
        let message = policy::audit_comment(decision, previous, alerts);
        self.calls.add("comment");
        if let Err(e) = self.incidents.put_comment(name, &comment_id, &message).await {
            // The status change stands (it is what the alerts say); the missing audit comment is
            // a failure the run reports, so an operator sees it.
            report.action = Action::Failed;
            report.reason = "comment-failed".into();
            report.detail = format!(
                "incident set {} but its audit comment could not be written: {e}",
                report.status_after.map(|s| s.as_str()).unwrap_or("?")
            );
        }
        report
    }
}

impl Engine {
    /// The incident's alerts: those already known (from the query, or read earlier in this sync),
    /// else read once from the REST API and kept in `known` for the retries.
    async fn alerts_once(
        &self,
        name: &IncidentName,
        known: &mut Option<Vec<AlertState>>,
    ) -> Result<Vec<AlertState>, AzureError> {
        if let Some(list) = known {
            return Ok(list.clone());
        }
        self.calls.add("alerts");
        let fresh: Vec<AlertState> = self.incidents.alerts(name).await?.iter().map(|a| a.state()).collect();
        *known = Some(fresh.clone());
        Ok(fresh)
    }

    /// Writes the audit comment of an earlier change of ours if it is missing.
    async fn restore_comment(
        &self,
        name: &IncidentName,
        decision: Decision,
        previous: IncidentStatus,
        alerts: &[AlertState],
    ) -> Result<(), AzureError> {
        let id = comment_id(name, decision);
        self.calls.add("comment-check");
        if self.incidents.comment_exists(name, &id).await? {
            return Ok(());
        }
        tracing::warn!(incident = %name, "restoring the missing audit comment of an earlier change");
        self.calls.add("comment");
        self.incidents
            .put_comment(name, &id, &policy::audit_comment(decision, previous, alerts))
            .await
    }
}

/// The change this tool made, if the incident is in the state one of our labels records:
/// Closed with our label and one of our classifications, or Active with our label.
fn own_change(incident: &crate::azure::incidents::Incident, state: &IncidentState) -> Option<Decision> {
    let has = |label: &str| state.labels.iter().any(|l| l == label);
    match state.status {
        IncidentStatus::Closed if has(policy::LABEL_CLOSED) => match incident.properties.classification.as_deref() {
            Some("TruePositive") => Some(Decision::Close(crate::domain::Classification::TruePositive)),
            Some("BenignPositive") => Some(Decision::Close(crate::domain::Classification::BenignPositive)),
            _ => None,
        },
        IncidentStatus::Active if has(policy::LABEL_ACTIVATED) => Some(Decision::Activate),
        _ => None,
    }
}

/// The audit comment's id: derived from the incident and the transition, so writing it again
/// replaces it instead of adding a second comment.
fn comment_id(name: &IncidentName, decision: Decision) -> String {
    let transition = match decision {
        Decision::Close(_) => "closed",
        _ => "activated",
    };
    uuid::Uuid::new_v5(&COMMENT_NAMESPACE, format!("{name}/{transition}").as_bytes()).to_string()
}

/// Namespace of the deterministic audit-comment ids.
const COMMENT_NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x6d1f_5c3e_9a0b_4f7e_8b2c_d4e5_f6a7_b8c9);

fn decision_detail(decision: Decision) -> String {
    match decision {
        Decision::Close(c) => format!("closed as {} / {}", c.as_str(), c.reason()),
        Decision::Activate => "set Active: an alert is In progress in Defender for Cloud".into(),
        Decision::Leave(r) => r.describe().into(),
    }
}

fn reason_code(decision: Decision) -> &'static str {
    match decision {
        Decision::Close(c) if c.as_str() == "BenignPositive" => "alerts-dismissed",
        Decision::Close(_) => "alerts-resolved",
        Decision::Activate => "alerts-in-progress",
        Decision::Leave(r) => r.code(),
    }
}

/// One log line per incident: changes and failures at info/error, the rest at debug.
fn log_report(run_id: &str, r: &IncidentReport) {
    let before = r.status_before.map(|s| s.as_str()).unwrap_or("-");
    let after = r.status_after.map(|s| s.as_str()).unwrap_or("-");
    let number = r.incident_number.unwrap_or_default();
    match r.action {
        Action::Failed | Action::NotReached => {
            tracing::error!(run_id, incident = %r.incident, number, action = r.action.as_str(), reason = %r.reason, detail = %r.detail, "incident not synced")
        }
        Action::Unchanged => {
            tracing::debug!(run_id, incident = %r.incident, number, status = before, reason = %r.reason, "incident unchanged")
        }
        _ => {
            tracing::info!(run_id, incident = %r.incident, number, action = r.action.as_str(), before, after, reason = %r.reason, conflicts = r.conflicts, "incident synced")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn table(rows: Vec<serde_json::Value>) -> Table {
        serde_json::from_value(json!({
            "name": "PrimaryResult",
            "columns": [
                {"name": "IncidentName", "type": "string"}, {"name": "IncidentNumber", "type": "int"},
                {"name": "IncidentStatus", "type": "string"}, {"name": "Owner", "type": "dynamic"},
                {"name": "Labels", "type": "dynamic"}, {"name": "SystemAlertId", "type": "string"},
                {"name": "AlertStatus", "type": "string"}, {"name": "AlertProductName", "type": "string"},
                {"name": "AlertTimeGenerated", "type": "datetime"}
            ],
            "rows": rows
        }))
        .unwrap()
    }

    #[test]
    fn rows_group_into_candidates_with_unseen_alerts_marked() {
        let owner = "{\"objectId\":\"2046feea-040d-4a46-9e2b-91c2941bfa70\",\"email\":null,\"assignedTo\":null,\"userPrincipalName\":null}";
        let t = table(vec![
            json!([
                "inc-1",
                7,
                "New",
                owner,
                "[{\"labelName\":\"x\",\"labelType\":\"User\"}]",
                "a1",
                "Resolved",
                "Azure Security Center",
                "2026-11-20T10:00:00Z"
            ]),
            json!([
                "inc-1",
                7,
                "New",
                owner,
                "[{\"labelName\":\"x\",\"labelType\":\"User\"}]",
                "a2",
                "",
                "",
                null
            ]),
            json!([
                "inc-2",
                8,
                "Active",
                "{}",
                "[]",
                "b1",
                "InProgress",
                "Microsoft Defender for Cloud",
                "2026-11-20T10:00:00Z"
            ]),
        ]);
        let c = candidates_from(&t).unwrap();
        assert_eq!(c.len(), 2);
        assert!(c[0].state.has_owner);
        assert_eq!(c[0].state.labels, vec!["x".to_owned()]);
        assert_eq!(c[0].alerts[1], ("a2".to_owned(), None, None));
        assert_eq!(c[1].state.status, IncidentStatus::Active);
        assert_eq!(c[1].alerts[0].1, Some(AlertStatus::InProgress));
    }

    #[test]
    fn malformed_rows_are_errors_not_guesses() {
        let t = table(vec![json!([
            "../etc",
            1,
            "New",
            "{}",
            "[]",
            "a",
            "New",
            "Azure Security Center",
            null
        ])]);
        assert!(candidates_from(&t).is_err());
        let t = table(vec![json!([
            "inc",
            1,
            "Paused",
            "{}",
            "[]",
            "a",
            "New",
            "Azure Security Center",
            null
        ])]);
        assert!(candidates_from(&t).is_err());
        let mut t = table(vec![]);
        t.columns.retain(|c| c.name != "AlertStatus");
        assert!(candidates_from(&t).unwrap_err().to_string().contains("AlertStatus"));
    }

    #[test]
    fn summaries_keep_changed_reports_first_and_count_everything() {
        let mut summary = RunSummary::start("r".into(), false, 30);
        for i in 0..(MAX_REPORTS + 5) {
            let mut r = IncidentReport::new(&IncidentName::parse(&format!("u{i}")).unwrap(), Some(i as i64));
            r.reason = "alerts-pending".into();
            summary.incidents.push(r);
        }
        let mut closed = IncidentReport::new(&IncidentName::parse("c").unwrap(), Some(99_999));
        closed.action = Action::Closed;
        summary.incidents.push(closed);
        summary.finish();
        assert_eq!(summary.incidents.len(), MAX_REPORTS);
        assert_eq!(summary.incidents[0].incident, "c");
        assert_eq!(summary.incidents_omitted, 6);
        assert_eq!((summary.closed, summary.unchanged), (1, MAX_REPORTS + 5));
    }
}

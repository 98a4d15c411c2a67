//! What a sync reports: the action and reason for one incident, the run summary with its
//! counts, and the log line each report becomes.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::MAX_REPORTS;
pub use super::outcome::{ReportReason, RunStatus};
use crate::{
    domain::{AlertState, IncidentName, IncidentStatus},
    policy::{Decision, Reason},
};

/// What happened to one incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Closed by this run.
    Closed,
    /// Set Active by this run.
    Activated,
    /// Set Active again by this run (it closed it earlier; an alert was reactivated).
    Reopened,
    /// Dry run: would have closed it.
    WouldClose,
    /// Dry run: would have set it Active.
    WouldActivate,
    /// Dry run: would have reopened it.
    WouldReopen,
    /// Left as it is (see the reason).
    Unchanged,
    /// Not synced because of an error.
    Failed,
    /// Not started, or cut mid-way, because the run's time budget ran out or the host is
    /// stopping the process; the next run takes it.
    NotReached,
}

impl Action {
    /// The summary's word for this action.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Activated => "activated",
            Self::Reopened => "reopened",
            Self::WouldClose => "would-close",
            Self::WouldActivate => "would-activate",
            Self::WouldReopen => "would-reopen",
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
    /// Why.
    pub reason: ReportReason,
    /// Why, in words.
    pub detail: String,
    /// The alerts the decision was based on.
    pub alerts: Vec<AlertState>,
    /// Writes that hit a newer version (409) and were retried.
    pub conflicts: u32,
    /// The incident's `providerName` (`Azure Sentinel`, or `Microsoft XDR` in a workspace
    /// onboarded to the Defender portal), when known.
    pub provider: Option<String>,
}

impl IncidentReport {
    pub(crate) fn new(incident: &IncidentName, number: Option<i64>) -> Self {
        Self::named(incident.to_string(), number)
    }

    /// A report on an incident known only by the text that names it (a row that cannot be read).
    pub(crate) fn named(incident: String, number: Option<i64>) -> Self {
        Self {
            incident,
            incident_number: number,
            status_before: None,
            status_after: None,
            action: Action::Unchanged,
            reason: ReportReason::Undecided,
            detail: String::new(),
            alerts: Vec::new(),
            conflicts: 0,
            provider: None,
        }
    }

    pub(crate) fn failed(mut self, error: impl std::fmt::Display) -> Self {
        self.action = Action::Failed;
        self.reason = ReportReason::Error;
        self.detail = error.to_string();
        self
    }

    pub(crate) fn left(mut self, reason: Reason) -> Self {
        self.action = Action::Unchanged;
        self.reason = ReportReason::Left(reason);
        self.detail = reason.describe().into();
        self.status_after = self.status_before;
        self
    }
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
    /// How the run ended.
    pub status: RunStatus,
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
    /// Set Active again after this tool had closed them (`SYNC_REOPEN_ON_REACTIVATION`).
    pub reopened: usize,
    /// Left as they are.
    pub unchanged: usize,
    /// Left as they are, by reason code.
    pub skipped: BTreeMap<ReportReason, usize>,
    /// Failed.
    pub failed: usize,
    /// Incidents of the provider `Microsoft XDR` among those looked at (a workspace in the
    /// Defender portal), whatever was done with them.
    pub from_xdr: usize,
    /// Not started because the time budget ran out.
    pub not_reached: usize,
    /// Calls made, by kind (`query`, `get`, `put`, `alerts`, `comment`, and `workspace`: the
    /// workspace resource read for its id).
    pub calls: BTreeMap<String, usize>,
    /// The incidents the run looked at: changed and failed ones first, at most [`MAX_REPORTS`].
    pub incidents: Vec<IncidentReport>,
    /// Reports left out of `incidents` because of [`MAX_REPORTS`] (all of them unchanged
    /// unless more than that many changed).
    pub incidents_omitted: usize,
    /// The host stopped the process (SIGTERM) during the run.
    pub stopped: bool,
}

impl RunSummary {
    pub(crate) fn start(run_id: String, dry_run: bool, lookback_days: u32) -> Self {
        Self {
            run_id,
            started_at: Utc::now(),
            duration_ms: 0,
            dry_run,
            lookback_days,
            status: RunStatus::Succeeded,
            error: None,
            scanned: 0,
            changed: 0,
            closed: 0,
            activated: 0,
            reopened: 0,
            unchanged: 0,
            skipped: BTreeMap::new(),
            failed: 0,
            from_xdr: 0,
            not_reached: 0,
            calls: BTreeMap::new(),
            incidents: Vec::new(),
            incidents_omitted: 0,
            stopped: false,
        }
    }

    /// Did anything fail? A run that stopped early (budget, SIGTERM) with no failure is
    /// `incomplete`, not failed: the next run takes the rest.
    pub fn is_failure(&self) -> bool {
        self.error.is_some() || self.failed > 0
    }

    /// Counts one incident's report and keeps it for the summary: every changed or failed one, and
    /// unchanged ones only while fewer than [`MAX_REPORTS`] are kept (a large workspace leaves
    /// most incidents unchanged; their reports are counted, not held).
    pub(crate) fn record(&mut self, r: IncidentReport) {
        if r.provider.as_deref().is_some_and(crate::domain::is_xdr_provider) {
            self.from_xdr += 1;
        }
        match r.action {
            Action::Closed | Action::WouldClose => {
                self.changed += 1;
                self.closed += 1;
            }
            Action::Activated | Action::WouldActivate => {
                self.changed += 1;
                self.activated += 1;
            }
            Action::Reopened | Action::WouldReopen => {
                self.changed += 1;
                self.reopened += 1;
            }
            Action::Unchanged => {
                self.unchanged += 1;
                *self.skipped.entry(r.reason).or_default() += 1;
                if self.incidents.len() >= MAX_REPORTS {
                    self.incidents_omitted += 1;
                    return;
                }
            }
            Action::Failed => self.failed += 1,
            Action::NotReached => self.not_reached += 1,
        }
        self.incidents.push(r);
    }

    /// Sets the status and duration, and orders the kept reports: changed and failed first, at
    /// most [`MAX_REPORTS`].
    pub(crate) fn finish(&mut self) {
        self.status = if self.error.is_some() || self.failed > 0 {
            RunStatus::Failed
        } else if self.not_reached > 0 || self.stopped {
            RunStatus::Incomplete
        } else {
            RunStatus::Succeeded
        };
        self.duration_ms = (Utc::now() - self.started_at).num_milliseconds().max(0) as u64;
        self.incidents.sort_by(|a, b| {
            (a.action == Action::Unchanged)
                .cmp(&(b.action == Action::Unchanged))
                .then(a.incident_number.cmp(&b.incident_number))
                .then(a.incident.cmp(&b.incident))
        });
        if self.incidents.len() > MAX_REPORTS {
            self.incidents_omitted += self.incidents.len() - MAX_REPORTS;
            self.incidents.truncate(MAX_REPORTS);
        }
    }
}

pub(crate) fn decision_detail(decision: Decision) -> String {
    match decision {
        Decision::Close(c) => format!("closed as {}", c.classification),
        Decision::Activate => "set Active: an alert is In progress in Defender for Cloud".into(),
        Decision::Reopen => {
            "set Active again: Defender for Cloud reactivated an alert of this incident it had closed".into()
        }
        Decision::Leave(r) => r.describe().into(),
    }
}

/// One log line per incident: changes and failures at info/error, the rest at debug.
pub(crate) fn log_report(run_id: &str, r: &IncidentReport) {
    let before = r.status_before.map(|s| s.as_str()).unwrap_or("-");
    let after = r.status_after.map(|s| s.as_str()).unwrap_or("-");
    let number = r.incident_number.unwrap_or_default();
    match r.action {
        Action::Failed => {
            tracing::error!(run_id, incident = %r.incident, number, action = r.action.as_str(), reason = %r.reason, detail = %r.detail, "incident not synced")
        }
        // Cut by the budget or SIGTERM: not a failure, the next run completes it.
        Action::NotReached => {
            tracing::warn!(run_id, incident = %r.incident, number, action = r.action.as_str(), reason = %r.reason, detail = %r.detail, "incident not synced")
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

    #[test]
    fn summaries_keep_changed_reports_first_and_count_everything() {
        let mut summary = RunSummary::start("r".into(), false, 30);
        for i in 0..(MAX_REPORTS + 5) {
            let mut r = IncidentReport::new(&IncidentName::parse(&format!("u{i}")).unwrap(), Some(i as i64));
            r.reason = ReportReason::Left(Reason::AlertsPending);
            summary.record(r);
        }
        let mut closed = IncidentReport::new(&IncidentName::parse("c").unwrap(), Some(99_999));
        closed.action = Action::Closed;
        summary.record(closed);
        summary.finish();
        assert_eq!(summary.incidents.len(), MAX_REPORTS);
        assert_eq!(summary.incidents[0].incident, "c");
        assert_eq!(summary.incidents_omitted, 6);
        assert_eq!((summary.closed, summary.unchanged), (1, MAX_REPORTS + 5));
    }
}

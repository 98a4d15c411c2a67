//! The sync of one incident against the Sentinel REST API.
//!
//! Read fresh (GET: status, owner, labels, etag, alert count), decide on that state and on an
//! alert list as new as the read, write with the etag, then leave the audit comment. Three
//! things a real workspace does shape the loop:
//!
//! - **Alerts join at any time** (Defender XDR correlation, alert grouping, analysts). The GET's
//!   `additionalData.alertsCount` is compared with the alerts the decision would use; when they
//!   differ the list is read again over REST. After a 409 the list is always read again.
//! - **A write can be applied and its reply lost** (504 from the gateway, a reset). The retry
//!   then meets a 409, or the error outlasts the retries. Either way the next read tells whether
//!   the incident is in the state this write produces (status, classification, this tool's label
//!   and, for a close, the change id in the classification comment): if so the change is ours and
//!   its audit comment is written.
//! - **The process can die between the write and the comment.** Every change carries a change
//!   id derived from the incident's version before the change; it is written atomically with the
//!   close (in the classification comment) and names the audit comment. A later read of an
//!   incident in this tool's state checks that comment and restores it when it is missing
//!   ([`Engine::restore_comment`]). A later, separate transition gets a new id, so it adds its own
//!   comment instead of replacing the first one.

use crate::{
    azure::{
        AzureError,
        incidents::{Incident, PutOutcome},
    },
    domain::{AlertState, IncidentName, IncidentStatus},
    policy::{self, Decision, IncidentState, Reason, Transition},
};

use super::{
    Engine, MAX_ATTEMPTS,
    change::{Change, OwnChange, change_id, classification_of, own_change},
    report::{Action, IncidentReport, ReportReason, decision_detail},
};

/// What the sync of one incident starts from, besides its name.
#[derive(Debug, Default)]
pub(super) struct SyncRequest {
    /// The incident's number, when the query gave it.
    pub(super) number: Option<i64>,
    /// The alerts the query saw, used only while the incident's alert count matches them.
    pub(super) known_alerts: Option<Vec<AlertState>>,
    /// The status the query saw: when the fresh status differs and is this tool's, the earlier
    /// change's audit comment is checked. `None` (the webhook, the CLI): it is checked whenever
    /// the incident is in this tool's state.
    pub(super) logged: Option<IncidentStatus>,
    /// No write starts after this instant (the webhook's answer must not wait for it).
    pub(super) write_by: Option<tokio::time::Instant>,
}

/// Errors after which a write may have been applied: no answer, or a gateway/server error.
fn may_have_been_applied(error: &AzureError) -> bool {
    match error {
        AzureError::Transport { .. } => true,
        AzureError::Status { status, .. } => *status == 408 || *status >= 500,
        _ => false,
    }
}

impl Engine {
    /// Read fresh, decide, write with the etag; on 409 read and decide again, at most
    /// [`MAX_ATTEMPTS`] writes.
    pub(super) async fn sync(&self, name: &IncidentName, request: SyncRequest) -> IncidentReport {
        let SyncRequest {
            number,
            known_alerts,
            logged,
            write_by,
        } = request;
        let mut report = IncidentReport::new(name, number);
        let mut alerts = known_alerts;
        // A write sent whose outcome is unknown (409 or no usable reply): the next read tells.
        let mut sent: Option<(Change, Option<AzureError>)> = None;
        let mut writes = 0;
        loop {
            self.calls.add("get");
            let incident = match self.incidents.get(name).await {
                Ok(Some(i)) => i,
                Ok(None) => {
                    let mut r = report.failed("the incident does not exist in the workspace");
                    r.reason = ReportReason::NotFound;
                    return r;
                }
                Err(e) => return report.failed(e),
            };
            report.incident_number = incident.properties.incident_number.or(report.incident_number);
            report.provider = incident.provider_name().map(str::to_string).or(report.provider);
            let status = match incident.status() {
                Ok(s) => s,
                Err(e) => return report.failed(e),
            };
            report.status_before.get_or_insert(status);
            let labels = incident.label_names();
            let state = IncidentState {
                status,
                has_owner: incident.has_owner(),
                closed_by_tool: policy::closed_by_tool(
                    &labels,
                    classification_of(&incident),
                    incident.properties.classification_comment.as_deref(),
                ),
                labels,
            };
            if let Some((change, error)) = sent.take() {
                if change.is_applied(&incident, &state) {
                    tracing::info!(incident = %name, "the write was applied although its reply was lost; finishing the audit trail");
                    report = applied(report, &change, status);
                    return self.write_comment(report, name, &change).await;
                }
                if let Some(e) = error {
                    return report.failed(e);
                }
            }
            if writes >= MAX_ATTEMPTS {
                return report.failed(format!(
                    "the incident kept changing: {MAX_ATTEMPTS} writes in a row hit a newer version (409); will retry next run"
                ));
            }
            let earlier = own_change(&incident, &state);
            if let Some(done) = earlier.as_ref()
                && !self.options.dry_run
                && writes == 0
                && logged.is_none_or(|l| l != status)
            {
                let restored = match self.alerts_fresh(name, &mut alerts, &incident).await {
                    Ok(list) => self.restore_comment(name, done, &incident, &list).await,
                    Err(e) => Err(e),
                };
                if let Err(e) = restored {
                    return report.failed(format!(
                        "the audit comment of an earlier change could not be checked or restored: {e}"
                    ));
                }
            }
            let may_reopen = self.options.policy.reopen_on_reactivation && state.closed_by_tool;
            if status == IncidentStatus::Closed && !may_reopen {
                // Closed incidents are never touched; no need to read their alerts.
                report.alerts = alerts.unwrap_or_default();
                return report.left(Reason::IncidentClosed);
            }
            let current_alerts = match self.alerts_fresh(name, &mut alerts, &incident).await {
                Ok(list) => list,
                Err(e) => return report.failed(e),
            };
            report.alerts = current_alerts.clone();
            let decision = policy::decide(&state, &current_alerts, self.options.policy);
            if let Decision::Leave(reason) = decision {
                report.status_after = Some(status);
                return report.left(reason);
            }
            if self.options.dry_run {
                report.action = match decision {
                    Decision::Close(_) => Action::WouldClose,
                    Decision::Reopen => Action::WouldReopen,
                    _ => Action::WouldActivate,
                };
                report.reason = ReportReason::of(decision);
                report.detail = format!("dry run, nothing written: would have {}", decision_detail(decision));
                report.status_after = Some(status);
                return report;
            }
            if write_by.is_some_and(|t| tokio::time::Instant::now() >= t) {
                // Too late to start a write and still answer in time: nothing is half-written.
                let mut r = report.failed("Azure answered too slowly to write the change in time; nothing was written");
                r.reason = ReportReason::Timeout;
                return r;
            }
            let change = Change::new(name, decision, &incident, status, &current_alerts);
            let body = incident.update_body(&change.update());
            self.calls.add("put");
            writes += 1;
            match self.incidents.put(name, &body).await {
                Ok(PutOutcome::Saved(saved)) => {
                    let after = saved.status().unwrap_or(change.target());
                    report = applied(report, &change, after);
                    return self.write_comment(report, name, &change).await;
                }
                Ok(PutOutcome::Conflict { after_retry }) => {
                    report.conflicts += 1;
                    tracing::info!(incident = %name, attempt = writes, "incident changed since it was read (409); reading it again");
                    // Decide again on a list as new as the next read, never on this one.
                    alerts = None;
                    if after_retry {
                        // An earlier try may have been applied: the next read tells.
                        sent = Some((change, None));
                    }
                }
                Err(e) if may_have_been_applied(&e) => {
                    tracing::warn!(incident = %name, error = %e, "no usable answer to the write; reading the incident to see whether it was applied");
                    alerts = None;
                    sent = Some((change, Some(e)));
                }
                Err(e) => return report.failed(e),
            }
        }
    }

    /// Adds the audit comment of `change` (its id is the change id: writing it again replaces
    /// it). A failure leaves the status change standing and is reported, so an operator sees it;
    /// a later read restores the comment.
    async fn write_comment(&self, mut report: IncidentReport, name: &IncidentName, change: &Change) -> IncidentReport {
        let message = policy::audit_comment(change.decision, Some(change.previous), &change.alerts);
        self.calls.add("comment");
        match self.incidents.put_comment(name, &change.id, &message).await {
            Ok(()) => {
                // Later runs of this process need not check this change's comment again.
                self.remember_comment(&change.id);
                self.remember_comment(&format!("{name}/{}", change.transition().as_str()));
                self.remember_comment(&super::run::checked_key(name, change.target()));
            }
            Err(e) => {
                report.action = Action::Failed;
                report.reason = ReportReason::CommentFailed;
                report.detail = format!(
                    "incident set {} but its audit comment could not be written: {e}",
                    report.status_after.map(|s| s.as_str()).unwrap_or("?")
                );
            }
        }
        report
    }

    /// The incident's alerts for a decision on `incident`: the known list while its length
    /// matches the incident's `alertsCount`, else the list read again over REST (kept in `known`
    /// for the next step of this sync).
    async fn alerts_fresh(
        &self,
        name: &IncidentName,
        known: &mut Option<Vec<AlertState>>,
        incident: &Incident,
    ) -> Result<Vec<AlertState>, AzureError> {
        if let Some(list) = known
            && incident.alerts_count() == Some(list.len())
        {
            return Ok(list.clone());
        }
        self.calls.add("alerts");
        let fresh: Vec<AlertState> = self.incidents.alerts(name).await?.iter().map(|a| a.state()).collect();
        *known = Some(fresh.clone());
        Ok(fresh)
    }

    /// Writes the audit comment of an earlier change of this tool when it is missing. A close
    /// names its comment (the change id in its classification comment); for an activation, or a
    /// close by a version of this tool that recorded no id, the incident's comments are listed
    /// and any audit comment of this tool for that transition counts.
    pub(super) async fn restore_comment(
        &self,
        name: &IncidentName,
        done: &OwnChange,
        incident: &Incident,
        alerts: &[AlertState],
    ) -> Result<(), AzureError> {
        let id = match &done.change_id {
            Some(id) => {
                if self.comment_known(id) {
                    return Ok(());
                }
                self.calls.add("comment-check");
                if self.incidents.comment_exists(name, id).await? {
                    self.remember_comment(id);
                    return Ok(());
                }
                id.clone()
            }
            None => {
                let key = format!("{name}/{}", done.transition.as_str());
                if self.comment_known(&key) {
                    return Ok(());
                }
                self.calls.add("comment-list");
                let marker = policy::audit_comment_prefix(done.transition);
                let comments = self.incidents.comments(name).await?;
                if comments.iter().any(|c| c.message.starts_with(marker)) {
                    self.remember_comment(&key);
                    return Ok(());
                }
                change_id(name, done.transition, incident.etag.as_deref().unwrap_or_default())
            }
        };
        tracing::warn!(incident = %name, "restoring the missing audit comment of an earlier change");
        // An activation always starts from New, a reopen from Closed; a close from New or Active,
        // no longer known.
        let previous = match done.transition {
            Transition::Activated => Some(IncidentStatus::New),
            Transition::Reopened => Some(IncidentStatus::Closed),
            Transition::Closed => None,
        };
        self.calls.add("comment");
        self.incidents
            .put_comment(
                name,
                &id,
                &policy::audit_comment(done.decision(alerts), previous, alerts),
            )
            .await?;
        self.remember_comment(&id);
        Ok(())
    }
}

/// The report of a change that Sentinel applied.
fn applied(mut report: IncidentReport, change: &Change, after: IncidentStatus) -> IncidentReport {
    report.status_after = Some(after);
    report.action = match change.transition() {
        Transition::Closed => Action::Closed,
        Transition::Activated => Action::Activated,
        Transition::Reopened => Action::Reopened,
    };
    report.reason = ReportReason::of(change.decision);
    report.detail = decision_detail(change.decision);
    report
}

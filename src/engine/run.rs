//! One reconciliation run: the candidate query, then each candidate synced on its own within
//! the run's time budget.

use std::{collections::VecDeque, time::Duration};

use futures::StreamExt;

use super::{
    CONCURRENCY, Candidate, Engine, IncidentReport, MAX_PARTITIONS, MAX_STUCK, RunSummary,
    candidates::{BadRow, LoggedAlert, candidates_from},
    incident::SyncRequest,
    report::{Action, ReportReason, log_report},
    split::Answered,
};
use crate::{
    azure::AzureError,
    domain::AlertState,
    policy::{self, Decision},
    queries::{self, Partition},
};

impl Engine {
    /// One reconciliation of the whole workspace.
    pub async fn reconcile(&self, run_id: String) -> RunSummary {
        let mut summary = RunSummary::start(run_id, self.options.dry_run, self.options.lookback_days);
        let deadline = tokio::time::Instant::now() + self.options.run_budget;
        // Stop starting incidents a little before the deadline, so those in flight can finish
        // instead of being cut off mid-sync.
        let start_cutoff = deadline - (self.options.run_budget / 4).min(Duration::from_secs(30));
        tracing::info!(run_id = %summary.run_id, dry_run = self.options.dry_run, lookback_days = self.options.lookback_days, "run started");
        let rid = summary.run_id.clone();
        let answer = async {
            let run_id = &rid;
            let id = self.workspace_id().await.map_err(|e| {
                tracing::error!(%run_id, error = %e, "run failed: the workspace's id could not be read from its resource; nothing was changed");
                format!("the workspace's id could not be read from its resource (SENTINEL_WORKSPACE_ID does not give it): {e}")
            })?;
            self.query_workspace(id, deadline).await.map_err(|e| {
                tracing::error!(%run_id, error = %e, "run failed: the candidate query did not complete; nothing was changed");
                format!("candidate query failed: {e}")
            })
        };
        let answer = tokio::select! {
            answer = answer => answer,
            () = self.stopping() => {
                tracing::warn!(run_id = %summary.run_id, "run stopped before the candidate query answered: the host is stopping this process (SIGTERM); nothing was changed");
                summary.stopped = true;
                summary.calls = self.calls.take();
                summary.finish();
                return summary;
            }
        };
        let (mut candidates, bad_rows) = match answer {
            Ok(answer) => answer,
            Err(e) => {
                summary.error = Some(e);
                summary.calls = self.calls.take();
                summary.finish();
                return summary;
            }
        };
        for bad in &bad_rows {
            tracing::error!(run_id = %summary.run_id, incident = %bad.incident, error = %bad.error, "incident not synced: its row of the candidate query cannot be read");
        }
        // Backlogs are worked through oldest alert change first, and incidents that stayed as they
        // were after a fresh read (an alert only the REST API shows as New) go last, so a run
        // that stops at its budget has made progress on the others.
        {
            let stuck = super::lock(&self.stuck).clone();
            work_order(&mut candidates, &stuck);
        }
        summary.scanned = candidates.len() + bad_rows.len();
        let run_id = summary.run_id.clone();
        let mut reports = futures::stream::iter(candidates)
            .map(|candidate| {
                let run_id = run_id.clone();
                async move {
                    // A slot of the subscription's incidents in flight, then one of the whole
                    // deployment's (in that order: a subscription waiting on its own slots holds
                    // none of the others'); the budget and stop checks below count from when both
                    // are free. (Never closed.)
                    let _slot = self.sync_slots.acquire().await.ok();
                    let _fleet_slot = self.fleet_slots.acquire().await.ok();
                    if self.is_stopping() {
                        let mut r = IncidentReport::new(&candidate.name, candidate.number);
                        r.action = Action::NotReached;
                        r.reason = ReportReason::Shutdown;
                        r.detail = "the host is stopping this process (SIGTERM); the next run takes it".into();
                        return r;
                    }
                    if tokio::time::Instant::now() >= start_cutoff {
                        let mut r = IncidentReport::new(&candidate.name, candidate.number);
                        r.action = Action::NotReached;
                        r.reason = ReportReason::Budget;
                        r.detail =
                            "the run's time budget (SYNC_RUN_BUDGET_SECONDS) was nearly used up before this incident; the next run takes it".into();
                        return r;
                    }
                    // Started before the cutoff: it has until the end of the budget (its grace:
                    // a quarter of the budget, at most 30 s). Cut there, or by SIGTERM, it is
                    // not a failure: a change may have been written without its comment, which
                    // the next run's repair adds (exactly one: the comment id is the change's).
                    let sync = tokio::time::timeout_at(deadline, self.sync_candidate(&candidate));
                    let report = match self.within_shutdown_grace(sync).await {
                        Some(Ok(r)) => r,
                        Some(Err(_)) => cut(&candidate, ReportReason::Budget, CUT_BY_BUDGET),
                        None => cut(&candidate, ReportReason::Shutdown, CUT_BY_SHUTDOWN),
                    };
                    log_report(&run_id, &report);
                    report
                }
            })
            .buffer_unordered(CONCURRENCY);
        while let Some(report) = reports.next().await {
            summary.record(report);
        }
        drop(reports);
        for bad in bad_rows {
            let mut r = IncidentReport::named(bad.incident, bad.number)
                .failed(format!("its row of the candidate query cannot be read: {}", bad.error));
            r.reason = ReportReason::BadRow;
            summary.record(r);
        }
        summary.stopped = self.is_stopping();
        summary.calls = self.calls.take();
        summary.finish();
        if summary.not_reached > 0 {
            tracing::warn!(run_id = %summary.run_id, remaining = summary.not_reached, stopped = summary.stopped, "run incomplete: incidents left for the next run");
        }
        tracing::info!(
            run_id = %summary.run_id,
            status = %summary.status,
            scanned = summary.scanned,
            changed = summary.changed,
            closed = summary.closed,
            activated = summary.activated,
            reopened = summary.reopened,
            from_xdr = summary.from_xdr,
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
    pub(super) async fn sync_candidate(&self, candidate: &Candidate) -> IncidentReport {
        let seen: Vec<AlertState> = candidate.alerts.iter().filter_map(LoggedAlert::state).collect();
        let all_seen = seen.len() == candidate.alerts.len();
        let snapshot = policy::decide(&candidate.state, &seen, self.options.policy);
        let snapshot_acts = !matches!(snapshot, Decision::Leave(_));
        let report = self.sync_candidate_inner(candidate, seen, all_seen, snapshot).await;
        let mut stuck = super::lock(&self.stuck);
        // The logs said to act, the fresh read said to wait: this one may wait run after run.
        if snapshot_acts && report.action == Action::Unchanged {
            if stuck.len() < MAX_STUCK {
                stuck.insert(candidate.name.to_string());
            }
        } else {
            stuck.remove(candidate.name.as_str());
        }
        drop(stuck);
        report
    }

    async fn sync_candidate_inner(
        &self,
        candidate: &Candidate,
        seen: Vec<AlertState>,
        all_seen: bool,
        snapshot: Decision,
    ) -> IncidentReport {
        // One of this tool's recent changes (the logs may already show it Closed): read it once per
        // process and make sure its audit comment exists, whatever the snapshot says.
        let check = checked_key(&candidate.name, candidate.state.status);
        if candidate.tool_changed_recently && !self.options.dry_run && !self.comment_known(&check) {
            let report = self
                .sync(
                    &candidate.name,
                    SyncRequest {
                        number: candidate.number,
                        known_alerts: all_seen.then(|| seen.clone()),
                        ..SyncRequest::default()
                    },
                )
                .await;
            if report.action != Action::Failed {
                self.remember_comment(&check);
            }
            return report;
        }
        if let Decision::Leave(reason) = snapshot {
            let mut report = IncidentReport::new(&candidate.name, candidate.number);
            report.status_before = Some(candidate.state.status);
            report.alerts = seen;
            report.provider = candidate.provider.as_deref().map(str::to_string);
            return report.left(reason);
        }
        self.sync(
            &candidate.name,
            SyncRequest {
                number: candidate.number,
                known_alerts: all_seen.then_some(seen),
                logged: Some(candidate.state.status),
                write_by: None,
            },
        )
        .await
    }
}

/// Detail of an incident the end of the run's budget cut mid-way.
const CUT_BY_BUDGET: &str = "the run's time budget (SYNC_RUN_BUDGET_SECONDS) ran out while this incident was being synced; its change may have been written without its audit comment: the next run checks it and completes it";
/// Detail of an incident SIGTERM's grace cut mid-way.
const CUT_BY_SHUTDOWN: &str = "the host stopped this process (SIGTERM) while this incident was being synced; its change may have been written without its audit comment: the next run checks it and completes it";

/// The report of a candidate whose sync was cut mid-way: not reached, for `reason`.
fn cut(candidate: &Candidate, reason: ReportReason, detail: &str) -> IncidentReport {
    let mut r = IncidentReport::new(&candidate.name, candidate.number);
    r.action = Action::NotReached;
    r.reason = reason;
    r.detail = detail.into();
    r
}

/// The key under which a process remembers that it checked the audit comment of the tool's
/// change that left `name` in `status`.
pub(crate) fn checked_key(name: &crate::domain::IncidentName, status: crate::domain::IncidentStatus) -> String {
    format!("checked/{name}/{status}")
}

/// The order a run takes candidates in: oldest alert change first, and those left as they were
/// by an earlier fresh read (`stuck`) after all the others.
pub(crate) fn work_order(candidates: &mut [Candidate], stuck: &std::collections::HashSet<String>) {
    candidates.sort_by_cached_key(|c| (stuck.contains(c.name.as_str()), c.last_alert_change, c.number));
}

impl Engine {
    /// Queries every partition of the workspace: first the split the last runs needed (the
    /// whole workspace at first), then, for each part whose answer came back truncated
    /// (`E_QUERY_RESULT_SET_TOO_LARGE`), its two halves. Nothing is decided from a truncated
    /// answer; the run fails only if a part cannot be split further. The next run's split is
    /// learned from the answers ([`super::split`]).
    async fn query_workspace(
        &self,
        workspace_id: &crate::domain::WorkspaceGuid,
        deadline: tokio::time::Instant,
    ) -> Result<(Vec<Candidate>, Vec<BadRow>), AzureError> {
        let start = *super::lock(&self.split);
        let count = start.count.max(1);
        let mut pending: VecDeque<Partition> = (0..count).map(|index| Partition { count, index }).collect();
        let (mut candidates, mut bad_rows) = (Vec::new(), Vec::new());
        let mut answered = Answered {
            count,
            grew: false,
            rows: 0,
        };
        while let Some(part) = pending.pop_front() {
            let query = queries::sync_candidates(
                self.options.lookback_days,
                part,
                self.options.policy.reopen_on_reactivation,
            );
            self.calls.add("query");
            // The query client bounds the query by the time left in the run.
            let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.logs.query(workspace_id, &query, remaining).await {
                // The documented 204 of a workspace with no data: no candidates.
                Ok(None) => {}
                Ok(Some(table)) => {
                    let started = std::time::Instant::now();
                    let rows = table.rows.len();
                    answered.rows += rows;
                    let (c, b) = candidates_from(table)?;
                    tracing::info!(partition = %part, rows, candidates = c.len(), unreadable = b.len(), decode_ms = started.elapsed().as_millis() as u64, "candidates decoded");
                    candidates.extend(c);
                    bad_rows.extend(b);
                }
                Err(e) if e.is_result_too_large() => {
                    let Some(halves) = part.halves().filter(|h| h[0].count <= MAX_PARTITIONS) else {
                        return Err(e);
                    };
                    tracing::warn!(partition = %part, parts = halves[0].count, "the candidate query's answer was too large and was cut by Log Analytics; nothing is decided from it, its two halves are queried instead");
                    answered.grew = true;
                    answered.count = answered.count.max(halves[0].count);
                    // Kept at once, even if the run fails before its queries end.
                    let mut split = super::lock(&self.split);
                    split.count = split.count.max(answered.count);
                    pending.extend(halves);
                }
                Err(e) => return Err(e),
            }
        }
        let next = start.after(answered);
        if next.count < start.count {
            tracing::info!(
                rows = answered.rows,
                parts = next.count,
                "the candidate query's answers are small again: the next run queries the workspace in fewer parts"
            );
        }
        *super::lock(&self.split) = next;
        Ok((candidates, bad_rows))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        domain::{IncidentName, IncidentStatus},
        policy::IncidentState,
    };

    fn candidate(name: &str, days_ago: i64) -> Candidate {
        Candidate {
            name: IncidentName::parse(name).unwrap(),
            number: None,
            state: IncidentState {
                status: IncidentStatus::New,
                has_owner: false,
                labels: vec![],
                closed_by_tool: false,
            },
            provider: None,
            tool_changed_recently: false,
            alerts: vec![],
            last_alert_change: Some(chrono::Utc::now() - chrono::Duration::days(days_ago)),
        }
    }

    #[test]
    fn oldest_alert_change_first_and_stuck_ones_last() {
        let mut c = vec![
            candidate("b", 2),
            candidate("stuck", 9),
            candidate("a", 5),
            candidate("c", 1),
        ];
        work_order(&mut c, &Default::default());
        let names: Vec<&str> = c.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["stuck", "a", "b", "c"]);
        let stuck = ["stuck".to_owned()].into_iter().collect();
        work_order(&mut c, &stuck);
        let names: Vec<&str> = c.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c", "stuck"]);
    }
}

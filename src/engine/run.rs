//! One reconciliation run: the candidate query, then each candidate synced on its own within
//! the run's time budget.

use std::time::Duration;

use futures::StreamExt;

use super::{
    CONCURRENCY, Candidate, Engine, IncidentReport, RunSummary, candidates_from,
    report::{Action, log_report},
};
use crate::{
    azure::AzureError,
    policy::{self, AlertState, Decision},
    queries,
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
        let query = queries::sync_candidates(self.options.lookback_days);
        self.calls.add("query");
        let answer = tokio::select! {
            answer = tokio::time::timeout_at(deadline, self.logs.query(&query)) => match answer {
                Ok(answer) => answer,
                Err(_) => Err(AzureError::Transport {
                    service: "Log Analytics",
                    message: "no answer within the run's time budget (SYNC_RUN_BUDGET_SECONDS)".into(),
                }),
            },
            () = self.stopping() => {
                tracing::warn!(run_id = %summary.run_id, "run stopped before the candidate query answered: the host is stopping this process (SIGTERM); nothing was changed");
                summary.stopped = true;
                summary.calls = self.calls.take();
                summary.finish();
                return summary;
            }
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
                    if self.is_stopping() {
                        let mut r = IncidentReport::new(&candidate.name, candidate.number);
                        r.action = Action::NotReached;
                        r.reason = "shutdown".into();
                        r.detail = "the host is stopping this process (SIGTERM); the next run takes it".into();
                        return r;
                    }
                    if tokio::time::Instant::now() >= start_cutoff {
                        let mut r = IncidentReport::new(&candidate.name, candidate.number);
                        r.action = Action::NotReached;
                        r.reason = "budget".into();
                        r.detail =
                            "the run's time budget (SYNC_RUN_BUDGET_SECONDS) was nearly used up before this incident; the next run takes it".into();
                        return r;
                    }
                    let sync = tokio::time::timeout_at(deadline, self.sync_candidate(&candidate));
                    let report = match self.within_shutdown_grace(sync).await {
                        Some(Ok(r)) => r,
                        Some(Err(_)) => IncidentReport::new(&candidate.name, candidate.number).failed(
                            "the run's time budget (SYNC_RUN_BUDGET_SECONDS) ran out while syncing this incident",
                        ),
                        None => IncidentReport::new(&candidate.name, candidate.number).failed(
                            "the host stopped this process (SIGTERM) while this incident was being synced; the next run checks it",
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
        let all_seen = seen.len() == candidate.alerts.len();
        // One of this tool's recent changes (the logs may already show it Closed): read it once per
        // process and make sure its audit comment exists, whatever the snapshot says.
        let check = format!("checked/{}/{}", candidate.name, candidate.state.status);
        if candidate.tool_changed_recently && !self.options.dry_run && !self.comment_known(&check) {
            let report = self
                .sync(
                    &candidate.name,
                    candidate.number,
                    all_seen.then(|| seen.clone()),
                    None,
                    None,
                )
                .await;
            if report.action != Action::Failed {
                self.remember_comment(&check);
            }
            return report;
        }
        if let Decision::Leave(reason) = policy::decide(&candidate.state, &seen, self.options.policy) {
            let mut report = IncidentReport::new(&candidate.name, candidate.number);
            report.status_before = Some(candidate.state.status);
            report.alerts = seen;
            return report.left(reason);
        }
        self.sync(
            &candidate.name,
            candidate.number,
            if all_seen { Some(seen) } else { None },
            Some(candidate.state.status),
            None,
        )
        .await
    }
}

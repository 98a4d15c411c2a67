//! One incident synced because a caller asked (the webhook, the CLI's `--incident`), and, for
//! the webhook, within the caller's deadline.

use std::sync::Arc;

use tokio::time::Instant;

use super::{
    CallCounter, Engine,
    incident::SyncRequest,
    report::{Action, IncidentReport, ReportReason},
};
use crate::domain::IncidentName;

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

/// A sync that did not end by its deadline (or was cut by the host stopping the process), with
/// what it may have left behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Late {
    /// No write was sent: the incident is as it was.
    NothingWritten,
    /// The status write was sent: it may have been applied without its audit comment, which the
    /// next call or timer run adds (the comment id is the change's, so there is only ever one).
    MayHaveWritten,
}

impl Engine {
    /// Syncs one incident by name, reading its alerts fresh from the REST API (the CLI path).
    pub async fn sync_one(&self, name: &IncidentName) -> SingleOutcome {
        outcome(self.sync(name, SyncRequest::default()).await)
    }

    /// Syncs one incident for a caller who started waiting at `started` and is answered by
    /// `deadline` (the webhook path): no write starts after 60 % of that time, and the sync is cut
    /// at `deadline`. When the host stops the process, it gets [`super::SHUTDOWN_GRACE`].
    ///
    /// The caller's calls go ahead of a timer run's in the pacer, and are counted apart from the
    /// run's calls.
    pub async fn sync_one_within(
        &self,
        name: &IncidentName,
        started: Instant,
        deadline: Instant,
    ) -> Result<SingleOutcome, Late> {
        let write_by = started + deadline.saturating_duration_since(started).mul_f64(0.6);
        let calls = Arc::new(CallCounter::default());
        let engine = Self {
            incidents: self.incidents.interactive(),
            calls: calls.clone(),
            ..self.clone()
        };
        let sync = tokio::time::timeout_at(
            deadline,
            engine.sync(
                name,
                SyncRequest {
                    write_by: Some(write_by),
                    ..SyncRequest::default()
                },
            ),
        );
        // A write is counted just before it is sent.
        let late = || {
            if calls.counted(&["put", "comment"]) {
                Late::MayHaveWritten
            } else {
                Late::NothingWritten
            }
        };
        match self.within_shutdown_grace(sync).await {
            Some(Ok(report)) if report.reason == ReportReason::Timeout => Err(Late::NothingWritten),
            Some(Ok(report)) => Ok(outcome(report)),
            Some(Err(_)) | None => Err(late()),
        }
    }
}

fn outcome(report: IncidentReport) -> SingleOutcome {
    if report.action == Action::Failed {
        if report.reason == ReportReason::NotFound {
            return SingleOutcome::NotFound;
        }
        return SingleOutcome::Failed(report);
    }
    SingleOutcome::Done(report)
}

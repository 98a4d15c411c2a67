//! The outcomes a report and a run carry, as types: why an incident's action was taken, and how
//! a run ended. Each serializes as the code the summary, the log lines and the webhook reply use.

use serde::Serialize;

use crate::policy::{CloseCause, Decision, Reason};

/// Why a report's action was taken: the policy's decision, or what stopped the sync. Serialized
/// as its [`code`](Self::code), the `reason` of reports and the keys of `skipped`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReportReason {
    /// Only while a report is being built; every finished report has another reason.
    Undecided,
    /// Closed (or would be): every alert Resolved, or Resolved and Dismissed.
    AlertsResolved,
    /// Closed (or would be): every alert Dismissed.
    AlertsDismissed,
    /// Set Active (or would be): an alert is In progress.
    AlertsInProgress,
    /// Set Active again (or would be): a Defender for Cloud alert of an incident this tool
    /// closed is open again.
    AlertReactivated,
    /// Left as it is, for this policy reason.
    Left(Reason),
    /// Azure answered with an error, or the incident could not be read or written.
    Error,
    /// The incident does not exist in the workspace.
    NotFound,
    /// Too late to write the change within the caller's timeout; nothing was written.
    Timeout,
    /// The status was written but the audit comment was not.
    CommentFailed,
    /// Not started, or cut mid-way: the host is stopping the process.
    Shutdown,
    /// Not started (the run's time budget was nearly used up), or cut mid-way (it ran out).
    Budget,
    /// The incident's row of the candidate query cannot be read.
    BadRow,
}

impl ReportReason {
    /// The stable code in summaries, log lines and webhook replies.
    pub fn code(self) -> &'static str {
        match self {
            Self::Undecided => "",
            Self::AlertsResolved => "alerts-resolved",
            Self::AlertsDismissed => "alerts-dismissed",
            Self::AlertsInProgress => "alerts-in-progress",
            Self::AlertReactivated => "alert-reactivated",
            Self::Left(reason) => reason.code(),
            Self::Error => "error",
            Self::NotFound => "not-found",
            Self::Timeout => "timeout",
            Self::CommentFailed => "comment-failed",
            Self::Shutdown => "shutdown",
            Self::Budget => "budget",
            Self::BadRow => "bad-row",
        }
    }

    /// The reason of a decision.
    pub fn of(decision: Decision) -> Self {
        match decision {
            Decision::Close(c) if c.cause == CloseCause::AllDismissed => Self::AlertsDismissed,
            Decision::Close(_) => Self::AlertsResolved,
            Decision::Activate => Self::AlertsInProgress,
            Decision::Reopen => Self::AlertReactivated,
            Decision::Leave(r) => Self::Left(r),
        }
    }
}

impl std::fmt::Display for ReportReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

impl Serialize for ReportReason {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code())
    }
}

/// Ordered by code, so `skipped` lists its reasons alphabetically.
impl Ord for ReportReason {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.code().cmp(other.code())
    }
}

impl PartialOrd for ReportReason {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// How a run (or a run over several workspaces) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Every candidate was looked at and nothing failed.
    Succeeded,
    /// The query, the workspace id, or some incident failed.
    Failed,
    /// Nothing failed, but the run stopped early (time budget, SIGTERM): the next run takes the
    /// rest.
    Incomplete,
}

impl RunStatus {
    /// The summary's word for this status.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Incomplete => "incomplete",
        }
    }
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

//! The run over several workspaces: a section per workspace (its own [`RunSummary`]), the
//! totals, and the log lines (one per workspace, then one for the whole run). With one workspace
//! the run is that workspace's summary.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::engine::{self, RunStatus, RunSummary};

/// One workspace's part of a run.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceRun {
    /// The workspace's ARM id.
    pub workspace: String,
    /// Its short name in log lines.
    pub label: String,
    /// What the run did there.
    #[serde(flatten)]
    pub summary: RunSummary,
}

/// The counts of every workspace added up.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    /// Candidate incidents.
    pub scanned: usize,
    /// Changed (or would be, in a dry run).
    pub changed: usize,
    /// Closed.
    pub closed: usize,
    /// Set Active.
    pub activated: usize,
    /// Set Active again after this tool had closed them.
    pub reopened: usize,
    /// Left as they are.
    pub unchanged: usize,
    /// Failed incidents.
    pub failed: usize,
    /// Not started (budget, shutdown).
    pub not_reached: usize,
    /// Of the provider `Microsoft XDR`.
    pub from_xdr: usize,
    /// Calls by kind.
    pub calls: BTreeMap<String, usize>,
}

/// One run over every configured workspace.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FleetRun {
    /// The run id (the invocation id), shared by every workspace's part.
    pub run_id: String,
    /// When the run started.
    pub started_at: DateTime<Utc>,
    /// Milliseconds the whole run took.
    pub duration_ms: u64,
    /// Dry run?
    pub dry_run: bool,
    /// `failed` when any workspace failed, else `incomplete` when any stopped early, else
    /// `succeeded`.
    pub status: RunStatus,
    /// The labels of the workspaces whose part failed.
    pub failed_workspaces: Vec<String>,
    /// Every workspace's counts added up.
    pub totals: Totals,
    /// Each workspace's part, in the settings' order.
    pub workspaces: Vec<WorkspaceRun>,
}

impl FleetRun {
    pub(crate) fn new(
        run_id: String,
        started_at: DateTime<Utc>,
        took: std::time::Duration,
        workspaces: Vec<WorkspaceRun>,
    ) -> Self {
        let mut totals = Totals::default();
        for run in &workspaces {
            let s = &run.summary;
            totals.scanned += s.scanned;
            totals.changed += s.changed;
            totals.closed += s.closed;
            totals.activated += s.activated;
            totals.reopened += s.reopened;
            totals.unchanged += s.unchanged;
            totals.failed += s.failed;
            totals.not_reached += s.not_reached;
            totals.from_xdr += s.from_xdr;
            for (kind, n) in &s.calls {
                *totals.calls.entry(kind.clone()).or_default() += n;
            }
        }
        let failed_workspaces: Vec<String> = workspaces
            .iter()
            .filter(|r| r.summary.is_failure())
            .map(|r| r.label.clone())
            .collect();
        let status = if !failed_workspaces.is_empty() {
            RunStatus::Failed
        } else if workspaces.iter().any(|r| r.summary.status == RunStatus::Incomplete) {
            RunStatus::Incomplete
        } else {
            RunStatus::Succeeded
        };
        Self {
            run_id,
            started_at,
            duration_ms: took.as_millis() as u64,
            dry_run: workspaces.first().is_some_and(|r| r.summary.dry_run),
            status,
            failed_workspaces,
            totals,
            workspaces,
        }
    }

    /// Did any workspace's part fail? The others were synced all the same.
    pub fn is_failure(&self) -> bool {
        !self.failed_workspaces.is_empty()
    }

    /// The one workspace's summary, when the run had one workspace.
    pub fn single(&self) -> Option<&RunSummary> {
        match self.workspaces.as_slice() {
            [only] => Some(&only.summary),
            _ => None,
        }
    }

    /// The invocation's return value: the one workspace's summary, or this
    /// whole run with a section per workspace.
    pub fn to_value(&self) -> Value {
        match self.single() {
            Some(summary) => serde_json::to_value(summary),
            None => serde_json::to_value(self),
        }
        .unwrap_or(Value::Null)
    }

    /// The log lines: with one workspace, exactly [`engine::summary_lines`]; with several, each
    /// workspace's lines prefixed with `workspace <label>:`, then one line for the whole run.
    pub fn lines(&self) -> Vec<String> {
        if let Some(summary) = self.single() {
            return engine::summary_lines(summary);
        }
        let mut lines = Vec::new();
        for run in &self.workspaces {
            lines.extend(engine::summary_lines_with(
                &run.summary,
                &format!("SyncTimer: workspace {}: ", run.label),
            ));
        }
        lines.push(self.totals_line());
        lines
    }

    /// `SyncTimer: run <id> <status>: N workspaces (…), totals …`.
    pub fn totals_line(&self) -> String {
        let t = &self.totals;
        let failed = if self.failed_workspaces.is_empty() {
            String::new()
        } else {
            format!(
                ", {} failed: {}",
                self.failed_workspaces.len(),
                self.failed_workspaces.join(", ")
            )
        };
        let (xdr, reopened) = engine::rare_counts(t.from_xdr, t.reopened);
        format!(
            "SyncTimer: run {} {}: {} workspaces{failed}; in all {} candidates{xdr}, {} {} ({} closed, {} activated{reopened}), {} unchanged, {} failed, {} not reached, {} ms",
            self.run_id,
            self.status,
            self.workspaces.len(),
            t.scanned,
            t.changed,
            if self.dry_run { "would change" } else { "changed" },
            t.closed,
            t.activated,
            t.unchanged,
            t.failed,
            t.not_reached,
            self.duration_ms
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(label: &str, scanned: usize, closed: usize, error: Option<&str>) -> WorkspaceRun {
        let mut summary = RunSummary::start("r1".into(), false, 30);
        summary.scanned = scanned;
        summary.closed = closed;
        summary.changed = closed;
        summary.unchanged = scanned - closed;
        summary.error = error.map(str::to_owned);
        summary.calls.insert("query".into(), 1);
        summary.finish();
        WorkspaceRun {
            workspace: format!(
                "/subscriptions/x/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/{label}"
            ),
            label: label.into(),
            summary,
        }
    }

    #[test]
    fn one_workspace_is_its_own_summary_and_several_add_up() {
        let one = FleetRun::new(
            "r1".into(),
            Utc::now(),
            std::time::Duration::from_millis(5),
            vec![part("a", 3, 1, None)],
        );
        assert_eq!(one.to_value()["scanned"], 3);
        assert!(one.to_value().get("workspaces").is_none(), "the one-workspace shape");
        assert_eq!(one.lines(), engine::summary_lines(one.single().unwrap()));

        let two = FleetRun::new(
            "r1".into(),
            Utc::now(),
            std::time::Duration::from_millis(5),
            vec![
                part("a", 3, 1, None),
                part("b", 0, 0, Some("candidate query failed: 403")),
            ],
        );
        assert!(two.is_failure());
        assert_eq!(two.status, RunStatus::Failed);
        let v = two.to_value();
        assert_eq!(v["totals"]["scanned"], 3);
        assert_eq!(v["totals"]["calls"]["query"], 2);
        assert_eq!(v["failedWorkspaces"], serde_json::json!(["b"]));
        assert_eq!(v["workspaces"][1]["error"], "candidate query failed: 403");
        assert_eq!(v["workspaces"][0]["label"], "a");
        let lines = two.lines();
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("SyncTimer: workspace a: run r1 succeeded: 3 candidates")),
            "{lines:#?}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("SyncTimer: workspace b: run r1 failed: candidate query failed: 403")),
            "{lines:#?}"
        );
        assert!(
            lines.last().unwrap().starts_with("SyncTimer: run r1 failed: 2 workspaces, 1 failed: b; in all 3 candidates, 1 changed (1 closed, 0 activated), 2 unchanged, 0 failed"),
            "{lines:#?}"
        );
    }
}

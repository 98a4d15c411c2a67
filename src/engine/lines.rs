//! The run summary and the incident reports as text: the lines of the timer's `Logs` list (which
//! the host records as traces of the invocation) and of the CLI's output.

use super::{Action, IncidentReport, RunSummary};

/// The run summary as log lines: one per changed or failed incident, then the totals.
pub fn summary_lines(summary: &RunSummary) -> Vec<String> {
    summary_lines_with(summary, "SyncTimer: ")
}

/// The same lines, each starting with `prefix` (`SyncTimer: workspace <label>: ` with several
/// workspaces).
pub fn summary_lines_with(summary: &RunSummary, prefix: &str) -> Vec<String> {
    let mut lines: Vec<String> = summary
        .incidents
        .iter()
        .filter(|r| r.action != Action::Unchanged)
        .map(|r| format!("{prefix}{}", report_line(r)))
        .collect();
    if let Some(error) = &summary.error {
        lines.push(format!("{prefix}run {} failed: {error}", summary.run_id));
    }
    let skipped: Vec<String> = summary.skipped.iter().map(|(k, v)| format!("{k} {v}")).collect();
    let (xdr, reopened) = rare_counts(summary.from_xdr, summary.reopened);
    lines.push(format!(
        "{prefix}run {} {}: {} candidates{xdr}, {} {} ({} closed, {} activated{reopened}), {} unchanged{}, {} failed, {} not reached, {} ms",
        summary.run_id,
        summary.status,
        summary.scanned,
        summary.changed,
        if summary.dry_run { "would change" } else { "changed" },
        summary.closed,
        summary.activated,
        summary.unchanged,
        if skipped.is_empty() { String::new() } else { format!(" [{}]", skipped.join(", ")) },
        summary.failed,
        summary.not_reached,
        summary.duration_ms
    ));
    lines
}

/// The parts of a totals line for counts that are zero unless the Defender portal or an option
/// is in play (` (N from Microsoft XDR)`, `, N reopened`); empty when zero, so they stay out.
pub fn rare_counts(from_xdr: usize, reopened: usize) -> (String, String) {
    let xdr = if from_xdr > 0 {
        format!(" ({from_xdr} from Microsoft XDR)")
    } else {
        String::new()
    };
    let reopened = if reopened > 0 {
        format!(", {reopened} reopened")
    } else {
        String::new()
    };
    (xdr, reopened)
}

/// One line about one incident.
pub fn report_line(r: &IncidentReport) -> String {
    let before = r.status_before.map(|s| s.as_str()).unwrap_or("?");
    let after = r.status_after.map(|s| s.as_str()).unwrap_or("?");
    let number = r.incident_number.map(|n| format!("#{n} ")).unwrap_or_default();
    format!(
        "incident {number}({}) {}: {before} → {after} ({}: {})",
        r.incident,
        r.action.as_str(),
        r.reason,
        r.detail
    )
}

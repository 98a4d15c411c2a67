//! The KQL the tool sends, embedded from `src/queries/*.kql` so the text tested is the text sent.

/// Body of the candidate query; see the file for what it returns.
pub const SYNC_CANDIDATES: &str = include_str!("queries/sync_candidates.kql");

/// The candidate query's result columns with their Log Analytics types, in query order: what
/// the decoder (`engine::candidates_from`) reads, and what the Kusto.Language check must find.
pub const SYNC_CANDIDATE_COLUMNS: [(&str, &str); 10] = [
    ("IncidentName", "string"),
    ("IncidentNumber", "int"),
    ("IncidentStatus", "string"),
    ("Owner", "dynamic"),
    ("Labels", "dynamic"),
    ("ToolChangedRecently", "bool"),
    ("SystemAlertId", "string"),
    ("AlertStatus", "string"),
    ("AlertProductName", "string"),
    ("AlertTimeGenerated", "datetime"),
];

/// The full candidate query for a lookback window of `lookback_days` days. The window is the
/// only parameter and is declared on the first line, which the simulator and the offline KQL
/// engines rely on.
pub fn sync_candidates(lookback_days: u32) -> String {
    format!("let lookback = {lookback_days}d;\n{SYNC_CANDIDATES}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn window_is_declared_on_the_first_line_and_bounds_the_alert_scan() {
        let q = super::sync_candidates(7);
        assert!(q.starts_with("let lookback = 7d;\n"));
        assert!(q.contains("SecurityAlert\n    | where TimeGenerated > ago(lookback)"));
        // Output columns the decoder reads by name.
        for column in [
            "IncidentName",
            "IncidentNumber",
            "IncidentStatus",
            "Owner",
            "Labels",
            "SystemAlertId",
            "AlertStatus",
            "AlertProductName",
        ] {
            assert!(q.contains(column), "{column}");
        }
    }
}

//! The one KQL query the product sends, recognised by its exact text and answered by evaluating its
//! meaning in Rust over the visible table rows. Anything else is a syntax error, so a product change
//! to the query fails loudly in tests instead of silently getting canned answers.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::tables::{AlertRow, IncidentRow, Tables, labels_value};
use crate::timefmt;

/// Text of the product's query, after its `let lookback = <N>d;` line.
pub(crate) const SYNC_QUERY: &str = include_str!("../../../src/queries/sync_candidates.kql");

/// Product names the query treats as Defender for Cloud (`dfcProducts`).
const DFC_PRODUCTS: [&str; 2] = ["Azure Security Center", "Microsoft Defender for Cloud"];

/// Output columns with their Log Analytics types, in query order.
const COLUMNS: [(&str, &str); 10] = [
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

/// Returns the lookback in days if `text` is exactly `let lookback = <N>d;\n` + the product query.
pub(crate) fn recognise(text: &str) -> Option<u64> {
    let (first, rest) = text.split_once('\n')?;
    if rest != SYNC_QUERY {
        return None;
    }
    let digits = first.strip_prefix("let lookback = ")?.strip_suffix("d;")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u64>().ok().filter(|&n| n > 0)
}

/// One output row (one open incident × one of its alerts).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CandidateRow {
    /// IncidentName.
    pub incident_name: String,
    /// IncidentNumber.
    pub incident_number: i64,
    /// IncidentStatus (latest incident row's Status).
    pub incident_status: String,
    /// Owner dynamic value.
    pub owner: Value,
    /// Labels dynamic value.
    pub labels: Value,
    /// Latest row carries one of the tool's labels (`has`) and LastModifiedTime is inside the
    /// repair window.
    pub tool_changed_recently: bool,
    /// SystemAlertId from the incident's AlertIds.
    pub system_alert_id: String,
    /// Latest alert Status inside the window; "" when none (leftouter).
    pub alert_status: String,
    /// Latest alert ProductName inside the window; "" when none.
    pub alert_product_name: String,
    /// TimeGenerated of that alert row; null when none.
    pub alert_time_generated: Option<DateTime<Utc>>,
}

/// `repairWindow` of the query.
const REPAIR_WINDOW: chrono::TimeDelta = chrono::TimeDelta::hours(2);

/// Kusto's `has` for a phrase: the text's terms (runs of letters and digits, case-insensitive)
/// contain the phrase's terms consecutively.
fn has(text: &str, phrase: &str) -> bool {
    fn terms(s: &str) -> Vec<String> {
        s.split(|c: char| !c.is_alphanumeric())
            .filter(|t| !t.is_empty())
            .map(str::to_lowercase)
            .collect()
    }
    let (text, phrase) = (terms(text), terms(phrase));
    !phrase.is_empty() && text.windows(phrase.len()).any(|w| w == phrase.as_slice())
}

/// Keeps, per key, the row with the greatest TimeGenerated (`summarize arg_max(...) by key`).
fn latest_by<'a, R>(
    rows: impl Iterator<Item = &'a R>,
    key: impl Fn(&R) -> &str,
    time: impl Fn(&R) -> DateTime<Utc>,
) -> HashMap<String, &'a R>
where
    R: 'a,
{
    let mut latest: HashMap<String, &R> = HashMap::new();
    for row in rows {
        match latest.get(key(row)) {
            Some(seen) if time(seen) > time(row) => {}
            _ => {
                latest.insert(key(row).to_string(), row);
            }
        }
    }
    latest
}

/// Evaluates the query at `now` over the rows ingested by then.
pub(crate) fn evaluate(
    tables: &Tables,
    now: DateTime<Utc>,
    ingestion_delay: std::time::Duration,
    lookback_days: u64,
) -> Vec<CandidateRow> {
    // `where TimeGenerated > ago(lookback)`; a window too large to represent has no lower bound.
    let window_start = i64::try_from(lookback_days)
        .ok()
        .and_then(chrono::TimeDelta::try_days)
        .and_then(|d| now.checked_sub_signed(d));
    let changed_alerts = latest_by(
        tables.alerts.iter().filter(|r: &&AlertRow| {
            r.visible(now, ingestion_delay) && window_start.is_none_or(|start| r.time_generated > start)
        }),
        |r| &r.system_alert_id,
        |r| r.time_generated,
    );
    let latest_incidents = latest_by(
        tables
            .incidents
            .iter()
            .filter(|r: &&IncidentRow| r.visible(now, ingestion_delay)),
        |r| &r.incident_name,
        |r| r.time_generated,
    );
    let mut open_incident_alerts = Vec::new();
    let repair_start = now - REPAIR_WINDOW;
    for inc in latest_incidents.values() {
        let labels = labels_value(&inc.labels).to_string();
        let tool_changed_recently = inc.last_modified_time > repair_start
            && (has(&labels, "dfc-sync-closed") || has(&labels, "dfc-sync-activated"));
        if inc.status == "Closed" && !tool_changed_recently {
            continue;
        }
        for alert_id in &inc.alert_ids {
            let alert = changed_alerts.get(alert_id.as_str());
            open_incident_alerts.push(CandidateRow {
                incident_name: inc.incident_name.clone(),
                incident_number: inc.incident_number,
                incident_status: inc.status.clone(),
                owner: inc.owner.column_value(),
                labels: labels_value(&inc.labels),
                tool_changed_recently,
                system_alert_id: alert_id.clone(),
                alert_status: alert.map(|a| a.status.clone()).unwrap_or_default(),
                alert_product_name: alert.map(|a| a.product_name.clone()).unwrap_or_default(),
                alert_time_generated: alert.map(|a| a.time_generated),
            });
        }
    }
    let candidates: HashSet<String> = open_incident_alerts
        .iter()
        .filter(|r| DFC_PRODUCTS.contains(&r.alert_product_name.as_str()))
        .map(|r| r.incident_name.clone())
        .collect();
    open_incident_alerts.retain(|r| candidates.contains(&r.incident_name));
    open_incident_alerts
}

/// Encodes rows as the v1 query response: typed JSON values, dynamic columns as JSON text.
pub(crate) fn encode(rows: &[CandidateRow]) -> Value {
    let columns: Vec<Value> = COLUMNS
        .iter()
        .map(|(name, ty)| json!({"name": name, "type": ty}))
        .collect();
    let rows: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!([
                r.incident_name,
                r.incident_number,
                r.incident_status,
                r.owner.to_string(),
                r.labels.to_string(),
                r.tool_changed_recently,
                r.system_alert_id,
                r.alert_status,
                r.alert_product_name,
                r.alert_time_generated.map(timefmt::format),
            ])
        })
        .collect();
    json!({"tables": [{"name": "PrimaryResult", "columns": columns, "rows": rows}]})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn has_matches_whole_terms_like_kusto() {
        let labels = r#"[{"labelName":"dfc-sync-closed","labelType":"User"}]"#;
        assert!(has(labels, "dfc-sync-closed"));
        assert!(has(&labels.to_uppercase(), "dfc-sync-closed"));
        assert!(!has(labels, "dfc-sync-activated"));
        assert!(!has(r#"[{"labelName":"xdfc-sync-closed"}]"#, "dfc-sync-closed"));
        assert!(has(r#"[{"labelName":"my dfc sync closed"}]"#, "dfc-sync-closed"));
    }

    #[test]
    fn recognises_only_the_exact_query() {
        assert_eq!(recognise(&format!("let lookback = 7d;\n{SYNC_QUERY}")), Some(7));
        assert_eq!(recognise(&format!("let lookback = 30d;\n{SYNC_QUERY}")), Some(30));
        assert_eq!(recognise(&format!("let lookback = 0d;\n{SYNC_QUERY}")), None);
        assert_eq!(recognise(&format!("let lookback = -1d;\n{SYNC_QUERY}")), None);
        assert_eq!(recognise(&format!("let lookback = 7h;\n{SYNC_QUERY}")), None);
        assert_eq!(recognise(&format!("let lookback = 7d;\n{SYNC_QUERY} ")), None);
        assert_eq!(recognise(SYNC_QUERY), None);
        assert_eq!(recognise("SecurityIncident | take 1"), None);
    }
}

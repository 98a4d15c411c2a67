//! The one KQL query the product sends, recognised by its exact text and answered by evaluating its
//! meaning in Rust over the visible table rows. Anything else is a syntax error, so a product change
//! to the query fails loudly in tests instead of silently getting canned answers.
//!
//! The query's meaning, as implemented here (and checked against duckdb-kql by the product's KQL
//! tests): the latest SecurityIncident row per incident of the partition
//! (`IncidentNumber % partitions == partition`), kept when it is not Closed, or carries one of the
//! tool's labels and changed within the repair window, or (with `reopenClosed`) is Closed with
//! the tool's close label and holds a Defender for Cloud alert whose latest row inside the
//! window is New or InProgress; its alerts joined with the latest SecurityAlert row inside the
//! lookback window; one row per incident holding at least one Defender for Cloud alert seen
//! inside the window, with its ProviderName.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::tables::{AlertRow, IncidentRow, Tables};
use crate::timefmt;

/// Text of the product's query, after its four `let` lines.
pub(crate) const SYNC_QUERY: &str = include_str!("../../../src/queries/sync_candidates.kql");

/// Product names the query treats as Defender for Cloud (`dfcProducts`).
const DFC_PRODUCTS: [&str; 2] = ["Azure Security Center", "Microsoft Defender for Cloud"];

/// `repairWindow` of the query.
const REPAIR_WINDOW: chrono::TimeDelta = chrono::TimeDelta::hours(2);

/// Output columns with their Log Analytics types, in query order.
const COLUMNS: [(&str, &str); 10] = [
    ("IncidentName", "string"),
    ("IncidentNumber", "int"),
    ("IncidentStatus", "string"),
    ("HasOwner", "bool"),
    ("ClosedLabel", "bool"),
    ("ActivatedLabel", "bool"),
    ("ToolChangedRecently", "bool"),
    ("Alerts", "dynamic"),
    ("LastAlertChange", "datetime"),
    ("ProviderName", "string"),
];

/// The parameters the product declares before the query text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Params {
    /// `let lookback = <N>d;`
    pub lookback_days: u64,
    /// `let partitions = <P>;` (at least 1)
    pub partitions: i64,
    /// `let partition = <K>;`
    pub partition: i64,
    /// `let reopenClosed = <true|false>;`
    pub reopen_closed: bool,
}

/// The parameters if `text` is exactly the four `let` lines followed by the product query.
pub(crate) fn recognise(text: &str) -> Option<Params> {
    let mut lines = text.splitn(5, '\n');
    let (lookback, partitions, partition, reopen, rest) =
        (lines.next()?, lines.next()?, lines.next()?, lines.next()?, lines.next()?);
    if rest != SYNC_QUERY {
        return None;
    }
    let number = |line: &str, prefix: &str, suffix: &str| -> Option<u64> {
        let digits = line.strip_prefix(prefix)?.strip_suffix(suffix)?;
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok()
    };
    let lookback_days = number(lookback, "let lookback = ", "d;").filter(|&n| n > 0)?;
    let partitions = number(partitions, "let partitions = ", ";").filter(|&n| n > 0)?;
    let partition = number(partition, "let partition = ", ";")?;
    let reopen_closed = match reopen {
        "let reopenClosed = true;" => true,
        "let reopenClosed = false;" => false,
        _ => return None,
    };
    Some(Params {
        lookback_days,
        partitions: i64::try_from(partitions).ok()?,
        partition: i64::try_from(partition).ok()?,
        reopen_closed,
    })
}

/// One output row: one incident.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CandidateRow {
    /// IncidentName.
    pub incident_name: String,
    /// IncidentNumber.
    pub incident_number: i64,
    /// IncidentStatus (latest incident row's Status).
    pub incident_status: String,
    /// Any owner field set.
    pub has_owner: bool,
    /// Carries a label named exactly `dfc-sync-closed`.
    pub closed_label: bool,
    /// Carries a label named exactly `dfc-sync-activated`.
    pub activated_label: bool,
    /// One of those labels, and LastModifiedTime inside the repair window.
    pub tool_changed_recently: bool,
    /// `[SystemAlertId, latest Status inside the window or "", its ProductName or ""]` per alert.
    pub alerts: Vec<[String; 3]>,
    /// Newest TimeGenerated of those alert rows.
    pub last_alert_change: Option<DateTime<Utc>>,
    /// ProviderName of the latest incident row.
    pub provider_name: String,
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
    params: Params,
) -> Vec<CandidateRow> {
    // `where TimeGenerated > ago(lookback)`; a window too large to represent has no lower bound.
    let window_start = i64::try_from(params.lookback_days)
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
        tables.incidents.iter().filter(|r: &&IncidentRow| {
            r.visible(now, ingestion_delay) && r.incident_number % params.partitions == params.partition
        }),
        |r| &r.incident_name,
        |r| r.time_generated,
    );
    let repair_start = now - REPAIR_WINDOW;
    let mut out = Vec::new();
    for inc in latest_incidents.values() {
        let label = |name: &str| inc.labels.iter().any(|l| l.name == name);
        let (closed_label, activated_label) = (label("dfc-sync-closed"), label("dfc-sync-activated"));
        let tool_changed_recently = inc.last_modified_time > repair_start
            && (closed_label || activated_label || label("dfc-sync-reopened"));
        let may_reopen = params.reopen_closed && inc.status == "Closed" && closed_label;
        if inc.status == "Closed" && !tool_changed_recently && !may_reopen {
            continue;
        }
        let mut alerts = Vec::new();
        let mut dfc_alerts = 0;
        let mut reactivated = 0;
        let mut last_alert_change = None;
        for id in &inc.alert_ids {
            let alert = changed_alerts.get(id.as_str());
            let status = alert.map(|a| a.status.clone()).unwrap_or_default();
            let product = alert.map(|a| a.product_name.clone()).unwrap_or_default();
            if DFC_PRODUCTS.contains(&product.as_str()) {
                dfc_alerts += 1;
                if matches!(status.as_str(), "New" | "InProgress") {
                    reactivated += 1;
                }
            }
            if let Some(a) = alert {
                last_alert_change = last_alert_change.max(Some(a.time_generated));
            }
            alerts.push([id.clone(), status, product]);
        }
        if dfc_alerts == 0 || (inc.status == "Closed" && !tool_changed_recently && reactivated == 0) {
            continue;
        }
        let o = &inc.owner;
        let set = |f: &Option<String>| f.as_deref().is_some_and(|v| !v.is_empty());
        out.push(CandidateRow {
            incident_name: inc.incident_name.clone(),
            incident_number: inc.incident_number,
            incident_status: inc.status.clone(),
            has_owner: set(&o.object_id) || set(&o.email) || set(&o.assigned_to) || set(&o.user_principal_name),
            closed_label,
            activated_label,
            tool_changed_recently,
            alerts,
            last_alert_change,
            provider_name: inc.provider_name.clone(),
        });
    }
    out
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
                r.has_owner,
                r.closed_label,
                r.activated_label,
                r.tool_changed_recently,
                json!(r.alerts).to_string(),
                r.last_alert_change.map(timefmt::format),
                r.provider_name,
            ])
        })
        .collect();
    json!({"tables": [{"name": "PrimaryResult", "columns": columns, "rows": rows}]})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(head: &str) -> String {
        format!("{head}{SYNC_QUERY}")
    }

    #[test]
    fn recognises_only_the_exact_query_with_its_parameters() {
        let p = |l, n, k, reopen_closed| Params {
            lookback_days: l,
            partitions: n,
            partition: k,
            reopen_closed,
        };
        let ok = "let lookback = 7d;\nlet partitions = 1;\nlet partition = 0;\nlet reopenClosed = false;\n";
        assert_eq!(recognise(&text(ok)), Some(p(7, 1, 0, false)));
        let split = "let lookback = 30d;\nlet partitions = 8;\nlet partition = 5;\nlet reopenClosed = true;\n";
        assert_eq!(recognise(&text(split)), Some(p(30, 8, 5, true)));
        for bad in [
            "let lookback = 0d;\nlet partitions = 1;\nlet partition = 0;\nlet reopenClosed = false;\n",
            "let lookback = 7h;\nlet partitions = 1;\nlet partition = 0;\nlet reopenClosed = false;\n",
            "let lookback = 7d;\nlet partitions = 0;\nlet partition = 0;\nlet reopenClosed = false;\n",
            "let lookback = 7d;\nlet partitions = -1;\nlet partition = 0;\nlet reopenClosed = false;\n",
            "let lookback = 7d;\nlet partition = 0;\nlet reopenClosed = false;\n",
            "let lookback = 7d;\nlet partitions = 1;\nlet partition = 0;\nlet reopenClosed = yes;\n",
            "let lookback = 7d;\nlet partitions = 1;\nlet partition = 0;\n",
        ] {
            assert_eq!(recognise(&text(bad)), None, "{bad}");
        }
        assert_eq!(recognise(&format!("{}x", text(ok))), None);
        assert_eq!(recognise(SYNC_QUERY), None);
        assert_eq!(recognise("SecurityIncident | take 1"), None);
    }
}

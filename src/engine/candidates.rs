//! The candidate query's answer turned into candidates: one per open incident, with its logged
//! state and its alerts.

use std::collections::BTreeMap;

use crate::{
    azure::{
        AzureError,
        logs::{Reader, Table},
    },
    domain::{AlertStatus, IncidentName, IncidentStatus},
    policy::IncidentState,
    queries,
};

/// A candidate incident from the query: its logged state and its alerts.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// Incident name.
    pub name: IncidentName,
    /// Incident number.
    pub number: Option<i64>,
    /// Logged incident state (may lag the real one).
    pub state: IncidentState,
    /// The logs show one of this tool's changes made within the repair window (the incident may
    /// already show Closed): its audit comment is checked once per process.
    pub tool_changed_recently: bool,
    /// Alerts; `status` is `None` when the alert has no row inside the window.
    pub alerts: Vec<(String, Option<AlertStatus>, Option<String>)>,
}

/// Groups the query's rows (one per incident and alert) into candidates.
pub fn candidates_from(table: &Table) -> Result<Vec<Candidate>, AzureError> {
    let r = Reader::new(table);
    // Columns as declared in `queries::SYNC_CANDIDATE_COLUMNS`; an int column may also come as long.
    let column = |name: &'static str| {
        let (_, kind) = queries::SYNC_CANDIDATE_COLUMNS
            .iter()
            .find(|(n, _)| *n == name)
            .expect("every column read is declared");
        let kinds: &[&str] = if *kind == "int" {
            &["int", "long"]
        } else {
            std::slice::from_ref(kind)
        };
        r.column(name, kinds)
    };
    let c_name = column("IncidentName")?;
    let c_number = column("IncidentNumber")?;
    let c_status = column("IncidentStatus")?;
    let c_owner = column("Owner")?;
    let c_labels = column("Labels")?;
    let c_recent = column("ToolChangedRecently")?;
    let c_alert = column("SystemAlertId")?;
    let c_alert_status = column("AlertStatus")?;
    let c_product = column("AlertProductName")?;
    let mut by_name: BTreeMap<String, Candidate> = BTreeMap::new();
    for row in r.rows() {
        let bad = |message: String| AzureError::Decode {
            service: "Log Analytics",
            message,
        };
        let name_text = r
            .string(row, c_name)?
            .ok_or_else(|| bad("a row has no IncidentName".into()))?;
        let name = IncidentName::parse(&name_text).map_err(|e| bad(e.to_string()))?;
        let candidate = match by_name.entry(name_text) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(e) => {
                let status_text = r.string(row, c_status)?.unwrap_or_default();
                let status = IncidentStatus::parse(&status_text).map_err(|e| bad(e.to_string()))?;
                let owner = r.dynamic(row, c_owner)?;
                let has_owner = ["objectId", "email", "assignedTo", "userPrincipalName"]
                    .iter()
                    .any(|k| owner.get(k).and_then(|v| v.as_str()).is_some_and(|s| !s.is_empty()));
                let labels = r
                    .dynamic(row, c_labels)?
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|l| l.get("labelName").and_then(|n| n.as_str()).map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                e.insert(Candidate {
                    name,
                    number: r.integer(row, c_number)?,
                    state: IncidentState {
                        status,
                        has_owner,
                        labels,
                    },
                    tool_changed_recently: r.boolean(row, c_recent)?.unwrap_or(false),
                    alerts: Vec::new(),
                })
            }
        };
        let Some(alert_id) = r.string(row, c_alert)? else {
            continue;
        };
        let status = r.string(row, c_alert_status)?.map(|s| AlertStatus::parse_lenient(&s));
        let product = r.string(row, c_product)?;
        if !candidate.alerts.iter().any(|(id, _, _)| *id == alert_id) {
            candidate.alerts.push((alert_id, status, product));
        }
    }
    Ok(by_name.into_values().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn table(rows: Vec<serde_json::Value>) -> Table {
        serde_json::from_value(json!({
            "name": "PrimaryResult",
            "columns": [
                {"name": "IncidentName", "type": "string"}, {"name": "IncidentNumber", "type": "int"},
                {"name": "IncidentStatus", "type": "string"}, {"name": "Owner", "type": "dynamic"},
                {"name": "Labels", "type": "dynamic"}, {"name": "ToolChangedRecently", "type": "bool"},
                {"name": "SystemAlertId", "type": "string"},
                {"name": "AlertStatus", "type": "string"}, {"name": "AlertProductName", "type": "string"},
                {"name": "AlertTimeGenerated", "type": "datetime"}
            ],
            "rows": rows
        }))
        .unwrap()
    }

    #[test]
    fn rows_group_into_candidates_with_unseen_alerts_marked() {
        let owner = "{\"objectId\":\"2046feea-040d-4a46-9e2b-91c2941bfa70\",\"email\":null,\"assignedTo\":null,\"userPrincipalName\":null}";
        let t = table(vec![
            json!([
                "inc-1",
                7,
                "New",
                owner,
                "[{\"labelName\":\"x\",\"labelType\":\"User\"}]",
                false,
                "a1",
                "Resolved",
                "Azure Security Center",
                "2026-11-20T10:00:00Z"
            ]),
            json!([
                "inc-1",
                7,
                "New",
                owner,
                "[{\"labelName\":\"x\",\"labelType\":\"User\"}]",
                false,
                "a2",
                "",
                "",
                null
            ]),
            json!([
                "inc-2",
                8,
                "Active",
                "{}",
                "[]",
                false,
                "b1",
                "InProgress",
                "Microsoft Defender for Cloud",
                "2026-11-20T10:00:00Z"
            ]),
        ]);
        let c = candidates_from(&t).unwrap();
        assert_eq!(c.len(), 2);
        assert!(c[0].state.has_owner);
        assert_eq!(c[0].state.labels, vec!["x".to_owned()]);
        assert_eq!(c[0].alerts[1], ("a2".to_owned(), None, None));
        assert_eq!(c[1].state.status, IncidentStatus::Active);
        assert_eq!(c[1].alerts[0].1, Some(AlertStatus::InProgress));
    }

    #[test]
    fn malformed_rows_are_errors_not_guesses() {
        let t = table(vec![json!([
            "../etc",
            1,
            "New",
            "{}",
            "[]",
            false,
            "a",
            "New",
            "Azure Security Center",
            null
        ])]);
        assert!(candidates_from(&t).is_err());
        let t = table(vec![json!([
            "inc",
            1,
            "Paused",
            "{}",
            "[]",
            false,
            "a",
            "New",
            "Azure Security Center",
            null
        ])]);
        assert!(candidates_from(&t).is_err());
        let mut t = table(vec![]);
        t.columns.retain(|c| c.name != "AlertStatus");
        assert!(candidates_from(&t).unwrap_err().to_string().contains("AlertStatus"));
    }
}

//! The candidate query's answer turned into candidates: one row per incident, with its logged
//! state and its alerts. A row the decoder cannot read is that incident's failure, not the
//! run's: the others are still synced.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::{
    azure::{
        AzureError,
        logs::{Cell, ColumnRef, Reader, Table},
    },
    domain::{AlertState, AlertStatus, IncidentName, IncidentStatus},
    policy::{self, IncidentState},
    queries,
};

/// A candidate incident from the query: its logged state and its alerts.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// Incident name.
    pub name: IncidentName,
    /// Incident number.
    pub number: Option<i64>,
    /// Logged incident state (may lag the real one). Its labels are this tool's only.
    pub state: IncidentState,
    /// The logs show one of this tool's changes made within the repair window (the incident may
    /// already show Closed): its audit comment is checked once per process.
    pub tool_changed_recently: bool,
    /// Its alerts as the logs show them.
    pub alerts: Vec<LoggedAlert>,
    /// The newest alert change inside the window: backlogs are worked through oldest first.
    pub last_alert_change: Option<DateTime<Utc>>,
    /// The incident's `ProviderName` (`Microsoft XDR` in the Defender portal). The usual names
    /// are shared, not allocated per incident: a large answer holds one per row.
    pub provider: Option<Cow<'static, str>>,
}

/// One alert of a candidate as the logs show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedAlert {
    /// `SystemAlertId`.
    pub id: String,
    /// Its latest status inside the window; `None` when it has no row there (read it fresh).
    pub status: Option<AlertStatus>,
    /// The product that raised it, when known.
    pub product: Option<String>,
}

impl LoggedAlert {
    /// Its state, when the logs show its status.
    pub fn state(&self) -> Option<AlertState> {
        self.status.map(|status| AlertState {
            id: self.id.clone(),
            status,
            product: self.product.clone().unwrap_or_default(),
        })
    }
}

/// A row that could not be read: the incident it names (or the row's position) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRow {
    /// The row's IncidentName as sent, or `row <n>` when it has none.
    pub incident: String,
    /// The row's IncidentNumber, when readable.
    pub number: Option<i64>,
    /// What is wrong with it.
    pub error: String,
}

/// The answer's columns, found by name and checked against their declared types.
struct Columns<'a> {
    name: ColumnRef<'a>,
    number: ColumnRef<'a>,
    status: ColumnRef<'a>,
    has_owner: ColumnRef<'a>,
    closed_label: ColumnRef<'a>,
    activated_label: ColumnRef<'a>,
    recent: ColumnRef<'a>,
    alerts: ColumnRef<'a>,
    last_change: ColumnRef<'a>,
    provider: ColumnRef<'a>,
}

impl<'a> Columns<'a> {
    fn find(r: &Reader<'a>) -> Result<Self, AzureError> {
        // As declared in `queries::SYNC_CANDIDATE_COLUMNS`; an int column may also come as long.
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
        Ok(Self {
            name: column("IncidentName")?,
            number: column("IncidentNumber")?,
            status: column("IncidentStatus")?,
            has_owner: column("HasOwner")?,
            closed_label: column("ClosedLabel")?,
            activated_label: column("ActivatedLabel")?,
            recent: column("ToolChangedRecently")?,
            alerts: column("Alerts")?,
            last_change: column("LastAlertChange")?,
            provider: column("ProviderName")?,
        })
    }
}

/// Reads the query's rows (one per incident). A missing or mistyped column fails the whole
/// answer (nothing can be trusted); a row that cannot be read is reported as a [`BadRow`].
///
/// The table is consumed row by row: each row's memory is freed as its candidate is built, so a
/// large answer is not held twice.
pub fn candidates_from(table: Table) -> Result<(Vec<Candidate>, Vec<BadRow>), AzureError> {
    let Table { name, columns, rows } = table;
    let header = Table {
        name,
        columns,
        rows: Vec::new(),
    };
    let r = Reader::new(&header);
    let c = Columns::find(&r)?;
    let mut candidates = Vec::with_capacity(rows.len());
    let mut bad = Vec::new();
    for (i, row) in rows.into_iter().enumerate() {
        match candidate(&r, &c, &row) {
            Ok(candidate) => candidates.push(candidate),
            Err(error) => bad.push(BadRow {
                incident: r
                    .string(&row, c.name)
                    .ok()
                    .flatten()
                    .map(|n| n.chars().take(100).collect())
                    .unwrap_or_else(|| format!("row {}", i + 1)),
                number: r.integer(&row, c.number).ok().flatten(),
                error: error.to_string(),
            }),
        }
    }
    Ok((candidates, bad))
}

fn candidate(r: &Reader<'_>, c: &Columns<'_>, row: &[Cell]) -> Result<Candidate, AzureError> {
    let bad = |message: String| AzureError::Decode {
        service: "Log Analytics",
        message,
    };
    let name_text = r
        .string(row, c.name)?
        .ok_or_else(|| bad("the row has no IncidentName".into()))?;
    let name = IncidentName::parse(&name_text).map_err(|e| bad(e.to_string()))?;
    let status_text = r.string(row, c.status)?.unwrap_or_default();
    let status = IncidentStatus::parse(&status_text).map_err(|e| bad(e.to_string()))?;
    let flag = |column| r.boolean(row, column).map(|b| b.unwrap_or(false));
    let mut labels = Vec::new();
    let closed_label = flag(c.closed_label)?;
    if closed_label {
        labels.push(policy::LABEL_CLOSED.to_owned());
    }
    if flag(c.activated_label)? {
        labels.push(policy::LABEL_ACTIVATED.to_owned());
    }
    let alerts = match r.dynamic(row, c.alerts)? {
        Value::Array(items) => items
            .iter()
            .map(|item| {
                let fields = item
                    .as_array()
                    .filter(|f| f.len() == 3)
                    .ok_or_else(|| bad(format!("an alert of {name} is not [id, status, product]: {item}")))?;
                let text = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_owned);
                let id = text(&fields[0]).ok_or_else(|| bad(format!("an alert of {name} has no id")))?;
                let status = text(&fields[1]).map(|s| AlertStatus::parse_lenient(&s));
                Ok(LoggedAlert {
                    id,
                    status,
                    product: text(&fields[2]),
                })
            })
            .collect::<Result<Vec<_>, AzureError>>()?,
        other => return Err(bad(format!("Alerts of {name} is not an array: {other}"))),
    };
    Ok(Candidate {
        name,
        number: r.integer(row, c.number)?,
        state: IncidentState {
            status,
            has_owner: flag(c.has_owner)?,
            labels,
            // The logs show the label only; the fresh read checks the classification comment.
            closed_by_tool: closed_label,
        },
        tool_changed_recently: flag(c.recent)?,
        alerts,
        last_alert_change: r.datetime(row, c.last_change)?,
        provider: r
            .string(row, c.provider)?
            .filter(|p| !p.is_empty())
            .map(shared_provider),
    })
}

/// `provider` as a shared `&'static str` when it is one of the usual names.
fn shared_provider(provider: String) -> Cow<'static, str> {
    let usual = std::iter::once(&crate::domain::SENTINEL_PROVIDER_NAME).chain(&crate::domain::XDR_PROVIDER_NAMES);
    match usual.into_iter().find(|u| **u == provider) {
        Some(u) => Cow::Borrowed(u),
        None => Cow::Owned(provider),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn table(rows: Vec<Value>) -> Table {
        let columns: Vec<Value> = queries::SYNC_CANDIDATE_COLUMNS
            .iter()
            .map(|(n, t)| json!({ "name": n, "type": t }))
            .collect();
        serde_json::from_value(json!({ "name": "PrimaryResult", "columns": columns, "rows": rows })).unwrap()
    }

    fn row(name: &str, status: &str, alerts: Value) -> Value {
        json!([
            name,
            7,
            status,
            true,
            true,
            false,
            false,
            alerts.to_string(),
            "2026-11-20T10:00:00Z",
            "Microsoft XDR"
        ])
    }

    #[test]
    fn rows_become_candidates_with_unseen_alerts_marked() {
        let t = table(vec![
            row(
                "inc-1",
                "New",
                json!([["a1", "Resolved", "Azure Security Center"], ["a2", "", ""]]),
            ),
            json!([
                "inc-2",
                8,
                "Active",
                false,
                false,
                true,
                true,
                json!([["b1", "InProgress", "Microsoft Defender for Cloud"]]).to_string(),
                null,
                "Azure Sentinel"
            ]),
        ]);
        let (c, bad) = candidates_from(t.clone()).unwrap();
        assert!(bad.is_empty());
        assert_eq!(c.len(), 2);
        assert!(c[0].state.has_owner);
        assert_eq!(c[0].state.labels, vec![policy::LABEL_CLOSED.to_owned()]);
        assert_eq!(
            c[0].alerts[1],
            LoggedAlert {
                id: "a2".to_owned(),
                status: None,
                product: None
            }
        );
        assert!(c[0].last_alert_change.is_some());
        assert_eq!(c[1].state.status, IncidentStatus::Active);
        assert_eq!(c[1].state.labels, vec![policy::LABEL_ACTIVATED.to_owned()]);
        assert!(c[1].tool_changed_recently);
        assert_eq!(c[0].provider.as_deref(), Some("Microsoft XDR"));
        assert!(c[0].state.closed_by_tool && !c[1].state.closed_by_tool);
        assert_eq!(c[1].alerts[0].status, Some(AlertStatus::InProgress));
    }

    #[test]
    fn a_bad_row_is_that_incidents_failure_and_a_bad_column_fails_the_answer() {
        let good = json!([["a", "New", "Azure Security Center"]]);
        let t = table(vec![
            row("../etc", "New", good.clone()),
            row("inc-ok", "New", good.clone()),
            row("inc-paused", "Paused", good.clone()),
            row("inc-alerts", "New", json!([["only-id"]])),
            json!([null, 3, "New", false, false, false, false, good.to_string(), null, ""]),
        ]);
        let (c, bad) = candidates_from(t.clone()).unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].name.as_str(), "inc-ok");
        let names: Vec<&str> = bad.iter().map(|b| b.incident.as_str()).collect();
        assert_eq!(names, ["../etc", "inc-paused", "inc-alerts", "row 5"]);
        assert!(bad[1].error.contains("Paused"), "{}", bad[1].error);
        assert_eq!(bad[3].number, Some(3));
        let mut t = table(vec![]);
        t.columns.retain(|c| c.name != "Alerts");
        assert!(candidates_from(t.clone()).unwrap_err().to_string().contains("Alerts"));
    }
}

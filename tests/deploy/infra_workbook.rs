//! The workbook's queries (infra/workbook/dfc-sync.workbook.json, whose texts are
//! infra/workbook/queries/*.kql: tools/infra/check.py keeps them equal) pass Microsoft's
//! Kusto.Language (tools/kql/check.js, pinned in .oracles/node) against only the tables of the
//! resource each query runs on: SecurityIncident and SecurityAlert on the Sentinel workspace,
//! traces and requests on Application Insights (schemas in tools/kql/tables.json). And the check
//! can fail.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::infra::repo;

/// The tables of the resource a query item runs on (its `resourceType`).
fn tables_for(resource_type: &str) -> &'static str {
    match resource_type {
        "microsoft.operationalinsights/workspaces" => "SecurityIncident,SecurityAlert",
        "microsoft.insights/components" => "traces,requests",
        other => panic!("a workbook query runs on an unexpected resource type {other}"),
    }
}

struct Item {
    name: String,
    query: String,
    tables: &'static str,
}

fn items() -> Vec<Item> {
    let path = repo().join("infra/workbook/dfc-sync.workbook.json");
    let workbook: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("the workbook file"))
        .expect("the workbook is JSON");
    workbook["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|i| i["type"] == 3)
        .map(|i| Item {
            name: i["name"].as_str().expect("item name").to_owned(),
            query: i["content"]["query"].as_str().expect("query").to_owned(),
            tables: tables_for(i["content"]["resourceType"].as_str().expect("resourceType")),
        })
        .collect()
}

fn item(name: &str) -> Item {
    items()
        .into_iter()
        .find(|i| i.name == name)
        .unwrap_or_else(|| panic!("no workbook item {name:?}; update the test"))
}

struct Report {
    /// "code: message" of every Error diagnostic.
    errors: Vec<String>,
    /// Result columns, "name:type".
    columns: Vec<String>,
}

/// Runs tools/kql/check.js over `query` with only `tables` declared.
fn kusto(query: &str, tables: &str) -> Report {
    let package = repo().join(".oracles/node/node_modules/@kusto/language-service-next");
    assert!(
        package.join("Kusto.Language.Bridge.js").is_file(),
        "Kusto.Language is missing at {}: run scripts/install-test-tools",
        package.display()
    );
    let mut child = Command::new("node")
        .arg(repo().join("tools/kql/check.js"))
        .args(["--tables", tables])
        .env("KUSTO_LANGUAGE_DIR", &package)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node runs (install Node.js, then scripts/install-test-tools)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(query.as_bytes())
        .expect("the query reaches check.js");
    let out = child.wait_with_output().expect("check.js ends");
    assert!(
        out.status.success(),
        "check.js failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("check.js prints JSON");
    let errors = report["diagnostics"]
        .as_array()
        .expect("diagnostics")
        .iter()
        .filter(|d| d["severity"] == "Error")
        .map(|d| {
            format!(
                "{}: {}",
                d["code"].as_str().unwrap_or(""),
                d["message"].as_str().unwrap_or("")
            )
        })
        .collect();
    let columns = report["resultColumns"]
        .as_array()
        .expect("resultColumns")
        .iter()
        .map(|c| {
            format!(
                "{}:{}",
                c["name"].as_str().unwrap_or(""),
                c["type"].as_str().unwrap_or("")
            )
        })
        .collect();
    Report { errors, columns }
}

/// What each part shows (README, "Workbook"): its result columns, in order.
const EXPECTED: [(&str, &[&str]); 5] = [
    (
        "query - changes-per-day",
        &["Day:datetime", "Change:string", "Incidents:long"],
    ),
    (
        "query - change-delay",
        &["Day:datetime", "Median:real", "P90:real", "Max:real", "Changes:long"],
    ),
    (
        "query - waiting-incidents",
        &[
            "IncidentNumber:int",
            "Title:string",
            "IncidentStatus:string",
            "Reason:string",
            "Alerts:long",
            "New:long",
            "InProgress:long",
            "Done:long",
            "NoRow:long",
            "Owned:bool",
            "CreatedTime:datetime",
            "LastAlertChange:datetime",
        ],
    ),
    (
        "query - runs-per-day",
        &["Day:datetime", "Succeeded:long", "Failed:long"],
    ),
    (
        "query - failed-runs",
        &[
            "timestamp:datetime",
            "RunId:string",
            "Workspace:string",
            "What:string",
            "FailedIncidents:long",
            "Reasons:dynamic",
            "Detail:string",
        ],
    ),
];

#[test]
fn every_workbook_query_passes_kusto_language_on_the_tables_of_its_resource() {
    let items = items();
    let names: Vec<&str> = items.iter().map(|i| i.name.as_str()).collect();
    let expected: Vec<&str> = EXPECTED.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, expected, "the workbook's query items changed; update EXPECTED");
    for (item, (_, columns)) in items.iter().zip(EXPECTED) {
        let report = kusto(&item.query, item.tables);
        assert!(
            report.errors.is_empty(),
            "Kusto.Language rejects {} (tables {}): {:#?}",
            item.name,
            item.tables,
            report.errors
        );
        assert_eq!(report.columns, columns, "result columns of {}", item.name);
    }
}

#[test]
fn an_unknown_column_in_a_workbook_query_is_reported() {
    let item = item("query - waiting-incidents");
    let bad = item.query.replacen("AlertIds", "AlertIdz", 1);
    assert_ne!(bad, item.query, "the mutation no longer applies; update the test");
    let report = kusto(&bad, item.tables);
    assert!(
        report
            .errors
            .iter()
            .any(|e| e.starts_with("KS142") && e.contains("AlertIdz")),
        "{:#?}",
        report.errors
    );
}

#[test]
fn a_table_of_the_other_resource_is_reported() {
    // The failed-runs part runs on Application Insights: no SecurityIncident there; and the Sentinel
    // parts see no Application Insights table.
    let item = item("query - failed-runs");
    let bad = item.query.replacen("traces", "SecurityIncident", 1);
    assert_ne!(bad, item.query, "the mutation no longer applies; update the test");
    let report = kusto(&bad, item.tables);
    assert!(
        report.errors.iter().any(|e| e.starts_with("KS204")),
        "{:#?}",
        report.errors
    );
    let report = kusto(
        "traces | take 1",
        tables_for("microsoft.operationalinsights/workspaces"),
    );
    assert!(
        report.errors.iter().any(|e| e.starts_with("KS204")),
        "{:#?}",
        report.errors
    );
}

#[test]
fn a_type_error_in_a_workbook_query_is_reported() {
    // bin() of a string column by a timespan: timestamp replaced by name.
    let item = item("query - runs-per-day");
    let bad = item.query.replacen("bin(timestamp, 1d)", "bin(name, 1d)", 1);
    assert_ne!(bad, item.query, "the mutation no longer applies; update the test");
    let report = kusto(&bad, item.tables);
    assert!(
        report.errors.iter().any(|e| e.starts_with("KS127")),
        "{:#?}",
        report.errors
    );
}

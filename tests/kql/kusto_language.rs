//! Kusto.Language: the product query is valid KQL against the real table schemas and returns
//! the columns `engine::candidates_from` reads, with the types the simulator declares.

use dfc_sentinel_sync::queries::Partition;

use crate::oracles::{kusto_check, product_query, product_query_part};

/// The result schema the decoder (`engine::candidates_from`) reads, in query order.
pub const EXPECTED_COLUMNS: [(&str, &str); 10] = dfc_sentinel_sync::queries::SYNC_CANDIDATE_COLUMNS;

fn expected() -> Vec<(String, String)> {
    EXPECTED_COLUMNS
        .iter()
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect()
}

#[test]
fn product_query_has_no_error_diagnostics() {
    for days in [1, 30, 365] {
        let report = kusto_check(&product_query(days));
        let part = Partition { count: 8, index: 5 };
        let split = kusto_check(&product_query_part(days, part, true));
        assert!(
            split.errors().is_empty(),
            "Kusto.Language rejects the product query for part {part}: {:#?}",
            split.diagnostics
        );
        assert!(
            report.errors().is_empty(),
            "Kusto.Language rejects the product query for {days} days: {:#?}",
            report.diagnostics
        );
    }
}

#[test]
fn product_query_result_schema_is_what_the_decoder_reads() {
    for reopen in [false, true] {
        let report = kusto_check(&product_query_part(30, Partition::WHOLE, reopen));
        assert_eq!(
            report.result_columns,
            expected(),
            "result columns of the product query (Kusto.Language, reopen {reopen}) differ from what candidates_from reads"
        );
    }
}

#[test]
fn checker_reports_an_unknown_column() {
    // Proves the checker can fail: one column renamed to one the table does not have.
    let good = product_query(30);
    let bad = good.replacen("AlertProductName = ProductName", "AlertProductName = ProductNameX", 1);
    assert_ne!(bad, good, "the mutation no longer applies; update this test");
    let report = kusto_check(&bad);
    assert!(
        report
            .errors()
            .iter()
            .any(|d| d.code == "KS142" && d.message.contains("ProductNameX")),
        "Kusto.Language did not report the unknown column: {:#?}",
        report.diagnostics
    );
}

#[test]
fn checker_reports_a_column_of_the_wrong_table_and_a_type_change() {
    // SecurityAlert has no AlertIds; comparing a datetime with a string is a type error.
    let good = product_query(30);
    let wrong_table = good.replacen(
        "SecurityIncident\n| where IncidentNumber",
        "SecurityAlert\n| where IncidentNumber",
        1,
    );
    assert_ne!(wrong_table, good, "the mutation no longer applies; update this test");
    assert!(
        !kusto_check(&wrong_table).errors().is_empty(),
        "reading SecurityIncident columns from SecurityAlert was accepted"
    );
    let number_as_string = good.replacen(
        "IncidentNumber, Status",
        "IncidentNumber = tostring(IncidentNumber), Status",
        1,
    );
    assert_ne!(
        number_as_string, good,
        "the mutation no longer applies; update this test"
    );
    let report = kusto_check(&number_as_string);
    assert_ne!(
        report.result_columns,
        expected(),
        "a changed column type went unnoticed in the result schema"
    );
}

#[test]
fn declared_schema_covers_every_column_the_simulator_writes() {
    // The simulator's table rows must only use columns of the real tables, with matching JSON
    // kinds, or the oracle would be checking a different workspace than the product queries.
    let tables: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(crate::oracles::root().join("tools/kql/tables.json")).expect("tables.json"),
    )
    .expect("tables.json parses");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (incidents, alerts) = rt.block_on(async {
        let sim = azure_sim::AzureSim::start(azure_sim::SimConfig::default())
            .await
            .expect("start sim");
        let a = sim.add_alert(azure_sim::AlertSeed::default());
        sim.add_incident(azure_sim::IncidentSeed {
            alert_ids: vec![a.clone()],
            labels: vec!["x".into()],
            ..Default::default()
        });
        sim.set_alert_status(&a, "Resolved");
        sim.table_rows()
    });
    for (table, rows) in [("SecurityIncident", incidents), ("SecurityAlert", alerts)] {
        let declared: std::collections::HashMap<&str, &str> = tables[table]
            .as_array()
            .expect("table")
            .iter()
            .map(|c| (c[0].as_str().unwrap(), c[1].as_str().unwrap()))
            .collect();
        assert!(!rows.is_empty(), "{table}: no rows");
        for row in rows {
            for (column, value) in row.as_object().expect("row object") {
                let ty = declared
                    .get(column.as_str())
                    .unwrap_or_else(|| panic!("{table}.{column}: the simulator writes a column the real table lacks"));
                let ok = match *ty {
                    "string" => value.is_string() || value.is_null(),
                    "int" | "long" => value.is_i64() || value.is_null(),
                    "real" => value.is_number() || value.is_null(),
                    "bool" => value.is_boolean() || value.is_null(),
                    "datetime" => value
                        .as_str()
                        .is_some_and(|s| chrono::DateTime::parse_from_rfc3339(s).is_ok()),
                    "dynamic" => true,
                    other => panic!("{table}.{column}: unexpected type {other}"),
                };
                assert!(ok, "{table}.{column} is {ty} but the simulator writes {value}");
            }
        }
    }
}

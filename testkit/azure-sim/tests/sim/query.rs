//! The product's candidate query: semantics evaluated exactly as Kusto would, value encoding of the
//! v1 response, and the documented error behaviour of the query API.

use std::time::Duration;

use azure_sim::{AlertSeed, AnalystEdit, AzureSim, Fault, FaultKind, FaultTarget, IncidentSeed, Owner, SimConfig};
use chrono::Duration as Ago;
use serde_json::Value;

use crate::helpers::{ARM, LA, TestEnv, encode, rows_of, start, start_with};

/// Names of the incidents among the candidate rows.
fn names(rows: &[serde_json::Map<String, Value>]) -> Vec<String> {
    let mut n: Vec<String> = rows
        .iter()
        .map(|r| r["IncidentName"].as_str().unwrap().to_string())
        .collect();
    n.sort();
    n.dedup();
    n
}

/// Seeds one DfC alert and an incident holding it.
fn incident_with_alert(env: &TestEnv, alert: AlertSeed, incident: IncidentSeed) -> (String, String) {
    let a = env.sim.add_alert(alert);
    let i = env.sim.add_incident(IncidentSeed {
        alert_ids: vec![a.clone()],
        ..incident
    });
    (i, a)
}

#[tokio::test]
async fn latest_rows_win_for_alerts_and_incidents() {
    let env = start().await;
    let (inc, alert) = incident_with_alert(&env, AlertSeed::default(), IncidentSeed::default());
    env.sim.set_alert_status(&alert, "Resolved");
    env.sim.analyst_edit(
        &inc,
        AnalystEdit {
            status: Some("Active".into()),
            ..Default::default()
        },
    );
    let rows = env.candidates(7).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["AlertStatus"], "Resolved");
    assert_eq!(rows[0]["IncidentStatus"], "Active");
    assert_eq!(rows[0]["SystemAlertId"], alert.as_str());
}

#[tokio::test]
async fn alert_changes_outside_the_window_do_not_make_candidates() {
    let env = start().await;
    let (inc, _) = incident_with_alert(
        &env,
        AlertSeed {
            last_changed_ago: Ago::days(8),
            ..Default::default()
        },
        IncidentSeed::default(),
    );
    assert!(env.candidates(7).await.is_empty());
    assert_eq!(names(&env.candidates(9).await), vec![inc]);
}

#[tokio::test]
async fn closed_incidents_are_excluded_by_their_latest_row() {
    let env = start().await;
    incident_with_alert(
        &env,
        AlertSeed::default(),
        IncidentSeed {
            status: "Closed".into(),
            classification: Some("TruePositive".into()),
            classification_reason: Some("SuspiciousActivity".into()),
            ..Default::default()
        },
    );
    let (later_closed, _) = incident_with_alert(&env, AlertSeed::default(), IncidentSeed::default());
    let (open, _) = incident_with_alert(&env, AlertSeed::default(), IncidentSeed::default());
    env.sim.analyst_edit(
        &later_closed,
        AnalystEdit {
            status: Some("Closed".into()),
            classification: Some(("Undetermined".into(), None)),
            ..Default::default()
        },
    );
    assert_eq!(names(&env.candidates(7).await), vec![open]);
}

#[tokio::test]
async fn only_defender_for_cloud_products_make_candidates() {
    let env = start().await;
    incident_with_alert(
        &env,
        AlertSeed {
            product_name: "Microsoft Defender for Endpoint".into(),
            ..Default::default()
        },
        IncidentSeed::default(),
    );
    let (mdc, _) = incident_with_alert(
        &env,
        AlertSeed {
            product_name: "Microsoft Defender for Cloud".into(),
            ..Default::default()
        },
        IncidentSeed::default(),
    );
    let (asc, _) = incident_with_alert(&env, AlertSeed::default(), IncidentSeed::default());
    let mut expected = vec![mdc, asc];
    expected.sort();
    assert_eq!(names(&env.candidates(7).await), expected);
}

#[tokio::test]
async fn unmatched_alerts_of_a_candidate_come_back_empty_and_null() {
    let env = start().await;
    let fresh = env.sim.add_alert(AlertSeed {
        status: "Dismissed".into(),
        ..Default::default()
    });
    let old = env.sim.add_alert(AlertSeed {
        last_changed_ago: Ago::days(30),
        ..Default::default()
    });
    let other_product = env.sim.add_alert(AlertSeed {
        product_name: "Azure Sentinel".into(),
        ..Default::default()
    });
    let inc = env.sim.add_incident(IncidentSeed {
        alert_ids: vec![fresh.clone(), old.clone(), other_product.clone()],
        ..Default::default()
    });
    env.sim.add_incident(IncidentSeed::default()); // no alerts: yields no rows at all
    let rows = env.candidates(7).await;
    assert_eq!(rows.len(), 3);
    let row = |id: &str| rows.iter().find(|r| r["SystemAlertId"] == id).unwrap().clone();
    assert_eq!(row(&fresh)["AlertStatus"], "Dismissed");
    assert!(row(&fresh)["AlertTimeGenerated"].is_string());
    assert_eq!(row(&old)["AlertStatus"], "");
    assert_eq!(row(&old)["AlertProductName"], "");
    assert_eq!(row(&old)["AlertTimeGenerated"], Value::Null);
    assert_eq!(row(&other_product)["AlertProductName"], "Azure Sentinel");
    assert!(rows.iter().all(|r| r["IncidentName"] == inc.as_str()));
}

#[tokio::test]
async fn incident_older_than_the_window_is_returned_when_its_alert_changed_inside() {
    let env = start().await;
    let (inc, alert) = incident_with_alert(
        &env,
        AlertSeed {
            last_changed_ago: Ago::days(60),
            ..Default::default()
        },
        IncidentSeed {
            last_modified_ago: Ago::days(60),
            ..Default::default()
        },
    );
    assert!(env.candidates(7).await.is_empty());
    env.sim.set_alert_status(&alert, "InProgress");
    let rows = env.candidates(7).await;
    assert_eq!(names(&rows), vec![inc]);
    assert_eq!(rows[0]["AlertStatus"], "InProgress");
}

#[tokio::test]
async fn ingestion_delay_hides_fresh_rows_until_ingested() {
    let env = start_with(SimConfig {
        ingestion_delay: Duration::from_millis(1500),
        ..SimConfig::default()
    })
    .await;
    let (_, alert) = incident_with_alert(&env, AlertSeed::default(), IncidentSeed::default());
    let fresh = env.sim.add_incident(IncidentSeed {
        alert_ids: vec![alert.clone()],
        last_modified_ago: Ago::zero(),
        ..Default::default()
    });
    env.sim.set_alert_status(&alert, "Resolved");
    let rows = env.candidates(7).await;
    assert_eq!(rows.len(), 1, "fresh incident row not ingested yet");
    assert_eq!(rows[0]["AlertStatus"], "New");
    let (incident_rows, alert_rows) = env.sim.table_rows();
    assert_eq!((incident_rows.len(), alert_rows.len()), (1, 1));
    // REST reads are current even while the tables lag.
    assert!(env.sim.incident(&fresh).is_some());
    tokio::time::sleep(Duration::from_millis(1700)).await;
    let rows = env.candidates(7).await;
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r["AlertStatus"] == "Resolved"));
    let (incident_rows, alert_rows) = env.sim.table_rows();
    assert_eq!((incident_rows.len(), alert_rows.len()), (2, 2));
}

#[tokio::test]
async fn values_are_typed_and_dynamic_columns_are_json_text() {
    let env = start().await;
    let owner = Owner {
        object_id: "2046feea-040d-4a46-9e2b-91c2941bfa70".into(),
        email: "john.doe@contoso.com".into(),
        user_principal_name: "john@contoso.com".into(),
        assigned_to: "john doe".into(),
    };
    let (assigned, _) = incident_with_alert(
        &env,
        AlertSeed::default(),
        IncidentSeed {
            owner: Some(owner),
            labels: vec!["vip".into()],
            ..Default::default()
        },
    );
    incident_with_alert(&env, AlertSeed::default(), IncidentSeed::default());
    let a = env.run_query(7).await;
    let body = a.json();
    let columns: Vec<(String, String)> = body["tables"][0]["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap().into(), c["type"].as_str().unwrap().into()))
        .collect();
    let expected = [
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
    assert_eq!(columns, expected.map(|(n, t)| (n.to_string(), t.to_string())).to_vec());
    assert_eq!(body["tables"][0]["name"], "PrimaryResult");
    for row in rows_of(&body) {
        assert!(row["IncidentNumber"].is_i64(), "int is a JSON number");
        let owner: Value = serde_json::from_str(row["Owner"].as_str().expect("dynamic is text")).unwrap();
        let labels: Value = serde_json::from_str(row["Labels"].as_str().expect("dynamic is text")).unwrap();
        let t = row["AlertTimeGenerated"].as_str().unwrap();
        assert!(
            t.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(t).is_ok(),
            "{t}"
        );
        if row["IncidentName"] == assigned.as_str() {
            assert_eq!(owner["objectId"], "2046feea-040d-4a46-9e2b-91c2941bfa70");
            assert_eq!(owner["assignedTo"], "john doe");
            assert_eq!(labels, serde_json::json!([{"labelName": "vip", "labelType": "User"}]));
        } else {
            for k in ["objectId", "email", "assignedTo", "userPrincipalName"] {
                assert_eq!(owner[k], Value::Null, "{k}");
            }
            assert_eq!(labels, serde_json::json!([]));
        }
    }
    // The table export agrees with the query on the incident number.
    let (incidents, _) = env.sim.table_rows();
    assert!(
        incidents
            .iter()
            .any(|r| r["IncidentName"] == assigned.as_str() && r["IncidentNumber"] == 1)
    );
}

#[tokio::test]
async fn any_other_query_is_a_syntax_error() {
    let env = start().await;
    let token = env.token(LA).await;
    for text in [
        "SecurityIncident | take 10".to_string(),
        AzureSim::sync_query(7).replace("Closed", "closed"),
        AzureSim::sync_query(7).replace("lookback = 7d", "lookback = 7h"),
    ] {
        let a = env.post_query(&token, &text).await;
        assert_eq!(a.status, 400);
        assert_eq!(a.json()["error"]["code"], "BadArgumentError");
        assert_eq!(a.json()["error"]["innererror"]["code"], "SyntaxError");
    }
}

#[tokio::test]
async fn documented_errors_of_the_query_api() {
    let env = start().await;
    let la = env.token(LA).await;
    let body = serde_json::json!({ "query": AzureSim::sync_query(7) }).to_string();
    // No Content-Type: documented empty 200.
    let a = env
        .send(env.http.post(env.query_url()).bearer_auth(&la).body(body.clone()))
        .await;
    assert_eq!((a.status, a.text.as_str()), (200, ""));
    // No Authorization.
    let a = env
        .send(
            env.http
                .post(env.query_url())
                .header("content-type", "application/json")
                .body(body.clone()),
        )
        .await;
    assert_eq!(a.status, 401);
    assert_eq!(a.json()["error"]["code"], "AuthenticationFailed");
    // ARM token and made-up token.
    let arm = env.token(ARM).await;
    for t in [arm.as_str(), "not-a-token"] {
        let a = env.post_query(t, &AzureSim::sync_query(7)).await;
        assert_eq!(a.status, 403);
        assert_eq!(a.json()["error"]["code"], "InvalidAuthenticationToken");
    }
    // Unknown workspace.
    let url = format!(
        "{}/v1/workspaces/00000000-0000-0000-0000-000000000000/query",
        env.sim.base_url()
    );
    let a = env
        .send(
            env.http
                .post(url)
                .bearer_auth(&la)
                .header("content-type", "application/json")
                .body(body),
        )
        .await;
    assert_eq!(a.status, 404);
    assert_eq!(a.json()["error"]["code"], "PathNotFoundError");
}

#[tokio::test]
async fn get_form_answers_the_same_query() {
    let env = start().await;
    incident_with_alert(&env, AlertSeed::default(), IncidentSeed::default());
    let la = env.token(LA).await;
    let url = format!("{}?query={}", env.query_url(), encode(&AzureSim::sync_query(7)));
    let a = env.send(env.http.get(url).bearer_auth(la)).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(rows_of(&a.json()).len(), 1);
}

#[tokio::test]
async fn query_faults_partial_error_gateway_timeout_and_throttling() {
    let env = start().await;
    incident_with_alert(&env, AlertSeed::default(), IncidentSeed::default());
    env.sim.inject(Fault {
        target: FaultTarget::Query,
        kind: FaultKind::PartialError,
        times: 1,
    });
    env.sim.inject(Fault {
        target: FaultTarget::Query,
        kind: FaultKind::GatewayTimeout,
        times: 1,
    });
    env.sim.inject(Fault {
        target: FaultTarget::Query,
        kind: FaultKind::Status {
            code: 429,
            retry_after_secs: Some(7),
        },
        times: 1,
    });
    let a = env.run_query(7).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.json()["error"]["code"], "PartialError");
    assert_eq!(rows_of(&a.json()).len(), 1);
    let a = env.run_query(7).await;
    assert_eq!(a.status, 504);
    assert_eq!(a.json()["error"]["innererror"]["message"], "Kusto query timed out");
    let a = env.run_query(7).await;
    assert_eq!(a.status, 429);
    assert_eq!(a.headers["retry-after"], "7");
    let a = env.run_query(7).await;
    assert_eq!(a.status, 200);
    assert!(a.json().get("error").is_none());
}

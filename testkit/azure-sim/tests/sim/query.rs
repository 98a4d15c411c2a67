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

/// The `Alerts` of a candidate row: (id, status, product) per alert.
fn alerts(row: &serde_json::Map<String, Value>) -> Vec<(String, String, String)> {
    let list: Value = serde_json::from_str(row["Alerts"].as_str().expect("dynamic is text")).unwrap();
    list.as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let f = |i: usize| a[i].as_str().unwrap().to_string();
            (f(0), f(1), f(2))
        })
        .collect()
}

/// Every alert of every candidate row.
fn all_alerts(rows: &[serde_json::Map<String, Value>]) -> Vec<(String, String, String)> {
    rows.iter().flat_map(alerts).collect()
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
    assert_eq!(
        alerts(&rows[0]),
        vec![(alert, "Resolved".into(), "Azure Security Center".into())]
    );
    assert_eq!(rows[0]["IncidentStatus"], "Active");
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
    assert_eq!(rows.len(), 1, "one row per incident");
    assert_eq!(rows[0]["IncidentName"], inc.as_str());
    let list = alerts(&rows[0]);
    assert_eq!(list.len(), 3);
    let alert = |id: &str| list.iter().find(|a| a.0 == id).unwrap().clone();
    assert_eq!(alert(&fresh).1, "Dismissed");
    assert_eq!((alert(&old).1.as_str(), alert(&old).2.as_str()), ("", ""));
    assert_eq!(alert(&other_product).2, "Azure Sentinel");
    assert!(rows[0]["LastAlertChange"].is_string());
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
    assert_eq!(alerts(&rows[0])[0].1, "InProgress");
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
    assert_eq!(alerts(&rows[0])[0].1, "New");
    let (incident_rows, alert_rows) = env.sim.table_rows();
    assert_eq!((incident_rows.len(), alert_rows.len()), (1, 1));
    // REST reads are current even while the tables lag.
    assert!(env.sim.incident(&fresh).is_some());
    tokio::time::sleep(Duration::from_millis(1700)).await;
    let rows = env.candidates(7).await;
    assert_eq!(rows.len(), 2);
    assert!(all_alerts(&rows).iter().all(|a| a.1 == "Resolved"));
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
        ("HasOwner", "bool"),
        ("ClosedLabel", "bool"),
        ("ActivatedLabel", "bool"),
        ("ToolChangedRecently", "bool"),
        ("Alerts", "dynamic"),
        ("LastAlertChange", "datetime"),
        ("ProviderName", "string"),
    ];
    assert_eq!(columns, expected.map(|(n, t)| (n.to_string(), t.to_string())).to_vec());
    assert_eq!(body["tables"][0]["name"], "PrimaryResult");
    for row in rows_of(&body) {
        assert!(row["IncidentNumber"].is_i64(), "int is a JSON number");
        assert!(
            row["HasOwner"].is_boolean() && row["ClosedLabel"].is_boolean(),
            "bool is a JSON bool"
        );
        assert_eq!(
            alerts(&row).len(),
            1,
            "Alerts is JSON text of [id, status, product] arrays"
        );
        let t = row["LastAlertChange"].as_str().unwrap();
        assert!(
            t.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(t).is_ok(),
            "{t}"
        );
        assert_eq!(row["HasOwner"], row["IncidentName"] == assigned.as_str());
        assert_eq!(row["ClosedLabel"], false, "a label of another name is not this tool's");
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

#[tokio::test]
async fn partitions_split_the_candidates_by_incident_number() {
    let env = start().await;
    let incidents: Vec<String> = (0..7)
        .map(|_| incident_with_alert(&env, AlertSeed::default(), IncidentSeed::default()).0)
        .collect();
    let token = env.token(LA).await;
    let mut seen = Vec::new();
    for index in 0..3 {
        let text = AzureSim::sync_query(7).replace(
            "let partitions = 1;\nlet partition = 0;",
            &format!("let partitions = 3;\nlet partition = {index};"),
        );
        let rows = rows_of(&env.post_query(&token, &text).await.json());
        for r in &rows {
            assert_eq!(r["IncidentNumber"].as_i64().unwrap() % 3, index);
        }
        seen.extend(names(&rows));
    }
    seen.sort();
    let mut all = incidents;
    all.sort();
    assert_eq!(seen, all, "the parts hold every incident once");
}

#[tokio::test]
async fn an_answer_past_the_record_limit_is_cut_and_says_so() {
    let env = start_with(SimConfig {
        query_record_limit: Some(3),
        ..SimConfig::default()
    })
    .await;
    for _ in 0..5 {
        incident_with_alert(&env, AlertSeed::default(), IncidentSeed::default());
    }
    let body = env.run_query(7).await.json();
    assert_eq!(rows_of(&body).len(), 3);
    assert_eq!(body["error"]["code"], "PartialError");
    let inner = body["error"]["details"][0]["innererror"]["message"].as_str().unwrap();
    assert!(inner.contains("E_QUERY_RESULT_SET_TOO_LARGE"), "{inner}");
}

#[tokio::test]
async fn the_tools_recent_changes_come_back_even_when_closed_and_labels_match_exactly() {
    let env = start().await;
    let closed = |labels: Vec<String>, ago: i64| IncidentSeed {
        status: "Closed".into(),
        classification: Some("TruePositive".into()),
        classification_reason: Some("SuspiciousActivity".into()),
        labels,
        last_modified_ago: Ago::minutes(ago),
        ..Default::default()
    };
    let (recent, _) = incident_with_alert(&env, AlertSeed::default(), closed(vec!["dfc-sync-closed".into()], 10));
    incident_with_alert(&env, AlertSeed::default(), closed(vec!["dfc-sync-closed".into()], 180));
    incident_with_alert(&env, AlertSeed::default(), closed(vec!["xdfc-sync-closed".into()], 10));
    let (active, _) = incident_with_alert(
        &env,
        AlertSeed::default(),
        IncidentSeed {
            status: "Active".into(),
            labels: vec!["dfc-sync-activated".into()],
            last_modified_ago: Ago::hours(3),
            ..Default::default()
        },
    );
    let rows = env.candidates(7).await;
    let mut expected = vec![recent.clone(), active.clone()];
    expected.sort();
    assert_eq!(
        names(&rows),
        expected,
        "closed ones only while recent and labelled by the tool"
    );
    let row = |name: &str| rows.iter().find(|r| r["IncidentName"] == name).unwrap().clone();
    assert_eq!(
        (
            row(&recent)["ClosedLabel"].clone(),
            row(&recent)["ToolChangedRecently"].clone()
        ),
        (Value::Bool(true), Value::Bool(true))
    );
    assert_eq!(row(&active)["ActivatedLabel"], true);
    assert_eq!(
        row(&active)["ToolChangedRecently"],
        false,
        "changed three hours ago, outside the window"
    );
}

//! Sentinel REST rules: routing and errors, PUT validation and replace semantics, etag conflicts,
//! comments, alerts and list paging, request log and connection-level faults.

use std::time::Duration;

use azure_sim::{AlertSeed, AnalystEdit, Fault, FaultKind, FaultTarget, IncidentSeed, SimConfig};
use serde_json::{Value, json};

use crate::helpers::{API, ARM, put_body_from, start, start_with};

#[tokio::test]
async fn get_incident_and_not_found() {
    let env = start().await;
    let id = env.sim.add_incident(IncidentSeed {
        labels: vec!["a".into()],
        ..Default::default()
    });
    let upper = env.incident_url(&id).replace("/incidents/", "/Incidents/");
    let a = env.arm_get(&upper).await;
    assert_eq!(a.status, 200);
    let body = a.json();
    assert_eq!(body["name"], id.as_str());
    assert_eq!(body["type"], "Microsoft.SecurityInsights/Incidents");
    assert!(body["id"].as_str().unwrap().ends_with(&format!("/Incidents/{id}")));
    let etag = body["etag"].as_str().unwrap();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    assert_eq!(etag, env.sim.incident(&id).unwrap().etag);
    let props = &body["properties"];
    assert_eq!(props["incidentNumber"], 1);
    assert_eq!(props["owner"]["objectId"], Value::Null);
    assert_eq!(props["labels"], json!([{"labelName": "a", "labelType": "User"}]));
    for k in ["classification", "classificationReason", "classificationComment"] {
        assert!(props.get(k).is_none(), "{k} must be omitted while open");
    }
    let a = env.arm_get(&env.incident_url("no-such-incident")).await;
    assert_eq!(a.status, 404);
    assert_eq!(a.json()["error"]["code"], "NotFound");
}

#[tokio::test]
async fn arm_front_door_errors() {
    let env = start().await;
    let id = env.sim.add_incident(IncidentSeed::default());
    let a = env.send(env.http.get(env.incident_url(&id))).await;
    assert_eq!(
        (a.status, a.json()["error"]["code"].clone()),
        (401, json!("AuthenticationFailed"))
    );
    let a = env
        .arm_get(&env.incident_url(&id).replace(API, "2019-01-01-preview"))
        .await;
    assert_eq!(
        (a.status, a.json()["error"]["code"].clone()),
        (400, json!("InvalidApiVersionParameter"))
    );
    for v in ["2024-09-01", "2025-03-01", "2025-06-01", "2025-12-01"] {
        assert_eq!(
            env.arm_get(&env.incident_url(&id).replace(API, v)).await.status,
            200,
            "{v}"
        );
    }
    let ws = env.sim.workspace().workspace_name.clone();
    let a = env
        .arm_get(&env.incident_url(&id).replace(&format!("/{ws}/"), "/other-ws/"))
        .await;
    assert_eq!(
        (a.status, a.json()["error"]["code"].clone()),
        (404, json!("ResourceNotFound"))
    );
    let a = env
        .arm_put(&format!("{}/incidents?api-version={API}", env.prefix()), &json!({}))
        .await;
    assert_eq!(a.status, 405);
    assert_eq!(a.json()["error"]["code"], "UnsupportedApiVersion");
    assert!(
        a.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("does not support HTTP method 'PUT'")
    );
}

#[tokio::test]
async fn put_validates_required_fields_and_classification_pairs() {
    let env = start().await;
    let id = env.sim.add_incident(IncidentSeed::default());
    let get = env.arm_get(&env.incident_url(&id)).await.json();
    let cases: Vec<(Vec<(&str, Value)>, u16)> = vec![
        (vec![("title", json!(""))], 400),
        (vec![("severity", json!("Critical"))], 400),
        (vec![("status", Value::Null)], 400),
        (vec![("status", json!("Resolved"))], 400),
        (vec![("status", json!("Closed"))], 400),
        (
            vec![("status", json!("Closed")), ("classification", json!("TruePositive"))],
            400,
        ),
        (
            vec![
                ("status", json!("Closed")),
                ("classification", json!("TruePositive")),
                ("classificationReason", json!("InaccurateData")),
            ],
            400,
        ),
        (
            vec![
                ("status", json!("Closed")),
                ("classification", json!("Undetermined")),
                ("classificationReason", json!("SuspiciousActivity")),
            ],
            400,
        ),
        (
            vec![
                ("status", json!("Closed")),
                ("classification", json!("Bogus")),
                ("classificationReason", json!("SuspiciousActivity")),
            ],
            400,
        ),
    ];
    for (changes, status) in cases {
        let body = put_body_from(&get, &changes);
        let a = env.arm_put(&env.incident_url(&id), &body).await;
        assert_eq!(a.status, status, "{changes:?}: {}", a.text);
        assert_eq!(a.json()["error"]["code"], "BadRequest");
    }
    let a = env
        .arm_put(
            &env.incident_url(&id),
            &put_body_from(
                &get,
                &[("status", json!("Closed")), ("classification", json!("BenignPositive"))],
            ),
        )
        .await;
    assert_eq!(
        a.json()["error"]["message"],
        "classification 'BenignPositive' must have classificationReason."
    );
    // Nothing was written by the rejected PUTs.
    assert_eq!(env.sim.incident(&id).unwrap().etag, get["etag"].as_str().unwrap());

    let valid = [
        ("TruePositive", Some("SuspiciousActivity")),
        ("BenignPositive", Some("SuspiciousButExpected")),
        ("FalsePositive", Some("IncorrectAlertLogic")),
        ("FalsePositive", Some("InaccurateData")),
        ("Undetermined", None),
    ];
    for (classification, reason) in valid {
        let id = env.sim.add_incident(IncidentSeed::default());
        let get = env.arm_get(&env.incident_url(&id)).await.json();
        let mut changes = vec![("status", json!("Closed")), ("classification", json!(classification))];
        if let Some(r) = reason {
            changes.push(("classificationReason", json!(r)));
        }
        let a = env
            .arm_put(&env.incident_url(&id), &put_body_from(&get, &changes))
            .await;
        assert_eq!(a.status, 200, "{classification}: {}", a.text);
        let view = env.sim.incident(&id).unwrap();
        assert_eq!(view.status, "Closed");
        assert_eq!(view.classification.as_deref(), Some(classification));
        assert_eq!(view.classification_reason.as_deref(), reason);
    }
}

#[tokio::test]
async fn put_replaces_writable_properties_and_returns_new_etag() {
    let env = start().await;
    let id = env.sim.add_incident(IncidentSeed {
        labels: vec!["keep-me?".into()],
        ..Default::default()
    });
    let get = env.arm_get(&env.incident_url(&id)).await.json();
    let (rows_before, _) = env.sim.table_rows();
    let mut body = put_body_from(&get, &[("status", json!("Active")), ("incidentNumber", json!(999))]);
    body["properties"].as_object_mut().unwrap().remove("labels");
    body["properties"].as_object_mut().unwrap().remove("description");
    let a = env.arm_put(&env.incident_url(&id), &body).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let put = a.json();
    assert_ne!(put["etag"], get["etag"]);
    assert_eq!(put["properties"]["status"], "Active");
    assert_eq!(put["properties"]["incidentNumber"], 1, "read-only property ignored");
    assert_eq!(put["properties"]["labels"], json!([]), "omitted labels are cleared");
    assert!(put["properties"]["lastModifiedTimeUtc"].as_str() > get["properties"]["lastModifiedTimeUtc"].as_str());
    let view = env.sim.incident(&id).unwrap();
    assert_eq!(view.etag, put["etag"].as_str().unwrap());
    assert!(view.labels.is_empty());
    let (rows_after, _) = env.sim.table_rows();
    assert_eq!(rows_after.len(), rows_before.len() + 1);
    assert_eq!(rows_after.last().unwrap()["Status"], "Active");

    // Creating a new incident by PUT answers 201 and numbers it.
    let new_id = "4b7a1f5e-0000-4000-8000-000000000001";
    let body = json!({"properties": {"title": "t", "severity": "Low", "status": "New"}});
    let a = env.arm_put(&env.incident_url(new_id), &body).await;
    assert_eq!(a.status, 201, "{}", a.text);
    assert_eq!(a.json()["properties"]["incidentNumber"], 2);
}

#[tokio::test]
async fn stale_etag_conflicts_and_absent_etag_wins() {
    let env = start().await;
    let id = env.sim.add_incident(IncidentSeed::default());
    env.sim.edit_after_next_get(
        &id,
        AnalystEdit {
            add_labels: vec!["analyst".into()],
            ..Default::default()
        },
    );
    let get = env.arm_get(&env.incident_url(&id)).await.json();
    assert_ne!(
        env.sim.incident(&id).unwrap().etag,
        get["etag"].as_str().unwrap(),
        "edit applied after GET"
    );
    let a = env
        .arm_put(
            &env.incident_url(&id),
            &put_body_from(&get, &[("status", json!("Active"))]),
        )
        .await;
    assert_eq!(a.status, 409);
    assert_eq!(
        a.json(),
        json!({"error": {"code": "Conflict", "message": format!("Newer version of resource '{id}' exists. Data was not saved")}})
    );
    assert_eq!(env.sim.incident(&id).unwrap().status, "New");
    let mut body = put_body_from(&get, &[("status", json!("Active"))]);
    body.as_object_mut().unwrap().remove("etag");
    assert_eq!(env.arm_put(&env.incident_url(&id), &body).await.status, 200);
    assert_eq!(env.sim.incident(&id).unwrap().status, "Active");
}

#[tokio::test]
async fn comments_are_idempotent_by_id_and_limited() {
    let env = start_with(SimConfig {
        comments_page_size: 2,
        ..SimConfig::default()
    })
    .await;
    let id = env.sim.add_incident(IncidentSeed::default());
    let etag = env.sim.incident(&id).unwrap().etag;
    let url = env.incident_sub_url(&id, "comments/c1");
    let a = env.arm_put(&url, &json!({"properties": {"message": "first"}})).await;
    assert_eq!(a.status, 201, "{}", a.text);
    let a = env.arm_put(&url, &json!({"properties": {"message": "second"}})).await;
    assert_eq!(a.status, 200);
    let view = env.sim.incident(&id).unwrap();
    assert_eq!(view.comments.len(), 1);
    assert_eq!(view.comments[0].message, "second");
    assert_ne!(view.etag, etag, "a comment write gives the incident a new etag");
    for bad in [
        json!({"properties": {"message": ""}}),
        json!({"properties": {}}),
        json!({"properties": {"message": "x".repeat(30_001)}}),
    ] {
        assert_eq!(
            env.arm_put(&env.incident_sub_url(&id, "comments/c2"), &bad)
                .await
                .status,
            400
        );
    }
    assert_eq!(
        env.arm_put(
            &env.incident_sub_url(&id, "comments/c2"),
            &json!({"properties": {"message": "x".repeat(30_000)}})
        )
        .await
        .status,
        201
    );
    for i in 3..=100 {
        let a = env
            .arm_put(
                &env.incident_sub_url(&id, &format!("comments/c{i}")),
                &json!({"properties": {"message": "m"}}),
            )
            .await;
        assert_eq!(a.status, 201);
    }
    let a = env
        .arm_put(
            &env.incident_sub_url(&id, "comments/c101"),
            &json!({"properties": {"message": "m"}}),
        )
        .await;
    assert_eq!(a.status, 400, "101st comment");
    assert_eq!(
        env.arm_put(&url, &json!({"properties": {"message": "edit"}}))
            .await
            .status,
        200,
        "updates still allowed"
    );
    // Paged list: 100 comments at 2 per page.
    let mut next = Some(env.incident_sub_url(&id, "comments"));
    let mut seen = Vec::new();
    while let Some(url) = next {
        let page = env.arm_get(&url).await.json();
        assert!(page["value"].as_array().unwrap().len() <= 2);
        seen.extend(
            page["value"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["name"].as_str().unwrap().to_string()),
        );
        next = page["nextLink"].as_str().map(str::to_string);
    }
    assert_eq!(seen.len(), 100);
    assert_eq!(seen[0], "c1");
}

#[tokio::test]
async fn alerts_are_paged_with_absolute_next_links_and_current_status() {
    let env = start_with(SimConfig {
        alerts_page_size: 2,
        ..SimConfig::default()
    })
    .await;
    let alerts: Vec<String> = (0..5).map(|_| env.sim.add_alert(AlertSeed::default())).collect();
    env.sim.set_alert_status(&alerts[4], "Resolved");
    let id = env.sim.add_incident(IncidentSeed {
        alert_ids: alerts.clone(),
        ..Default::default()
    });
    let mut next = Some(env.incident_sub_url(&id, "alerts"));
    let mut seen = Vec::new();
    let mut pages = 0;
    while let Some(url) = next {
        assert!(url.starts_with(&env.sim.base_url()), "{url}");
        let a = env.arm_post(&url).await;
        assert_eq!(a.status, 200, "{}", a.text);
        let page = a.json();
        pages += 1;
        for alert in page["value"].as_array().unwrap() {
            assert_eq!(alert["kind"], "SecurityAlert");
            seen.push((
                alert["properties"]["systemAlertId"].as_str().unwrap().to_string(),
                alert["properties"]["status"].as_str().unwrap().to_string(),
            ));
        }
        next = page["nextLink"].as_str().map(str::to_string);
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.iter().map(|s| s.0.clone()).collect::<Vec<_>>(), alerts);
    assert_eq!(seen[4].1, "Resolved");
    assert_eq!(seen[0].1, "New");
    let bad = format!("{}&$skipToken=zz", env.incident_sub_url(&id, "alerts"));
    assert_eq!(env.arm_post(&bad).await.status, 400);
}

#[tokio::test]
async fn list_incidents_with_top_and_paging() {
    let env = start().await;
    for _ in 0..3 {
        env.sim.add_incident(IncidentSeed::default());
    }
    let base = format!("{}/incidents?api-version={API}", env.prefix());
    assert_eq!(env.arm_get(&format!("{base}&$top=1001")).await.status, 400);
    let mut next = Some(format!("{base}&$top=2"));
    let mut numbers = Vec::new();
    while let Some(url) = next {
        let page = env.arm_get(&url).await.json();
        numbers.extend(
            page["value"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["properties"]["incidentNumber"].as_i64().unwrap()),
        );
        next = page["nextLink"].as_str().map(str::to_string);
    }
    assert_eq!(numbers, vec![1, 2, 3]);
}

#[tokio::test]
async fn request_log_and_arm_faults() {
    let env = start().await;
    let id = env.sim.add_incident(IncidentSeed::default());
    let token = env.token(ARM).await;
    env.sim.clear_requests();
    env.sim.inject(Fault {
        target: FaultTarget::AnyArm,
        kind: FaultKind::Status {
            code: 429,
            retry_after_secs: Some(3),
        },
        times: 1,
    });
    env.sim.inject(Fault {
        target: FaultTarget::IncidentGet,
        kind: FaultKind::Stall(Duration::from_millis(50)),
        times: 1,
    });
    env.sim.inject(Fault {
        target: FaultTarget::IncidentGet,
        kind: FaultKind::Delay(Duration::from_millis(300)),
        times: 1,
    });
    let a = env.send(env.http.get(env.incident_url(&id)).bearer_auth(&token)).await;
    assert_eq!(a.status, 429);
    assert_eq!(a.headers["retry-after"], "3");
    let err = env.http.get(env.incident_url(&id)).bearer_auth(&token).send().await;
    assert!(err.is_err(), "stalled connection is closed without an answer");
    let started = std::time::Instant::now();
    let a = env.send(env.http.get(env.incident_url(&id)).bearer_auth(&token)).await;
    assert_eq!(a.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
    let log = env.sim.requests();
    assert_eq!(log.iter().map(|r| r.status).collect::<Vec<_>>(), vec![429, 0, 200]);
    assert!(
        log.iter()
            .all(|r| r.method == "GET" && r.query.as_deref() == Some(&format!("api-version={API}")[..]))
    );
    assert!(log[0].path.ends_with(&id));
}

#[tokio::test]
async fn an_attached_alert_shows_over_rest_at_once_and_in_the_tables_only_when_ingested() {
    let env = start().await;
    let first = env.sim.add_alert(AlertSeed {
        status: "Resolved".into(),
        ..AlertSeed::default()
    });
    let id = env.sim.add_incident(IncidentSeed {
        alert_ids: vec![first],
        ..IncidentSeed::default()
    });
    let before = env.sim.incident(&id).unwrap().etag;
    let joined = env.sim.attach_alert(&id, AlertSeed::default());
    let get = env.arm_get(&env.incident_url(&id)).await.json();
    assert_eq!(get["properties"]["additionalData"]["alertsCount"], 2);
    assert_ne!(get["etag"].as_str().unwrap(), before, "attaching changes the etag");
    let alerts = env.arm_post(&env.incident_sub_url(&id, "alerts")).await.json();
    assert!(alerts["value"].as_array().unwrap().iter().any(|a| a["name"] == joined));
    let ids = |rows: &[serde_json::Map<String, Value>]| -> Vec<String> {
        rows.iter()
            .flat_map(|r| {
                let list: Value = serde_json::from_str(r["Alerts"].as_str().unwrap()).unwrap();
                list.as_array()
                    .unwrap()
                    .iter()
                    .map(|a| a[0].as_str().unwrap().to_owned())
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    assert!(!ids(&env.candidates(30).await).contains(&joined), "the tables lag REST");
    env.sim.ingest_held_rows();
    assert!(ids(&env.candidates(30).await).contains(&joined));
}

#[tokio::test]
async fn a_write_applied_whose_reply_is_lost_changes_the_incident() {
    let env = start().await;
    for kind in [FaultKind::AppliedThenStatus(504), FaultKind::AppliedThenDropped] {
        let id = env.sim.add_incident(IncidentSeed::default());
        env.sim.inject(Fault {
            target: FaultTarget::IncidentPut,
            kind: kind.clone(),
            times: 1,
        });
        let get = env.arm_get(&env.incident_url(&id)).await.json();
        let url = env.incident_url(&id);
        let body = put_body_from(&get, &[("status", json!("Active"))]);
        let token = env.token("https://management.azure.com").await;
        let sent = env.http.put(&url).bearer_auth(&token).json(&body).send().await;
        match kind {
            FaultKind::AppliedThenStatus(_) => assert_eq!(sent.unwrap().status().as_u16(), 504),
            _ => assert!(sent.is_err(), "no answer"),
        }
        assert_eq!(env.sim.incident(&id).unwrap().status, "Active", "{kind:?}: applied");
        // The retry carries the old etag: 409.
        assert_eq!(env.arm_put(&url, &body).await.status, 409);
    }
}

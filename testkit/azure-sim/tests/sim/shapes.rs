//! Shape fidelity: the simulator's GET incident, alerts and comment responses have the same key
//! sets, recursively, as the official 2025-09-01 examples.

use std::collections::BTreeSet;

use azure_sim::{AlertSeed, IncidentSeed, Owner};
use serde_json::{Value, json};

use crate::helpers::{put_body_from, start};

/// Root of the official examples.
const EXAMPLES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/sentinel-api/2025-09-01/incidents"
);

/// Reads `responses.<status>.body` of an example file.
fn example(file: &str, status: &str) -> Value {
    let text = std::fs::read_to_string(format!("{EXAMPLES}/{file}")).expect("example readable");
    let v: Value = serde_json::from_str(&text).unwrap();
    v["responses"][status]["body"].clone()
}

/// Paths of keys present on one side only, comparing objects recursively and arrays by their
/// first elements.
fn key_diff(ours: &Value, theirs: &Value, path: &str, out: &mut Vec<String>) {
    match (ours, theirs) {
        (Value::Object(a), Value::Object(b)) => {
            let ka: BTreeSet<&String> = a.keys().collect();
            let kb: BTreeSet<&String> = b.keys().collect();
            for k in ka.symmetric_difference(&kb) {
                let side = if a.contains_key(*k) {
                    "only ours"
                } else {
                    "only example"
                };
                out.push(format!("{path}.{k} ({side})"));
            }
            for k in ka.intersection(&kb) {
                key_diff(&a[*k], &b[*k], &format!("{path}.{k}"), out);
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            if let (Some(x), Some(y)) = (a.first(), b.first()) {
                key_diff(x, y, &format!("{path}[0]"), out);
            }
        }
        _ => {}
    }
}

/// Diff as a sorted list.
fn diff(ours: &Value, theirs: &Value) -> Vec<String> {
    let mut out = Vec::new();
    key_diff(ours, theirs, "", &mut out);
    out.sort();
    out
}

#[test]
fn key_diff_detects_missing_and_extra_keys() {
    let d = diff(
        &json!({"a": 1, "b": {"c": [{"d": 1}]}}),
        &json!({"a": 1, "b": {"c": [{"e": 1}]}, "f": 2}),
    );
    assert_eq!(
        d,
        vec![".b.c[0].d (only ours)", ".b.c[0].e (only example)", ".f (only example)"]
    );
}

#[tokio::test]
async fn incident_alerts_and_comment_match_official_example_keys() {
    let env = start().await;
    let alert = env.sim.add_alert(AlertSeed::default());
    let id = env.sim.add_incident(IncidentSeed {
        alert_ids: vec![alert],
        owner: Some(Owner {
            object_id: "2046feea-040d-4a46-9e2b-91c2941bfa70".into(),
            email: "john.doe@contoso.com".into(),
            user_principal_name: "john@contoso.com".into(),
            assigned_to: "john doe".into(),
        }),
        ..Default::default()
    });
    // The example incident is closed (FalsePositive/InaccurateData with a comment); match that.
    let get = env.arm_get(&env.incident_url(&id)).await.json();
    let body = put_body_from(
        &get,
        &[
            ("status", json!("Closed")),
            ("classification", json!("FalsePositive")),
            ("classificationReason", json!("InaccurateData")),
            ("classificationComment", json!("Not a malicious activity")),
        ],
    );
    assert_eq!(env.arm_put(&env.incident_url(&id), &body).await.status, 200);
    let ours = env.arm_get(&env.incident_url(&id)).await.json();
    // ownerType is in the schema and in real captures, though not in this example.
    assert_eq!(
        diff(&ours, &example("GetIncidentById.json", "200")),
        vec![".properties.owner.ownerType (only ours)"]
    );

    let ours = env.arm_post(&env.incident_sub_url(&id, "alerts")).await.json();
    assert_eq!(
        diff(&ours, &example("GetAllIncidentAlerts.json", "200")),
        Vec::<String>::new()
    );

    let put = env
        .arm_put(
            &env.incident_sub_url(&id, "comments/c1"),
            &json!({"properties": {"message": "hi"}}),
        )
        .await;
    assert_eq!(put.status, 201);
    assert_eq!(
        diff(&put.json(), &example("comments/CreateIncidentComment.json", "201")),
        Vec::<String>::new()
    );
    let list = env.arm_get(&env.incident_sub_url(&id, "comments")).await.json();
    assert_eq!(
        diff(&list, &example("comments/GetAllIncidentComments.json", "200")),
        Vec::<String>::new()
    );
    let one = env.arm_get(&env.incident_sub_url(&id, "comments/c1")).await.json();
    assert_eq!(
        diff(&one, &example("comments/GetIncidentCommentById.json", "200")),
        Vec::<String>::new()
    );
}

//! The Functions host protocol itself: start-up, readiness, configuration errors, envelope mode,
//! shutdown.

use std::time::Duration;

use azure_sim::SimConfig;
use functions_host::Outcome;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn missing_settings_still_start_and_every_invocation_names_the_setting() {
    let app = spawn_process_app_with(
        SimConfig::default(),
        &[
            ("SYNC_LOOKBACK_DAYS", "many"),
            ("SENTINEL_WORKSPACE_ID", "my-workspace"),
        ],
        &[],
    )
    .await;
    let invocation = app.run_timer().await;
    assert_eq!(invocation.http_status, 500);
    assert!(matches!(invocation.outcome, Outcome::Failed { .. }));
    assert!(
        invocation.raw_body.contains("SENTINEL_WORKSPACE_ID"),
        "{}",
        invocation.raw_body
    );
    assert!(
        invocation.raw_body.contains("SYNC_LOOKBACK_DAYS"),
        "{}",
        invocation.raw_body
    );
    let r = app.post_webhook(&json!({ "incidentId": "abc" })).await;
    assert_eq!(r.status, 500);
    assert!(r.text().contains("SENTINEL_WORKSPACE_ID"));
    assert!(app.handler_output().contains("SENTINEL_WORKSPACE_ID"));
    assert!(app.sim.requests().is_empty());
}

#[tokio::test]
async fn an_https_endpoint_outside_the_cloud_gets_no_token_and_every_invocation_names_the_setting() {
    let app = spawn_app_with(SimConfig::default(), &[("ARM_ENDPOINT", "https://evil.example")], &[]).await;
    let invocation = app.run_timer().await;
    assert_eq!(invocation.http_status, 500);
    assert!(matches!(invocation.outcome, Outcome::Failed { .. }));
    assert!(invocation.raw_body.contains("ARM_ENDPOINT"), "{}", invocation.raw_body);
    assert!(invocation.raw_body.contains("evil.example"), "{}", invocation.raw_body);
    let r = app.post_webhook(&json!({ "incidentId": "abc" })).await;
    assert_eq!(r.status, 500);
    assert!(r.text().contains("ARM_ENDPOINT"), "{}", r.text());
    // Not even a token was asked for.
    assert!(app.sim.requests().is_empty(), "{:?}", app.sim.requests());
}

#[tokio::test]
async fn readiness_probe_and_unknown_paths_answer_json() {
    let app = spawn_process_app().await;
    let base = app.handler.as_ref().unwrap().base_url();
    let client = reqwest::Client::new();
    let ready = client.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let missing = client.post(format!("{base}/api/Nope")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.headers()["content-type"], "application/json");
    let wrong_method = client
        .get(format!("{base}/api/SecurityAlertWebhook"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_method.status(), 405);
}

#[tokio::test]
async fn envelope_mode_webhook_answers_in_outputs_res() {
    let app = spawn_app().await;
    let (name, _) = app.seed("New", &[("Resolved", DFC, 1)]);
    let payload = json!({ "incidentId": name }).to_string().into_bytes();
    let r = app
        .host
        .call_http_envelope(webhook_request(
            "/api/SecurityAlertWebhook",
            "application/json",
            payload,
        ))
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let reply: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(reply["action"], "closed");
    assert_eq!(app.incident(&name).status, "Closed");
}

#[tokio::test]
async fn envelope_mode_says_what_is_wrong_with_an_envelope() {
    // Requests the host would not send, straight to the handler: each is answered in
    // `Outputs.res` with what happened, not as an empty body.
    let app = spawn_app().await;
    let client = reqwest::Client::new();
    let url = format!("{}/SecurityAlertWebhook", app.handler_url());
    let answer = |body: Vec<u8>| {
        let request = client.post(&url).header("content-type", "application/json").body(body);
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 200, "an envelope reply");
            let envelope: serde_json::Value = response.json().await.unwrap();
            let res = &envelope["Outputs"]["res"];
            let body: serde_json::Value = serde_json::from_str(res["body"].as_str().unwrap()).unwrap();
            (
                res["statusCode"].as_u64().unwrap(),
                body["error"]["code"].as_str().unwrap().to_owned(),
                body,
            )
        }
    };
    let (status, code, body) = answer(b"this is not an envelope".to_vec()).await;
    assert_eq!((status, code.as_str()), (400, "invalid-envelope"), "{body:#}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("not JSON"),
        "{body:#}"
    );
    let (status, code, body) = answer(json!({ "Data": {} }).to_string().into_bytes()).await;
    assert_eq!((status, code.as_str()), (400, "invalid-envelope"), "{body:#}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("Data.req"),
        "{body:#}"
    );
    // Larger than any envelope of an accepted body: too large, not empty.
    let huge = vec![b' '; 9 * 1024 * 1024];
    let (status, code, body) = answer(huge).await;
    assert_eq!((status, code.as_str()), (413, "payload-too-large"), "{body:#}");
    // A request with no body is still reported as an empty body.
    let empty = json!({ "Data": { "req": { "Headers": {} } } }).to_string().into_bytes();
    let (status, code, body) = answer(empty).await;
    assert_eq!((status, code.as_str()), (400, "empty-body"), "{body:#}");
    assert!(app.sim.requests().is_empty(), "no Azure call: {:?}", app.sim.requests());
}

#[tokio::test]
async fn sigterm_stops_the_handler_gracefully() {
    let mut app = spawn_process_app().await;
    let handler = app.handler.take().unwrap();
    assert!(handler.ready_after() < Duration::from_secs(10));
    let status = handler.terminate(Duration::from_secs(5)).await.unwrap();
    assert_eq!(status.code(), Some(0), "graceful exit");
}

//! SecurityAlertWebhook end to end: a caller's request through the host's forwarding → handler →
//! Sentinel REST on the simulator. Also every way a request is refused, with no Azure call.

use functions_host::CallerRequest;
use serde_json::{Value, json};

use crate::helpers::*;

fn body(response: &functions_host::CallerResponse) -> Value {
    serde_json::from_slice(&response.body).unwrap_or_else(|_| panic!("not JSON: {}", response.text()))
}

#[tokio::test]
async fn incident_trigger_payload_syncs_at_once_from_the_rest_api() {
    let app = spawn_app().await;
    let (name, alerts) = app.seed("New", &[("New", DFC, 1)]);
    // The alert changes in Defender for Cloud; the logs have not been queried at all.
    app.sim.set_alert_status(&alerts[0], "Dismissed");

    let response = app.post_webhook(&app.incident_payload(&name)).await;

    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.header("content-type"), Some("application/json"));
    let reply = body(&response);
    assert_eq!(reply["incident"], name.as_str());
    assert_eq!(reply["statusBefore"], "New");
    assert_eq!(reply["statusAfter"], "Closed");
    assert_eq!(reply["action"], "closed");
    assert_eq!(reply["reason"], "alerts-dismissed");
    assert_eq!(reply["alerts"][0]["status"], "Dismissed");
    assert_eq!(app.incident(&name).classification.as_deref(), Some("BenignPositive"));
    assert!(
        !app.sim.requests().iter().any(|r| r.path.ends_with("/query")),
        "no Log Analytics query"
    );
}

#[tokio::test]
async fn minimal_payloads_and_lower_case_paths_work() {
    let app = spawn_app().await;
    let (a, _) = app.seed("New", &[("InProgress", DFC, 1)]);
    let (b, _) = app.seed("Active", &[("InProgress", DFC, 1)]);
    let r = app
        .post_webhook_raw(
            "/api/securityalertwebhook",
            "application/json; charset=utf-8",
            json!({ "incidentId": a }).to_string().into_bytes(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(body(&r)["action"], "activated");
    let arm_id = format!(
        "{}/providers/Microsoft.SecurityInsights/Incidents/{b}",
        app.sim.workspace().resource_id()
    );
    let r = app
        .post_webhook(&json!({ "incidentId": arm_id, "unknownField": { "nested": [1, 2, 3] } }))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(body(&r)["action"], "unchanged");
    assert_eq!(body(&r)["reason"], "already-active");
}

#[tokio::test]
async fn an_unknown_incident_is_404() {
    let app = spawn_app().await;
    let r = app
        .post_webhook(&json!({ "incidentId": "6b1c2d3e-0000-4000-8000-000000000000" }))
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(body(&r)["error"]["code"], "incident-not-found");
}

#[tokio::test]
async fn the_reply_says_dry_run() {
    let app = spawn_app_with(azure_sim::SimConfig::default(), &[("SYNC_DRY_RUN", "true")], &[]).await;
    let (name, _) = app.seed("New", &[("Resolved", DFC, 1)]);
    let r = app.post_webhook(&json!({ "incidentId": name })).await;
    assert_eq!(body(&r)["action"], "would-close");
    assert_eq!(body(&r)["dryRun"], true);
    assert!(app.puts().is_empty());
}

#[tokio::test]
async fn bad_requests_get_json_errors_and_make_no_azure_call() {
    let app = spawn_app().await;
    let ws = app.sim.workspace().clone();
    let other_ws = ws.resource_id().replace(&ws.workspace_name, "someone-elses");
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("application/json", b"{not json".to_vec(), 400),
        ("application/json", Vec::new(), 400),
        ("text/plain", json!({ "incidentId": "x" }).to_string().into_bytes(), 415),
        ("", json!({ "incidentId": "x" }).to_string().into_bytes(), 415),
        (
            "application/json",
            json!({ "incidentId": "../../x" }).to_string().into_bytes(),
            400,
        ),
        (
            "application/json",
            json!({ "incidentId": "a%2Fb" }).to_string().into_bytes(),
            400,
        ),
        (
            "application/json",
            json!({ "incidentId": "https://evil.example/x" })
                .to_string()
                .into_bytes(),
            400,
        ),
        (
            "application/json",
            json!({ "incidentId": "x?y=1" }).to_string().into_bytes(),
            400,
        ),
        (
            "application/json",
            json!({ "incidentId": "x#y" }).to_string().into_bytes(),
            400,
        ),
        (
            "application/json",
            json!({ "incidentId": "x y" }).to_string().into_bytes(),
            400,
        ),
        (
            "application/json",
            json!({ "incidentId": format!("{other_ws}/providers/Microsoft.SecurityInsights/Incidents/abc") })
                .to_string()
                .into_bytes(),
            403,
        ),
        (
            "application/json",
            json!({ "workspaceId": "00000000-0000-0000-0000-000000000000", "object": { "name": "abc" } })
                .to_string()
                .into_bytes(),
            403,
        ),
        ("application/json", json!([1, 2]).to_string().into_bytes(), 400),
        ("application/json", "[".repeat(10_000).into_bytes(), 400),
        ("application/json", vec![b' '; 5 * 1024 * 1024], 413),
    ];
    for (content_type, payload, expected) in cases {
        let preview = String::from_utf8_lossy(&payload[..payload.len().min(60)]).to_string();
        let r = app
            .post_webhook_raw("/api/SecurityAlertWebhook", content_type, payload)
            .await;
        assert_eq!(r.status, expected, "{content_type} {preview}: {}", r.text());
        assert!(body(&r)["error"]["code"].is_string(), "{preview}: {}", r.text());
    }
    assert!(
        app.sim.requests().is_empty(),
        "Azure was called: {:?}",
        app.sim.requests()
    );
}

#[tokio::test]
async fn the_host_refuses_calls_without_the_function_key() {
    let app = spawn_app().await;
    let body = json!({ "incidentId": "abc" }).to_string().into_bytes();
    let r = app
        .host
        .call_http(CallerRequest {
            method: "POST".into(),
            path_and_query: "/api/SecurityAlertWebhook".into(),
            headers: vec![
                ("Content-Type".into(), "application/json".into()),
                ("Content-Length".into(), body.len().to_string()),
            ],
            body,
            chunked: false,
        })
        .await
        .unwrap();
    assert_eq!(r.status, 401);
    assert!(app.sim.requests().is_empty());
}

#[tokio::test]
async fn the_function_key_in_the_query_is_never_logged() {
    let app = spawn_process_app().await;
    let (name, _) = app.seed("New", &[("Resolved", DFC, 1)]);
    let payload = json!({ "incidentId": name }).to_string().into_bytes();
    let r = app
        .host
        .call_http(CallerRequest {
            method: "POST".into(),
            path_and_query: format!("/api/SecurityAlertWebhook?code={FUNCTION_KEY}"),
            headers: vec![
                ("Content-Type".into(), "application/json".into()),
                ("Content-Length".into(), payload.len().to_string()),
            ],
            body: payload,
            chunked: false,
        })
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    app.run_timer().await;
    let output = app.handler_output();
    assert!(output.contains("request handled"), "{output}");
    assert!(!output.contains(FUNCTION_KEY), "function key leaked into the logs");
    assert!(
        !output.contains(&app.sim.identity_header()),
        "identity header leaked into the logs"
    );
    assert!(
        !output.to_lowercase().contains("bearer "),
        "a bearer token leaked into the logs"
    );
}

#[tokio::test]
async fn alerts_are_read_across_pages() {
    let config = azure_sim::SimConfig {
        alerts_page_size: 2,
        ..azure_sim::SimConfig::default()
    };
    let app = spawn_app_with(config, &[], &[]).await;
    let (name, alerts) = app.seed(
        "New",
        &[
            ("Resolved", DFC, 1),
            ("Resolved", DFC, 1),
            ("Dismissed", DFC, 1),
            ("Resolved", DFC, 1),
            ("New", DFC, 1),
        ],
    );
    let r = app.post_webhook(&json!({ "incidentId": name })).await;
    let reply = body(&r);
    assert_eq!(reply["alerts"].as_array().unwrap().len(), 5, "{reply:#}");
    // The fifth alert (on the last page) is New, so the incident waits.
    assert_eq!(reply["reason"], "alerts-pending");
    let pages = app.calls_for(&name, "POST").len();
    assert_eq!(pages, 3);
    assert_eq!(alerts.len(), 5);
}

#[tokio::test]
async fn unknown_fields_and_huge_arrays_are_ignored() {
    let app = spawn_app().await;
    let (name, _) = app.seed("New", &[("Resolved", DFC, 1)]);
    let junk: Vec<u32> = (0..300_000).collect();
    let r = app
        .post_webhook(&json!({ "incidentId": name, "junk": junk, "more": { "a": [[[[1]]]] } }))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(body(&r)["action"], "closed");
}

#[tokio::test]
async fn a_timer_runs_calls_count_its_own_calls_not_the_webhooks() {
    let app = spawn_app().await;
    let (name, _) = app.seed("New", &[("Resolved", DFC, 1)]);
    let response = app.post_webhook(&app.incident_payload(&name)).await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(app.incident(&name).status, "Closed");
    // The run finds the webhook's change (and knows its comment): one query, nothing else.
    let (_, summary) = succeeded(&app.run_timer().await);
    assert_eq!(summary["calls"], json!({ "query": 1 }), "{summary:#}");
}

#[tokio::test]
async fn a_503_after_a_write_was_sent_says_so_and_the_next_call_completes_it() {
    let app = spawn_app_with(
        azure_sim::SimConfig::default(),
        &[("SYNC_WEBHOOK_TIMEOUT_SECONDS", "5")],
        &[],
    )
    .await;
    let (name, _) = app.seed("New", &[("Resolved", DFC, 1)]);
    // The status write is applied; the audit comment's write outlasts the webhook's time.
    app.sim.inject(azure_sim::Fault {
        target: azure_sim::FaultTarget::CommentPut,
        kind: azure_sim::FaultKind::Delay(std::time::Duration::from_secs(20)),
        times: 1,
    });
    let response = app.post_webhook(&app.incident_payload(&name)).await;
    assert_eq!(response.status, 503, "{}", response.text());
    let message = body(&response)["error"]["message"].as_str().unwrap().to_owned();
    assert!(
        message.contains("was sent and may have been applied without its audit comment")
            && !message.contains("nothing was"),
        "{message}"
    );
    assert_eq!(app.incident(&name).status, "Closed");
    // Called again, as the 503 asks: the change is found and its comment written, once.
    let again = app.post_webhook(&app.incident_payload(&name)).await;
    assert_eq!(again.status, 200, "{}", again.text());
    assert_eq!(app.incident(&name).comments.len(), 1);
}

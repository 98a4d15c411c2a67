//! Timer payloads, the chunked timer envelope, and the host's verdict on each kind of reply.

use std::collections::BTreeSet;

use functions_host::{FunctionsHost, HOST_VERSION, HostError, Outcome, timer};
use serde_json::{Value, json};

use crate::helpers::{Reply, reference_app, reference_json, spawn_handler};

/// Object keys at every level (null and scalars have none), as dotted paths.
fn key_paths(value: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    if let Value::Object(map) = value {
        for (k, v) in map {
            let path = format!("{prefix}{k}");
            out.insert(path.clone());
            key_paths(v, &format!("{path}."), out);
        }
    }
}

fn keys(value: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    key_paths(value, "", &mut out);
    out
}

#[test]
fn timer_variants_have_the_reference_key_sets() {
    let reference = reference_json("timer-payload-variants.json");
    let cases = [
        ("scheduled_run_with_monitor", timer::scheduled()),
        ("first_run_with_monitor_no_stored_status", timer::first_run()),
        ("past_due_run_at_host_start", timer::past_due()),
        ("use_monitor_false_or_sub_minute_schedule", timer::no_monitor()),
    ];
    for (name, ours) in cases {
        assert_eq!(keys(&ours), keys(&reference[name]), "{name}");
        assert_eq!(
            ours["ScheduleStatus"].is_null(),
            reference[name]["ScheduleStatus"].is_null(),
            "{name}"
        );
        assert_eq!(ours["IsPastDue"], reference[name]["IsPastDue"], "{name}");
    }
    let retry = json!({ "RetryContext": timer::retry_context(0, 3) });
    assert_eq!(
        keys(&retry["RetryContext"]),
        keys(&reference["metadata_when_host_json_retry_policy_configured"]["RetryContext"])
    );
}

#[test]
fn timer_dates_carry_an_offset_not_z() {
    for payload in [timer::scheduled(), timer::first_run(), timer::past_due()] {
        for field in ["Last", "Next", "LastUpdated"] {
            let date = payload["ScheduleStatus"][field].as_str().unwrap();
            assert!(date.ends_with("+00:00") && !date.contains('Z'), "{field}: {date}");
            chrono::DateTime::parse_from_rfc3339(date).unwrap();
        }
    }
    assert_eq!(
        timer::first_run()["ScheduleStatus"]["Last"],
        "0001-01-01T00:00:00+00:00"
    );
    let past = timer::past_due();
    let next = chrono::DateTime::parse_from_rfc3339(past["ScheduleStatus"]["Next"].as_str().unwrap()).unwrap();
    assert!(next < chrono::Utc::now(), "a past-due run's Next is in the past");
}

#[tokio::test]
async fn timer_invocation_is_a_chunked_envelope_with_host_headers() {
    let handler = spawn_handler(|_| Reply::json(200, r#"{"Outputs":{},"Logs":["ran"],"ReturnValue":null}"#)).await;
    let host = FunctionsHost::new(&handler.base_url, reference_app(), vec![]);
    let payload = timer::scheduled();

    let invocation = host.invoke_timer("SyncTimer", payload.clone(), None).await.unwrap();

    let [req] = handler.requests().try_into().unwrap();
    assert_eq!((req.method.as_str(), req.uri.as_str()), ("POST", "/SyncTimer"));
    assert_eq!(req.header("transfer-encoding"), Some("chunked"));
    assert_eq!(req.header("content-length"), None);
    assert_eq!(req.header("content-type"), Some("application/json; charset=utf-8"));
    assert_eq!(req.header("x-azure-functions-hostversion"), Some(HOST_VERSION));
    assert_eq!(
        req.header("x-azure-functions-invocationid"),
        Some(invocation.invocation_id.as_str())
    );
    assert_eq!(
        req.header("user-agent"),
        Some(format!("Azure-Functions-Host/{HOST_VERSION}").as_str())
    );
    uuid::Uuid::parse_str(&invocation.invocation_id).unwrap();
    let body = req.json();
    assert_eq!(
        keys(&body),
        keys(&reference_json("timer-invocation-request.json")["body"])
    );
    assert_eq!(body["Data"]["myTimer"], payload);
    assert_eq!(body["Metadata"]["sys"]["MethodName"], "SyncTimer");
    assert!(body["Metadata"]["sys"]["UtcNow"].as_str().unwrap().ends_with('Z'));
    assert_eq!(invocation.http_status, 200);
    assert_eq!(
        invocation.outcome,
        Outcome::Succeeded {
            logs: vec!["ran".into()],
            outputs: json!({}),
            return_value: Value::Null
        }
    );
}

#[tokio::test]
async fn retry_context_goes_into_metadata() {
    let handler = spawn_handler(|_| Reply::json(200, "{}")).await;
    let host = FunctionsHost::new(&handler.base_url, reference_app(), vec![]);

    host.invoke_timer("SyncTimer", timer::no_monitor(), Some(timer::retry_context(0, 3)))
        .await
        .unwrap();

    let body = handler.requests()[0].json();
    assert_eq!(body["Metadata"]["RetryContext"], timer::retry_context(0, 3));
    assert_eq!(body["Data"]["myTimer"]["ScheduleStatus"], Value::Null);
}

/// Invokes SyncTimer against a handler that always gives `reply`.
async fn outcome_for(reply: fn() -> Reply) -> Outcome {
    let handler = spawn_handler(move |_| reply()).await;
    let host = FunctionsHost::new(&handler.base_url, reference_app(), vec![]);
    host.invoke_timer("SyncTimer", timer::scheduled(), None)
        .await
        .unwrap()
        .outcome
}

#[tokio::test]
async fn non_2xx_fails_and_drops_logs() {
    let outcome = outcome_for(|| Reply::json(500, r#"{"Outputs":{},"Logs":["lost"],"ReturnValue":null}"#)).await;

    match outcome {
        Outcome::Failed { reason } => assert!(reason.contains("500"), "{reason}"),
        other => panic!("expected Failed, got {other:?}"),
    }
}

#[tokio::test]
async fn wrong_media_type_fails() {
    let outcome = outcome_for(|| Reply::new(200, "text/plain", r#"{"Outputs":{},"Logs":[]}"#)).await;

    assert!(
        matches!(&outcome, Outcome::Failed { reason } if reason.contains("text/plain")),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn invalid_json_fails() {
    let outcome = outcome_for(|| Reply::json(200, "{not json")).await;

    assert!(matches!(outcome, Outcome::Failed { .. }), "{outcome:?}");
}

#[tokio::test]
async fn empty_2xx_would_hang() {
    assert!(matches!(
        outcome_for(|| Reply::json(200, "")).await,
        Outcome::WouldHang { .. }
    ));
    assert!(matches!(
        outcome_for(|| Reply {
            status: 204,
            headers: vec![],
            body: vec![]
        })
        .await,
        Outcome::WouldHang { .. }
    ));
}

#[tokio::test]
async fn null_body_would_hang() {
    assert!(matches!(
        outcome_for(|| Reply::json(200, "null")).await,
        Outcome::WouldHang { .. }
    ));
}

#[tokio::test]
async fn lower_case_keys_are_accepted() {
    let outcome = outcome_for(|| {
        Reply::new(
            200,
            "text/json; charset=utf-8",
            r#"{"outputs":{"x":1},"logs":["a","b"],"returnValue":7}"#,
        )
    })
    .await;

    assert_eq!(
        outcome,
        Outcome::Succeeded {
            logs: vec!["a".into(), "b".into()],
            outputs: json!({"x": 1}),
            return_value: json!(7)
        }
    );
}

#[tokio::test]
async fn only_timer_functions_can_be_invoked_as_timers() {
    let handler = spawn_handler(|_| Reply::json(200, "{}")).await;
    let host = FunctionsHost::new(&handler.base_url, reference_app(), vec![]);

    for name in ["SecurityAlertWebhook", "Nope"] {
        let err = host.invoke_timer(name, timer::scheduled(), None).await.unwrap_err();
        assert!(matches!(err, HostError::UnknownFunction { .. }), "{err:?}");
    }
    assert!(handler.requests().is_empty());
}

#[tokio::test]
async fn unreachable_handler_is_an_error() {
    // Bind and drop to get a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let host = FunctionsHost::new(format!("http://127.0.0.1:{port}"), reference_app(), vec![]);

    let err = host
        .invoke_timer("SyncTimer", timer::scheduled(), None)
        .await
        .unwrap_err();

    assert!(matches!(err, HostError::Unreachable { .. }), "{err:?}");
}

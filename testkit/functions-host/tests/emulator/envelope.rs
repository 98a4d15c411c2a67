//! The HTTP envelope (forwarding off): `Data.req`/`Metadata` sent, `Outputs.res` mapped back.

use std::collections::BTreeSet;

use functions_host::{CallerRequest, FunctionsHost, HostError};
use serde_json::Value;

use crate::helpers::{KEY, Reply, envelope_app, reference_json, spawn_handler};

/// The keys of an object.
fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

/// The reference incident body.
fn incident() -> String {
    reference_json("http-envelope-request.json")["body"]["Data"]["req"]["Body"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The key value the reference payload shows.
const REFERENCE_KEY: &str = "REDACTED-FUNCTION-KEY";

/// The reference caller request: Logic Apps user agent, key in the header.
fn caller() -> CallerRequest {
    CallerRequest::post_json("/api/SecurityAlertWebhook", incident())
        .header("User-Agent", "azure-logic-apps/1.0")
        .header("x-functions-key", REFERENCE_KEY)
}

#[tokio::test]
async fn envelope_request_matches_the_reference_shape() {
    let reply = reference_json("http-envelope-response.json")["body"].to_string();
    let handler = spawn_handler(move |_| Reply::json(200, &reply)).await;
    let host = FunctionsHost::new(
        &handler.base_url,
        envelope_app(),
        vec![KEY.to_string(), REFERENCE_KEY.to_string()],
    );

    let res = host.call_http(caller()).await.unwrap();

    let [seen] = handler.requests().try_into().unwrap();
    assert_eq!(
        (seen.method.as_str(), seen.uri.as_str()),
        ("POST", "/SecurityAlertWebhook")
    );
    assert_eq!(seen.header("transfer-encoding"), Some("chunked"));
    let body = seen.json();
    let reference = reference_json("http-envelope-request.json")["body"].clone();
    let req = &body["Data"]["req"];
    assert_eq!(keys(req), keys(&reference["Data"]["req"]));
    assert_eq!(
        req["Headers"], reference["Data"]["req"]["Headers"],
        "headers as arrays, framing included"
    );
    assert_eq!(req["Url"], "http://localhost:7071/api/SecurityAlertWebhook");
    assert_eq!(req["Body"], incident());
    assert_eq!(req["Identities"][0]["AuthenticationType"], "WebJobsAuthLevel");
    assert_eq!(keys(&body["Metadata"]), keys(&reference["Metadata"]));
    for key in [
        "eventUniqueId",
        "objectSchemaType",
        "objectEventType",
        "workspaceId",
        "workspaceInfo",
        "object",
        "Headers",
        "Query",
    ] {
        assert_eq!(body["Metadata"][key], reference["Metadata"][key], "Metadata.{key}");
    }
    assert_eq!(
        body["Metadata"]["objectSchemaType"], "\"Incident\"",
        "scalars are double-encoded"
    );

    assert_eq!(res.status, 202);
    assert_eq!(res.header("content-type"), Some("application/json"));
    assert_eq!(
        res.text(),
        r#"{"status":"accepted","incident":"73e01a99-5cd7-4139-a149-9f2736ff2ab5"}"#
    );
}

#[tokio::test]
async fn query_params_except_code_become_double_encoded_metadata() {
    let handler = spawn_handler(|_| Reply::json(200, r#"{"Outputs":{"res":{"body":"ok"}}}"#)).await;
    let host = FunctionsHost::new(
        &handler.base_url,
        envelope_app(),
        vec![KEY.to_string(), REFERENCE_KEY.to_string()],
    );

    let res = host
        .call_http_envelope(CallerRequest::post_json(
            format!("/api/SecurityAlertWebhook?code={KEY}&name=Atlas"),
            "{}",
        ))
        .await
        .unwrap();

    let body = handler.requests()[0].json();
    assert_eq!(body["Metadata"]["name"], "\"Atlas\"");
    assert!(body["Metadata"].get("code").is_none());
    assert_eq!(body["Data"]["req"]["Query"]["code"], KEY);
    assert_eq!(
        (res.status, res.text(), res.header("content-type")),
        (200, "ok".into(), Some("text/plain; charset=utf-8"))
    );
}

#[tokio::test]
async fn host_failures_become_500_for_the_caller() {
    for reply in [
        || Reply::json(500, r#"{"Outputs":{"res":{"statusCode":202}}}"#),
        || Reply::new(200, "text/plain", "hello"),
        || Reply::json(200, r#"{"Outputs":{"res":42}}"#),
        || Reply::json(200, r#"{"Outputs":{"res":"not an object"}}"#),
    ] {
        let handler = spawn_handler(move |_| reply()).await;
        let host = FunctionsHost::new(
            &handler.base_url,
            envelope_app(),
            vec![KEY.to_string(), REFERENCE_KEY.to_string()],
        );

        let res = host.call_http(caller()).await.unwrap();

        assert_eq!(res.status, 500);
        assert_eq!(handler.requests().len(), 1);
    }
}

#[tokio::test]
async fn missing_res_gives_200_with_empty_object() {
    let handler = spawn_handler(|_| Reply::json(200, r#"{"Outputs":{},"Logs":[]}"#)).await;
    let host = FunctionsHost::new(
        &handler.base_url,
        envelope_app(),
        vec![KEY.to_string(), REFERENCE_KEY.to_string()],
    );

    let res = host.call_http(caller()).await.unwrap();

    assert_eq!((res.status, res.text()), (200, "{}".to_string()));
}

#[tokio::test]
async fn null_reply_would_hang() {
    let handler = spawn_handler(|_| Reply::json(200, "null")).await;
    let host = FunctionsHost::new(
        &handler.base_url,
        envelope_app(),
        vec![KEY.to_string(), REFERENCE_KEY.to_string()],
    );

    let err = host.call_http(caller()).await.unwrap_err();

    assert!(matches!(err, HostError::WouldHang { .. }), "{err:?}");
}

#[tokio::test]
async fn keys_are_still_checked_before_the_envelope() {
    let handler = spawn_handler(|_| Reply::json(200, "{}")).await;
    let host = FunctionsHost::new(
        &handler.base_url,
        envelope_app(),
        vec![KEY.to_string(), REFERENCE_KEY.to_string()],
    );

    let res = host
        .call_http_envelope(CallerRequest::post_json("/api/SecurityAlertWebhook", "{}"))
        .await
        .unwrap();

    assert_eq!(res.status, 401);
    assert!(handler.requests().is_empty());
}

//! Forwarded HTTP invocations: routing and keys in front, the request copy, the verbatim relay.

use functions_host::{CallerRequest, FunctionsHost, HOST_VERSION};

use crate::helpers::{FakeHandler, KEY, Reply, reference_app, reference_json, spawn_handler};

/// The reference webhook body from `http-forwarded-request.json`.
fn incident() -> String {
    reference_json("http-forwarded-request.json")["body_raw"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A handler answering 202 like the reference, and a host with forwarding on in front of it.
async fn setup() -> (FakeHandler, FunctionsHost) {
    let handler = spawn_handler(|_| Reply::json(202, r#"{"status":"accepted"}"#)).await;
    let host = FunctionsHost::new(&handler.base_url, reference_app(), vec![KEY.to_string()]);
    (handler, host)
}

#[tokio::test]
async fn missing_or_wrong_key_gets_401_from_the_host() {
    let (handler, host) = setup().await;

    let none = host
        .call_http(CallerRequest::post_json("/api/SecurityAlertWebhook", incident()))
        .await
        .unwrap();
    let wrong_header = host
        .call_http(CallerRequest::post_json("/api/SecurityAlertWebhook", incident()).header("x-functions-key", "nope"))
        .await
        .unwrap();
    let wrong_code = host
        .call_http(CallerRequest::post_json(
            "/api/SecurityAlertWebhook?code=nope",
            incident(),
        ))
        .await
        .unwrap();

    assert_eq!([none.status, wrong_header.status, wrong_code.status], [401, 401, 401]);
    assert!(handler.requests().is_empty(), "the handler must not be contacted");
}

#[tokio::test]
async fn key_in_header_forwards_the_request_like_the_host() {
    let (handler, host) = setup().await;
    let body = incident();
    let req = CallerRequest::post_json("/api/SecurityAlertWebhook", body.clone())
        .header("User-Agent", "azure-logic-apps/1.0")
        .header("x-functions-key", KEY);

    let res = host.call_http(req).await.unwrap();

    assert_eq!(res.status, 202);
    let [seen] = handler.requests().try_into().unwrap();
    assert_eq!(
        (seen.method.as_str(), seen.uri.as_str()),
        ("POST", "/api/SecurityAlertWebhook")
    );
    assert_eq!(seen.body, body.as_bytes());
    assert_eq!(seen.header("content-length"), Some(body.len().to_string().as_str()));
    assert_eq!(seen.header("content-type"), Some("application/json; charset=utf-8"));
    assert_eq!(seen.header("x-functions-key"), Some(KEY));
    assert_eq!(
        seen.header("host"),
        Some("localhost:7071"),
        "the caller's Host is copied"
    );
    assert_eq!(
        seen.header("user-agent"),
        Some(format!("azure-logic-apps/1.0 Azure-Functions-Host/{HOST_VERSION}").as_str())
    );
    assert_eq!(seen.header("x-azure-functions-hostversion"), Some(HOST_VERSION));
    uuid::Uuid::parse_str(seen.header("x-azure-functions-invocationid").unwrap()).unwrap();
    assert_eq!(seen.header("transfer-encoding"), None);
}

#[tokio::test]
async fn key_in_code_query_is_accepted_and_forwarded_with_the_callers_path_casing() {
    let (handler, host) = setup().await;

    let res = host
        .call_http(CallerRequest::post_json(
            format!("/API/securityalertwebhook?code={KEY}&tag=a+b"),
            incident(),
        ))
        .await
        .unwrap();

    assert_eq!(res.status, 202);
    let [seen] = handler.requests().try_into().unwrap();
    assert_eq!(seen.uri, format!("/API/securityalertwebhook?code={KEY}&tag=a%20b"));
}

#[tokio::test]
async fn unknown_function_and_wrong_method_get_404_from_the_host() {
    let (handler, host) = setup().await;
    let get = CallerRequest {
        method: "GET".into(),
        path_and_query: "/api/SecurityAlertWebhook".into(),
        ..Default::default()
    };

    let unknown = host
        .call_http(CallerRequest::post_json("/api/Nope", "{}").header("x-functions-key", KEY))
        .await
        .unwrap();
    let timer = host
        .call_http(CallerRequest::post_json("/api/SyncTimer", "{}").header("x-functions-key", KEY))
        .await
        .unwrap();
    let no_prefix = host
        .call_http(CallerRequest::post_json("/SecurityAlertWebhook", "{}").header("x-functions-key", KEY))
        .await
        .unwrap();
    let wrong_method = host.call_http(get.header("x-functions-key", KEY)).await.unwrap();

    assert_eq!(
        [unknown.status, timer.status, no_prefix.status, wrong_method.status],
        [404, 404, 404, 404]
    );
    assert!(handler.requests().is_empty());
}

#[tokio::test]
async fn chunked_caller_body_is_dropped() {
    let (handler, host) = setup().await;
    let mut req = CallerRequest::post_json("/api/SecurityAlertWebhook", incident()).header("x-functions-key", KEY);
    req.chunked = true;

    host.call_http(req).await.unwrap();

    let [seen] = handler.requests().try_into().unwrap();
    assert!(seen.body.is_empty(), "got {} body bytes", seen.body.len());
    assert_eq!(seen.header("content-type"), None);
    assert_eq!(seen.header("transfer-encoding"), None);
}

#[tokio::test]
async fn handler_reply_is_relayed_verbatim() {
    let handler = spawn_handler(|_| Reply {
        status: 403,
        headers: vec![
            ("content-type", "application/problem+json"),
            ("x-reason", "not-allowed"),
        ],
        body: br#"{"error": "forbidden",  "spacing":"kept"}"#.to_vec(),
    })
    .await;
    let host = FunctionsHost::new(&handler.base_url, reference_app(), vec![KEY.to_string()]);

    let res = host
        .call_http(CallerRequest::post_json(
            format!("/api/SecurityAlertWebhook?code={KEY}"),
            "{}",
        ))
        .await
        .unwrap();

    assert_eq!(res.status, 403);
    assert_eq!(res.body, br#"{"error": "forbidden",  "spacing":"kept"}"#);
    assert_eq!(res.header("content-type"), Some("application/problem+json"));
    assert_eq!(res.header("x-reason"), Some("not-allowed"));
}

#[tokio::test]
async fn redirects_are_relayed_not_followed() {
    let handler = spawn_handler(|_| Reply {
        status: 302,
        headers: vec![("location", "/elsewhere")],
        body: vec![],
    })
    .await;
    let host = FunctionsHost::new(&handler.base_url, reference_app(), vec![KEY.to_string()]);

    let res = host
        .call_http(CallerRequest::post_json(
            format!("/api/SecurityAlertWebhook?code={KEY}"),
            "{}",
        ))
        .await
        .unwrap();

    assert_eq!((res.status, res.header("location")), (302, Some("/elsewhere")));
    assert_eq!(handler.requests().len(), 1);
}

#[tokio::test]
async fn unreachable_handler_gives_the_caller_500() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let host = FunctionsHost::new(
        format!("http://127.0.0.1:{port}"),
        reference_app(),
        vec![KEY.to_string()],
    );

    let res = host
        .call_http(CallerRequest::post_json(
            format!("/api/SecurityAlertWebhook?code={KEY}"),
            "{}",
        ))
        .await
        .unwrap();

    assert_eq!(res.status, 500);
}

//! Proxied HTTP invocations (`enableProxyingHttpRequest`, YARP): which functions take that path,
//! and what reaches the handler: the caller's path and query untouched, the body even when
//! chunked, YARP's header rules, the host's invocation headers; the reply relayed as is.

use functions_host::{CallerRequest, FunctionsHost, HOST_VERSION, HttpPath};

use crate::helpers::{KEY, Reply, envelope_app, proxy_app, reference_app, spawn_handler};

#[test]
fn proxying_is_checked_before_forwarding_and_only_for_http_in_and_out_functions() {
    let webhook = |app: &functions_host::FunctionApp| app.http_path(app.function("SecurityAlertWebhook").unwrap());
    assert_eq!(webhook(&proxy_app()), HttpPath::Proxy);
    assert_eq!(webhook(&reference_app()), HttpPath::Forward);
    assert_eq!(webhook(&envelope_app()), HttpPath::Envelope);
    let app = proxy_app();
    let mut extra = app.function("SecurityAlertWebhook").unwrap().clone();
    extra.http_in_and_out = false;
    assert_eq!(
        app.http_path(&extra),
        HttpPath::Envelope,
        "an extra output means the envelope"
    );
}

#[tokio::test]
async fn the_callers_request_reaches_the_handler_as_sent_with_the_hosts_headers() {
    let handler = spawn_handler(|_| Reply::json(202, r#"{"status":"accepted"}"#)).await;
    let host = FunctionsHost::new(&handler.base_url, proxy_app(), vec![KEY.to_string()]);
    let body = r#"{"object":{"id":"x"}}"#;
    let mut req = CallerRequest::post_json(format!("/API/securityalertwebhook?code={KEY}&tag=a+b"), body)
        .header("User-Agent", "azure-logic-apps/1.0")
        .header("Host", "myapp.azurewebsites.net");
    req.chunked = true;

    let res = host.call_http(req).await.unwrap();

    assert_eq!(res.status, 202);
    let [seen] = handler.requests().try_into().unwrap();
    assert_eq!(
        seen.uri,
        format!("/API/securityalertwebhook?code={KEY}&tag=a+b"),
        "query not re-encoded"
    );
    assert_eq!(seen.body, body.as_bytes(), "a chunked body is streamed, not dropped");
    assert_eq!(seen.header("content-type"), Some("application/json; charset=utf-8"));
    assert_eq!(
        seen.header("user-agent"),
        Some("azure-logic-apps/1.0"),
        "no host suffix"
    );
    assert_ne!(
        seen.header("host"),
        Some("myapp.azurewebsites.net"),
        "YARP drops the caller's Host"
    );
    assert_eq!(seen.header("x-forwarded-host"), Some("myapp.azurewebsites.net"));
    assert_eq!(seen.header("x-forwarded-proto"), Some("http"));
    assert_eq!(seen.header("x-azure-functions-hostversion"), Some(HOST_VERSION));
    let id = seen.header("x-azure-functions-invocationid").unwrap();
    uuid::Uuid::parse_str(id).unwrap();
    assert_eq!(seen.header("x-ms-invocation-id"), Some(id));
}

#[tokio::test]
async fn the_handlers_reply_and_redirects_are_relayed_not_followed() {
    let handler = spawn_handler(|_| Reply {
        status: 302,
        headers: vec![("location", "/elsewhere"), ("x-reason", "moved")],
        body: b"see  elsewhere".to_vec(),
    })
    .await;
    let host = FunctionsHost::new(&handler.base_url, proxy_app(), vec![KEY.to_string()]);

    let res = host
        .call_http(CallerRequest::post_json(
            format!("/api/SecurityAlertWebhook?code={KEY}"),
            "{}",
        ))
        .await
        .unwrap();

    assert_eq!((res.status, res.header("location")), (302, Some("/elsewhere")));
    assert_eq!(
        (res.header("x-reason"), res.body.as_slice()),
        (Some("moved"), &b"see  elsewhere"[..])
    );
    assert_eq!(handler.requests().len(), 1);
}

#[tokio::test]
async fn keys_and_routes_are_still_checked_in_front_of_the_proxy() {
    let handler = spawn_handler(|_| Reply::json(202, "{}")).await;
    let host = FunctionsHost::new(&handler.base_url, proxy_app(), vec![KEY.to_string()]);

    let no_key = host
        .call_http(CallerRequest::post_json("/api/SecurityAlertWebhook", "{}"))
        .await
        .unwrap();
    let unknown = host
        .call_http(CallerRequest::post_json(format!("/api/Nope?code={KEY}"), "{}"))
        .await
        .unwrap();

    assert_eq!([no_key.status, unknown.status], [401, 404]);
    assert!(handler.requests().is_empty());
}

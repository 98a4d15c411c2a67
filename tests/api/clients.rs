//! The Azure clients against the recorded and documented answers of the real services, served
//! verbatim by a tiny replay server: each recorded body drives the client to its expected outcome.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use axum::{Router, http::StatusCode, response::IntoResponse};
use azure_core::{
    credentials::{AccessToken, TokenCredential, TokenRequestOptions},
    http::Url,
};
use dfc_sentinel_sync::{
    azure::{
        AzureError,
        incidents::{IncidentsClient, PutOutcome},
        logs::{LogsClient, Reader},
    },
    domain::{IncidentName, WorkspaceGuid, WorkspaceResourceId},
};
use serde_json::{Value, json};

/// Time a query may take in these tests.
const QUERY_TIME: std::time::Duration = std::time::Duration::from_secs(60);

/// A credential that hands out a fixed token (the replay server ignores it).
#[derive(Debug)]
struct StaticCredential;

#[async_trait::async_trait]
impl TokenCredential for StaticCredential {
    async fn get_token(&self, _: &[&str], _: Option<TokenRequestOptions<'_>>) -> azure_core::Result<AccessToken> {
        Ok(AccessToken::new(
            "replay-token",
            azure_core::time::OffsetDateTime::now_utc() + azure_core::time::Duration::hours(1),
        ))
    }
}

fn reference(path: &str) -> Value {
    let full = format!("{}/{path}", concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures"));
    serde_json::from_str(&std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"))).unwrap()
}

/// Serves `(status, body)` for every request, counting them.
async fn replay(status: u16, body: Option<Value>) -> (Url, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let app = Router::new().fallback(move || {
        let counter = counter.clone();
        let body = body.clone();
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
            let status = StatusCode::from_u16(status).unwrap();
            match body {
                Some(b) => (
                    status,
                    [("content-type", "application/json; charset=utf-8")],
                    b.to_string(),
                )
                    .into_response(),
                None => (status, "").into_response(),
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, hits)
}

/// A client of the query API at `url`, bound to the example workspace.
struct WorkspaceLogs(LogsClient, WorkspaceGuid);

impl WorkspaceLogs {
    async fn query(
        &self,
        query: &str,
        timeout: std::time::Duration,
    ) -> Result<Option<dfc_sentinel_sync::azure::logs::Table>, dfc_sentinel_sync::azure::AzureError> {
        self.0.query(&self.1, query, timeout).await
    }
}

fn logs_client(url: &Url) -> WorkspaceLogs {
    let ws = WorkspaceGuid::parse("c8c99641-985d-4e4e-8e91-fb3466cd0e5b").unwrap();
    WorkspaceLogs(
        LogsClient::new(url, Arc::new(StaticCredential), "https://api.loganalytics.io/.default").unwrap(),
        ws,
    )
}

fn incidents_client(url: &Url) -> IncidentsClient {
    let ws = WorkspaceResourceId::parse("/subscriptions/d0cfe6b2-9ac0-4464-9919-dccaee2e48c0/resourceGroups/myRg/providers/Microsoft.OperationalInsights/workspaces/myWorkspace").unwrap();
    IncidentsClient::new(
        url,
        &ws,
        "2025-09-01",
        Arc::new(StaticCredential),
        "https://management.azure.com/.default",
    )
}

fn name() -> IncidentName {
    IncidentName::parse("73e01a99-5cd7-4139-a149-9f2736ff2ab5").unwrap()
}

#[tokio::test]
async fn recorded_typed_values_are_read_by_column_type() {
    let recorded = reference("loganalytics-api/recorded/typed-values-200-truncated.json");
    let (url, _) = replay(200, Some(recorded["body"].clone())).await;
    let table = logs_client(&url)
        .query("print 1", QUERY_TIME)
        .await
        .unwrap()
        .expect("a table");
    let r = Reader::new(&table);
    let row = &r.rows()[0];
    assert_eq!(r.integer(row, r.column("Long", &["long"]).unwrap()).unwrap(), Some(1));
    assert_eq!(
        r.dynamic(row, r.column("Dynamic", &["dynamic"]).unwrap()).unwrap()["b"],
        "hello"
    );
}

#[tokio::test]
async fn a_recorded_partial_error_fails_the_query() {
    let recorded = reference("loganalytics-api/recorded/partial-error-200.json");
    let (url, _) = replay(200, Some(recorded["body"].clone())).await;
    let err = logs_client(&url).query("x", QUERY_TIME).await.unwrap_err();
    match &err {
        AzureError::Status { code, message, .. } => {
            assert_eq!(code, "PartialError");
            assert!(message.contains("E_QUERY_RESULT_SET_TOO_LARGE"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_recorded_gateway_timeout_is_retried_then_reported() {
    let recorded = reference("loganalytics-api/recorded/gateway-timeout-504.json");
    let (url, hits) = replay(504, Some(recorded["body"].clone())).await;
    let err = logs_client(&url).query("x", QUERY_TIME).await.unwrap_err();
    assert_eq!(err.status(), Some(504));
    assert!(err.to_string().contains("GatewayTimeout"), "{err}");
    assert_eq!(hits.load(Ordering::SeqCst), 6, "1 try + 5 retries");
}

#[tokio::test]
async fn documented_query_errors_surface_their_code() {
    let documented = reference("loganalytics-api/documented-errors/errors.json");
    for case in [
        "query-syntax-error",
        "no-authentication",
        "invalid-token",
        "insufficient-permissions",
        "path-not-found",
    ] {
        let (url, hits) = replay(
            documented[case]["status"].as_u64().unwrap() as u16,
            Some(documented[case]["body"].clone()),
        )
        .await;
        let err = logs_client(&url).query("x", QUERY_TIME).await.unwrap_err();
        let code = documented[case]["body"]["error"]["code"].as_str().unwrap();
        assert!(err.to_string().contains(code), "{case}: {err}");
        assert_eq!(hits.load(Ordering::SeqCst), 1, "{case} is not retried");
    }
    // The documented empty 200 (request not read as JSON) is an error, not an empty result.
    let (url, _) = replay(200, None).await;
    assert!(matches!(
        logs_client(&url).query("x", QUERY_TIME).await,
        Err(AzureError::Decode { .. })
    ));
    // The documented empty 204 (a workspace with no data) is no result, not an error.
    let case = &documented["no-data-in-workspace"];
    assert!(case["body"].is_null());
    let (url, hits) = replay(case["status"].as_u64().unwrap() as u16, None).await;
    assert!(matches!(logs_client(&url).query("x", QUERY_TIME).await, Ok(None)));
    assert_eq!(hits.load(Ordering::SeqCst), 1, "a 204 is not retried");
}

#[tokio::test]
async fn the_observed_stale_etag_conflict_is_a_conflict_outcome() {
    let observed = reference("sentinel-api/observed-errors/409-conflict-stale-etag.json");
    let (url, hits) = replay(409, Some(observed["body"].clone())).await;
    let outcome = incidents_client(&url)
        .put(&name(), &json!({ "properties": {} }))
        .await
        .unwrap();
    assert!(matches!(outcome, PutOutcome::Conflict { after_retry: false }));
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "409 is answered by re-reading, not retried blindly"
    );
}

#[tokio::test]
async fn the_observed_400_and_405_are_errors_with_the_service_message() {
    for (file, status) in [
        ("400-classification-without-reason.json", 400),
        ("405-unsupported-api-version-put-on-collection.json", 405),
    ] {
        let observed = reference(&format!("sentinel-api/observed-errors/{file}"));
        let (url, _) = replay(status, Some(observed["body"].clone())).await;
        let err = incidents_client(&url)
            .put(&name(), &json!({ "properties": {} }))
            .await
            .unwrap_err();
        assert_eq!(err.status(), Some(status));
        let message = observed["body"]["error"]["message"].as_str().unwrap();
        assert!(err.to_string().contains(&message[..30]), "{err}");
    }
}

#[tokio::test]
async fn official_get_and_alert_list_examples_are_read() {
    let get = reference("sentinel-api/2025-09-01/incidents/GetIncidentById.json");
    let (url, _) = replay(200, Some(get["responses"]["200"]["body"].clone())).await;
    let incident = incidents_client(&url).get(&name()).await.unwrap().unwrap();
    assert_eq!(incident.properties.title, "My incident");
    let alerts = reference("sentinel-api/2025-09-01/incidents/GetAllIncidentAlerts.json");
    let (url, _) = replay(200, Some(alerts["responses"]["200"]["body"].clone())).await;
    let list = incidents_client(&url).alerts(&name()).await.unwrap();
    assert_eq!(list[0].state().status.as_str(), "New");
    let (url, _) = replay(404, Some(json!({ "error": { "code": "NotFound", "message": "x" } }))).await;
    assert!(incidents_client(&url).get(&name()).await.unwrap().is_none());
}

#[tokio::test]
async fn a_next_link_to_another_host_is_not_followed() {
    let page = json!({ "value": [], "nextLink": "https://evil.example/steal?$skipToken=1" });
    let (url, hits) = replay(200, Some(page)).await;
    let err = incidents_client(&url).alerts(&name()).await.unwrap_err();
    assert!(err.to_string().contains("another host"), "{err}");
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_access_error_explains_the_roles_and_the_propagation_delay() {
    let documented = reference("loganalytics-api/documented-errors/errors.json");
    let (url, _) = replay(403, Some(documented["insufficient-permissions"]["body"].clone())).await;
    let err = logs_client(&url).query("x", QUERY_TIME).await.unwrap_err().to_string();
    assert!(
        err.contains("InsufficientAccessError") && err.contains("Log Analytics Reader") && err.contains("later run"),
        "{err}"
    );
}

/// A simulator whose next answer to `target` is a 200 of `bytes` bytes.
async fn sim_with_huge_answer(
    target: azure_sim::FaultTarget,
    bytes: usize,
    chunked: bool,
) -> (azure_sim::AzureSim, Url) {
    let sim = azure_sim::AzureSim::start(azure_sim::SimConfig::default())
        .await
        .unwrap();
    sim.inject(azure_sim::Fault {
        target,
        kind: azure_sim::FaultKind::HugeBody { bytes, chunked },
        times: 1,
    });
    let url = Url::parse(&sim.base_url()).unwrap();
    (sim, url)
}

#[tokio::test]
async fn a_resource_manager_answer_past_its_cap_fails_the_call_unread() {
    use dfc_sentinel_sync::azure::MAX_ARM_BODY;
    for chunked in [false, true] {
        let (_sim, url) = sim_with_huge_answer(azure_sim::FaultTarget::IncidentGet, MAX_ARM_BODY + 1, chunked).await;
        let error = incidents_client(&url).get(&name()).await.unwrap_err();
        assert!(
            error.to_string().contains("larger than 8 MiB"),
            "chunked {chunked}: {error}"
        );
    }
    // At the cap it is read (and then refused as the wrong shape, which it is).
    let (_sim, url) = sim_with_huge_answer(azure_sim::FaultTarget::IncidentGet, MAX_ARM_BODY, true).await;
    let error = incidents_client(&url).get(&name()).await.unwrap_err();
    assert!(!error.to_string().contains("larger than"), "{error}");
}

#[tokio::test]
async fn a_query_answer_past_its_cap_fails_the_query_unread() {
    use dfc_sentinel_sync::azure::MAX_QUERY_BODY;
    let (_sim, url) = sim_with_huge_answer(azure_sim::FaultTarget::Query, MAX_QUERY_BODY + 1, true).await;
    let error = logs_client(&url)
        .query("SecurityIncident", QUERY_TIME)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("larger than 128 MiB"), "{error}");
}

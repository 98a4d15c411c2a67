//! Token endpoint: App Service protocol 2019-08-01 as azure_identity's ManagedIdentityCredential
//! speaks it, and audience checks on the other two APIs.

use azure_sim::{Audience, SimConfig};

use crate::helpers::{ARM, LA, start, start_with};

#[tokio::test]
async fn issues_token_with_string_expires_on_and_all_required_fields() {
    let env = start_with(SimConfig {
        token_lifetime_secs: 600,
        ..SimConfig::default()
    })
    .await;
    let a = env
        .token_request(ARM, Some(&env.sim.identity_header()), "2019-08-01")
        .await;
    assert_eq!(a.status, 200);
    let body = a.json();
    let expires_on: i64 = body["expires_on"].as_str().expect("string").parse().expect("unix secs");
    let now = chrono::Utc::now().timestamp();
    assert!((now + 590..=now + 610).contains(&expires_on), "{expires_on} vs {now}");
    assert!(body["access_token"].as_str().is_some_and(|t| !t.is_empty()));
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["resource"], ARM);
    assert!(body["client_id"].is_string());
}

#[tokio::test]
async fn requires_identity_header_and_api_version() {
    let env = start().await;
    assert_eq!(env.token_request(ARM, None, "2019-08-01").await.status, 400);
    assert_eq!(env.token_request(ARM, Some("wrong"), "2019-08-01").await.status, 400);
    let h = env.sim.identity_header();
    assert_eq!(env.token_request(ARM, Some(&h), "2017-09-01").await.status, 400);
    assert_eq!(env.sim.token_requests(Audience::Arm), 0);
}

#[tokio::test]
async fn maps_resources_to_audiences_and_counts_them() {
    let env = start().await;
    let h = env.sim.identity_header();
    for r in [
        "https://management.azure.com",
        "https://management.azure.com/",
        "https://management.core.windows.net/",
        "https://management.usgovcloudapi.net",
        "https://management.chinacloudapi.cn",
    ] {
        assert_eq!(env.token_request(r, Some(&h), "2019-08-01").await.status, 200, "{r}");
    }
    for r in [
        "https://api.loganalytics.io",
        "https://api.loganalytics.us",
        "https://api.loganalytics.azure.cn",
    ] {
        assert_eq!(env.token_request(r, Some(&h), "2019-08-01").await.status, 200, "{r}");
    }
    assert_eq!(
        env.token_request("https://vault.azure.net", Some(&h), "2019-08-01")
            .await
            .status,
        400
    );
    assert_eq!(env.sim.token_requests(Audience::Arm), 5);
    assert_eq!(env.sim.token_requests(Audience::LogAnalytics), 3);
}

#[tokio::test]
async fn gov_arm_token_is_accepted_by_sentinel_but_la_token_is_not() {
    let env = start().await;
    let id = env.sim.add_incident(Default::default());
    let h = env.sim.identity_header();
    let gov = env
        .token_request("https://management.usgovcloudapi.net", Some(&h), "2019-08-01")
        .await
        .json();
    let gov = gov["access_token"].as_str().unwrap().to_string();
    let a = env.send(env.http.get(env.incident_url(&id)).bearer_auth(gov)).await;
    assert_eq!(a.status, 200);
    let la = env.token(LA).await;
    let a = env.send(env.http.get(env.incident_url(&id)).bearer_auth(la)).await;
    assert_eq!(a.status, 401);
    assert_eq!(a.json()["error"]["code"], "InvalidAuthenticationTokenAudience");
}

#[tokio::test]
async fn expired_tokens_are_rejected() {
    let env = start_with(SimConfig {
        token_lifetime_secs: 0,
        ..SimConfig::default()
    })
    .await;
    let id = env.sim.add_incident(Default::default());
    let a = env.arm_get(&env.incident_url(&id)).await;
    assert_eq!(a.status, 401);
    assert_eq!(a.json()["error"]["code"], "ExpiredAuthenticationToken");
}

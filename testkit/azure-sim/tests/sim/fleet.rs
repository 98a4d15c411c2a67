//! Several workspaces on one server, as one principal sees them: one identity endpoint and token
//! store, requests routed by the workspace their path names, the workspace resource's
//! `customerId`, and a workspace of another tenant that accepts the tokens only when delegated
//! through Azure Lighthouse.

use azure_sim::{
    AlertSeed, AzureSim, Fault, FaultKind, FaultTarget, ForeignTenant, IncidentSeed, QueryQueue, SimConfig, Workspace,
};

use crate::helpers::{ARM, LA, TestEnv};

fn second_workspace(foreign_tenant: Option<ForeignTenant>) -> SimConfig {
    SimConfig {
        workspace: Workspace {
            subscription_id: "0f7b9c1e-2d3a-4b5c-8d6e-7f8091a2b3c4".into(),
            resource_group: "customer-rg".into(),
            workspace_name: "customer-ws".into(),
            workspace_id: "3a9e1f52-6c7d-4e8f-9a0b-1c2d3e4f5a6b".into(),
        },
        foreign_tenant,
        ..SimConfig::default()
    }
}

async fn fleet(second: SimConfig) -> (TestEnv, TestEnv) {
    fleet_of(SimConfig::default(), second).await
}

async fn fleet_of(first: SimConfig, second: SimConfig) -> (TestEnv, TestEnv) {
    let mut sims = AzureSim::start_fleet(vec![first, second]).await.unwrap();
    let b = sims.pop().unwrap();
    let a = sims.pop().unwrap();
    assert_eq!(a.base_url(), b.base_url(), "one server");
    let http = reqwest::Client::new();
    (
        TestEnv {
            sim: a,
            http: http.clone(),
        },
        TestEnv { sim: b, http },
    )
}

fn seed(env: &TestEnv) -> String {
    let alert = env.sim.add_alert(AlertSeed::default());
    env.sim.add_incident(IncidentSeed {
        alert_ids: vec![alert],
        ..IncidentSeed::default()
    })
}

#[tokio::test]
async fn one_token_reaches_each_workspace_and_each_sees_only_its_own_incidents() {
    let (a, b) = fleet(second_workspace(None)).await;
    let in_a = seed(&a);
    let in_b = seed(&b);
    // Tokens come from the first member's identity endpoint; the second accepts them.
    let token = a.token(ARM).await;
    let get = |env: &TestEnv, id: &str| env.http.get(env.incident_url(id)).bearer_auth(token.clone());
    assert_eq!(b.send(get(&b, &in_b)).await.status, 200);
    assert_eq!(a.send(get(&a, &in_a)).await.status, 200);
    assert_eq!(a.send(get(&a, &in_b)).await.status, 404, "an incident of B is not in A");
    let la = a.token(LA).await;
    for (env, own) in [(&a, &in_a), (&b, &in_b)] {
        let answer = env.post_query(&la, &AzureSim::sync_query(7)).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        let rows = crate::helpers::rows_of(&answer.json());
        let names: Vec<&str> = rows.iter().filter_map(|r| r["IncidentName"].as_str()).collect();
        assert_eq!(names, [own.as_str()]);
    }
    assert_eq!(b.sim.requests().len(), 2, "each member records its own requests");
}

#[tokio::test]
async fn the_workspace_resource_gives_its_customer_id() {
    let (a, b) = fleet(second_workspace(None)).await;
    for env in [&a, &b] {
        let ws = env.sim.workspace();
        let url = format!("{}{}?api-version=2023-09-01", env.sim.base_url(), ws.resource_id());
        let answer = env.arm_get(&url).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        let body = answer.json();
        assert_eq!(body["properties"]["customerId"], ws.workspace_id.as_str());
        assert_eq!(body["id"], ws.resource_id().as_str());
        let old = env.arm_get(&url.replace("2023-09-01", "2015-03-20")).await;
        assert_eq!(
            (old.status, old.json()["error"]["code"].as_str()),
            (400, Some("InvalidApiVersionParameter"))
        );
    }
    let missing = a
        .arm_get(&format!(
            "{}/subscriptions/{}/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/nope?api-version=2023-09-01",
            a.sim.base_url(),
            a.sim.workspace().subscription_id
        ))
        .await;
    assert_eq!(missing.status, 404);
}

#[tokio::test]
async fn a_fault_aimed_at_the_workspace_read_hits_that_read_only() {
    let env = crate::helpers::start().await;
    let id = env.sim.add_incident(IncidentSeed::default());
    env.sim.inject(Fault {
        target: FaultTarget::WorkspaceGet,
        kind: FaultKind::Status {
            code: 503,
            retry_after_secs: None,
        },
        times: 1,
    });
    // An incident read is not the workspace read: answered as usual, the fault kept.
    assert_eq!(env.arm_get(&env.incident_url(&id)).await.status, 200);
    let url = format!(
        "{}{}?api-version=2023-09-01",
        env.sim.base_url(),
        env.sim.workspace().resource_id()
    );
    assert_eq!(env.arm_get(&url).await.status, 503);
    assert_eq!(env.arm_get(&url).await.status, 200);
}

#[tokio::test]
async fn a_workspace_of_another_tenant_accepts_the_tokens_only_when_delegated() {
    let tenant = "a1b2c3d4-0000-4000-8000-00000000c0de";
    let (a, b) = fleet(second_workspace(Some(ForeignTenant {
        tenant_id: tenant.into(),
        delegated: false,
    })))
    .await;
    let id = seed(&b);
    let denied = a
        .send(a.http.get(b.incident_url(&id)).bearer_auth(a.token(ARM).await))
        .await;
    assert_eq!(denied.status, 401, "{}", denied.text);
    let error = &denied.json()["error"];
    assert_eq!(error["code"], "InvalidAuthenticationTokenTenant");
    assert!(error["message"].as_str().unwrap().contains(tenant));
    let query = b.post_query(&a.token(LA).await, &AzureSim::sync_query(7)).await;
    assert_eq!(
        (query.status, query.json()["error"]["code"].as_str()),
        (403, Some("InsufficientAccessError"))
    );

    let (a, b) = fleet(second_workspace(Some(ForeignTenant {
        tenant_id: tenant.into(),
        delegated: true,
    })))
    .await;
    let id = seed(&b);
    let allowed = a
        .send(a.http.get(b.incident_url(&id)).bearer_auth(a.token(ARM).await))
        .await;
    assert_eq!(
        allowed.status, 200,
        "Lighthouse: the managing tenant's token works: {}",
        allowed.text
    );
}

#[tokio::test]
async fn queries_beyond_the_principals_slots_wait_and_a_long_wait_is_answered_429() {
    let queue = QueryQueue {
        slots: 2,
        max_wait: std::time::Duration::from_millis(150),
        run_time: std::time::Duration::from_millis(400),
    };
    let (a, b) = fleet_of(
        SimConfig {
            query_queue: Some(queue),
            ..SimConfig::default()
        },
        second_workspace(None),
    )
    .await;
    let la = a.token(LA).await;
    let text = AzureSim::sync_query(7);
    // Three at once over both workspaces: the queue is the principal's, so one waits too long.
    let (x, y, z) = tokio::join!(
        a.post_query(&la, &text),
        b.post_query(&la, &text),
        a.post_query(&la, &text)
    );
    let mut statuses = vec![x.status, y.status, z.status];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 200, 429]);
    assert_eq!(a.sim.query_queue_stats(), (2, 1));
    // One after the other: each has a slot at once.
    for env in [&a, &b] {
        assert_eq!(env.post_query(&la, &text).await.status, 200);
    }
    assert_eq!(b.sim.query_queue_stats(), (2, 1), "one queue for the fleet");
    // Without the option nothing waits.
    let (c, _) = fleet(second_workspace(None)).await;
    assert_eq!(c.sim.query_queue_stats(), (0, 0));
}

/// One comment PUT (a write) on a new incident of `env`: 200 when ARM let it through (the
/// comment's own 200 or 201), else what ARM answered.
async fn one_write(env: &TestEnv) -> u16 {
    let id = seed(env);
    let url = env.incident_sub_url(&id, &format!("comments/{}", uuid::Uuid::new_v4()));
    match env
        .arm_put(&url, &serde_json::json!({ "properties": { "message": "x" } }))
        .await
        .status
    {
        200 | 201 => 200,
        other => other,
    }
}

#[tokio::test]
async fn resource_manager_throttles_each_subscription_on_its_own_buckets() {
    // One write a burst, none refilled in the test's time.
    let tight = azure_sim::ArmThrottle {
        read_burst: 100.0,
        read_rate: 100.0,
        write_burst: 1.0,
        write_rate: 0.01,
    };
    let throttled = |config: SimConfig| SimConfig {
        arm_throttle: Some(tight),
        ..config
    };
    // Two subscriptions: each has its own write, the second write of one is refused.
    let (a, b) = fleet_of(throttled(SimConfig::default()), throttled(second_workspace(None))).await;
    assert_eq!(one_write(&a).await, 200);
    assert_eq!(one_write(&b).await, 200);
    assert_eq!(one_write(&a).await, 429);
    assert_eq!((a.sim.throttled_requests(), b.sim.throttled_requests()), (1, 0));
    // Two workspaces of one subscription share its buckets.
    let mut same = second_workspace(None);
    same.workspace.subscription_id = SimConfig::default().workspace.subscription_id;
    let (a, b) = fleet_of(throttled(SimConfig::default()), same).await;
    assert_eq!(one_write(&a).await, 200);
    assert_eq!(
        one_write(&b).await,
        429,
        "the second workspace's write took from the same bucket"
    );
    assert!(
        b.sim.arm_tokens().is_some(),
        "the second workspace's subscription is throttled"
    );
    // A subscription that asks for no throttling is not throttled.
    let (a, b) = fleet_of(throttled(SimConfig::default()), second_workspace(None)).await;
    assert_eq!(one_write(&a).await, 200);
    for _ in 0..3 {
        assert_eq!(one_write(&b).await, 200);
    }
    assert_eq!(b.sim.arm_tokens(), None);
}

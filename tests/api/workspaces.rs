//! Several workspaces from one deployment: one simulator server hosting each workspace (one in a
//! customer's tenant, delegated through Azure Lighthouse or not), the handler configured with the
//! list. One timer run syncs all and a failing workspace fails alone; the webhook serves every
//! configured workspace and refuses the others without an Azure call; the workspace ids are read
//! from the workspace resources once when the settings do not give them; queries wait for the
//! principal's five slots; `sync` and `check` work per workspace.

use std::time::Duration;

use azure_sim::{
    ArmThrottle, AzureSim, Fault, FaultKind, FaultTarget, ForeignTenant, QueryQueue, SimConfig, Workspace,
};
use functions_host::Outcome;
use serde_json::{Value, json};

use crate::helpers::{
    DFC, TestApp, fleet_settings, output_text, run_cli, spawn_fleet_with, spawn_process_fleet_with, trigger_payload,
};

const CUSTOMER_TENANT: &str = "a1b2c3d4-0000-4000-8000-00000000c0de";

/// The `n`th extra workspace (n ≥ 1), in its own subscription; of a customer's tenant when
/// `foreign` is given.
fn workspace(n: u32, foreign: Option<bool>) -> SimConfig {
    SimConfig {
        workspace: Workspace {
            subscription_id: format!("{n:08x}-2d3a-4b5c-8d6e-7f8091a2b3c4"),
            resource_group: format!("customer-rg-{n}"),
            workspace_name: format!("ws-{n}"),
            workspace_id: format!("{n:08x}-6c7d-4e8f-9a0b-1c2d3e4f5a6b"),
        },
        foreign_tenant: foreign.map(|delegated| ForeignTenant {
            tenant_id: CUSTOMER_TENANT.into(),
            delegated,
        }),
        ..SimConfig::default()
    }
}

/// The `n`th extra workspace (n ≥ 1) in the first workspace's subscription.
fn in_first_subscription(n: u32) -> SimConfig {
    let mut config = workspace(n, None);
    config.workspace.subscription_id = SimConfig::default().workspace.subscription_id;
    config
}

/// The invocation's body (`Logs`, `ReturnValue`), whatever its status.
fn body(invocation: &functions_host::Invocation) -> Value {
    serde_json::from_str(&invocation.raw_body).expect("the invocation body is JSON")
}

fn logs(invocation: &functions_host::Invocation) -> Vec<String> {
    body(invocation)["Logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().to_owned())
        .collect()
}

/// `GET`s of the workspace resource itself (for its id) that `sim` answered.
fn workspace_reads(sim: &AzureSim) -> usize {
    let path = sim.workspace().resource_id();
    sim.requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path.eq_ignore_ascii_case(&path))
        .count()
}

fn resolved(app: &TestApp, index: usize) -> String {
    app.seed_in(index, "New", &[("Resolved", DFC, 1)]).0
}

#[tokio::test]
async fn one_run_syncs_every_workspace_and_a_failing_one_fails_alone() {
    // The second workspace is a customer's that has not delegated it: every call to it fails.
    let app = spawn_process_fleet_with(
        vec![SimConfig::default(), workspace(1, Some(false)), workspace(2, None)],
        &[],
        &["SENTINEL_WORKSPACE_ID"],
    )
    .await;
    let names: Vec<String> = (0..3).map(|i| resolved(&app, i)).collect();
    let invocation = app.run_timer().await;
    assert_eq!(invocation.http_status, 500, "{}", invocation.raw_body);
    assert!(matches!(invocation.outcome, Outcome::Failed { .. }));
    for i in [0, 2] {
        let incident = app.fleet[i].incident(&names[i]).unwrap();
        assert_eq!(incident.status, "Closed", "workspace {i}");
        assert_eq!(incident.comments.len(), 1, "one audit comment");
    }
    assert_eq!(app.fleet[1].incident(&names[1]).unwrap().status, "New");

    let run = &body(&invocation)["ReturnValue"];
    assert_eq!(run["status"], "failed");
    assert_eq!(run["failedWorkspaces"], json!(["ws-1"]));
    assert_eq!(run["workspaces"].as_array().unwrap().len(), 3);
    assert_eq!(
        run["workspaces"][1]["workspace"],
        app.fleet[1].workspace().resource_id()
    );
    let error = run["workspaces"][1]["error"].as_str().unwrap();
    assert!(
        error.contains("could not be read from its resource") && error.contains("InvalidAuthenticationTokenTenant"),
        "{error}"
    );
    assert_eq!(run["workspaces"][0]["closed"], 1);
    assert_eq!(
        (run["totals"]["closed"].as_u64(), run["totals"]["scanned"].as_u64()),
        (Some(2), Some(2))
    );
    let lines = logs(&invocation);
    assert!(
        lines.iter().any(|l| l.starts_with("SyncTimer: workspace ws-1: run ")
            && l.contains(" failed: the workspace's id could not be read")),
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("SyncTimer: workspace sentinel-ws: incident #")
                && l.contains(" closed: New → Closed")),
        "{lines:#?}"
    );
    let last = lines.last().unwrap();
    assert!(
        last.contains(" failed: 3 workspaces, 1 failed: ws-1; in all 2 candidates, 2 changed (2 closed, 0 activated)"),
        "{last}"
    );
    let output = app.handler_output();
    assert!(
        output
            .lines()
            .any(|l| l.contains("workspace=ws-1") && l.contains("run failed: the workspace's id could not be read")),
        "{output}"
    );
    assert!(
        output
            .lines()
            .any(|l| l.contains("workspace=ws-2") && l.contains("run finished")),
        "{output}"
    );

    // The ids read are kept: the next run reads no workspace resource again, but the failed one.
    assert_eq!((workspace_reads(&app.fleet[0]), workspace_reads(&app.fleet[2])), (1, 1));
    let again = app.run_timer().await;
    assert_eq!(again.http_status, 500);
    assert_eq!(workspace_reads(&app.fleet[0]), 1);
    assert_eq!(workspace_reads(&app.fleet[2]), 1);
}

#[tokio::test]
async fn a_workspace_delegated_through_lighthouse_is_synced_with_the_home_tenants_token() {
    let app = spawn_fleet_with(vec![SimConfig::default(), workspace(1, Some(true))], &[], &[]).await;
    let a = resolved(&app, 0);
    let b = resolved(&app, 1);
    let invocation = app.run_timer().await;
    assert_eq!(invocation.http_status, 200, "{}", invocation.raw_body);
    assert_eq!(app.fleet[0].incident(&a).unwrap().status, "Closed");
    assert_eq!(app.fleet[1].incident(&b).unwrap().status, "Closed");
    // With the ids in the settings, no workspace resource is read.
    assert_eq!(app.fleet.iter().map(workspace_reads).sum::<usize>(), 0);
    let run = &body(&invocation)["ReturnValue"];
    assert_eq!(run["status"], "succeeded");
    assert_eq!(run["failedWorkspaces"], json!([]));
}

#[tokio::test]
async fn the_webhook_serves_every_configured_workspace_and_refuses_others_without_a_call() {
    let app = spawn_fleet_with(vec![SimConfig::default(), workspace(1, None)], &[], &[]).await;
    let a = resolved(&app, 0);
    let b = resolved(&app, 1);
    let r = app.post_webhook(&trigger_payload(&app.fleet[1], &b)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let reply: Value = serde_json::from_str(&r.text()).unwrap();
    assert_eq!(reply["workspace"], app.fleet[1].workspace().resource_id());
    assert_eq!(reply["action"], "closed");
    assert_eq!(app.fleet[1].incident(&b).unwrap().status, "Closed");
    let arm_id = format!(
        "{}/providers/Microsoft.SecurityInsights/Incidents/{a}",
        app.fleet[0].workspace().resource_id()
    );
    let r = app.post_webhook(&json!({ "incidentId": arm_id })).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(app.fleet[0].incident(&a).unwrap().status, "Closed");

    // Another workspace, named by ARM id, by workspaceInfo or by workspaceId: 403, no call.
    for sim in &app.fleet {
        sim.clear_requests();
    }
    let stranger = AzureSim::start(workspace(7, None)).await.unwrap();
    let other = trigger_payload(&stranger, "73e01a99-5cd7-4139-a149-9f2736ff2ab5");
    let mut info_only = other.clone();
    info_only["object"] = json!({ "name": "73e01a99-5cd7-4139-a149-9f2736ff2ab5" });
    let mut id_only = info_only.clone();
    id_only.as_object_mut().unwrap().remove("workspaceInfo");
    for payload in [other, info_only, id_only] {
        let r = app.post_webhook(&payload).await;
        assert_eq!(r.status, 403, "{payload}: {}", r.text());
        assert!(r.text().contains("\"wrong-workspace\""), "{}", r.text());
    }
    // A bare name is ambiguous with two workspaces.
    let r = app.post_webhook(&json!({ "incidentId": a })).await;
    assert_eq!(r.status, 400);
    assert!(r.text().contains("this function serves 2 workspaces"), "{}", r.text());
    assert!(
        app.fleet.iter().all(|s| s.requests().is_empty()),
        "refused payloads cost no Azure call"
    );
}

#[tokio::test]
async fn without_the_ids_a_payload_named_by_workspace_id_alone_is_routed_after_reading_them() {
    let app = spawn_fleet_with(
        vec![SimConfig::default(), workspace(1, None)],
        &[],
        &["SENTINEL_WORKSPACE_ID"],
    )
    .await;
    let b = resolved(&app, 1);
    let payload = json!({ "workspaceId": app.fleet[1].workspace().workspace_id, "object": { "name": b } });
    let r = app.post_webhook(&payload).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(app.fleet[1].incident(&b).unwrap().status, "Closed");
    assert_eq!((workspace_reads(&app.fleet[0]), workspace_reads(&app.fleet[1])), (1, 1));
    // A full trigger payload is routed by its ARM fields; its workspaceId is checked against the
    // id read (a wrong one is refused).
    let a = resolved(&app, 0);
    let mut wrong = trigger_payload(&app.fleet[0], &a);
    wrong["workspaceId"] = json!(app.fleet[1].workspace().workspace_id);
    let r = app.post_webhook(&wrong).await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(app.fleet[0].incident(&a).unwrap().status, "New");
    assert_eq!(app.post_webhook(&trigger_payload(&app.fleet[0], &a)).await.status, 200);
    assert_eq!(workspace_reads(&app.fleet[0]), 1, "each id is read once");
}

#[tokio::test]
async fn the_webhooks_timeout_covers_the_workspace_id_reads_its_routing_needs() {
    // No ids in the settings, and the second workspace's resource answers after 30 s: the
    // webhook (5 s) must neither wait for it when the first workspace's id decides, nor answer
    // late when it needs it.
    let app = spawn_fleet_with(
        vec![SimConfig::default(), workspace(1, None)],
        &[("SYNC_WEBHOOK_TIMEOUT_SECONDS", "5")],
        &["SENTINEL_WORKSPACE_ID"],
    )
    .await;
    app.fleet[1].inject(Fault {
        target: FaultTarget::WorkspaceGet,
        kind: FaultKind::Delay(Duration::from_secs(30)),
        times: 2,
    });
    let within = Duration::from_secs(5 + 3);
    // Named by the first workspace's id alone: the ids are read at once, and the first decides.
    let a = resolved(&app, 0);
    let started = std::time::Instant::now();
    let r = app
        .post_webhook(&json!({ "workspaceId": app.fleet[0].workspace().workspace_id, "object": { "name": a } }))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(started.elapsed() < within, "answered after {:?}", started.elapsed());
    assert_eq!(app.fleet[0].incident(&a).unwrap().status, "Closed");
    // Named by the second workspace's id, which is not read in time: 503 with Retry-After, in
    // time, and nothing written.
    let b = resolved(&app, 1);
    let started = std::time::Instant::now();
    let r = app
        .post_webhook(&json!({ "workspaceId": app.fleet[1].workspace().workspace_id, "object": { "name": b } }))
        .await;
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(started.elapsed() < within, "answered after {:?}", started.elapsed());
    assert!(
        r.headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("retry-after") && v == "60"),
        "{:?}",
        r.headers
    );
    let body: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(body["error"]["code"], "azure-busy");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not routed and nothing was written"),
        "{body:#}"
    );
    let view = app.fleet[1].incident(&b).unwrap();
    assert_eq!((view.status.as_str(), view.comments.len()), ("New", 0));
}

#[tokio::test]
async fn a_workspace_whose_id_cannot_be_read_does_not_stop_the_webhook_for_the_others() {
    // The customer's workspace is not delegated: its id cannot be read. A payload named only by
    // the first workspace's id is still routed there; one naming neither gets the reason.
    let app = spawn_fleet_with(
        vec![SimConfig::default(), workspace(1, Some(false))],
        &[],
        &["SENTINEL_WORKSPACE_ID"],
    )
    .await;
    let a = resolved(&app, 0);
    let payload = json!({ "workspaceId": app.fleet[0].workspace().workspace_id, "object": { "name": a } });
    let r = app.post_webhook(&payload).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(app.fleet[0].incident(&a).unwrap().status, "Closed");
    let unknown = json!({ "workspaceId": "00000000-0000-4000-8000-000000000001", "object": { "name": a } });
    let r = app.post_webhook(&unknown).await;
    assert_eq!(r.status, 502, "{}", r.text());
    assert!(
        r.text().contains("workspace-id-unreadable") && r.text().contains("InvalidAuthenticationTokenTenant"),
        "{}",
        r.text()
    );
}

#[tokio::test]
async fn queries_wait_for_the_principals_five_slots_instead_of_being_throttled() {
    // Seven workspaces; the service runs five of the principal's queries at once and answers 429
    // to one that waits in its queue too long (here 300 ms; each query takes 700 ms).
    let mut configs = vec![SimConfig {
        query_queue: Some(QueryQueue {
            slots: 5,
            max_wait: Duration::from_millis(300),
            run_time: Duration::from_millis(700),
        }),
        ..SimConfig::default()
    }];
    configs.extend((1..7).map(|n| workspace(n, None)));
    let app = spawn_fleet_with(configs, &[], &[]).await;
    for i in 0..7 {
        resolved(&app, i);
    }
    let invocation = app.run_timer().await;
    assert_eq!(invocation.http_status, 200, "{}", invocation.raw_body);
    let (peak, rejected) = app.sim.query_queue_stats();
    assert_eq!(rejected, 0, "no query waited in the service's queue");
    assert!((1..=5).contains(&peak), "{peak}");
    assert_eq!(body(&invocation)["ReturnValue"]["totals"]["closed"], 7);
}

#[tokio::test]
async fn the_workspaces_of_one_subscription_share_its_resource_manager_pacing() {
    // ARM's buckets are the principal's in a subscription (reads 250 + 25/s, writes 200 + 10/s),
    // whatever the workspace. Two workspaces of one subscription with 60 changes each need about
    // 240 writes: more than one burst, so two pacers (one per workspace) would each spend a full
    // burst and ARM would answer 429.
    let app = spawn_fleet_with(
        vec![
            SimConfig {
                arm_throttle: Some(ArmThrottle::default()),
                ..SimConfig::default()
            },
            in_first_subscription(1),
        ],
        &[],
        &[],
    )
    .await;
    for i in 0..2 {
        for _ in 0..60 {
            resolved(&app, i);
        }
    }
    let invocation = app.run_timer().await;
    assert_eq!(invocation.http_status, 200, "{}", invocation.raw_body);
    let run = &body(&invocation)["ReturnValue"];
    assert_eq!(run["totals"]["closed"], 120, "{run:#}");
    let writes: usize = ["put", "comment", "alerts"]
        .iter()
        .filter_map(|k| run["totals"]["calls"][k].as_u64())
        .sum::<u64>() as usize;
    assert!(writes > 200, "the scenario needs more than one write burst: {writes}");
    assert_eq!(
        app.fleet.iter().map(AzureSim::throttled_requests).sum::<usize>(),
        0,
        "no request was throttled"
    );
}

#[tokio::test]
async fn the_budget_cuts_no_more_incidents_with_several_workspaces_than_with_one() {
    // Every incident read takes longer than the run's budget: each incident in flight at the
    // deadline is cut (not reached, and synced by the next run). The workspaces of one
    // subscription share its four incident slots, so three incidents in each of two workspaces
    // give four cut and two not started, as six incidents in one workspace do
    // (reliability::the_time_budget_stops_the_run_cleanly_...); a slot set per workspace would
    // have all six in flight, and all six cut.
    let app = spawn_fleet_with(
        vec![SimConfig::default(), in_first_subscription(1)],
        &[("SYNC_RUN_BUDGET_SECONDS", "10")],
        &[],
    )
    .await;
    let mut names = Vec::new();
    for (i, sim) in app.fleet.iter().enumerate() {
        for _ in 0..3 {
            names.push((i, resolved(&app, i)));
        }
        sim.inject(Fault {
            target: FaultTarget::IncidentGet,
            kind: FaultKind::Delay(Duration::from_secs(11)),
            times: 3,
        });
    }
    // A run's (incidents cut mid-way, incidents not reached in all): a cut one's detail says it
    // was in flight.
    let cut_and_not_reached = |invocation: &functions_host::Invocation| {
        let run = &body(invocation)["ReturnValue"];
        let cut = run["workspaces"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|w| w["incidents"].as_array().unwrap())
            .filter(|r| {
                r["detail"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("ran out while this incident was being synced")
            })
            .count();
        assert_eq!(run["totals"]["failed"], 0, "time alone fails nothing: {run:#}");
        (cut, run["totals"]["notReached"].as_u64().unwrap_or_default())
    };
    let invocation = app.run_timer().await;
    assert_eq!(invocation.http_status, 200, "{}", invocation.raw_body);
    assert_eq!(cut_and_not_reached(&invocation), (4, 6));
    // The two reads that never started keep their delay for the next run: two more are cut,
    // the other four closed; the run after that closes the last two, each with one comment.
    let again = app.run_timer().await;
    assert_eq!(cut_and_not_reached(&again), (2, 2));
    assert_eq!(body(&again)["ReturnValue"]["totals"]["closed"], 4);
    let last = app.run_timer().await;
    assert_eq!(last.http_status, 200, "{}", last.raw_body);
    assert_eq!(body(&last)["ReturnValue"]["totals"]["closed"], 2);
    for (i, name) in &names {
        let view = app.fleet[*i].incident(name).unwrap();
        assert_eq!((view.status.as_str(), view.comments.len()), ("Closed", 1), "{name}");
    }
}

#[tokio::test]
async fn mismatched_lists_fail_every_invocation_naming_the_setting() {
    let first = SimConfig::default().workspace.workspace_id;
    let app = spawn_fleet_with(
        vec![SimConfig::default(), workspace(1, None)],
        &[("SENTINEL_WORKSPACE_ID", first.as_str())],
        &[],
    )
    .await;
    let invocation = app.run_timer().await;
    assert_eq!(invocation.http_status, 500);
    assert!(
        invocation
            .raw_body
            .contains("app setting SENTINEL_WORKSPACE_ID: 1 workspace ids for 2 workspace resource ids"),
        "{}",
        invocation.raw_body
    );
    let r = app.post_webhook(&json!({ "incidentId": "abc" })).await;
    assert_eq!(r.status, 500);
    assert!(app.fleet.iter().all(|s| s.requests().is_empty()));
}

/// Runs the CLI against the fleet with the app's settings (managed identity through the
/// simulator), its own log lines off so that stdout is only the report.
async fn cli(fleet: &[AzureSim], args: &[&str], remove: &[&str]) -> std::process::Output {
    run_cli(fleet_settings(fleet), args, &[("RUST_LOG", "off")], remove).await
}

#[tokio::test]
async fn sync_and_dry_run_work_over_every_workspace_or_one() {
    let fleet = AzureSim::start_fleet(vec![SimConfig::default(), workspace(1, None)])
        .await
        .unwrap();
    let seed = |sim: &AzureSim| {
        let alert = sim.add_alert(azure_sim::AlertSeed {
            status: "Resolved".into(),
            ..Default::default()
        });
        sim.add_incident(azure_sim::IncidentSeed {
            alert_ids: vec![alert],
            ..Default::default()
        })
    };
    let (a, b) = (seed(&fleet[0]), seed(&fleet[1]));
    let remove = ["SENTINEL_WORKSPACE_ID"];
    let all = cli(&fleet, &["sync", "--dry-run"], &remove).await;
    let out = output_text(&all);
    assert_eq!(all.status.code(), Some(0), "{out}");
    assert!(
        out.contains(&format!(
            "workspace sentinel-ws ({})",
            fleet[0].workspace().resource_id()
        )),
        "{out}"
    );
    assert!(out.contains("workspace ws-1 ("), "{out}");
    assert!(
        out.contains(&format!("({a}) would-close")) && out.contains(&format!("({b}) would-close")),
        "{out}"
    );
    assert!(
        out.contains(" succeeded: 2 workspaces; in all 2 candidates, 2 would change (2 closed"),
        "{out}"
    );
    assert_eq!(fleet[0].incident(&a).unwrap().status, "New", "a dry run writes nothing");

    let one = cli(&fleet, &["sync", "--dry-run", "--json", "--workspace", "ws-1"], &remove).await;
    assert_eq!(one.status.code(), Some(0), "{}", output_text(&one));
    let summary: Value = serde_json::from_slice(&one.stdout).unwrap();
    assert_eq!(summary["scanned"], 1, "one workspace: the one-workspace summary");
    assert_eq!(summary["incidents"][0]["incident"], b.as_str());

    let unknown = cli(&fleet, &["sync", "--workspace", "nope"], &remove).await;
    assert_eq!(unknown.status.code(), Some(2));
    assert!(output_text(&unknown).contains("none of the configured workspaces (sentinel-ws, ws-1)"));
    let bare = cli(&fleet, &["sync", "--incident", &b], &remove).await;
    assert_eq!(bare.status.code(), Some(2));
    assert!(
        output_text(&bare).contains("2 workspaces are configured"),
        "{}",
        output_text(&bare)
    );
    let arm_id = format!(
        "{}/providers/Microsoft.SecurityInsights/Incidents/{b}",
        fleet[1].workspace().resource_id()
    );
    let by_id = cli(&fleet, &["sync", "--incident", &arm_id], &remove).await;
    assert_eq!(by_id.status.code(), Some(0), "{}", output_text(&by_id));
    assert_eq!(fleet[1].incident(&b).unwrap().status, "Closed");
    assert_eq!(fleet[0].incident(&a).unwrap().status, "New");
}

#[tokio::test]
async fn check_runs_per_workspace_and_names_the_lighthouse_delegation_a_customer_lacks() {
    let fleet = AzureSim::start_fleet(vec![SimConfig::default(), workspace(1, Some(false))])
        .await
        .unwrap();
    let remove = ["SENTINEL_WORKSPACE_ID"];
    let output = cli(&fleet, &["check"], &remove).await;
    let out = output_text(&output);
    assert_eq!(output.status.code(), Some(1), "{out}");
    assert!(out.starts_with("handler check: 2 workspaces\n"), "{out}");
    let customer = format!("workspace {}\n", fleet[1].workspace().resource_id());
    let part = &out[out.find(&customer).expect("a part per workspace")..];
    let first = part.lines().nth(1).unwrap();
    assert!(
        first.starts_with("FAIL  workspace    401 InvalidAuthenticationTokenTenant: the workspace ")
            && first.contains("through Azure Lighthouse"),
        "{first}"
    );
    let own = &out[out.find("workspace /subscriptions/d0cfe6b2").unwrap()..out.find(&customer).unwrap()];
    assert!(
        own.contains("ok    workspace    id c8c99641-985d-4e4e-8e91-fb3466cd0e5b read from the workspace resource"),
        "{own}"
    );
    assert!(own.contains("ok    dry-run"), "{own}");

    let only = cli(&fleet, &["check", "--json", "--workspace", "sentinel-ws"], &remove).await;
    assert_eq!(only.status.code(), Some(0), "{}", output_text(&only));
    let report: Value = serde_json::from_slice(&only.stdout).unwrap();
    assert_eq!(report["workspace"], fleet[0].workspace().resource_id());
    assert_eq!(report["steps"].as_array().unwrap().len(), 9);
    assert!(report.get("workspaces").is_none());
}

#[tokio::test]
async fn a_subscription_that_resource_manager_throttles_slows_only_itself() {
    // An MSSP's two customers in two subscriptions; Resource Manager lets the first take one write
    // every two seconds. The second's incidents are synced at once, as if the first were not
    // there: its own pacer and its own incident slots (one shared pacer would be emptied by the
    // first's 429s, and the first's stuck incidents would hold every slot).
    let throttled = SimConfig {
        arm_throttle: Some(ArmThrottle {
            read_burst: 100.0,
            read_rate: 100.0,
            write_burst: 2.0,
            write_rate: 0.5,
        }),
        ..SimConfig::default()
    };
    let app = spawn_fleet_with(
        vec![throttled, workspace(1, None)],
        &[("SYNC_RUN_BUDGET_SECONDS", "20")],
        &[],
    )
    .await;
    let slow: Vec<String> = (0..12).map(|_| resolved(&app, 0)).collect();
    let fast: Vec<String> = (0..12).map(|_| resolved(&app, 1)).collect();
    let invocation = app.run_timer().await;
    let run = &body(&invocation)["ReturnValue"];
    let workspaces = run["workspaces"].as_array().unwrap();
    let (first, second) = (&workspaces[0], &workspaces[1]);
    assert_eq!(second["closed"], 12, "{second:#}");
    assert!(
        first["notReached"].as_u64().unwrap() > 0 && app.fleet[0].throttled_requests() > 0,
        "the first subscription's backlog is larger than its writes allow: {first:#}"
    );
    assert_eq!(app.fleet[1].throttled_requests(), 0);
    // The unthrottled customer's run took a few seconds, not the throttled one's 20.
    let second_ms = second["durationMs"].as_u64().unwrap();
    assert!(
        second_ms < 8_000,
        "the second subscription waited behind the first: {second_ms} ms"
    );
    for name in &fast {
        let view = app.fleet[1].incident(name).unwrap();
        assert_eq!((view.status.as_str(), view.comments.len()), ("Closed", 1), "{name}");
    }
    drop(slow);
}

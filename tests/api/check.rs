//! `handler check`, the preflight: the real binary against the simulator, with the settings a
//! deployed app has (managed identity through `IDENTITY_ENDPOINT`). It must report what the timer
//! would do without writing anything, and name the role or setting behind each failure.

use std::process::Output;

use azure_sim::{AlertSeed, AzureSim, IncidentSeed, Role, SimConfig};
use dfc_sentinel_sync::check;
use serde_json::Value;

use crate::helpers::{DFC, output_text as text, run_cli, settings_for};

/// Runs `handler check <args>` with the app's settings for `sim`, `extra` added or overriding,
/// `remove` dropped. No other setting leaks in from the test's own environment.
async fn check(sim: &AzureSim, args: &[&str], extra: &[(&str, &str)], remove: &[&str]) -> Output {
    let args: Vec<&str> = std::iter::once("check").chain(args.iter().copied()).collect();
    run_cli(settings_for(sim), &args, extra, remove).await
}

fn seed(sim: &AzureSim, incident_status: &str, alert_status: &str) -> String {
    let alert = sim.add_alert(AlertSeed {
        status: alert_status.into(),
        product_name: DFC.into(),
        ..Default::default()
    });
    sim.add_incident(IncidentSeed {
        status: incident_status.into(),
        alert_ids: vec![alert],
        ..Default::default()
    })
}

/// Two to close, one to activate, two to leave: what the timer would do to this workspace.
fn seed_workspace(sim: &AzureSim) -> Vec<String> {
    vec![
        seed(sim, "New", "Resolved"),
        seed(sim, "New", "Dismissed"),
        seed(sim, "New", "InProgress"),
        seed(sim, "New", "New"),
        seed(sim, "Active", "InProgress"),
    ]
}

fn line<'a>(text: &'a str, start: &str) -> &'a str {
    text.lines()
        .find(|l| l.starts_with(start))
        .unwrap_or_else(|| panic!("no line starting {start:?} in\n{text}"))
}

#[tokio::test]
async fn a_ready_workspace_passes_every_check_and_nothing_is_written() {
    let sim = AzureSim::start(SimConfig::default()).await.unwrap();
    let names = seed_workspace(&sim);
    // SYNC_DRY_RUN is off, as it is once the app writes: check still writes nothing.
    let output = check(&sim, &[], &[("SYNC_DRY_RUN", "false")], &[]).await;
    let out = text(&output);
    assert_eq!(output.status.code(), Some(0), "{out}");
    for step in check::STEPS {
        assert!(
            out.lines().any(|l| l.starts_with(&format!("ok    {step:<13}"))),
            "{step}:\n{out}"
        );
    }
    assert!(line(&out, "ok    settings").ends_with("dry run off"), "{out}");
    assert!(
        line(&out, "ok    credential").contains("managed identity, system-assigned"),
        "{out}"
    );
    assert!(line(&out, "ok    api-version").contains("2025-09-01 accepted"), "{out}");
    assert_eq!(
        line(&out, "ok    dry-run"),
        "ok    dry-run      5 candidates (open, a Defender for Cloud alert changed in 30 days): 3 actionable now (2 would close, 1 would activate), 2 left as they are, 0 failed; 0 from Microsoft XDR (of those read fresh)"
    );
    assert!(
        out.contains("left as they are: alerts-pending 1, already-active 1"),
        "{out}"
    );
    assert!(
        out.contains(&format!("would-close    #1 ({}) alerts-resolved", names[0])),
        "{out}"
    );
    assert!(
        out.contains(&format!("would-activate #3 ({}) alerts-in-progress", names[2])),
        "{out}"
    );
    assert!(
        out.ends_with("review the dry run above before setting SYNC_DRY_RUN=false\n"),
        "{out}"
    );

    let requests = sim.requests();
    assert!(requests.iter().all(|r| r.method != "PUT"), "check wrote: {requests:?}");
    for (name, status) in names.iter().zip(["New", "New", "New", "New", "Active"]) {
        assert_eq!(sim.incident(name).unwrap().status, status);
    }
    assert!(
        requests.iter().any(|r| r.method == "GET"
            && r.path.ends_with("/incidents")
            && r.query.as_deref().is_some_and(|q| q.contains("top=1"))),
        "{requests:?}"
    );
}

#[tokio::test]
async fn json_has_every_step_and_the_dry_run_summary() {
    let sim = AzureSim::start(SimConfig::default()).await.unwrap();
    seed_workspace(&sim);
    let output = check(&sim, &["--json"], &[], &[]).await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let report: Value = serde_json::from_slice(&output.stdout).expect("stdout is one JSON object");
    assert_eq!(report["ok"], true);
    assert_eq!(report["exitCode"], 0);
    assert_eq!(report["workspace"], sim.workspace().resource_id());
    let steps = report["steps"].as_array().unwrap();
    let names: Vec<&str> = steps.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, check::STEPS);
    assert!(
        steps.iter().all(|s| s["status"] == "ok" && s["detail"].is_string()),
        "{report:#}"
    );
    assert_eq!(steps[1]["data"]["kind"], "managed-identity-system-assigned");
    let step = |name: &str| steps.iter().find(|s| s["name"] == name).unwrap();
    assert_eq!(step("workspace")["data"]["from"], "settings");
    let dry = &step("dry-run")["data"];
    assert_eq!(dry["dryRun"], true);
    assert_eq!(
        (
            dry["scanned"].as_u64(),
            dry["closed"].as_u64(),
            dry["activated"].as_u64()
        ),
        (Some(5), Some(2), Some(1))
    );
    assert_eq!(dry["skipped"]["alerts-pending"], 1);
    assert_eq!(dry["fromXdr"], 0);
    assert_eq!(step("query")["data"]["candidates"], 5);
}

#[tokio::test]
async fn without_settings_it_names_the_missing_ones_and_exits_2() {
    let sim = AzureSim::start(SimConfig::default()).await.unwrap();
    let remove = ["SENTINEL_WORKSPACE_ID", "SENTINEL_WORKSPACE_RESOURCE_ID"];
    let output = check(&sim, &[], &[], &remove).await;
    let out = text(&output);
    assert_eq!(output.status.code(), Some(2), "{out}");
    assert!(
        line(&out, "FAIL  settings").contains("1 missing or invalid: SENTINEL_WORKSPACE_RESOURCE_ID"),
        "{out}"
    );
    assert!(
        out.contains("SENTINEL_WORKSPACE_RESOURCE_ID: missing; set it to the workspace's resource id"),
        "{out}"
    );
    assert!(
        line(&out, "skip  dry-run").contains("not run: settings failed"),
        "{out}"
    );
    assert!(sim.requests().is_empty(), "nothing is called without settings");

    let output = check(
        &sim,
        &["--json"],
        &[("SYNC_LOOKBACK_DAYS", "0"), ("SENTINEL_WORKSPACE_ID", "ws")],
        &[],
    )
    .await;
    assert_eq!(output.status.code(), Some(2));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let problems: Vec<&str> = report["steps"][0]["data"]["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["setting"].as_str().unwrap())
        .collect();
    assert_eq!(problems, ["SENTINEL_WORKSPACE_ID", "SYNC_LOOKBACK_DAYS"]);
}

#[tokio::test]
async fn without_sentinel_responder_it_says_which_role_to_grant_where() {
    let sim = AzureSim::start(SimConfig::default()).await.unwrap();
    seed_workspace(&sim);
    sim.revoke_role(Role::SentinelResponder);
    let output = check(&sim, &[], &[], &[]).await;
    let out = text(&output);
    assert_eq!(output.status.code(), Some(1), "{out}");
    let rid = sim.workspace().resource_id();
    assert!(
        line(&out, "FAIL  incidents").starts_with(&format!(
            "FAIL  incidents    403 AuthorizationFailed: grant Microsoft Sentinel Responder on the workspace {rid} to principal "
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!("--role \"Microsoft Sentinel Responder\" --scope {rid}")),
        "{out}"
    );
    assert!(
        line(&out, "skip  api-version").contains("the incident read failed"),
        "{out}"
    );
    assert!(line(&out, "ok    query").contains("5 candidates"), "{out}");
    assert!(line(&out, "skip  dry-run").contains("needs reading incidents"), "{out}");

    // Once the assignment has propagated, the same check passes.
    sim.grant_role(Role::SentinelResponder);
    let output = check(&sim, &[], &[], &[]).await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
}

#[tokio::test]
async fn without_log_analytics_reader_it_says_which_role_to_grant() {
    let sim = AzureSim::start(SimConfig::default()).await.unwrap();
    seed_workspace(&sim);
    sim.revoke_role(Role::LogAnalyticsReader);
    let output = check(&sim, &["--json"], &[], &[]).await;
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let step = |name: &str| {
        report["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(step("incidents")["status"], "ok");
    let query = step("query");
    assert_eq!(query["status"], "fail");
    assert_eq!(query["detail"], "403 InsufficientAccessError");
    let fix = query["fix"].as_str().unwrap();
    assert!(
        fix.starts_with(&format!(
            "grant Log Analytics Reader on the workspace {} to the function app's system-assigned identity",
            sim.workspace().resource_id()
        )),
        "{fix}"
    );
    assert!(fix.contains("SENTINEL_WORKSPACE_ID"), "{fix}");
    assert_eq!(step("dry-run")["status"], "skipped");
}

#[tokio::test]
async fn an_api_version_the_service_does_not_serve_names_the_setting() {
    let sim = AzureSim::start(SimConfig::default()).await.unwrap();
    let output = check(&sim, &[], &[("SENTINEL_API_VERSION", "2021-04-01")], &[]).await;
    let out = text(&output);
    assert_eq!(output.status.code(), Some(1), "{out}");
    assert_eq!(
        line(&out, "FAIL  api-version"),
        "FAIL  api-version  400 InvalidApiVersionParameter: SENTINEL_API_VERSION=2021-04-01 is not served by Microsoft.SecurityInsights here: set it to 2025-12-01 (newest stable version the service lists)"
    );
    assert!(line(&out, "skip  incidents").contains("SENTINEL_API_VERSION"), "{out}");
}

#[tokio::test]
async fn a_wrong_workspace_is_named_by_the_setting_that_points_at_it() {
    let sim = AzureSim::start(SimConfig::default()).await.unwrap();
    let ws = sim.workspace();
    let other_rid = ws.resource_id().replace(&ws.workspace_name, "no-such-ws");
    let output = check(
        &sim,
        &[],
        &[
            ("SENTINEL_WORKSPACE_RESOURCE_ID", other_rid.as_str()),
            ("SENTINEL_WORKSPACE_ID", "00000000-0000-4000-8000-000000000000"),
        ],
        &[],
    )
    .await;
    let out = text(&output);
    assert_eq!(output.status.code(), Some(1), "{out}");
    assert!(
        line(&out, "FAIL  incidents")
            .starts_with("FAIL  incidents    404 ResourceNotFound: SENTINEL_WORKSPACE_RESOURCE_ID names no workspace"),
        "{out}"
    );
    assert!(
        line(&out, "FAIL  query").starts_with(
            "FAIL  query        404 PathNotFoundError: SENTINEL_WORKSPACE_ID (00000000-0000-4000-8000-000000000000) names no workspace"
        ),
        "{out}"
    );
}

#[tokio::test]
async fn an_identity_without_tokens_is_reported_per_audience() {
    let sim = AzureSim::start(SimConfig::default()).await.unwrap();
    // The token endpoint refuses a wrong IDENTITY_HEADER.
    let output = check(&sim, &[], &[("IDENTITY_HEADER", "not-the-platform-secret")], &[]).await;
    let out = text(&output);
    assert_eq!(output.status.code(), Some(1), "{out}");
    for step in ["arm-token", "logs-token"] {
        assert!(
            line(&out, &format!("FAIL  {step:<13}")).contains("the function's identity cannot get a token"),
            "{out}"
        );
    }
    assert!(
        line(&out, "skip  incidents").contains("needs a Resource Manager token"),
        "{out}"
    );
    assert!(
        line(&out, "skip  query").contains("needs a Log Analytics token"),
        "{out}"
    );
}

#[tokio::test]
async fn from_a_laptop_it_says_the_sign_in_is_checked_not_the_apps_identity() {
    let sim = AzureSim::start(SimConfig::default()).await.unwrap();
    seed_workspace(&sim);
    // No IDENTITY_ENDPOINT: the Azure CLI sign-in (a stand-in `az` on PATH) is used.
    let az = crate::cli::fake_az(&sim);
    let path = format!("{}:{}", az.display(), std::env::var("PATH").unwrap_or_default());
    let output = check(
        &sim,
        &[],
        &[("PATH", path.as_str())],
        &["IDENTITY_ENDPOINT", "IDENTITY_HEADER"],
    )
    .await;
    let _ = std::fs::remove_dir_all(az);
    let out = text(&output);
    assert_eq!(output.status.code(), Some(0), "{out}");
    assert!(
        line(&out, "ok    credential")
            .contains("developer tools: the Azure CLI or azd sign-in (IDENTITY_ENDPOINT is not set"),
        "{out}"
    );
    assert!(sim.requests().iter().all(|r| r.method != "PUT"));
}

#[tokio::test]
async fn incidents_from_microsoft_xdr_are_counted() {
    let sim = AzureSim::start(SimConfig::default()).await.unwrap();
    seed_workspace(&sim);
    let alert = sim.add_alert(AlertSeed {
        status: "Resolved".into(),
        product_name: DFC.into(),
        ..Default::default()
    });
    let xdr = sim.add_xdr_incident(IncidentSeed {
        alert_ids: vec![alert],
        ..Default::default()
    });
    let output = check(&sim, &["--json"], &[], &[]).await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let dry = &report["steps"][8]["data"];
    assert_eq!(report["steps"][8]["name"], "dry-run");
    assert_eq!(
        (dry["scanned"].as_u64(), dry["closed"].as_u64()),
        (Some(6), Some(3)),
        "{dry:#}"
    );
    assert_eq!(dry["fromXdr"], 1, "{dry:#}");
    assert_eq!(sim.incident(&xdr).unwrap().status, "New");
}

#[tokio::test]
async fn the_dry_run_names_an_incident_it_would_reopen() {
    let sim = AzureSim::start(SimConfig::default()).await.unwrap();
    let alert = sim.add_alert(AlertSeed {
        status: "Resolved".into(),
        product_name: DFC.into(),
        ..Default::default()
    });
    let name = sim.add_incident(IncidentSeed {
        status: "New".into(),
        alert_ids: vec![alert.clone()],
        ..Default::default()
    });
    // The tool closes it; then Defender for Cloud reactivates its alert.
    let reopen = [("SYNC_REOPEN_ON_REACTIVATION", "true"), ("SYNC_DRY_RUN", "false")];
    let synced = run_cli(settings_for(&sim), &["sync"], &reopen, &[]).await;
    assert_eq!(synced.status.code(), Some(0), "{}", text(&synced));
    assert_eq!(sim.incident(&name).unwrap().status, "Closed");
    sim.set_alert_status(&alert, "InProgress");
    let output = check(&sim, &[], &reopen, &[]).await;
    let out = text(&output);
    assert_eq!(output.status.code(), Some(0), "{out}");
    assert!(
        line(&out, "ok    dry-run").contains("1 actionable now (0 would close, 0 would activate, 1 would reopen)"),
        "{out}"
    );
    assert!(
        out.contains(&format!("would-reopen   #1 ({name}) alert-reactivated")),
        "{out}"
    );
    assert_eq!(sim.incident(&name).unwrap().status, "Closed", "check wrote nothing");
}

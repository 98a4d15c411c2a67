//! The operator CLI: `query`, and `sync` against the simulator, signed in through a stand-in
//! `az` on PATH (azure_identity's developer-tools credential runs `az account get-access-token`).

use std::{os::unix::fs::PermissionsExt, path::PathBuf, process::Output};

use azure_sim::{AzureSim, SimConfig};

use crate::helpers::DFC;

const BIN: &str = env!("CARGO_BIN_EXE_handler");

/// A folder holding an `az` script that gets its token from the simulator's identity endpoint.
pub(crate) fn fake_az(sim: &AzureSim) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dfc-sync-az-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let script = format!(
        r#"#!/bin/sh
# Stand-in for `az account get-access-token -o json --scope <scope>`.
[ "$1 $2" = "account get-access-token" ] || {{ echo "unexpected az call: $*" >&2; exit 2; }}
scope="$6"
exec python3 -c '
import json, sys, urllib.request
resource = sys.argv[1].removesuffix("/.default")
req = urllib.request.Request("{endpoint}?api-version=2019-08-01&resource=" + resource, headers={{"X-IDENTITY-HEADER": "{header}"}})
t = json.load(urllib.request.urlopen(req))
print(json.dumps({{"accessToken": t["access_token"], "expiresOn": "2099-01-01 00:00:00.000000", "expires_on": int(t["expires_on"]), "subscription": "s", "tenant": "t", "tokenType": "Bearer"}}))
' "$scope"
"#,
        endpoint = sim.identity_endpoint(),
        header = sim.identity_header()
    );
    let path = dir.join("az");
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

async fn cli(sim: &AzureSim, args: &[&str], remove: &[&str]) -> Output {
    let ws = sim.workspace();
    let az = fake_az(sim);
    let path = format!("{}:{}", az.display(), std::env::var("PATH").unwrap_or_default());
    let mut command = tokio::process::Command::new(BIN);
    command
        .args(args)
        .env("PATH", path)
        .env("SENTINEL_WORKSPACE_ID", &ws.workspace_id)
        .env("SENTINEL_WORKSPACE_RESOURCE_ID", ws.resource_id())
        .env("ARM_ENDPOINT", sim.base_url())
        .env("LOG_ANALYTICS_ENDPOINT", sim.base_url())
        .env_remove("IDENTITY_ENDPOINT")
        .env_remove("IDENTITY_HEADER")
        .env_remove("SYNC_DRY_RUN");
    for name in remove {
        command.env_remove(name);
    }
    let output = command.output().await.unwrap();
    let _ = std::fs::remove_dir_all(az);
    output
}

fn seed(sim: &AzureSim, status: &str) -> String {
    let alert = sim.add_alert(azure_sim::AlertSeed {
        status: status.into(),
        product_name: DFC.into(),
        ..Default::default()
    });
    sim.add_incident(azure_sim::IncidentSeed {
        alert_ids: vec![alert],
        ..Default::default()
    })
}

#[tokio::test]
async fn query_prints_the_exact_text_sent() {
    let output = std::process::Command::new(BIN)
        .args(["query", "--lookback-days", "7"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    assert_eq!(
        text,
        dfc_sentinel_sync::queries::sync_candidates(7, dfc_sentinel_sync::queries::Partition::WHOLE, false)
    );
}

#[test]
fn query_reads_its_settings_with_the_timers_rules_and_names_a_bad_one() {
    let query = |args: &[&str], env: &[(&str, &str)]| {
        std::process::Command::new(BIN)
            .arg("query")
            .args(args)
            .env_remove("SYNC_LOOKBACK_DAYS")
            .env_remove("SYNC_REOPEN_ON_REACTIVATION")
            .envs(env.iter().copied())
            .output()
            .unwrap()
    };
    let out = query(
        &[],
        &[("SYNC_LOOKBACK_DAYS", "12"), ("SYNC_REOPEN_ON_REACTIVATION", "yes")],
    );
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        dfc_sentinel_sync::queries::sync_candidates(12, dfc_sentinel_sync::queries::Partition::WHOLE, true)
    );
    for (args, env, named) in [
        (&[][..], &[("SYNC_LOOKBACK_DAYS", "thirty")][..], "SYNC_LOOKBACK_DAYS"),
        (&[], &[("SYNC_LOOKBACK_DAYS", "0")], "SYNC_LOOKBACK_DAYS"),
        (
            &[],
            &[("SYNC_REOPEN_ON_REACTIVATION", "maybe")],
            "SYNC_REOPEN_ON_REACTIVATION",
        ),
        (&["--lookback-days", "0"], &[], "--lookback-days"),
    ] {
        let out = query(args, env);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?} {env:?}: {stderr}");
        assert!(stderr.starts_with("error: ") && stderr.contains(named), "{stderr}");
        assert!(out.stdout.is_empty(), "no query is printed");
    }
}

#[tokio::test]
async fn sync_dry_run_reports_and_writes_nothing() {
    let sim = AzureSim::start(SimConfig::default()).await.unwrap();
    let closing = seed(&sim, "Resolved");
    let output = cli(&sim, &["sync", "--dry-run", "--json"], &[]).await;
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["dryRun"], true);
    assert_eq!(summary["incidents"][0]["incident"], closing.as_str());
    assert_eq!(summary["incidents"][0]["action"], "would-close");
    assert!(!sim.requests().iter().any(|r| r.method == "PUT"));
    assert_eq!(sim.incident(&closing).unwrap().status, "New");
}

#[tokio::test]
async fn sync_one_incident_changes_it_and_says_so() {
    let sim = AzureSim::start(SimConfig::default()).await.unwrap();
    let name = seed(&sim, "Dismissed");
    let output = cli(&sim, &["sync", "--incident", &name], &[]).await;
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("closed: New → Closed"), "{text}");
    assert_eq!(
        sim.incident(&name).unwrap().classification.as_deref(),
        Some("BenignPositive")
    );
    let bad = cli(&sim, &["sync", "--incident", "../x"], &[]).await;
    assert_eq!(bad.status.code(), Some(2));
}

#[tokio::test]
async fn sync_without_settings_names_them_and_exits_2() {
    let sim = AzureSim::start(SimConfig::default()).await.unwrap();
    let output = cli(&sim, &["sync"], &["SENTINEL_WORKSPACE_RESOURCE_ID"]).await;
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("SENTINEL_WORKSPACE_RESOURCE_ID: missing"));
}

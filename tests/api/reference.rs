//! The Functions host's reference payloads, replayed verbatim against the real handler; and one
//! source of truth for the app settings.

use std::collections::BTreeSet;

use azure_sim::{SimConfig, Workspace};
use dfc_sentinel_sync::config::SETTINGS;
use functions_host::{CallerRequest, Outcome};
use serde_json::Value;

use crate::helpers::*;

fn reference(path: &str) -> Value {
    let full = format!(
        "{}/{path}",
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/functions-host")
    );
    serde_json::from_str(&std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"))).unwrap()
}

/// The workspace the reference payloads name.
fn reference_workspace() -> SimConfig {
    SimConfig {
        workspace: Workspace {
            subscription_id: "d0cfe6b2-9ac0-4464-9919-dccaee2e48c0".into(),
            resource_group: "myRg".into(),
            workspace_name: "myWorkspace".into(),
            workspace_id: "c8c99641-985d-4e4e-8e91-fb3466cd0e5b".into(),
        },
        ..SimConfig::default()
    }
}

#[tokio::test]
async fn every_reference_timer_variant_gets_a_json_invocation_response() {
    let app = spawn_app().await;
    let expected = reference("invocation-response.json");
    let variants = reference("timer-payload-variants.json");
    for (name, timer) in variants
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| !k.starts_with("metadata"))
    {
        let invocation = app.host.invoke_timer("SyncTimer", timer.clone(), None).await.unwrap();
        assert_eq!(invocation.http_status, 200, "{name}");
        let body: Value = serde_json::from_str(&invocation.raw_body).unwrap();
        let keys: BTreeSet<&String> = body.as_object().unwrap().keys().collect();
        let want: BTreeSet<&String> = expected["body"].as_object().unwrap().keys().collect();
        assert_eq!(keys, want, "{name}");
        assert!(matches!(invocation.outcome, Outcome::Succeeded { .. }), "{name}");
    }
    let retry = variants["metadata_when_host_json_retry_policy_configured"]["RetryContext"].clone();
    let invocation = app
        .host
        .invoke_timer("SyncTimer", variants["scheduled_run_with_monitor"].clone(), Some(retry))
        .await
        .unwrap();
    assert!(matches!(invocation.outcome, Outcome::Succeeded { .. }));
}

#[tokio::test]
async fn the_reference_forwarded_request_is_answered_in_json() {
    let request = reference("http-forwarded-request.json");
    let body = request["body_raw"].as_str().unwrap().as_bytes().to_vec();
    let headers: Vec<(String, String)> = request["headers"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| !k.starts_with("X-Azure-Functions") && *k != "Host")
        .map(|(k, v)| {
            (
                k.clone(),
                if k == "x-functions-key" {
                    FUNCTION_KEY.to_owned()
                } else {
                    v.as_str().unwrap().to_owned()
                },
            )
        })
        .collect();
    let call = |headers: Vec<(String, String)>, body: Vec<u8>| CallerRequest {
        method: "POST".into(),
        path_and_query: "/api/SecurityAlertWebhook".into(),
        headers,
        body,
        chunked: false,
    };
    // Against a workspace that is not the payload's: refused, no Azure call.
    let app = spawn_app().await;
    let r = app.host.call_http(call(headers.clone(), body.clone())).await.unwrap();
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(app.sim.requests().is_empty());
    // Against the payload's own workspace: the incident is looked up (and does not exist there).
    let app = spawn_app_with(reference_workspace(), &[], &[]).await;
    let r = app.host.call_http(call(headers, body)).await.unwrap();
    assert_eq!(r.status, 404, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/json"));
}

#[tokio::test]
async fn the_reference_envelope_request_gets_an_outputs_res_reply() {
    let app = spawn_app_with(reference_workspace(), &[], &[]).await;
    let envelope = reference("http-envelope-request.json");
    let body = envelope["body"]["Data"]["req"]["Body"]
        .as_str()
        .unwrap()
        .as_bytes()
        .to_vec();
    let r = app
        .host
        .call_http_envelope(webhook_request(
            "/api/SecurityAlertWebhook",
            "application/json; charset=utf-8",
            body,
        ))
        .await
        .unwrap();
    assert_eq!(r.status, 404, "{}", r.text());
    let reply: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(reply["error"]["code"], "incident-not-found");
}

/// Names of the settings in the settings table of docs/configuration.md (its "## Configuration"
/// section).
fn readme_settings() -> BTreeSet<String> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/configuration.md")).unwrap();
    let section = doc
        .split("## Configuration")
        .nth(1)
        .unwrap()
        .split("\n## ")
        .next()
        .unwrap();
    section
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_setting_the_code_reads_is_documented_and_exampled_and_nothing_else() {
    let code: BTreeSet<String> = SETTINGS.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        readme_settings(),
        code,
        "docs/configuration.md settings table vs config::SETTINGS"
    );

    let example: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/local.settings.json.example")).unwrap(),
    )
    .unwrap();
    // The example also carries the two settings the Functions tooling itself needs.
    let host_only = ["FUNCTIONS_WORKER_RUNTIME", "AzureWebJobsStorage"];
    let example: BTreeSet<String> = example["Values"]
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| !host_only.contains(&k.as_str()))
        .cloned()
        .collect();
    assert_eq!(example, code, "local.settings.json.example vs config::SETTINGS");

    // Every name the source reads from the environment is in SETTINGS (or is one the platform sets).
    let platform = ["FUNCTIONS_CUSTOMHANDLER_PORT", "IDENTITY_ENDPOINT"];
    let mut read = BTreeSet::new();
    for file in walk(concat!(env!("CARGO_MANIFEST_DIR"), "/src")) {
        let text = std::fs::read_to_string(&file).unwrap();
        for pattern in ["env::var(\"", "env::var_os(\"", "get(\""] {
            for part in text.split(pattern).skip(1) {
                let name = part.split('"').next().unwrap();
                if name.chars().all(|c| c.is_ascii_uppercase() || c == '_') && name.len() > 3 {
                    read.insert(name.to_owned());
                }
            }
        }
    }
    for name in &read {
        assert!(
            code.contains(name) || platform.contains(&name.as_str()),
            "{name} is read by the code but is not in SETTINGS"
        );
    }
    for name in &code {
        assert!(
            read.contains(name) || name == "RUST_LOG",
            "{name} is in SETTINGS but the code never reads it"
        );
    }
}

fn walk(dir: &str) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(path.to_str().unwrap()));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

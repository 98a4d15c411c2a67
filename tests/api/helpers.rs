//! `spawn_app()`: a fresh simulator, the function app laid out as `func publish` would, and the
//! real handler with settings pointing at the simulator, behind the host emulator. The handler
//! is served inside the test process (`harness::InProcessHandler`, the credential injected);
//! `spawn_process_*` start the `handler` binary as the Functions host does instead, for what
//! only a process shows: signals, stdout/stderr, a kill, the credential the environment picks.

use std::{collections::HashMap, path::PathBuf, time::Duration};

use azure_sim::{AlertSeed, AzureSim, IncidentSeed, IncidentView, Owner, RecordedRequest, SimConfig};
use functions_host::{
    CallerRequest, CallerResponse, FunctionApp, FunctionsHost, HandlerProcess, Invocation, Outcome, timer,
};
use serde_json::{Value, json};

pub const FUNCTION_KEY: &str = "test-function-key";
pub const DFC: &str = "Azure Security Center";

/// A running handler in front of a simulated workspace.
pub struct TestApp {
    /// The (first) workspace's simulator.
    pub sim: AzureSim,
    /// Every workspace's simulator, `sim` first (one unless started with `spawn_fleet_with`).
    pub fleet: Vec<AzureSim>,
    pub host: FunctionsHost,
    /// The handler process (`spawn_process_*` only).
    pub handler: Option<HandlerProcess>,
    /// The handler served in this process (`spawn_app*`, `spawn_fleet_with`); dropping it stops it.
    _in_process: Option<harness::InProcessHandler>,
    root: PathBuf,
    settings: Vec<(String, String)>,
}

impl TestApp {
    /// The handler's own address (behind the host emulator), for requests the host would not send.
    pub fn handler_url(&self) -> String {
        match (&self.handler, &self._in_process) {
            (Some(process), _) => process.base_url(),
            (None, Some(in_process)) => in_process.base_url(),
            (None, None) => unreachable!("a test app serves a handler"),
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// The function app files (host.json and both function.json) in a fresh folder, as publish lays them out.
pub fn app_root() -> PathBuf {
    harness::write_app_root().expect("function app folder written")
}

/// Settings that point the handler at `sim`.
pub fn settings_for(sim: &AzureSim) -> Vec<(String, String)> {
    harness::settings_for(sim, "debug")
}

/// Tables that lag the REST API by ten minutes, as a busy workspace's do.
pub fn lagging() -> SimConfig {
    SimConfig {
        ingestion_delay: Duration::from_secs(600),
        ..SimConfig::default()
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(SimConfig::default(), &[], &[]).await
}

/// Starts the simulator and the handler; `extra` adds or overrides settings, `remove` drops some.
pub async fn spawn_app_with(config: SimConfig, extra: &[(&str, &str)], remove: &[&str]) -> TestApp {
    spawn_fleet_with(vec![config], extra, remove).await
}

/// Settings that point the handler at every workspace of `fleet` (one server): the resource ids
/// and the workspace ids as comma-separated lists.
pub fn fleet_settings(fleet: &[AzureSim]) -> Vec<(String, String)> {
    let mut settings = settings_for(&fleet[0]);
    let join = |f: &dyn Fn(&AzureSim) -> String| fleet.iter().map(f).collect::<Vec<_>>().join(",");
    for (key, value) in &mut settings {
        match key.as_str() {
            "SENTINEL_WORKSPACE_RESOURCE_ID" => *value = join(&|s| s.workspace().resource_id()),
            "SENTINEL_WORKSPACE_ID" => *value = join(&|s| s.workspace().workspace_id.clone()),
            _ => {}
        }
    }
    settings
}

/// Starts one simulator server hosting a workspace per config (`AzureSim::start_fleet`) and the
/// handler, in this process, configured for all of them.
pub async fn spawn_fleet_with(configs: Vec<SimConfig>, extra: &[(&str, &str)], remove: &[&str]) -> TestApp {
    spawn(configs, extra, remove, false).await
}

/// [`spawn_app`] with the `handler` binary started as the Functions host starts it.
pub async fn spawn_process_app() -> TestApp {
    spawn(vec![SimConfig::default()], &[], &[], true).await
}

/// [`spawn_app_with`] with the `handler` binary started as the Functions host starts it.
pub async fn spawn_process_app_with(config: SimConfig, extra: &[(&str, &str)], remove: &[&str]) -> TestApp {
    spawn(vec![config], extra, remove, true).await
}

/// [`spawn_fleet_with`] with the `handler` binary started as the Functions host starts it.
pub async fn spawn_process_fleet_with(configs: Vec<SimConfig>, extra: &[(&str, &str)], remove: &[&str]) -> TestApp {
    spawn(configs, extra, remove, true).await
}

async fn spawn(configs: Vec<SimConfig>, extra: &[(&str, &str)], remove: &[&str], process: bool) -> TestApp {
    let fleet = AzureSim::start_fleet(configs).await.expect("simulator starts");
    let sim = fleet[0].clone();
    let mut settings = fleet_settings(&fleet);
    settings.retain(|(k, _)| !remove.contains(&k.as_str()) && !extra.iter().any(|(e, _)| e == k));
    settings.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let root = app_root();
    let map: HashMap<String, String> = settings.iter().cloned().collect();
    let app = FunctionApp::load(&root, &map).expect("function app loads like the host indexes it");
    let (handler, in_process) = if process {
        let handler = start_process(&root, &settings).await;
        (Some(handler), None)
    } else {
        let handler = harness::InProcessHandler::start(&settings)
            .await
            .expect("handler serves");
        (None, Some(handler))
    };
    let base_url = match (&handler, &in_process) {
        (Some(h), _) => h.base_url(),
        (_, Some(h)) => h.base_url(),
        _ => unreachable!("one of the two is started"),
    };
    let host = FunctionsHost::new(base_url, app, vec![FUNCTION_KEY.to_owned()]);
    TestApp {
        sim,
        fleet,
        host,
        handler,
        _in_process: in_process,
        root,
        settings,
    }
}

async fn start_process(root: &std::path::Path, settings: &[(String, String)]) -> HandlerProcess {
    HandlerProcess::start(
        std::path::Path::new(env!("CARGO_BIN_EXE_handler")),
        root,
        settings,
        Duration::from_secs(30),
    )
    .await
    .expect("handler becomes ready")
}

/// One alert of a seeded incident: status, product, days since its last change.
pub type AlertSpec<'a> = (&'a str, &'a str, i64);

impl TestApp {
    /// Starts a new handler process with the same settings (after the old one was killed or
    /// stopped), as the host does on the next instance, and points the host at it.
    pub async fn start_new_process(&mut self) {
        let map: HashMap<String, String> = self.settings.iter().cloned().collect();
        let app = FunctionApp::load(&self.root, &map).expect("function app loads");
        let handler = start_process(&self.root, &self.settings).await;
        self.host = FunctionsHost::new(handler.base_url(), app, vec![FUNCTION_KEY.to_owned()]);
        self.handler = Some(handler);
    }

    /// SIGKILLs the handler process (an out-of-memory kill, a scale-in without grace).
    pub fn kill_handler(&mut self) {
        let handler = self.handler.take().expect("handler running");
        let pid = handler.pid().expect("handler has a pid");
        let status = std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        drop(handler);
    }

    /// Seeds an incident with these alerts; returns its name and the alert ids.
    pub fn seed(&self, status: &str, alerts: &[AlertSpec<'_>]) -> (String, Vec<String>) {
        self.seed_with(status, alerts, 1, None, vec![])
    }

    /// Seeds an incident of Defender XDR (providerName `Microsoft XDR`, a workspace in the
    /// Defender portal) with these alerts.
    pub fn seed_xdr(&self, status: &str, alerts: &[AlertSpec<'_>]) -> (String, Vec<String>) {
        self.seed_on(&self.sim, true, status, alerts, 1, None, vec![])
    }

    pub fn seed_with(
        &self,
        status: &str,
        alerts: &[AlertSpec<'_>],
        incident_age_days: i64,
        owner: Option<Owner>,
        labels: Vec<String>,
    ) -> (String, Vec<String>) {
        self.seed_on(&self.sim, false, status, alerts, incident_age_days, owner, labels)
    }

    /// Seeds an incident in the `index`th workspace of the fleet.
    pub fn seed_in(&self, index: usize, status: &str, alerts: &[AlertSpec<'_>]) -> (String, Vec<String>) {
        self.seed_on(&self.fleet[index], false, status, alerts, 1, None, vec![])
    }

    #[allow(clippy::too_many_arguments)]
    fn seed_on(
        &self,
        sim: &AzureSim,
        xdr: bool,
        status: &str,
        alerts: &[AlertSpec<'_>],
        incident_age_days: i64,
        owner: Option<Owner>,
        labels: Vec<String>,
    ) -> (String, Vec<String>) {
        let ids: Vec<String> = alerts
            .iter()
            .map(|(s, p, d)| {
                sim.add_alert(AlertSeed {
                    status: (*s).into(),
                    product_name: (*p).into(),
                    display_name: "Suspicious process".into(),
                    last_changed_ago: chrono::Duration::days(*d),
                })
            })
            .collect();
        let closed = status == "Closed";
        let seed = IncidentSeed {
            title: "Test incident".into(),
            severity: "High".into(),
            status: status.into(),
            owner,
            labels,
            alert_ids: ids.clone(),
            last_modified_ago: chrono::Duration::days(incident_age_days),
            classification: closed.then(|| "Undetermined".into()),
            classification_reason: None,
        };
        let name = if xdr {
            sim.add_xdr_incident(seed)
        } else {
            sim.add_incident(seed)
        };
        (name, ids)
    }

    pub fn incident(&self, name: &str) -> IncidentView {
        self.sim.incident(name).expect("incident exists")
    }

    /// Fires SyncTimer with the scheduled-run payload.
    pub async fn run_timer(&self) -> Invocation {
        self.host
            .invoke_timer("SyncTimer", timer::scheduled(), None)
            .await
            .expect("invocation reaches the handler")
    }

    /// Posts `body` to the webhook through the host, with the function key.
    pub async fn post_webhook(&self, body: &Value) -> CallerResponse {
        self.post_webhook_raw(
            "/api/SecurityAlertWebhook",
            "application/json",
            body.to_string().into_bytes(),
        )
        .await
    }

    /// Same as `post_webhook`, taking the body by value (for joining many calls).
    pub async fn post_webhook_owned(&self, body: Value) -> CallerResponse {
        self.post_webhook(&body).await
    }

    pub async fn post_webhook_raw(&self, path: &str, content_type: &str, body: Vec<u8>) -> CallerResponse {
        self.host
            .call_http(webhook_request(path, content_type, body))
            .await
            .expect("host answers")
    }

    /// Requests the simulator saw for one incident (any sub-resource), by method.
    pub fn calls_for(&self, incident: &str, method: &str) -> Vec<RecordedRequest> {
        self.sim
            .requests()
            .into_iter()
            .filter(|r| r.method == method && r.path.contains(incident))
            .collect()
    }

    /// All writes (PUTs) the simulator answered.
    pub fn puts(&self) -> Vec<RecordedRequest> {
        self.sim.requests().into_iter().filter(|r| r.method == "PUT").collect()
    }

    pub fn incident_payload(&self, name: &str) -> Value {
        trigger_payload(&self.sim, name)
    }

    /// What the handler process wrote on stdout and stderr (`spawn_process_*` only).
    pub fn handler_output(&self) -> String {
        let h = self
            .handler
            .as_ref()
            .expect("a handler process (spawn_process_*) running");
        let mut lines = h.stdout_lines();
        lines.extend(h.stderr_lines());
        lines.join("\n")
    }
}

/// The incident-trigger payload a playbook posts for incident `name` of `sim`'s workspace.
pub fn trigger_payload(sim: &AzureSim, name: &str) -> Value {
    let ws = sim.workspace();
    json!({
        "workspaceId": ws.workspace_id,
        "workspaceInfo": { "SubscriptionId": ws.subscription_id, "ResourceGroupName": ws.resource_group, "WorkspaceName": ws.workspace_name },
        "object": {
            "id": format!("{}/providers/Microsoft.SecurityInsights/Incidents/{name}", ws.resource_id()),
            "name": name,
            "properties": { "status": "New" }
        }
    })
}

/// Runs the handler's CLI (`args`) with `settings` as its app settings, `extra` added or
/// overriding and `remove` dropped; no setting leaks in from the test's own environment.
pub async fn run_cli(
    settings: Vec<(String, String)>,
    args: &[&str],
    extra: &[(&str, &str)],
    remove: &[&str],
) -> std::process::Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_handler"));
    command.args(args);
    for name in dfc_sentinel_sync::config::SETTINGS
        .iter()
        .chain(&["IDENTITY_ENDPOINT", "IDENTITY_HEADER"])
    {
        command.env_remove(name);
    }
    for (name, value) in settings {
        if !remove.contains(&name.as_str()) && !extra.iter().any(|(e, _)| *e == name) {
            command.env(name, value);
        }
    }
    command.envs(extra.iter().copied());
    command.output().await.expect("handler runs")
}

/// A CLI run's stdout and stderr, one after the other.
pub fn output_text(output: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A caller's POST with the function key, the content type (none when empty) and a Content-Length.
pub fn webhook_request(path: &str, content_type: &str, body: Vec<u8>) -> CallerRequest {
    let mut headers = vec![("x-functions-key".to_owned(), FUNCTION_KEY.to_owned())];
    if !content_type.is_empty() {
        headers.push(("Content-Type".to_owned(), content_type.to_owned()));
    }
    headers.push(("Content-Length".to_owned(), body.len().to_string()));
    CallerRequest {
        method: "POST".into(),
        path_and_query: path.into(),
        headers,
        body,
        chunked: false,
    }
}

/// The invocation's logs and return value; panics with the body when it did not succeed.
/// A run that answered 200 `incomplete` with one incident cut mid-way for `reason` (`budget`,
/// `shutdown`), its report saying its change may lack its audit comment.
pub fn assert_one_incident_cut_mid_way(invocation: &Invocation, reason: &str) {
    let (_, summary) = succeeded(invocation);
    assert_eq!(summary["status"], "incomplete", "{summary:#}");
    assert_eq!(
        (summary["notReached"].as_u64(), summary["failed"].as_u64()),
        (Some(1), Some(0)),
        "{summary:#}"
    );
    let report = &summary["incidents"][0];
    assert_eq!(report["reason"], reason, "{summary:#}");
    let detail = report["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("may have been written without its audit comment"),
        "{summary:#}"
    );
}

pub fn succeeded(invocation: &Invocation) -> (Vec<String>, Value) {
    match &invocation.outcome {
        Outcome::Succeeded { logs, return_value, .. } => (logs.clone(), return_value.clone()),
        other => panic!("invocation did not succeed: {other:?}\n{}", invocation.raw_body),
    }
}

/// The report of one incident in a run summary.
pub fn report<'a>(summary: &'a Value, incident: &str) -> &'a Value {
    summary["incidents"]
        .as_array()
        .and_then(|a| a.iter().find(|r| r["incident"] == incident))
        .unwrap_or_else(|| panic!("no report for {incident} in {summary:#}"))
}

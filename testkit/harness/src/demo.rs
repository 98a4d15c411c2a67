//! The demo: the product's real paths against a simulated workspace, no Azure needed.
//!
//! It starts the Azure simulator (managed identity, Log Analytics, Sentinel) seeded with one
//! incident per row of the behaviour table, starts the handler the way the Functions host does
//! (environment, readiness probe; the demo binary itself, serving as the product's CLI), fires the `SyncTimer` invocation,
//! then changes one alert in "Defender for Cloud" and posts that incident to the webhook through
//! the host's forwarding. It prints the incidents before and after, and checks every one against
//! the expected result: the exit status is non-zero if any differs.

use std::{collections::HashMap, process::ExitCode, time::Duration};

use azure_sim::{AlertSeed, AnalystEdit, AzureSim, IncidentSeed, SimConfig};
use functions_host::{CallerRequest, FunctionApp, FunctionsHost, HandlerProcess, Outcome, timer};
use serde_json::{Value, json};

const FUNCTION_KEY: &str = "demo-function-key";

/// Set in the environment of the process the demo starts: the demo binary then serves as the
/// handler (the product's own CLI, `dfc_sentinel_sync::cli::main`).
pub const SERVE_AS_HANDLER: &str = "DFC_DEMO_SERVE_AS_HANDLER";

/// One seeded incident and what must become of it.
struct Case {
    label: &'static str,
    name: String,
    alerts: Vec<String>,
    expect_status: &'static str,
    expect_classification: Option<&'static str>,
}

/// A scenario: the simulated workspace and the expectations.
pub struct Scenario {
    /// The simulator, seeded.
    pub sim: AzureSim,
    cases: Vec<Case>,
    raced: String,
    webhook_incident: String,
    webhook_alert: String,
}

fn ago_days(days: i64) -> chrono::Duration {
    chrono::Duration::days(days)
}

impl Scenario {
    /// Starts the simulator and seeds one incident per behaviour-table row, plus the edge cases.
    pub async fn seed() -> std::io::Result<Self> {
        let sim = AzureSim::start(SimConfig::default()).await?;
        let mut cases = Vec::new();
        let dfc = "Azure Security Center";
        let mut add = |label: &'static str,
                       incident_status: &str,
                       alerts: &[(&str, &str, i64)],
                       last_modified_days: i64,
                       labels: Vec<String>,
                       expect_status: &'static str,
                       expect_classification: Option<&'static str>| {
            let ids: Vec<String> = alerts
                .iter()
                .map(|(status, product, days)| {
                    sim.add_alert(AlertSeed {
                        status: (*status).into(),
                        product_name: (*product).into(),
                        display_name: format!("{label} alert"),
                        last_changed_ago: ago_days(*days),
                    })
                })
                .collect();
            let (classification, classification_reason) = if incident_status == "Closed" {
                (Some("Undetermined".to_owned()), None)
            } else {
                (None, None)
            };
            let name = sim.add_incident(IncidentSeed {
                title: label.into(),
                severity: "Medium".into(),
                status: incident_status.into(),
                owner: None,
                labels,
                alert_ids: ids.clone(),
                last_modified_ago: ago_days(last_modified_days),
                classification,
                classification_reason,
            });
            cases.push(Case {
                label,
                name: name.clone(),
                alerts: ids,
                expect_status,
                expect_classification,
            });
            name
        };
        add(
            "All alerts Resolved",
            "New",
            &[("Resolved", dfc, 1)],
            2,
            vec![],
            "Closed",
            Some("TruePositive"),
        );
        add(
            "All alerts Dismissed",
            "New",
            &[("Dismissed", dfc, 1), ("Dismissed", dfc, 2)],
            3,
            vec![],
            "Closed",
            Some("BenignPositive"),
        );
        add(
            "Resolved + Dismissed",
            "New",
            &[("Resolved", dfc, 1), ("Dismissed", dfc, 1)],
            3,
            vec![],
            "Closed",
            Some("TruePositive"),
        );
        add(
            "In progress + Resolved",
            "New",
            &[("InProgress", dfc, 1), ("Resolved", dfc, 1)],
            2,
            vec![],
            "Active",
            None,
        );
        add(
            "In progress, already Active",
            "Active",
            &[("InProgress", dfc, 1)],
            1,
            vec![],
            "Active",
            None,
        );
        add(
            "One alert still New",
            "New",
            &[("New", dfc, 1), ("Resolved", dfc, 1)],
            2,
            vec![],
            "New",
            None,
        );
        add(
            "Already Closed",
            "Closed",
            &[("Resolved", dfc, 1)],
            1,
            vec![],
            "Closed",
            Some("Undetermined"),
        );
        add(
            "Incident 90 days old",
            "New",
            &[("Resolved", "Microsoft Defender for Cloud", 1)],
            90,
            vec![],
            "Closed",
            Some("TruePositive"),
        );
        add(
            "Not Defender for Cloud",
            "New",
            &[("Resolved", "Azure Sentinel", 1)],
            1,
            vec![],
            "New",
            None,
        );
        add(
            "Reopened by an analyst",
            "Active",
            &[("Resolved", dfc, 5)],
            1,
            vec![dfc_sentinel_sync::policy::LABEL_CLOSED.into()],
            "Active",
            None,
        );
        let raced = add(
            "Analyst closes it meanwhile",
            "New",
            &[("Resolved", dfc, 1)],
            1,
            vec![],
            "Closed",
            Some("FalsePositive"),
        );
        let webhook_incident = add(
            "Dismissed later (webhook)",
            "New",
            &[("New", dfc, 1)],
            1,
            vec![],
            "Closed",
            Some("BenignPositive"),
        );
        let webhook_alert = cases.last().map(|c| c.alerts[0].clone()).unwrap_or_default();
        Ok(Self {
            sim,
            cases,
            raced,
            webhook_incident,
            webhook_alert,
        })
    }

    /// The app settings the handler gets, pointing it at the simulator.
    pub fn settings(&self) -> Vec<(String, String)> {
        let mut settings = crate::settings_for(&self.sim, "info");
        settings.push((SERVE_AS_HANDLER.to_owned(), "1".to_owned()));
        settings
    }
}

/// Runs the demo; see the module doc.
pub async fn run(verbose: bool) -> ExitCode {
    match run_inner(verbose).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("demo failed: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run_inner(verbose: bool) -> Result<bool, String> {
    println!("dfc-sentinel-sync demo: the real handler against a simulated Sentinel workspace\n");
    let scenario = Scenario::seed()
        .await
        .map_err(|e| format!("could not start the simulator: {e}"))?;
    let sim = &scenario.sim;
    println!("Before:");
    print_table(&scenario, None);

    let root = crate::write_app_root().map_err(|e| format!("could not write the function app folder: {e}"))?;
    let settings = scenario.settings();
    let settings_map: HashMap<String, String> = settings.iter().cloned().collect();
    let app = FunctionApp::load(&root, &settings_map).map_err(|e| format!("the function app does not load: {e}"))?;
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this binary: {e}"))?;
    let handler = HandlerProcess::start(&exe, &root, &settings, Duration::from_secs(30))
        .await
        .map_err(|e| format!("the handler did not start: {e}"))?;
    println!(
        "\nHandler started as the Functions host starts it: ready after {} ms on port {}.",
        handler.ready_after().as_millis(),
        handler.port()
    );
    let host = FunctionsHost::new(handler.base_url(), app, vec![FUNCTION_KEY.to_owned()]);

    // An analyst closes this incident between the handler's read and its write.
    sim.edit_after_next_get(
        &scenario.raced,
        AnalystEdit {
            status: Some("Closed".into()),
            classification: Some(("FalsePositive".into(), Some("IncorrectAlertLogic".into()))),
            ..AnalystEdit::default()
        },
    );

    println!("\n1. The host fires SyncTimer (timer envelope, chunked, as the host sends it).");
    let invocation = host
        .invoke_timer("SyncTimer", timer::scheduled(), None)
        .await
        .map_err(|e| format!("timer invocation failed: {e}"))?;
    let mut actions: HashMap<String, String> = HashMap::new();
    match &invocation.outcome {
        Outcome::Succeeded { logs, return_value, .. } => {
            for line in logs {
                println!("   log: {line}");
            }
            for r in return_value["incidents"].as_array().into_iter().flatten() {
                let action = r["action"].as_str().unwrap_or_default();
                let text = match (action, r["conflicts"].as_u64().unwrap_or(0)) {
                    ("unchanged", 0) => format!("unchanged: {}", r["reason"].as_str().unwrap_or_default()),
                    ("unchanged", n) => {
                        format!("unchanged: {} after {n} 409", r["reason"].as_str().unwrap_or_default())
                    }
                    (other, _) => other.to_owned(),
                };
                actions.insert(r["incident"].as_str().unwrap_or_default().to_owned(), text);
            }
        }
        other => println!(
            "   the invocation did not succeed: {other:?}\n   body: {}",
            invocation.raw_body
        ),
    }

    println!(
        "\n2. In Defender for Cloud, the subscription owner dismisses the alert of \"Dismissed later (webhook)\";"
    );
    println!("   a Sentinel playbook (run by an automation rule) posts the incident to SecurityAlertWebhook.");
    sim.set_alert_status(&scenario.webhook_alert, "Dismissed");
    let ws = sim.workspace();
    let payload = json!({
        "objectSchemaType": "Incident",
        "objectEventType": "Update",
        "workspaceId": ws.workspace_id,
        "workspaceInfo": { "SubscriptionId": ws.subscription_id, "ResourceGroupName": ws.resource_group, "WorkspaceName": ws.workspace_name },
        "object": {
            "id": format!("{}/providers/Microsoft.SecurityInsights/Incidents/{}", ws.resource_id(), scenario.webhook_incident),
            "name": scenario.webhook_incident,
            "properties": { "status": "New" }
        }
    });
    let body = payload.to_string().into_bytes();
    let response = host
        .call_http(CallerRequest {
            method: "POST".into(),
            path_and_query: "/api/SecurityAlertWebhook".into(),
            headers: vec![
                ("Content-Type".into(), "application/json".into()),
                ("x-functions-key".into(), FUNCTION_KEY.into()),
                ("Content-Length".into(), body.len().to_string()),
            ],
            body,
            chunked: false,
        })
        .await
        .map_err(|e| format!("webhook call failed: {e}"))?;
    let reply: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    println!(
        "   HTTP {}: action {}, {} → {}",
        response.status,
        reply["action"].as_str().unwrap_or("?"),
        reply["statusBefore"].as_str().unwrap_or("?"),
        reply["statusAfter"].as_str().unwrap_or("?")
    );
    if let Some(action) = reply["action"].as_str() {
        actions.insert(scenario.webhook_incident.clone(), format!("{action} (webhook)"));
    }

    println!("\nAfter:");
    let all_ok = print_table(&scenario, Some(&actions));
    let stdout = handler.stdout_lines();
    let stderr = handler.stderr_lines();
    let exit = handler
        .terminate(Duration::from_secs(5))
        .await
        .map_err(|e| format!("stopping the handler: {e}"))?;
    if verbose {
        println!("\nHandler console output:");
        for line in stdout.iter().chain(stderr.iter()) {
            println!("   {line}");
        }
    }
    println!("\nHandler stopped with SIGTERM: {exit}.");
    let _ = std::fs::remove_dir_all(&root);
    if all_ok {
        println!("Every incident ended as expected.");
    } else {
        println!("Some incidents did NOT end as expected (marked ✗).");
    }
    Ok(all_ok)
}

/// Prints one row per seeded incident; with `actions`, also the action and whether the final
/// state is the expected one. Returns true when every row matches.
fn print_table(scenario: &Scenario, actions: Option<&HashMap<String, String>>) -> bool {
    let mut all_ok = true;
    let header = format!(
        "  {:<3} {:<29} {:<24} {:<8} {:<15} {:<22}",
        "#",
        "incident",
        "alerts (DfC status)",
        "status",
        "classification",
        if actions.is_some() { "action" } else { "" }
    );
    println!("{}", header.trim_end());
    for case in &scenario.cases {
        let Some(view) = scenario.sim.incident(&case.name) else {
            continue;
        };
        let alerts: Vec<String> = case.alerts.iter().map(|a| alert_status(&scenario.sim, a)).collect();
        let mut line = format!(
            "  {:<3} {:<29} {:<24} {:<8} {:<15}",
            view.number,
            case.label,
            alerts.join(", "),
            view.status,
            view.classification.clone().unwrap_or_else(|| "-".into())
        );
        if let Some(actions) = actions {
            let action = actions
                .get(&case.name)
                .cloned()
                .unwrap_or_else(|| "not a candidate".into());
            let ok = view.status == case.expect_status && view.classification.as_deref() == case.expect_classification;
            all_ok &= ok;
            line.push_str(&format!(" {:<34} {}", action, if ok { "✓" } else { "✗" }));
        }
        println!("{}", line.trim_end());
    }
    all_ok
}

fn alert_status(sim: &AzureSim, alert_id: &str) -> String {
    sim.alert_status(alert_id).unwrap_or_else(|| "?".into())
}

//! The steps `handler check` runs for each workspace: its Log Analytics id (given, or read from
//! the workspace resource), reading incidents and the API version, the candidate query, and a
//! dry run. Each failure names its fix ([`super::hints`]).

use std::time::Duration;

use serde_json::json;

use super::{API_VERSION, DRY_RUN, INCIDENTS, MAX_LISTED, QUERY, Status, Step, WORKSPACE, hints};
use crate::{
    azure::{AzureError, incidents::IncidentsClient, logs::LogsClient},
    config::{Config, WorkspaceSetting},
    domain::WorkspaceGuid,
    engine::{Action, Engine, RunSummary, candidates_from},
    queries,
};

/// Which tokens the identity got.
#[derive(Debug, Clone, Copy)]
pub(super) struct Tokens {
    pub(super) arm: bool,
    pub(super) logs: bool,
}

/// The steps of one workspace: its id, incidents and API version, the query, the dry run.
pub(super) async fn workspace_steps(
    config: &Config,
    ws: &WorkspaceSetting,
    engine: &Engine,
    who: hints::Grantee<'_>,
    tokens: Tokens,
) -> Vec<Step> {
    let client = engine.incidents_client();
    let mut steps = Vec::new();
    let id: Option<WorkspaceGuid> = match (&ws.id, tokens.arm) {
        (Some(id), _) => {
            steps.push(
                Step::ok(WORKSPACE, format!("id {} (SENTINEL_WORKSPACE_ID)", id.as_str()))
                    .with_data(json!({ "workspaceId": id.as_str(), "from": "settings" })),
            );
            Some(id.clone())
        }
        (None, false) => {
            steps.push(Step::skipped(WORKSPACE, "not run: needs a Resource Manager token"));
            None
        }
        (None, true) => match client.workspace_id().await {
            Ok(id) => {
                // The dry run below then needs no second read.
                engine.remember_workspace_id(id.clone());
                steps.push(
                    Step::ok(
                        WORKSPACE,
                        format!("id {} read from the workspace resource", id.as_str()),
                    )
                    .with_data(json!({ "workspaceId": id.as_str(), "from": "resource" })),
                );
                Some(id)
            }
            Err(e) => {
                let target = hints::Target {
                    resource: &ws.resource,
                    id: None,
                    id_from_settings: false,
                };
                let step = Step::fail(
                    WORKSPACE,
                    hints::detail(&e),
                    hints::workspace_id_fix(&e, config, target, &who.describe(&hints::service_message(&e))),
                )
                .note(format!("Resource Manager said: {}", hints::service_message(&e)));
                steps.push(step);
                None
            }
        },
    };
    let target = hints::Target {
        resource: &ws.resource,
        id: id.as_ref(),
        id_from_settings: ws.id.is_some(),
    };
    if tokens.arm {
        steps.extend(incidents(config, client, target, who).await);
    } else {
        steps.push(Step::skipped(INCIDENTS, "not run: needs a Resource Manager token"));
        steps.push(Step::skipped(API_VERSION, "not run: needs a Resource Manager token"));
    }
    match (&id, tokens.logs) {
        (Some(id), true) => steps.push(query(config, id, engine.logs_client(), target, who).await),
        (_, false) => steps.push(Step::skipped(QUERY, "not run: needs a Log Analytics token")),
        (None, true) => steps.push(Step::skipped(
            QUERY,
            "not run: the workspace's id is not known (see workspace)",
        )),
    }
    let ready = [INCIDENTS, QUERY]
        .iter()
        .all(|n| steps.iter().any(|s| s.name == *n && s.status == Status::Ok));
    steps.push(match id {
        Some(_) if ready => dry_run(config, engine).await,
        _ => Step::skipped(DRY_RUN, "not run: needs reading incidents and the candidate query"),
    });
    steps
}

/// Reads the first incident: the `incidents` and `api-version` steps.
async fn incidents(
    config: &Config,
    client: &IncidentsClient,
    target: hints::Target<'_>,
    who: hints::Grantee<'_>,
) -> [Step; 2] {
    let version = &config.api_version;
    match client.first_incident().await {
        Ok(first) => {
            let provider = first.as_ref().and_then(|i| i.provider_name().map(str::to_owned));
            let found = match &first {
                Some(i) => format!(
                    "first incident #{} ({})",
                    i.properties.incident_number.unwrap_or_default(),
                    provider.as_deref().unwrap_or("provider not given")
                ),
                None => "the workspace has no incident yet".into(),
            };
            let mut step = Step::ok(INCIDENTS, format!("read the incident list: {found}"))
                .with_data(json!({ "firstIncidentProvider": provider }));
            if provider.as_deref().is_some_and(crate::domain::is_xdr_provider) {
                step = step.note("incidents come from Microsoft XDR: the workspace is in the Defender portal");
            }
            step = step.note("writing (Microsoft Sentinel Responder) is not tried: check writes nothing");
            [
                step,
                Step::ok(API_VERSION, format!("{version} accepted by Microsoft.SecurityInsights"))
                    .with_data(json!({ "apiVersion": version })),
            ]
        }
        Err(e) if hints::is_api_version_error(&e) => [
            Step::skipped(
                INCIDENTS,
                "not known: the API refused SENTINEL_API_VERSION (see api-version)",
            ),
            Step::fail(API_VERSION, hints::detail(&e), hints::api_version_fix(&e, version))
                .note(format!("Sentinel said: {}", hints::service_message(&e))),
        ],
        Err(e) => {
            let step = access_failed(
                INCIDENTS,
                &e,
                config,
                target,
                who,
                Access {
                    service: "Sentinel",
                    role: "Microsoft Sentinel Responder",
                    fix: hints::sentinel_fix,
                },
            );
            [
                step,
                Step::skipped(
                    API_VERSION,
                    "not known: the incident read failed before the version was checked",
                ),
            ]
        }
    }
}

/// Runs the candidate query the timer sends, and reads its answer as the engine does.
async fn query(
    config: &Config,
    id: &WorkspaceGuid,
    logs: &LogsClient,
    target: hints::Target<'_>,
    who: hints::Grantee<'_>,
) -> Step {
    let text = queries::sync_candidates(
        config.lookback_days,
        queries::Partition::WHOLE,
        config.reopen_on_reactivation,
    );
    let started = std::time::Instant::now();
    let answer = logs
        .query(id, &text, Duration::from_secs(config.run_budget_seconds))
        .await;
    let ms = started.elapsed().as_millis() as u64;
    match answer {
        Ok(None) => Step::ok(
            QUERY,
            format!("answered in {ms} ms: the workspace has no data (204), so no candidates"),
        ),
        Ok(Some(table)) => {
            let rows = table.rows.len();
            match candidates_from(table) {
                Ok((candidates, bad)) => Step::ok(
                    QUERY,
                    format!(
                        "answered in {ms} ms: {rows} rows, {} candidates{}",
                        candidates.len(),
                        if bad.is_empty() {
                            String::new()
                        } else {
                            format!(", {} unreadable", bad.len())
                        }
                    ),
                )
                .with_data(json!({ "ms": ms, "rows": rows, "candidates": candidates.len(), "unreadable": bad.len() })),
                Err(e) => Step::fail(
                    QUERY,
                    "unexpected answer",
                    format!(
                        "the answer lacks the columns this tool reads ({e}); `handler query` prints the query sent"
                    ),
                ),
            }
        }
        Err(e) if e.is_result_too_large() => Step::ok(
            QUERY,
            format!("answered in {ms} ms, over the result limit of one answer: the timer splits the query into parts"),
        ),
        Err(e) => access_failed(
            QUERY,
            &e,
            config,
            target,
            who,
            Access {
                service: "Log Analytics",
                role: "Log Analytics Reader",
                fix: hints::query_fix,
            },
        ),
    }
}

/// The service a step reaches, the role that grants it, and the fix for its errors.
struct Access {
    service: &'static str,
    role: &'static str,
    fix: fn(&AzureError, &Config, hints::Target<'_>, &str) -> String,
}

/// A failed access step: the error, its fix, what the service said and, for a 403, the
/// command that grants `access.role` on the workspace to the principal.
fn access_failed(
    name: &'static str,
    e: &AzureError,
    config: &Config,
    target: hints::Target<'_>,
    who: hints::Grantee<'_>,
    access: Access,
) -> Step {
    let message = hints::service_message(e);
    let mut step = Step::fail(
        name,
        hints::detail(e),
        (access.fix)(e, config, target, &who.describe(&message)),
    )
    .note(format!("{} said: {message}", access.service));
    if e.status() == Some(403)
        && let Some(command) = who.command(&message, access.role, &target.resource.arm_id())
    {
        step = step.note(command);
    }
    step
}

/// One reconciliation of the workspace by `engine` (built with dry run forced on): what the
/// timer would do now.
async fn dry_run(config: &Config, engine: &Engine) -> Step {
    let run_id = format!("check-{}", uuid::Uuid::new_v4());
    let summary = engine.reconcile(run_id).await;
    dry_run_step(&summary, config.lookback_days)
}

/// The dry run's summary as a step: counts, reasons, and the incidents that would change.
fn dry_run_step(summary: &RunSummary, lookback_days: u32) -> Step {
    // Reopening is opt-in: its count is named only when there is one.
    let reopen = if summary.reopened > 0 {
        format!(", {} would reopen", summary.reopened)
    } else {
        String::new()
    };
    let detail = format!(
        "{} candidates (open, a Defender for Cloud alert changed in {lookback_days} days): {} actionable now ({} would close, {} would activate{reopen}), {} left as they are, {} failed; {} from Microsoft XDR (of those read fresh)",
        summary.scanned,
        summary.changed,
        summary.closed,
        summary.activated,
        summary.unchanged,
        summary.failed,
        summary.from_xdr
    );
    let data = serde_json::to_value(summary).unwrap_or_default();
    let mut step = match (&summary.error, summary.failed) {
        (Some(error), _) => Step::fail(DRY_RUN, "run failed", error.clone()),
        (None, 0) => Step::ok(DRY_RUN, detail),
        (None, n) => {
            let first = summary.incidents.iter().find(|r| r.action == Action::Failed);
            Step::fail(
                DRY_RUN,
                detail,
                format!(
                    "{n} incidents could not be read or decided; first: {}",
                    first.map(|r| r.detail.as_str()).unwrap_or("?")
                ),
            )
        }
    }
    .with_data(data);
    if !summary.skipped.is_empty() {
        let reasons: Vec<String> = summary.skipped.iter().map(|(k, v)| format!("{k} {v}")).collect();
        step = step.note(format!("left as they are: {}", reasons.join(", ")));
    }
    let changing: Vec<_> = summary
        .incidents
        .iter()
        .filter(|r| {
            matches!(
                r.action,
                Action::WouldClose | Action::WouldActivate | Action::WouldReopen
            )
        })
        .collect();
    for r in changing.iter().take(MAX_LISTED) {
        let number = r.incident_number.map(|n| format!("#{n} ")).unwrap_or_default();
        step = step.note(format!(
            "{:<15}{number}({}) {}",
            r.action.as_str(),
            r.incident,
            r.reason
        ));
    }
    if changing.len() > MAX_LISTED {
        step = step.note(format!(
            "… and {} more (--json lists them)",
            changing.len() - MAX_LISTED
        ));
    }
    if summary.not_reached > 0 {
        step = step.note(format!(
            "{} not reached within SYNC_RUN_BUDGET_SECONDS: the timer works through them over several runs",
            summary.not_reached
        ));
    }
    step
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        domain::IncidentName,
        engine::{Action, IncidentReport, ReportReason},
        policy::Reason,
    };

    fn report(name: &str, number: i64, action: Action, reason: ReportReason) -> IncidentReport {
        let mut r = IncidentReport::new(&IncidentName::parse(name).unwrap(), Some(number));
        r.action = action;
        r.reason = reason;
        r
    }

    #[test]
    fn the_dry_run_step_counts_and_names_what_would_change() {
        let mut summary = RunSummary::start("check-1".into(), true, 30);
        summary.scanned = 4;
        summary.record(report("a", 1, Action::WouldClose, ReportReason::AlertsResolved));
        summary.record(report("b", 2, Action::WouldActivate, ReportReason::AlertsInProgress));
        summary.record(report(
            "c",
            3,
            Action::Unchanged,
            ReportReason::Left(Reason::AlertsPending),
        ));
        let mut xdr = report("d", 4, Action::Unchanged, ReportReason::Left(Reason::AlertsPending));
        xdr.provider = Some("Microsoft XDR".into());
        summary.record(xdr);
        summary.finish();
        let step = dry_run_step(&summary, 30);
        assert_eq!(step.status, Status::Ok);
        assert_eq!(
            step.detail,
            "4 candidates (open, a Defender for Cloud alert changed in 30 days): 2 actionable now (1 would close, 1 would activate), 2 left as they are, 0 failed; 1 from Microsoft XDR (of those read fresh)"
        );
        assert_eq!(step.notes[0], "left as they are: alerts-pending 2");
        assert_eq!(step.notes[1], "would-close    #1 (a) alerts-resolved");
        assert_eq!(step.notes[2], "would-activate #2 (b) alerts-in-progress");
        assert_eq!(step.data["fromXdr"], 1);

        summary.record(report("e", 5, Action::Failed, ReportReason::Error));
        let step = dry_run_step(&summary, 30);
        assert_eq!(step.status, Status::Fail);
    }
}

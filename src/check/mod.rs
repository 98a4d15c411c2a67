//! `handler check`: the preflight a deployer runs before turning `SYNC_DRY_RUN` off. In order:
//! the settings; the credential this process would use; a token for each audience; then, for each
//! configured workspace (or the one `--workspace` names): its Log Analytics id (given, or read from
//! the workspace resource); reading incidents (`GET …/incidents?$top=1`), which also shows whether the
//! Sentinel API accepts `SENTINEL_API_VERSION`; the real candidate query; and a reconciliation with
//! dry run forced on, whatever `SYNC_DRY_RUN` says, so nothing is written. Every failure names the
//! role or setting to fix ([`hints`]). A step that needs a failed one is skipped.
//!
//! The candidate query runs twice: once as the access probe (its error is the service's own),
//! once inside the dry run.
//!
//! - [`report`]: the steps, the report, its text and JSON.
//! - `workspace`: the steps run for each workspace.
//! - [`hints`]: the fix each failure names.

mod hints;
mod report;
mod workspace;

use std::{sync::Arc, time::Duration};

use azure_core::credentials::TokenCredential;
use serde_json::json;

pub use hints::Principal;
pub use report::{
    API_VERSION, ARM_TOKEN, COMMON_STEPS, CREDENTIAL, DRY_RUN, INCIDENTS, LOGS_TOKEN, QUERY, Report, SETTINGS, STEPS,
    Status, Step, WORKSPACE, WorkspaceChecks,
};

use crate::{
    azure::{identity, identity::CredentialKind},
    config::{self, Config, ConfigError},
    fleet::Fleet,
};
use workspace::{Tokens, workspace_steps};

/// Most incidents the dry-run step names (the JSON's `data` holds the whole run summary).
pub const MAX_LISTED: usize = 20;
/// Longest wait for one token (the managed identity credential gives up within 15 s itself).
const TOKEN_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs the preflight against the workspaces the process environment's settings name (or only
/// the one `only` names: its name or resource id).
pub async fn run(only: Option<&str>) -> Report {
    let set: Vec<&str> = config::SETTINGS
        .iter()
        .copied()
        .filter(|s| std::env::var(s).is_ok_and(|v| !v.trim().is_empty()))
        .collect();
    let mut config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => return Report::new(None, vec![settings_failed(&e)]),
    };
    if let Some(wanted) = only {
        config.workspaces.retain(|w| w.resource.is_named(wanted));
        if config.workspaces.is_empty() {
            return Report::new(
                None,
                vec![Step::fail(
                    SETTINGS,
                    format!("--workspace {wanted:?} is none of the workspaces SENTINEL_WORKSPACE_RESOURCE_ID lists"),
                    "give one of their names or resource ids",
                )],
            );
        }
    }
    let mut steps = vec![settings_ok(&config, &set)];
    let client_id = config.client_id.as_deref();
    let (credential, kind) = match identity::credential(client_id) {
        Ok(c) => c,
        Err(e) => {
            steps.push(Step::fail(
                CREDENTIAL,
                "no credential",
                format!("{e}: {}", hints::token_fix(CredentialKind::from_env(), client_id)),
            ));
            return report(&config, steps, Vec::new());
        }
    };
    let (arm, arm_principal) = token(ARM_TOKEN, &credential, config.cloud.arm_scope(), kind, client_id).await;
    let (logs, logs_principal) = token(
        LOGS_TOKEN,
        &credential,
        config.cloud.log_analytics_scope(),
        kind,
        client_id,
    )
    .await;
    let principal = arm_principal.or(logs_principal);
    let mut credential_step = Step::ok(CREDENTIAL, hints::credential_words(kind, client_id)).with_data(json!({
        "kind": match (kind, client_id) {
            (CredentialKind::ManagedIdentity, None) => "managed-identity-system-assigned",
            (CredentialKind::ManagedIdentity, Some(_)) => "managed-identity-user-assigned",
            (CredentialKind::DeveloperTools, _) => "developer-tools",
        },
        "principal": principal,
    }));
    if let Some(p) = principal.as_ref().and_then(Principal::describe) {
        credential_step = credential_step.note(format!("signed in as {p}"));
    }
    if kind == CredentialKind::DeveloperTools && client_id.is_some() {
        credential_step =
            credential_step.note("AZURE_CLIENT_ID is used only with a managed identity; it is ignored here");
    }
    let tokens = Tokens {
        arm: arm.status == Status::Ok,
        logs: logs.status == Status::Ok,
    };
    steps.extend([credential_step, arm, logs]);
    let who = hints::Grantee {
        principal: principal.as_ref(),
        kind,
        client_id,
    };
    // One fleet for every workspace's steps, with dry run forced on: its dry runs write nothing.
    let fleet = match Fleet::build(
        &Config {
            dry_run: true,
            ..config.clone()
        },
        credential,
    ) {
        Ok(fleet) => fleet,
        Err(e) => {
            steps.push(Step::fail(
                QUERY,
                e,
                "the machine's TLS set-up (its trust store) is what building an HTTPS client reads",
            ));
            return report(&config, steps, Vec::new());
        }
    };
    let mut parts = Vec::new();
    for (ws, engine) in config.workspaces.iter().zip(fleet.engines()) {
        let steps = workspace_steps(&config, ws, engine, who, tokens).await;
        parts.push((ws.resource.arm_id(), steps));
    }
    report(&config, steps, parts)
}

/// One report: with one workspace, its steps after the common ones; with several, each
/// workspace's steps under its resource id.
fn report(config: &Config, mut common: Vec<Step>, mut parts: Vec<(String, Vec<Step>)>) -> Report {
    if config.workspaces.len() == 1 {
        let rid = config.workspaces[0].resource.arm_id();
        if let Some((_, steps)) = parts.pop() {
            common.extend(steps);
        }
        return Report::new(Some(rid), common);
    }
    if parts.is_empty() {
        parts = config
            .workspaces
            .iter()
            .map(|w| (w.resource.arm_id(), Vec::new()))
            .collect();
    }
    Report::several(common, parts)
}

fn settings_failed(error: &ConfigError) -> Step {
    let names: Vec<&str> = error.0.iter().map(|e| e.setting).collect();
    let mut step = Step::fail(
        SETTINGS,
        format!("{} missing or invalid: {}", error.0.len(), names.join(", ")),
        "set them in the app settings (or this shell's environment) and run check again",
    )
    .with_data(json!({
        "problems": error.0.iter().map(|e| json!({ "setting": e.setting, "problem": e.problem })).collect::<Vec<_>>(),
    }));
    for problem in &error.0 {
        step = step.note(format!("{}: {}", problem.setting, problem.problem));
    }
    step
}

fn settings_ok(config: &Config, set: &[&str]) -> Step {
    Step::ok(
        SETTINGS,
        format!(
            "{} read ({} set, the others default), dry run {}",
            config::SETTINGS.len(),
            set.len(),
            if config.dry_run { "on" } else { "off" }
        ),
    )
    .note(if config.dry_run {
        "SYNC_DRY_RUN=true: the timer and the webhook decide and write nothing"
    } else {
        "SYNC_DRY_RUN is off: the timer and the webhook write (this check never does)"
    })
    .with_data(json!({
        "set": set,
        "dryRun": config.dry_run,
        "cloud": config.cloud.name(),
        "apiVersion": config.api_version,
        "lookbackDays": config.lookback_days,
        "skipOwned": config.skip_owned,
        "runBudgetSeconds": config.run_budget_seconds,
        "workspaces": config.workspaces.iter().map(|w| w.resource.arm_id()).collect::<Vec<_>>(),
    }))
}

/// A token for `scope`; the principal its claims name, when it is a JWT.
async fn token(
    name: &'static str,
    credential: &Arc<dyn TokenCredential>,
    scope: &str,
    kind: CredentialKind,
    client_id: Option<&str>,
) -> (Step, Option<Principal>) {
    let error = match tokio::time::timeout(TOKEN_TIMEOUT, credential.get_token(&[scope], None)).await {
        Ok(Ok(token)) => {
            let expires = token.expires_on.unix_timestamp();
            let minutes = (expires - chrono::Utc::now().timestamp()) / 60;
            let principal = Principal::from_token(token.token.secret());
            let step =
                Step::ok(name, format!("token for {scope}, valid for {minutes} more minutes")).with_data(json!({
                    "scope": scope,
                    "expiresOn": chrono::DateTime::from_timestamp(expires, 0).map(|t| t.to_rfc3339()),
                }));
            return (step, principal);
        }
        Ok(Err(e)) => e.to_string(),
        Err(_) => format!("no token within {} s", TOKEN_TIMEOUT.as_secs()),
    };
    let step = Step::fail(name, format!("no token for {scope}"), hints::token_fix(kind, client_id)).note(format!(
        "the credential said: {}",
        error.chars().take(400).collect::<String>()
    ));
    (step, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_settings_are_each_named() {
        let error = Config::from_lookup(|_| None).unwrap_err();
        let step = settings_failed(&error);
        assert_eq!(step.status, Status::Fail);
        assert_eq!(step.detail, "1 missing or invalid: SENTINEL_WORKSPACE_RESOURCE_ID");
        assert!(step.notes[0].starts_with("SENTINEL_WORKSPACE_RESOURCE_ID: missing"));
        assert_eq!(step.data["problems"][0]["setting"], "SENTINEL_WORKSPACE_RESOURCE_ID");
    }
}

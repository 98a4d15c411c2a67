//! dfc-sentinel-sync: keeps Microsoft Sentinel incidents in step with the status of their
//! Microsoft Defender for Cloud alerts. It runs as an Azure Functions custom handler (a timer
//! that reconciles the workspace, and a webhook that syncs one incident at once) and as a CLI.
//!
//! # Layout
//!
//! Data flows one way: host → [`host`] → [`engine`] → [`azure`] clients, with the pure
//! [`policy`] deciding in between.
//!
//! - [`config`]: app settings, validated once; errors name the setting.
//! - [`domain`]: statuses, classifications, incident and workspace identifiers (parsed, never raw).
//! - [`policy`]: `decide(incident, alerts, options)`: the behaviour table, pure.
//! - [`queries`]: the embedded KQL candidate query.
//! - [`engine`]: one reconciliation run, one single-incident sync, the run summary.
//! - [`fleet`]: the workspaces one deployment serves: an engine each, one run over all.
//! - [`host`]: the Functions custom-handler protocol (router, timer envelope, webhook).
//! - [`webhook`]: payload parsing into a checked incident of the configured workspace.
//! - [`azure`]: identity, Log Analytics query client, Sentinel incidents client.
//! - [`telemetry`]: log format and routing for Application Insights.
//! - [`check`]: the `check` command, a preflight of settings, identity, access and a dry run.
//! - `demo` (cargo feature `demo`, on by default): the `demo` command, the real handler against
//!   the simulated workspace.
//!
//! The test doubles (the Azure simulator and the Functions host emulator) are separate crates
//! under `testkit/`; only `demo` uses them, never the serving path, and the published build
//! (`scripts/package`, `--no-default-features`) links neither.

pub mod azure;
pub mod check;
pub mod config;
#[cfg(feature = "demo")]
pub mod demo;
pub mod domain;
pub mod engine;
pub mod fleet;
pub mod host;
pub mod policy;
pub mod queries;
pub mod telemetry;
pub mod webhook;

use std::{future::Future, sync::Arc, time::Duration};

use azure::{identity, incidents::IncidentsClient, logs::LogsClient};
use config::Config;
use engine::{Engine, EngineOptions};
use fleet::Fleet;
use policy::PolicyOptions;

/// Builds an engine per configured workspace: picks the credential and creates the clients,
/// which every workspace shares (one connection pool and pacer per service), as they share the
/// run's incident slots. No network I/O
/// happens here; tokens, and workspace ids the settings do not give, are fetched on first use.
pub fn build_fleet(config: &Config) -> Result<Fleet, String> {
    let (credential, kind) =
        identity::credential(config.client_id.as_deref()).map_err(|e| format!("no Azure credential available: {e}"))?;
    tracing::debug!(credential = ?kind, workspaces = config.workspaces.len(), "credential selected");
    let logs = LogsClient::new(
        &config.log_analytics_endpoint,
        credential.clone(),
        config.cloud.log_analytics_scope(),
    );
    let incidents = IncidentsClient::new(
        &config.arm_endpoint,
        &config.workspaces[0].resource,
        &config.api_version,
        credential,
        config.cloud.arm_scope(),
    );
    let options = EngineOptions {
        dry_run: config.dry_run,
        policy: PolicyOptions {
            skip_owned: config.skip_owned,
            resolved: config.resolved_classification,
            dismissed: config.dismissed_classification,
            reopen_on_reactivation: config.reopen_on_reactivation,
        },
        lookback_days: config.lookback_days,
        run_budget: Duration::from_secs(config.run_budget_seconds),
    };
    let sync_slots = Arc::new(tokio::sync::Semaphore::new(engine::CONCURRENCY));
    let engines = config
        .workspaces
        .iter()
        .map(|ws| {
            Engine::new(
                logs.clone(),
                incidents.for_workspace(&ws.resource),
                ws.id.clone(),
                options,
            )
            .with_sync_slots(sync_slots.clone())
        })
        .collect();
    Ok(Fleet::new(engines))
}

/// Serves the custom handler on `listener` until `shutdown` completes, then finishes the
/// requests in flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Arc<host::App>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, host::router(app))
        .with_graceful_shutdown(shutdown)
        .await
}

//! The composition root: the one place the product's parts are put together, used by the
//! serving handler, `sync` and `check` alike.

use std::{collections::HashMap, sync::Arc, time::Duration};

use azure_core::credentials::TokenCredential;

use super::Fleet;
use crate::{
    azure::{incidents::IncidentsClient, logs::LogsClient},
    config::Config,
    engine::{self, Engine, EngineOptions},
    policy::PolicyOptions,
};

impl Fleet {
    /// An engine per configured workspace over clients they all share (one connection pool and
    /// one pacer per service), taking tokens from `credential`, and sharing the run's incident
    /// slots. No network I/O happens here; tokens, and the workspace ids the settings do not
    /// give, are fetched on first use. Building the HTTPS clients reads the system trust store.
    pub fn build(config: &Config, credential: Arc<dyn TokenCredential>) -> Result<Self, String> {
        let logs = LogsClient::new(
            &config.log_analytics_endpoint,
            credential.clone(),
            config.cloud.log_analytics_scope(),
        )
        .map_err(|e| format!("the Azure clients could not be built: {e}"))?;
        let incidents = IncidentsClient::new(
            &config.arm_endpoint,
            &config.workspaces[0].resource,
            &config.api_version,
            credential,
            config.cloud.arm_scope(),
        );
        let options = engine_options(config);
        // Incident slots per subscription (Resource Manager paces each on its own buckets), within
        // one bound for the whole fleet.
        let fleet_slots = Arc::new(tokio::sync::Semaphore::new(engine::MAX_IN_FLIGHT));
        let mut subscription_slots: HashMap<String, Arc<tokio::sync::Semaphore>> = HashMap::new();
        let engines = config
            .workspaces
            .iter()
            .map(|ws| {
                let slots = subscription_slots
                    .entry(ws.resource.subscription_id.to_ascii_lowercase())
                    .or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(engine::CONCURRENCY)))
                    .clone();
                Engine::new(
                    logs.clone(),
                    incidents.for_workspace(&ws.resource),
                    ws.id.clone(),
                    options,
                )
                .with_sync_slots(slots, fleet_slots.clone())
            })
            .collect();
        Ok(Self::new(engines))
    }
}

/// What the settings say about how the engines work.
fn engine_options(config: &Config) -> EngineOptions {
    EngineOptions {
        dry_run: config.dry_run,
        policy: PolicyOptions {
            skip_owned: config.skip_owned,
            resolved: config.resolved_classification,
            dismissed: config.dismissed_classification,
            reopen_on_reactivation: config.reopen_on_reactivation,
        },
        lookback_days: config.lookback_days,
        run_budget: Duration::from_secs(config.run_budget_seconds),
    }
}

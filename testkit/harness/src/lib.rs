//! What the demo, the integration tests and the benches share: the function app's files laid
//! out as `func publish` lays them out, and app settings that point the real handler at the
//! Azure simulator. The product crate (`src/`) depends on nothing here.
//!
//! - [`demo`]: the `demo` binary's scenario, one incident per row of the behaviour table.
//! - [`in_process`]: the real handler served inside the test process, the credential injected.

pub mod demo;
pub mod in_process;

pub use in_process::{InProcessHandler, SimCredential};

use std::path::PathBuf;

use azure_sim::AzureSim;

/// The function app's files, embedded so the demo works from its binary alone.
const APP_FILES: [(&str, &str); 3] = [
    ("host.json", include_str!("../../../host.json")),
    (
        "SyncTimer/function.json",
        include_str!("../../../SyncTimer/function.json"),
    ),
    (
        "SecurityAlertWebhook/function.json",
        include_str!("../../../SecurityAlertWebhook/function.json"),
    ),
];

/// App settings that point a handler at `sim` (managed identity, Log Analytics and Sentinel all
/// served by the simulator), logging at `rust_log`.
pub fn settings_for(sim: &AzureSim, rust_log: &str) -> Vec<(String, String)> {
    let ws = sim.workspace();
    [
        ("FUNCTIONS_WORKER_RUNTIME", "custom".to_owned()),
        ("SENTINEL_WORKSPACE_ID", ws.workspace_id.clone()),
        ("SENTINEL_WORKSPACE_RESOURCE_ID", ws.resource_id()),
        ("ARM_ENDPOINT", sim.base_url()),
        ("LOG_ANALYTICS_ENDPOINT", sim.base_url()),
        ("IDENTITY_ENDPOINT", sim.identity_endpoint()),
        ("IDENTITY_HEADER", sim.identity_header()),
        ("SYNC_SCHEDULE", dfc_sentinel_sync::config::DEFAULT_SCHEDULE.to_owned()),
        ("SYNC_DRY_RUN", "false".to_owned()),
        ("RUST_LOG", rust_log.to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// Writes the function app's files into a fresh folder, as `func publish` would lay them out.
pub fn write_app_root() -> std::io::Result<PathBuf> {
    let root = std::env::temp_dir().join(format!(
        "dfc-sentinel-sync-app-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    for (path, text) in APP_FILES {
        let file = root.join(path);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(file, text)?;
    }
    Ok(root)
}

//! dfc-sentinel-sync: keeps Microsoft Sentinel incidents in step with the status of their
//! Microsoft Defender for Cloud alerts. It runs as an Azure Functions custom handler (a timer
//! that reconciles every configured workspace, and a webhook that syncs one incident at once)
//! and as a CLI.
//!
//! # Layout
//!
//! The modules form layers; each `use`s only those below it:
//!
//! ```text
//! cli, host          the edges: the command line; the Functions protocol (HTTP)
//! check              the `check` preflight
//! fleet              the composition root (Fleet::build), the workspaces, webhook routing
//! engine             one workspace: a run, the sync of one incident, reports
//! policy | azure     the pure decision | the Azure clients (identity, queries, incidents)
//! domain, config, queries, webhook, telemetry
//! ```
//!
//! - [`cli`]: the `handler` binary's commands, one file each, and their exit codes.
//! - [`host`]: the Functions custom-handler protocol (router, timer, webhook endpoint).
//! - [`check`]: the `check` command, a preflight of settings, identity, access and a dry run.
//! - [`fleet`]: the workspaces one deployment serves, built once by [`fleet::Fleet::build`].
//! - [`engine`]: one reconciliation run, one single-incident sync, the run summary.
//! - [`policy`]: `decide(incident, alerts, options)`: the behaviour table, pure.
//! - [`azure`]: identity, the Log Analytics query client, the Sentinel incidents client.
//! - [`domain`]: statuses, classifications, alert states, incident and workspace ids.
//! - [`config`]: app settings, validated once; errors name the setting.
//! - [`queries`]: the embedded KQL candidate query.
//! - [`webhook`]: a webhook payload read into the incident and the workspace it names.
//! - [`telemetry`]: log format and routing for Application Insights.
//!
//! The test doubles (the Azure simulator, the Functions host emulator) and the demo live in
//! separate crates under `testkit/`; nothing here depends on them.

pub mod azure;
pub mod check;
pub mod cli;
pub mod config;
pub mod domain;
pub mod engine;
pub mod fleet;
pub mod host;
pub mod policy;
pub mod queries;
pub mod telemetry;
pub mod webhook;

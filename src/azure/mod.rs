//! The Azure edge: one narrow client per outside service, all built on azure_core's pipeline
//! (retries with back-off that honour `Retry-After`) and authenticated through azure_identity.
//!
//! - [`identity`]: which credential to use, and the bearer-token policy.
//! - [`logs`]: the Log Analytics query API and the decoding of typed result tables.
//! - `incident`: the incident resource and the PUT body of an update (re-exported by [`incidents`]).
//! - [`incidents`]: the Sentinel incidents REST API (GET/PUT incident, list alerts, PUT comment).
//! - [`throttle`]: client-side pacing to Resource Manager's per-principal limits.

pub mod identity;
mod incident;
pub mod incidents;
pub mod logs;
pub mod throttle;
mod transport;

pub use transport::AzureError;

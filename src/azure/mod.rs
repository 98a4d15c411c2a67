//! The Azure edge: one narrow client per outside service, all built on azure_core's pipeline
//! (retries with back-off that honour `Retry-After`) and authenticated through azure_identity.
//!
//! - [`identity`]: which credential to use, and the bearer-token policy.
//! - [`logs`]: the Log Analytics query API.
//! - `table`: its typed result tables and their decoding (re-exported by [`logs`]).
//! - `incident`: the incident resource and the PUT body of an update (re-exported by [`incidents`]).
//! - [`incidents`]: the Sentinel incidents REST API (GET/PUT incident, list alerts, PUT comment).
//! - `error`: [`AzureError`], what went wrong with which service.
//! - `transport`: one request through the pipeline, its answer (at most [`MAX_ARM_BODY`] or
//!   [`MAX_QUERY_BODY`] bytes) or its error.
//! - [`throttle`]: client-side pacing to Resource Manager's per-principal limits.

mod error;
pub mod identity;
mod incident;
pub mod incidents;
pub mod logs;
mod table;
pub mod throttle;
mod transport;

pub use error::AzureError;
pub use transport::{MAX_ARM_BODY, MAX_QUERY_BODY};

//! Configuration of one simulated Azure tenant: the Sentinel workspace it hosts and the knobs that
//! make the simulation behave like the real service (ingestion lag, page sizes, token lifetime).

use std::time::Duration;

/// Settings for [`crate::AzureSim::start`].
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The one Sentinel-enabled Log Analytics workspace the simulator hosts.
    pub workspace: Workspace,
    /// How long a table row takes to become visible to queries (REST reads are always current).
    pub ingestion_delay: Duration,
    /// Largest number of alerts in one page of `POST …/incidents/{id}/alerts`.
    pub alerts_page_size: usize,
    /// Largest number of comments in one page of `GET …/incidents/{id}/comments`.
    pub comments_page_size: usize,
    /// Lifetime of issued access tokens, in seconds.
    pub token_lifetime_secs: i64,
    /// Added to every request (identity, Log Analytics, ARM) before it is handled, as network and
    /// service time. Zero (the default) answers at once.
    pub latency: Duration,
    /// ARM throttling: token buckets per operation class, 429 + `Retry-After` when empty.
    /// `None` (the default) never throttles. The buckets are the principal's in the workspace's
    /// subscription: ARM keeps them per subscription, per principal and per operation type
    /// (Microsoft Learn, "Understand how Azure Resource Manager throttles requests"). In a fleet,
    /// the workspaces of one subscription share them (the first config of that subscription that
    /// sets this shapes them), and a subscription none of whose configs sets this is not
    /// throttled.
    pub arm_throttle: Option<ArmThrottle>,
    /// Most records one query answer holds: a larger result is cut to this many rows and carries
    /// the `PartialError` (`E_QUERY_RESULT_SET_TOO_LARGE`) the real service sends past its
    /// 500,000-record limit. `None` (the default) never truncates.
    pub query_record_limit: Option<usize>,
    /// The principal's query queue (see `crate::query_queue`): at most `slots` queries run at
    /// once across the fleet, each for `run_time`; one that waits longer than `max_wait` gets 429.
    /// Read from the first workspace of a fleet. `None` (the default): queries never wait.
    pub query_queue: Option<crate::QueryQueue>,
    /// The workspace lives in another Entra tenant than the identity (a customer's, for an MSSP).
    /// `None` (the default): the identity's own tenant.
    pub foreign_tenant: Option<ForeignTenant>,
}

/// A workspace in another tenant: ARM and Log Analytics accept the identity's tokens for it only
/// when the customer delegated it through Azure Lighthouse (delegated resources are managed with
/// the managing tenant's own token; no token of the customer's tenant is needed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignTenant {
    /// The customer's tenant id.
    pub tenant_id: String,
    /// Delegated to the identity's principal through Azure Lighthouse.
    pub delegated: bool,
}

/// ARM's token buckets of a principal in one subscription (see `crate::throttle`): one bucket for reads (`GET`) and one
/// for writes (`PUT`, `PATCH`, `POST`, `DELETE`), each refilled continuously at `*_rate` tokens per
/// second up to `*_burst`. [`ArmThrottle::default`] gives the documented ARM numbers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ArmThrottle {
    /// Read bucket size.
    pub read_burst: f64,
    /// Read tokens per second.
    pub read_rate: f64,
    /// Write bucket size.
    pub write_burst: f64,
    /// Write tokens per second.
    pub write_rate: f64,
}

impl Default for ArmThrottle {
    /// ARM per principal and subscription: reads 250 burst + 25/s, writes 200 burst + 10/s.
    fn default() -> Self {
        ArmThrottle {
            read_burst: 250.0,
            read_rate: 25.0,
            write_burst: 200.0,
            write_rate: 10.0,
        }
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            workspace: Workspace::default(),
            ingestion_delay: Duration::ZERO,
            alerts_page_size: 50,
            comments_page_size: 50,
            token_lifetime_secs: 3600,
            latency: Duration::ZERO,
            arm_throttle: None,
            query_record_limit: None,
            query_queue: None,
            foreign_tenant: None,
        }
    }
}

/// Identity of the simulated workspace, both as ARM resource and as Log Analytics workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workspace {
    /// Azure subscription GUID holding the workspace.
    pub subscription_id: String,
    /// Resource group name holding the workspace.
    pub resource_group: String,
    /// ARM name of the workspace (used in Sentinel REST paths).
    pub workspace_name: String,
    /// Log Analytics workspace GUID (customerId, used in query paths).
    pub workspace_id: String,
}

impl Default for Workspace {
    fn default() -> Self {
        Workspace {
            subscription_id: "d0cfe6b2-9ac0-4464-9919-dccaee2e48c0".into(),
            resource_group: "sentinel-rg".into(),
            workspace_name: "sentinel-ws".into(),
            workspace_id: "c8c99641-985d-4e4e-8e91-fb3466cd0e5b".into(),
        }
    }
}

impl Workspace {
    /// ARM resource id of the workspace:
    /// `/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.OperationalInsights/workspaces/{name}`.
    pub fn resource_id(&self) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.OperationalInsights/workspaces/{}",
            self.subscription_id, self.resource_group, self.workspace_name
        )
    }
}

//! The workspaces one deployment serves (`SENTINEL_WORKSPACE_RESOURCE_ID` may list several): an
//! [`Engine`] per workspace over shared clients, one reconciliation over all of them, and the
//! lookup of the workspace an incident belongs to.
//!
//! The engines share one Log Analytics client (at most five queries in flight for the
//! principal, `azure::logs::MAX_CONCURRENT_QUERIES`) and one Resource Manager pipeline, whose
//! pacer keeps buckets per subscription (ARM throttles the principal per subscription); the
//! engines of one subscription share its incident slots, within one bound for the fleet. A run syncs every workspace at the same time; a workspace that
//! fails (no access, a query error) fails alone, and the others are synced as if it were not
//! there. With one workspace, the summary and the log lines are that workspace's own.
//!
//! - `build`: [`Fleet::build`], the composition root.
//! - [`summary`]: the run over several workspaces, its totals and its log lines.

mod build;
mod summary;

use futures::StreamExt;
use tracing::Instrument;

pub use summary::{FleetRun, Totals, WorkspaceRun};

use crate::{
    azure::AzureError,
    domain::{IncidentArmId, IncidentName, WorkspaceGuid, WorkspaceResourceId},
    engine::{Engine, EngineOptions},
    webhook::{self, Rejection},
};

/// Why a webhook payload was not routed to a workspace.
#[derive(Debug)]
pub enum RouteError {
    /// The payload is refused ([`Rejection`] says why).
    Refused(Rejection),
    /// The workspace ids it needs were not read by the deadline; nothing was written.
    Late,
}

impl From<Rejection> for RouteError {
    fn from(rejection: Rejection) -> Self {
        Self::Refused(rejection)
    }
}

/// `read`'s output, or [`RouteError::Late`] when it is not there by `deadline`.
async fn by<T>(deadline: tokio::time::Instant, read: impl Future<Output = T>) -> Result<T, RouteError> {
    tokio::time::timeout_at(deadline, read)
        .await
        .map_err(|_| RouteError::Late)
}

/// Every configured workspace's engine, in the settings' order.
#[derive(Debug, Clone)]
pub struct Fleet {
    engines: Vec<Engine>,
    /// A short name per workspace for logs: the workspace name, or
    /// `<subscription>/<resource group>/<name>` where two workspaces share a name.
    labels: Vec<String>,
}

impl Fleet {
    /// A fleet of these engines (at least one).
    pub fn new(engines: Vec<Engine>) -> Self {
        assert!(!engines.is_empty(), "a fleet has at least one workspace");
        let labels = engines
            .iter()
            .map(|e| {
                let ws = e.workspace();
                let shared = engines
                    .iter()
                    .filter(|o| o.workspace().workspace_name.eq_ignore_ascii_case(&ws.workspace_name))
                    .count()
                    > 1;
                if shared {
                    format!("{}/{}/{}", ws.subscription_id, ws.resource_group, ws.workspace_name)
                } else {
                    ws.workspace_name.clone()
                }
            })
            .collect();
        Self { engines, labels }
    }

    /// The engines, in the settings' order.
    pub fn engines(&self) -> &[Engine] {
        &self.engines
    }

    /// How many workspaces.
    pub fn len(&self) -> usize {
        self.engines.len()
    }

    /// Never true: a fleet has at least one workspace.
    pub fn is_empty(&self) -> bool {
        self.engines.is_empty()
    }

    /// The log label of the `index`th workspace.
    pub fn label(&self, index: usize) -> &str {
        &self.labels[index]
    }

    /// The options every engine shares.
    pub fn options(&self) -> EngineOptions {
        self.engines[0].options()
    }

    /// The same fleet, stopping when `stop` becomes `true` (see [`Engine::with_stop`]).
    pub fn with_stop(self, stop: tokio::sync::watch::Receiver<bool>) -> Self {
        Self {
            engines: self.engines.into_iter().map(|e| e.with_stop(stop.clone())).collect(),
            labels: self.labels,
        }
    }

    /// The index of the engine of `workspace`, if it is configured.
    pub fn position(&self, workspace: &WorkspaceResourceId) -> Option<usize> {
        self.engines.iter().position(|e| e.workspace().same_as(workspace))
    }

    /// The workspaces' ARM ids and, where known without a call, their Log Analytics ids.
    pub fn scopes(&self) -> Vec<webhook::Scope<'_>> {
        self.engines
            .iter()
            .map(|e| webhook::Scope {
                workspace: e.workspace(),
                workspace_id: e.known_workspace_id(),
            })
            .collect()
    }

    /// The Log Analytics id of the `index`th workspace, read from its resource when the settings
    /// do not give it.
    pub async fn workspace_id(&self, index: usize) -> Result<&WorkspaceGuid, AzureError> {
        self.engines[index].workspace_id().await
    }

    /// The workspace (its index) and incident a webhook payload is about, decided by `deadline`.
    /// The pure routing is [`webhook::incident_from`]; this reads the workspace ids it needs and
    /// the settings do not give (only for a payload whose `workspaceId` must be compared, and
    /// only of configured workspaces: a payload naming another workspace by ARM id or
    /// `workspaceInfo` is refused without any call). The reads run at once, ahead of a run's
    /// calls in the pacer, and routing stops at the first id that decides.
    pub async fn route(
        &self,
        payload: &serde_json::Value,
        deadline: tokio::time::Instant,
    ) -> Result<(usize, IncidentName), RouteError> {
        let mut target = webhook::incident_from(payload, &self.scopes())?;
        let mut unreadable = None;
        if target.workspace.is_none() {
            // Only the workspaceId names the workspace: learn the ids not known yet, routing again
            // after each. A workspace whose id cannot be read stays unknown; it matters only if no
            // other workspace has the claimed id.
            let mut reads: futures::stream::FuturesUnordered<_> = (0..self.len())
                .filter(|&i| self.engines[i].known_workspace_id().is_none())
                .map(|i| async move { (i, self.engines[i].workspace_id_for_caller().await.err()) })
                .collect();
            // Until one workspace is chosen and its id is known (a read still in flight is waited
            // for, not sent again).
            while target.workspace.is_none() || target.unverified_workspace_id.is_some() {
                let Some((i, error)) = by(deadline, reads.next()).await? else {
                    break;
                };
                if let Some(e) = error {
                    unreadable.get_or_insert_with(|| self.unreadable(i, &e));
                }
                target = webhook::incident_from(payload, &self.scopes())?;
            }
        }
        let Some(index) = target.workspace else {
            return Err(unreadable
                .unwrap_or_else(|| Rejection::Foreign("workspaceId is not a workspace this function serves".into()))
                .into());
        };
        if let Some(claimed) = &target.unverified_workspace_id {
            let id = by(deadline, self.engines[index].workspace_id_for_caller())
                .await?
                .map_err(|e| self.unreadable(index, &e))?;
            if !claimed.eq_ignore_ascii_case(id.as_str()) {
                return Err(Rejection::Foreign(format!(
                    "workspaceId is not the id of workspace {}, which the rest of the payload names",
                    self.label(index)
                ))
                .into());
            }
        }
        Ok((index, target.name))
    }

    fn unreadable(&self, index: usize, error: &AzureError) -> Rejection {
        Rejection::Unreadable(format!(
            "the id of workspace {} could not be read from its resource, so the payload's workspaceId cannot be checked: {error}",
            self.label(index)
        ))
    }

    /// The workspace (its index) and the incident `id` names: the incident's full ARM id, or its
    /// bare name when one workspace is configured. For the CLI's `--incident`.
    pub fn incident(&self, id: &str) -> Result<(usize, IncidentName), String> {
        if id.starts_with('/') {
            let arm = IncidentArmId::parse(id).map_err(|e| e.to_string())?;
            return self
                .position(&arm.workspace)
                .map(|i| (i, arm.name))
                .ok_or_else(|| "the incident belongs to none of the configured workspaces".to_owned());
        }
        if self.len() == 1 {
            return IncidentName::parse(id).map(|n| (0, n)).map_err(|e| e.to_string());
        }
        Err(format!(
            "{} workspaces are configured: give the incident's full ARM id, or choose one with --workspace",
            self.len()
        ))
    }

    /// The fleet of the one workspace `wanted` names (its name, or its resource id), for the
    /// CLI's `--workspace`.
    pub fn only(&self, wanted: &str) -> Result<Self, String> {
        let matches: Vec<usize> = (0..self.len())
            .filter(|&i| self.engines[i].workspace().is_named(wanted) || self.labels[i] == wanted)
            .collect();
        match matches.as_slice() {
            [i] => Ok(Self::new(vec![self.engines[*i].clone()])),
            [] => Err(format!(
                "--workspace {wanted:?} is none of the configured workspaces ({})",
                self.labels.join(", ")
            )),
            _ => Err(format!(
                "--workspace {wanted:?} names several configured workspaces; give its resource id"
            )),
        }
    }

    /// One reconciliation of every workspace, all at once. Each workspace's log lines carry its
    /// label (`workspace=<label>`) when there are several.
    pub async fn reconcile(&self, run_id: String) -> FleetRun {
        let started = std::time::Instant::now();
        let started_at = chrono::Utc::now();
        let several = self.len() > 1;
        let runs = futures::future::join_all(self.engines.iter().zip(&self.labels).map(|(engine, label)| {
            let run = engine.reconcile(run_id.clone());
            let span = if several {
                tracing::info_span!("workspace", workspace = %label)
            } else {
                tracing::Span::none()
            };
            async move {
                WorkspaceRun {
                    workspace: engine.workspace().arm_id(),
                    label: label.clone(),
                    summary: run.instrument(span).await,
                }
            }
        }))
        .await;
        FleetRun::new(run_id, started_at, started.elapsed(), runs)
    }
}

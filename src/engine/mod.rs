//! One reconciliation run, and the sync of one incident, with the run summary both produce.
//!
//! A run asks Log Analytics once for open incidents that hold a Defender for Cloud alert changed
//! inside the lookback window ([`crate::queries`]). The policy runs first on that snapshot, so
//! incidents that must wait cost no further call. For the rest, each incident is synced on its
//! own: read fresh (GET: status, owner, labels, etag), decided again on the fresh state, written
//! with the etag, and given an audit comment. A 409 means someone changed it meanwhile: read
//! again and decide again, at most [`MAX_ATTEMPTS`] times; the person's change always wins.
//! One incident failing never stops the others; the summary counts and lists every failure.
//!
//! - [`run`]: one reconciliation of the workspace (query, then each candidate).
//! - [`incident`]: the sync of one incident (read, decide, write, audit comment, repair).
//! - `single`: one incident synced on a caller's request (the webhook, the CLI), within a deadline.
//! - [`split`]: how many parts the candidate query is split into, learned and given back.
//! - [`change`]: a change this tool makes, how a read shows it applied, its change id.
//! - [`candidates`]: the query's answer as candidates.
//! - [`report`]: incident reports, the run summary, log lines.
//! - `outcome`: why a report's action was taken, how a run ended (re-exported here).
//! - `lines`: the summary and the reports as the text lines of the timer's `Logs` and the CLI.

mod candidates;
mod change;
mod incident;
mod lines;
mod outcome;
mod report;
mod run;
mod single;
mod split;

use std::{
    collections::{BTreeMap, HashSet},
    sync::{Arc, Mutex},
    time::Duration,
};

pub use candidates::{BadRow, Candidate, LoggedAlert, candidates_from};
pub use lines::{rare_counts, report_line, summary_lines, summary_lines_with};
pub use report::{Action, IncidentReport, ReportReason, RunStatus, RunSummary};
pub use single::{Late, SingleOutcome};

use crate::{
    azure::{AzureError, incidents::IncidentsClient, logs::LogsClient},
    domain::{WorkspaceGuid, WorkspaceResourceId},
    policy::PolicyOptions,
};

/// How many times one incident is read, decided and written before giving up on conflicts.
pub const MAX_ATTEMPTS: u32 = 3;
/// Incidents synced at the same time within a run, over every workspace of one subscription (the
/// engines of a fleet in one subscription share these slots, [`Engine::with_sync_slots`]). The
/// rate toward Resource Manager is set by the subscription's token buckets in
/// [`crate::azure::throttle`]; four in flight keep that budget used at 20-200 ms per call without
/// piling requests up behind the pacer (docs/benchmarks.md). Each subscription has its own slots,
/// so a subscription that Resource Manager throttles holds only its own.
pub const CONCURRENCY: usize = 4;
/// Incidents synced at the same time within a run over the whole deployment, however many
/// subscriptions have work: bounds the memory, the connections and what a run's deadline can cut
/// mid-sync (32 subscriptions' worth of [`CONCURRENCY`]). Measured with 100 subscriptions of 150
/// changes each (docs/benchmarks.md): 128 runs at 1.64× the per-subscription write floor, 32 at
/// 1.92×; past 128 the principal's five queries at once, not this bound, hold the run back.
pub const MAX_IN_FLIGHT: usize = 128;
/// Most incident reports a run summary carries (changed and failed ones first); the counts always
/// cover every incident. Keeps the invocation response small on large workspaces.
pub const MAX_REPORTS: usize = 1000;

/// Options of the engine.
#[derive(Debug, Clone, Copy)]
pub struct EngineOptions {
    /// Decide and report, write nothing.
    pub dry_run: bool,
    /// Policy switches.
    pub policy: PolicyOptions,
    /// Lookback window of the query, in days.
    pub lookback_days: u32,
    /// A run stops starting new incidents after this long.
    pub run_budget: Duration,
}

/// Counts calls by kind for the summary (and the benchmarks).
#[derive(Debug, Default)]
pub(crate) struct CallCounter(std::sync::Mutex<BTreeMap<String, usize>>);

impl CallCounter {
    pub(crate) fn add(&self, kind: &str) {
        *lock(&self.0).entry(kind.to_owned()).or_default() += 1;
    }
    pub(crate) fn take(&self) -> BTreeMap<String, usize> {
        std::mem::take(&mut *lock(&self.0))
    }
    /// Was a call of any of `kinds` counted?
    fn counted(&self, kinds: &[&str]) -> bool {
        let counts = lock(&self.0);
        kinds.iter().any(|k| counts.get(*k).is_some_and(|n| *n > 0))
    }
}

/// Locks `mutex`, also after a panic while it was held. The engine's maps (call counts, audit
/// comments seen, stuck incidents) hold no invariant across entries that a panic could break
/// mid-way: a panic on another task must cost neither the counts nor the keys.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Runs reconciliations and single-incident syncs against one workspace.
#[derive(Debug, Clone)]
pub struct Engine {
    logs: LogsClient,
    incidents: IncidentsClient,
    /// The workspace's Log Analytics id: from the settings, or read from the workspace resource
    /// on first use (a failed read is tried again by the next run).
    workspace_id: Arc<tokio::sync::OnceCell<WorkspaceGuid>>,
    options: EngineOptions,
    calls: Arc<CallCounter>,
    /// Audit comments this process wrote or found (their ids, or `<incident>/<transition>`),
    /// so a restore check is made once per process, not on every run.
    comments_seen: Arc<Mutex<HashSet<String>>>,
    /// Becomes `true` when the host stops the process (SIGTERM).
    stop: tokio::sync::watch::Receiver<bool>,
    /// Slots for the incidents a run syncs at once ([`CONCURRENCY`]), shared by the fleet's
    /// engines in this engine's subscription.
    sync_slots: Arc<tokio::sync::Semaphore>,
    /// Slots for the incidents a run syncs at once over the whole fleet ([`MAX_IN_FLIGHT`]).
    fleet_slots: Arc<tokio::sync::Semaphore>,
    /// How many parts the next run splits the candidate query into ([`split`]).
    split: Arc<Mutex<split::Split>>,
    /// Incidents the last runs read fresh and left as they were although the logs said to act:
    /// they go to the end of the next run's queue.
    stuck: Arc<Mutex<HashSet<String>>>,
}

/// Most parts the candidate query is split into before the run gives up.
pub const MAX_PARTITIONS: u32 = 1024;
/// Most incidents remembered as stuck.
const MAX_STUCK: usize = 100_000;

/// How long incidents in flight may take to finish once the host stops the process: the host
/// waits a little longer before it kills it, and the process must be gone within 20 s.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Most entries [`Engine::remember_comment`] keeps before starting over.
const MAX_COMMENTS_SEEN: usize = 100_000;

impl Engine {
    /// An engine for the workspace `incidents` reaches, querying it through `logs`. Without
    /// `workspace_id`, the id is read from the workspace resource when first needed.
    pub fn new(
        logs: LogsClient,
        incidents: IncidentsClient,
        workspace_id: Option<WorkspaceGuid>,
        options: EngineOptions,
    ) -> Self {
        Self {
            logs,
            incidents,
            workspace_id: Arc::new(tokio::sync::OnceCell::new_with(workspace_id)),
            options,
            calls: Arc::default(),
            comments_seen: Arc::default(),
            stop: tokio::sync::watch::channel(false).1,
            sync_slots: Arc::new(tokio::sync::Semaphore::new(CONCURRENCY)),
            fleet_slots: Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT)),
            split: Arc::default(),
            stuck: Arc::default(),
        }
    }

    /// The same engine, stopping when `stop` becomes `true`: runs start no further incidents and
    /// those in flight get [`SHUTDOWN_GRACE`] to finish.
    pub fn with_stop(mut self, stop: tokio::sync::watch::Receiver<bool>) -> Self {
        self.stop = stop;
        self
    }

    /// The same engine, taking its run's incident slots from `subscription` (one set for the
    /// engines of a fleet in one subscription, so its workspaces together sync [`CONCURRENCY`]
    /// incidents at once) and from `fleet` (one set for the whole fleet, [`MAX_IN_FLIGHT`]).
    pub fn with_sync_slots(
        mut self,
        subscription: Arc<tokio::sync::Semaphore>,
        fleet: Arc<tokio::sync::Semaphore>,
    ) -> Self {
        self.sync_slots = subscription;
        self.fleet_slots = fleet;
        self
    }

    /// Has the host asked this process to stop?
    pub fn is_stopping(&self) -> bool {
        *self.stop.borrow()
    }

    /// Completes when the host asks this process to stop; never, without a stop signal.
    async fn stopping(&self) {
        let mut stop = self.stop.clone();
        loop {
            if *stop.borrow_and_update() {
                return;
            }
            if stop.changed().await.is_err() {
                return std::future::pending().await;
            }
        }
    }

    /// Runs `work` to its end, or, once the process is stopping, for at most [`SHUTDOWN_GRACE`]
    /// more (`None` then).
    pub async fn within_shutdown_grace<F: std::future::Future>(&self, work: F) -> Option<F::Output> {
        let grace = async {
            self.stopping().await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        };
        tokio::select! {
            out = work => Some(out),
            () = grace => None,
        }
    }

    fn remember_comment(&self, key: &str) {
        let mut seen = lock(&self.comments_seen);
        if seen.len() >= MAX_COMMENTS_SEEN {
            seen.clear();
        }
        seen.insert(key.to_owned());
    }

    fn comment_known(&self, key: &str) -> bool {
        lock(&self.comments_seen).contains(key)
    }

    /// The engine's options.
    pub fn options(&self) -> EngineOptions {
        self.options
    }

    /// The workspace this engine syncs.
    pub fn workspace(&self) -> &WorkspaceResourceId {
        self.incidents.workspace()
    }

    /// The client of the workspace's incidents.
    pub fn incidents_client(&self) -> &IncidentsClient {
        &self.incidents
    }

    /// The query client (shared by a fleet).
    pub fn logs_client(&self) -> &LogsClient {
        &self.logs
    }

    /// Keeps `id` as the workspace's Log Analytics id, read by someone else (`check`), so the
    /// engine does not read it again. An id already known stays.
    pub fn remember_workspace_id(&self, id: WorkspaceGuid) {
        let _ = self.workspace_id.set(id);
    }

    /// The workspace's Log Analytics id, if known without a call (given in the settings or
    /// read before).
    pub fn known_workspace_id(&self) -> Option<&WorkspaceGuid> {
        self.workspace_id.get()
    }

    /// The workspace's Log Analytics id: from the settings, or read from the workspace resource
    /// once per process.
    pub async fn workspace_id(&self) -> Result<&WorkspaceGuid, AzureError> {
        self.read_workspace_id(&self.incidents, true).await
    }

    /// [`Self::workspace_id`] for a caller who waits for the answer (the webhook's routing): the
    /// read goes ahead of a run's calls in the pacer and is not counted in a run's calls.
    pub async fn workspace_id_for_caller(&self) -> Result<&WorkspaceGuid, AzureError> {
        self.read_workspace_id(&self.incidents.interactive(), false).await
    }

    /// Reads the id once per process (`counted`: in the run's calls).
    async fn read_workspace_id(
        &self,
        incidents: &IncidentsClient,
        counted: bool,
    ) -> Result<&WorkspaceGuid, AzureError> {
        self.workspace_id
            .get_or_try_init(|| async {
                if counted {
                    self.calls.add("workspace");
                }
                let id = incidents.workspace_id().await?;
                tracing::info!(workspace = %self.workspace().workspace_name, workspace_id = %id.as_str(), "workspace id read from the workspace resource");
                Ok(id)
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_while_a_lock_is_held_costs_neither_counts_nor_keys() {
        let calls = Arc::new(CallCounter::default());
        calls.add("get");
        let seen: Arc<Mutex<HashSet<String>>> = Arc::default();
        let (c, s) = (calls.clone(), seen.clone());
        let _ = std::thread::spawn(move || {
            let _counts = c.0.lock().unwrap();
            let _keys = s.lock().unwrap();
            panic!("a task panics while holding both locks");
        })
        .join();
        assert!(calls.0.is_poisoned() && seen.is_poisoned());
        calls.add("get");
        lock(&seen).insert("key".into());
        assert_eq!(calls.take().get("get"), Some(&2));
        assert!(lock(&seen).contains("key"));
    }
}

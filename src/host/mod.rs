//! The Azure Functions custom-handler protocol: the HTTP server the Functions host starts.
//!
//! | Request from the host                         | Meaning                                   |
//! |-----------------------------------------------|-------------------------------------------|
//! | `GET /`                                       | readiness probe and health ping           |
//! | `POST /SyncTimer` (invocation envelope)       | timer fired: run one reconciliation       |
//! | `POST /api/SecurityAlertWebhook` (forwarded)  | a caller's request, forwarded as is       |
//! | `POST /SecurityAlertWebhook` (envelope)       | the same, when forwarding is switched off |
//!
//! Paths are matched case-insensitively (the host forwards the caller's casing). Timer replies
//! are always a JSON object `{"Outputs":{},"Logs":[…],"ReturnValue":…}`: an empty body would make
//! the host wait until the function timeout. A failed run answers 500, so the invocation shows
//! as failed in Application Insights; the host then drops `Logs`, which is why every line is
//! also written to stdout/stderr (captured by the host as `Host.Function.Console`).
//!
//! - `timer`: `SyncTimer`.
//! - `webhook`: `SecurityAlertWebhook`, and its error replies.

mod timer;
mod webhook;

use std::{future::Future, sync::Arc, time::Instant};

use axum::{
    Router,
    extract::{Request, State},
    http::{HeaderMap, Method, StatusCode, header},
    response::{IntoResponse, Response},
};
use azure_core::credentials::TokenCredential;
use serde_json::{Value, json};
use tokio::sync::{Mutex, OnceCell};
use tracing::Instrument;

pub use webhook::WEBHOOK_RETRY_AFTER_SECONDS;

use crate::{config::Config, fleet::Fleet};

/// Makes the credential the engines take their tokens from, when they are first built: the
/// process environment's in Azure and on a laptop (`azure::identity::credential`), another in
/// tests.
pub type CredentialSource = Arc<dyn Fn(&Config) -> Result<Arc<dyn TokenCredential>, String> + Send + Sync>;

/// Everything a request handler needs. The settings are read at start-up (no I/O beyond the
/// environment); the engines (HTTPS clients, which read the system trust store) are built once,
/// on first use, so the listener answers the host's readiness probe at once.
pub struct App {
    /// The settings and where the credential comes from, or why the app cannot work.
    setup: Result<Setup, String>,
    fleet: OnceCell<Result<Fleet, String>>,
    run_lock: Mutex<()>,
    /// Given to the engines when they are built: `true` once the host stops the process.
    stop: tokio::sync::watch::Receiver<bool>,
}

/// What the engines are built from.
struct Setup {
    config: Arc<Config>,
    credential: CredentialSource,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("config", &self.setup.as_ref().map(|s| &s.config))
            .field("fleet", &self.fleet)
            .finish_non_exhaustive()
    }
}

impl App {
    /// An app over `config`, whose engines take their tokens from the credential `credential`
    /// makes; they stop when `stop` becomes `true` (the host's SIGTERM). Nothing is built yet:
    /// see [`App::prepare`].
    pub fn new(config: Config, credential: CredentialSource, stop: tokio::sync::watch::Receiver<bool>) -> Self {
        Self {
            setup: Ok(Setup {
                config: Arc::new(config),
                credential,
            }),
            fleet: OnceCell::new(),
            run_lock: Mutex::new(()),
            stop,
        }
    }

    /// An app that cannot work: every invocation fails with `reason` (bad settings), but the
    /// process still starts and answers the readiness probe.
    pub fn broken(reason: String) -> Self {
        Self {
            setup: Err(reason),
            fleet: OnceCell::new(),
            run_lock: Mutex::new(()),
            stop: tokio::sync::watch::channel(false).1,
        }
    }

    /// The configuration problem, if any. A problem building the engines (no credential) is
    /// known only once they are built: see [`App::prepare`].
    pub fn setup_error(&self) -> Option<&str> {
        match (&self.setup, self.fleet.get()) {
            (Err(e), _) | (Ok(_), Some(Err(e))) => Some(e),
            _ => None,
        }
    }

    /// Builds the engines now if they are not built yet (the serving binary calls this in the
    /// background once the listener is up); the error is what every invocation will report.
    pub async fn prepare(&self) -> Result<(), String> {
        self.fleet().await.map(|_| ()).map_err(str::to_owned)
    }

    /// The settings and the engines, building the engines on first use. Concurrent first callers
    /// wait for one build.
    async fn fleet(&self) -> Result<(&Config, &Fleet), &str> {
        let setup = self.setup.as_ref().map_err(String::as_str)?;
        let fleet = self
            .fleet
            .get_or_init(|| async {
                let config = setup.config.clone();
                let stop = self.stop.clone();
                // Called again if a first build was cancelled before it finished.
                let credential = setup.credential.clone();
                // Building the clients reads the trust store from disk: keep it off the workers
                // that answer requests.
                tokio::task::spawn_blocking(move || {
                    let credential = credential(&config).map_err(|e| format!("no Azure credential available: {e}"))?;
                    Ok(Fleet::build(&config, credential)?.with_stop(stop))
                })
                .await
                .unwrap_or_else(|e| Err(format!("building the Azure clients failed: {e}")))
            })
            .await;
        match fleet {
            Ok(fleet) => Ok((&setup.config, fleet)),
            Err(e) => Err(e),
        }
    }
}

/// The handler's router.
pub fn router(app: Arc<App>) -> Router {
    Router::new().fallback(dispatch).with_state(app)
}

/// Serves the custom handler on `listener` until `shutdown` completes, then finishes the
/// requests in flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Arc<App>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(app))
        .with_graceful_shutdown(shutdown)
        .await
}

/// A request the router has no function for.
#[derive(Debug)]
enum RouteError {
    /// A function's path with another method than POST (or GET for the probe).
    MethodNotAllowed(Method),
    /// No function has this path.
    NotFound,
}

impl IntoResponse for RouteError {
    fn into_response(self) -> Response {
        match self {
            Self::MethodNotAllowed(method) => json_response(
                StatusCode::METHOD_NOT_ALLOWED,
                error_body(
                    "method-not-allowed",
                    &format!("{method} is not supported here; use POST"),
                ),
            ),
            Self::NotFound => json_response(StatusCode::NOT_FOUND, error_body("not-found", "no such function")),
        }
    }
}

async fn dispatch(State(app): State<Arc<App>>, request: Request) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    // Only the path is logged: the query may carry the function key (`code`).
    let path = request.uri().path().to_owned();
    let invocation_id = header_text(request.headers(), "x-azure-functions-invocationid").unwrap_or_default();
    let route = path.to_ascii_lowercase();
    let response = match (route.trim_end_matches('/'), &method) {
        ("", &Method::GET) => json_response(StatusCode::OK, json!({ "status": "ready" })),
        ("/synctimer", &Method::POST) => timer::sync_timer(&app, request, &invocation_id).await,
        ("/api/securityalertwebhook", &Method::POST) => {
            let span = tracing::info_span!("SecurityAlertWebhook", invocation_id = %invocation_id);
            webhook::forwarded(&app, request).instrument(span).await
        }
        ("/securityalertwebhook", &Method::POST) => {
            let span = tracing::info_span!("SecurityAlertWebhook", invocation_id = %invocation_id);
            webhook::envelope(&app, request).instrument(span).await
        }
        ("" | "/synctimer" | "/api/securityalertwebhook" | "/securityalertwebhook", _) => {
            RouteError::MethodNotAllowed(method.clone()).into_response()
        }
        _ => RouteError::NotFound.into_response(),
    };
    if route != "/" {
        tracing::info!(%method, path = %path, status = response.status().as_u16(), elapsed_ms = started.elapsed().as_millis() as u64, invocation_id = %invocation_id, "request handled");
    }
    response
}

fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

fn error_body(code: &str, message: &str) -> Value {
    json!({ "error": { "code": code, "message": message } })
}

//! `handler serve` (the default): the Functions custom handler. The Functions host starts the
//! process, polls its port until it answers, forwards invocations, and sends SIGTERM to stop it.
//! Everything this command has to say goes to the log, which the host records.

use std::{process::ExitCode, sync::Arc, time::Duration};

use super::{Outcome, process_credential};
use crate::{
    config::Config,
    engine::SHUTDOWN_GRACE,
    host::{self, App},
};

/// Serves until the host stops the process.
pub(super) async fn exec() -> Outcome {
    let Some(port) = std::env::var("FUNCTIONS_CUSTOMHANDLER_PORT")
        .ok()
        .and_then(|p| p.parse::<u16>().ok())
    else {
        tracing::error!(
            "FUNCTIONS_CUSTOMHANDLER_PORT is not set to a port number; the Functions host sets it when it starts the handler"
        );
        return Ok(ExitCode::FAILURE);
    };
    // Bind first, before anything else: the host polls this port for readiness.
    let listener = match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(port, error = %e, "cannot listen on 127.0.0.1");
            return Ok(ExitCode::FAILURE);
        }
    };
    let (stop, stopping) = tokio::sync::watch::channel(false);
    // The settings are read now; the credential and the HTTPS clients (which read the system
    // trust store) are built in the background, so the readiness probe is answered without
    // waiting for them. The first invocation waits for that build if it is still going.
    let app = Arc::new(match Config::from_env() {
        Ok(config) => App::new(config, process_credential(), stopping),
        Err(e) => App::broken(e.to_string()),
    });
    match app.setup_error() {
        Some(problem) => {
            tracing::error!("handler started, but every invocation will fail until this is fixed: {problem}")
        }
        None => {
            tracing::info!(port, version = env!("CARGO_PKG_VERSION"), "handler listening");
            let app = app.clone();
            tokio::spawn(async move {
                if let Err(problem) = app.prepare().await {
                    tracing::error!("handler started, but every invocation will fail until this is fixed: {problem}");
                }
            });
        }
    }
    let shutdown = async move {
        shutdown_signal().await;
        tracing::warn!(
            "the host is stopping this process (SIGTERM): no new incident is started, those in flight get {} s, then the process exits",
            SHUTDOWN_GRACE.as_secs()
        );
        let _ = stop.send(true);
        // Backstop: whatever hangs, the process is gone well within 20 s of the signal.
        tokio::spawn(async {
            tokio::time::sleep(SHUTDOWN_GRACE + Duration::from_secs(6)).await;
            tracing::error!("requests still open after the shutdown grace; exiting now");
            std::process::exit(1);
        });
    };
    match host::serve(listener, app, shutdown).await {
        Ok(()) => {
            tracing::info!("handler stopped");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            tracing::error!(error = %e, "server failed");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// SIGTERM (the host stopping us) or Ctrl-C.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

//! The `handler` binary: the Functions custom handler (default) and the operator CLI.

use std::{process::ExitCode, sync::Arc};

use clap::{Parser, Subcommand};
use dfc_sentinel_sync::{
    build_fleet,
    config::Config,
    domain::{IncidentArmId, IncidentName},
    engine::SingleOutcome,
    host::{self, App},
    queries, serve, telemetry,
};

/// Keeps Microsoft Sentinel incidents in step with Defender for Cloud alerts.
#[derive(Debug, Parser)]
#[command(name = "handler", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the Functions custom-handler protocol on 127.0.0.1:$FUNCTIONS_CUSTOMHANDLER_PORT
    /// (what the Functions host runs; the default).
    Serve,
    /// Run one reconciliation of every configured workspace (or of one, or sync one incident).
    Sync {
        /// Decide and report, write nothing (overrides SYNC_DRY_RUN).
        #[arg(long)]
        dry_run: bool,
        /// Sync only this incident, reading it fresh from the API: its full ARM id, or its name
        /// when one workspace is configured (or chosen with --workspace).
        #[arg(long, value_name = "ID")]
        incident: Option<String>,
        /// Only this workspace (its name or resource id), when several are configured.
        #[arg(long, value_name = "WORKSPACE")]
        workspace: Option<String>,
        /// Print the run summary as JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Preflight before turning SYNC_DRY_RUN off: settings, credential, tokens, access, API
    /// version, the candidate query and a dry run (never writes). Exit status 0 when every check
    /// passes, 1 when one fails, 2 when settings are missing or invalid.
    Check {
        /// Print the report as one JSON object instead of text.
        #[arg(long)]
        json: bool,
        /// Only this workspace (its name or resource id), when several are configured.
        #[arg(long, value_name = "WORKSPACE")]
        workspace: Option<String>,
        /// Also print the handler's log lines (stderr).
        #[arg(long)]
        verbose: bool,
    },
    /// Run the real timer and webhook paths against an embedded simulated workspace.
    #[cfg_attr(not(feature = "demo"), command(hide = true))]
    Demo {
        /// Also print the handler's own log lines.
        #[arg(long)]
        verbose: bool,
    },
    /// Print the exact KQL the timer sends (to try it in Log Analytics).
    Query {
        /// Lookback window in days (default: SYNC_LOOKBACK_DAYS or 30).
        #[arg(long)]
        lookback_days: Option<u32>,
    },
}

#[cfg(feature = "demo")]
async fn run_demo(verbose: bool) -> ExitCode {
    dfc_sentinel_sync::demo::run(verbose).await
}

/// The published binary is built without the simulator: say how to get the demo instead.
#[cfg(not(feature = "demo"))]
async fn run_demo(_verbose: bool) -> ExitCode {
    eprintln!(
        "error: this handler was built without the demo (the published build leaves the Azure \
         simulator out); run `cargo run --release -- demo` in a clone of the repository"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => run_serve().await,
            Command::Sync {
                dry_run,
                incident,
                workspace,
                json,
            } => run_sync(dry_run, incident, workspace, json).await,
            Command::Check {
                json,
                workspace,
                verbose,
            } => run_check(json, workspace, verbose).await,
            Command::Demo { verbose } => run_demo(verbose).await,
            Command::Query { lookback_days } => {
                let days = lookback_days
                    .or_else(|| std::env::var("SYNC_LOOKBACK_DAYS").ok().and_then(|v| v.parse().ok()))
                    .unwrap_or(dfc_sentinel_sync::config::DEFAULT_LOOKBACK_DAYS);
                let reopen = std::env::var("SYNC_REOPEN_ON_REACTIVATION")
                    .is_ok_and(|v| dfc_sentinel_sync::config::parse_bool(v.trim()) == Ok(true));
                print!("{}", queries::sync_candidates(days, queries::Partition::WHOLE, reopen));
                ExitCode::SUCCESS
            }
        }
    })
}

async fn run_serve() -> ExitCode {
    telemetry::init("info");
    let port = match std::env::var("FUNCTIONS_CUSTOMHANDLER_PORT")
        .ok()
        .and_then(|p| p.parse::<u16>().ok())
    {
        Some(p) => p,
        None => {
            tracing::error!(
                "FUNCTIONS_CUSTOMHANDLER_PORT is not set to a port number; the Functions host sets it when it starts the handler"
            );
            return ExitCode::FAILURE;
        }
    };
    // Bind first, before anything else: the host polls this port for readiness.
    let listener = match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(port, error = %e, "cannot listen on 127.0.0.1");
            return ExitCode::FAILURE;
        }
    };
    let (stop, stopping) = tokio::sync::watch::channel(false);
    // The settings are read now; the HTTPS clients (which read the system trust store) are built
    // in the background, so the readiness probe is answered without waiting for them. The first
    // invocation waits for that build if it is still going.
    let app = Arc::new(App::from_env(stopping));
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
            dfc_sentinel_sync::engine::SHUTDOWN_GRACE.as_secs()
        );
        let _ = stop.send(true);
        // Backstop: whatever hangs, the process is gone well within 20 s of the signal.
        tokio::spawn(async {
            tokio::time::sleep(dfc_sentinel_sync::engine::SHUTDOWN_GRACE + std::time::Duration::from_secs(6)).await;
            tracing::error!("requests still open after the shutdown grace; exiting now");
            std::process::exit(1);
        });
    };
    match serve(listener, app, shutdown).await {
        Ok(()) => {
            tracing::info!("handler stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!(error = %e, "server failed");
            ExitCode::FAILURE
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

async fn run_sync(dry_run: bool, incident: Option<String>, workspace: Option<String>, json: bool) -> ExitCode {
    telemetry::init("warn");
    let mut config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    config.dry_run |= dry_run;
    let mut fleet = match build_fleet(&config) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(wanted) = workspace {
        fleet = match fleet.only(&wanted) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        };
    }
    if let Some(id) = incident {
        let target = if id.starts_with('/') {
            IncidentArmId::parse(&id).map_err(|e| e.to_string()).and_then(|a| {
                fleet
                    .position(&a.workspace)
                    .map(|i| (i, a.name))
                    .ok_or_else(|| "the incident belongs to none of the configured workspaces".to_owned())
            })
        } else if fleet.len() == 1 {
            IncidentName::parse(&id).map(|n| (0, n)).map_err(|e| e.to_string())
        } else {
            Err(format!(
                "{} workspaces are configured: give the incident's full ARM id, or choose one with --workspace",
                fleet.len()
            ))
        };
        let (index, name) = match target {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: --incident: {e}");
                return ExitCode::from(2);
            }
        };
        let engine = &fleet.engines()[index];
        return match engine.sync_one(&name).await {
            SingleOutcome::Done(report) => {
                if json {
                    println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
                } else {
                    println!("{}", host::report_line(&report));
                }
                ExitCode::SUCCESS
            }
            SingleOutcome::NotFound => {
                eprintln!(
                    "error: incident {name} does not exist in the workspace {}",
                    engine.workspace().workspace_name
                );
                ExitCode::FAILURE
            }
            SingleOutcome::Failed(report) => {
                eprintln!("error: {}", host::report_line(&report));
                ExitCode::FAILURE
            }
        };
    }
    let run = fleet.reconcile(uuid::Uuid::new_v4().to_string()).await;
    if json {
        println!("{}", serde_json::to_string_pretty(&run.to_value()).unwrap_or_default());
    } else {
        for (i, part) in run.workspaces.iter().enumerate() {
            if run.workspaces.len() > 1 {
                println!("workspace {} ({})", part.label, part.workspace);
            }
            for r in &part.summary.incidents {
                println!("{}", host::report_line(r));
            }
            if let Some(totals) = host::summary_lines(&part.summary).last() {
                println!("{totals}");
            }
            if i + 1 < run.workspaces.len() {
                println!();
            }
        }
        if run.workspaces.len() > 1 {
            println!("{}", run.totals_line());
        }
    }
    if run.is_failure() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

async fn run_check(json: bool, workspace: Option<String>, verbose: bool) -> ExitCode {
    // The report is the output: log lines go to stderr, and only with --verbose (an app's
    // RUST_LOG would otherwise interleave them with it).
    let level = if verbose { "info" } else { "off" };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(level))
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(false)
        .try_init();
    let report = dfc_sentinel_sync::check::run(workspace.as_deref()).await;
    if json {
        println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
    } else {
        print!("{}", report.text());
    }
    ExitCode::from(report.exit_code)
}

//! The `handler` command line, laid out like cargo's: one file per command, holding its
//! arguments and its `exec`. This file parses the command line, sets up logging once for the
//! command, runs it, and is the one place that prints a failure and maps it to an exit status:
//! 0 success, 1 a failure (Azure, an incident, a check), 2 bad settings or arguments.

mod check;
mod query;
mod serve;
mod sync;

use std::{process::ExitCode, sync::Arc};

use clap::{Parser, Subcommand};

use crate::{azure::identity, config::Config, host::CredentialSource};

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
    Sync(sync::Args),
    /// Preflight before turning SYNC_DRY_RUN off: settings, credential, tokens, access, API
    /// version, the candidate query and a dry run (never writes). Exit status 0 when every check
    /// passes, 1 when one fails, 2 when settings are missing or invalid.
    Check(check::Args),
    /// Print the exact KQL the timer sends (to try it in Log Analytics).
    Query(query::Args),
    /// The demo is not part of the handler: says how to run it.
    #[command(hide = true)]
    Demo {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
        rest: Vec<String>,
    },
}

/// A command that failed: what to say, and the exit status.
#[derive(Debug)]
pub struct CliError {
    message: String,
    status: u8,
}

impl CliError {
    /// Bad settings or arguments: exit status 2.
    fn usage(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            status: 2,
        }
    }

    /// The command ran and failed: exit status 1.
    fn failed(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            status: 1,
        }
    }
}

/// What a command that ran says about itself: succeeded, or finished with a failure it has
/// already reported in its output (a failed run, a failed check).
type Outcome = Result<ExitCode, CliError>;

/// Runs the command line of this process.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve);
    logging(&command);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => return report(CliError::failed(format!("could not start the async runtime: {e}"))),
    };
    let outcome = runtime.block_on(async {
        match command {
            Command::Serve => serve::exec().await,
            Command::Sync(args) => sync::exec(args).await,
            Command::Check(args) => check::exec(args).await,
            Command::Query(args) => query::exec(args),
            Command::Demo { .. } => Err(CliError::usage(
                "the demo is not part of the handler (the product links no test double); run `cargo run --release -p harness --bin demo` in a clone of the repository",
            )),
        }
    });
    outcome.unwrap_or_else(report)
}

/// The credential this process's environment calls for: the app's managed identity in Azure,
/// the signed-in developer tools elsewhere.
fn process_credential() -> CredentialSource {
    Arc::new(|config: &Config| {
        let (credential, kind) = identity::credential(config.client_id.as_deref()).map_err(|e| e.to_string())?;
        tracing::debug!(credential = ?kind, workspaces = config.workspaces.len(), "credential selected");
        Ok(credential)
    })
}

/// Prints a failure on stderr; its exit status.
fn report(error: CliError) -> ExitCode {
    eprintln!("error: {}", error.message);
    ExitCode::from(error.status)
}

/// The command's log lines. Serving: every line (`RUST_LOG`, default info), warnings and errors
/// on stderr, the rest on stdout, as the host captures them. `sync`: warnings and errors.
/// `check`: its report is the output; the handler's lines go to stderr only with `--verbose`
/// (an app's `RUST_LOG` would otherwise interleave them with it).
fn logging(command: &Command) {
    match command {
        Command::Serve => crate::telemetry::init("info"),
        Command::Sync(_) => crate::telemetry::init("warn"),
        Command::Check(args) => crate::telemetry::init_stderr(if args.verbose { "info" } else { "off" }),
        Command::Query(_) | Command::Demo { .. } => {}
    }
}

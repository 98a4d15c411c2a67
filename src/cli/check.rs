//! `handler check`: the preflight a deployer runs before turning `SYNC_DRY_RUN` off
//! ([`crate::check`]).

use std::process::ExitCode;

use super::Outcome;

/// Arguments of `handler check`.
#[derive(Debug, clap::Args)]
pub(super) struct Args {
    /// Print the report as one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Only this workspace (its name or resource id), when several are configured.
    #[arg(long, value_name = "WORKSPACE")]
    workspace: Option<String>,
    /// Also print the handler's log lines (stderr).
    #[arg(long)]
    pub(super) verbose: bool,
}

/// Runs the preflight and prints its report; the exit status is the report's (0 every check
/// passed, 1 one failed, 2 settings missing or invalid).
pub(super) async fn exec(args: Args) -> Outcome {
    let report = crate::check::run(args.workspace.as_deref()).await;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
    } else {
        print!("{}", report.text());
    }
    Ok(ExitCode::from(report.exit_code))
}

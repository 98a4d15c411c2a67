//! `handler sync`: one reconciliation of every configured workspace (or of one), or the sync of
//! one incident, from an operator's shell.

use std::process::ExitCode;

use super::{CliError, Outcome, process_credential};
use crate::{
    config::Config,
    engine::{SingleOutcome, report_line, summary_lines},
    fleet::Fleet,
};

/// Arguments of `handler sync`.
#[derive(Debug, clap::Args)]
pub(super) struct Args {
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
}

pub(super) async fn exec(args: Args) -> Outcome {
    let mut config = Config::from_env().map_err(|e| CliError::usage(e.to_string()))?;
    config.dry_run |= args.dry_run;
    let credential =
        process_credential()(&config).map_err(|e| CliError::failed(format!("no Azure credential available: {e}")))?;
    let mut fleet = Fleet::build(&config, credential).map_err(CliError::failed)?;
    if let Some(wanted) = &args.workspace {
        fleet = fleet.only(wanted).map_err(CliError::usage)?;
    }
    match &args.incident {
        Some(id) => sync_incident(&fleet, id, args.json).await,
        None => reconcile(&fleet, args.json).await,
    }
}

/// `--incident`: one incident, read fresh.
async fn sync_incident(fleet: &Fleet, id: &str, json: bool) -> Outcome {
    let (index, name) = fleet
        .incident(id)
        .map_err(|e| CliError::usage(format!("--incident: {e}")))?;
    let engine = &fleet.engines()[index];
    match engine.sync_one(&name).await {
        SingleOutcome::Done(report) => {
            if json {
                println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
            } else {
                println!("{}", report_line(&report));
            }
            Ok(ExitCode::SUCCESS)
        }
        SingleOutcome::NotFound => Err(CliError::failed(format!(
            "incident {name} does not exist in the workspace {}",
            engine.workspace().workspace_name
        ))),
        SingleOutcome::Failed(report) => Err(CliError::failed(report_line(&report))),
    }
}

/// One reconciliation of every workspace of `fleet`, printed as text or JSON.
async fn reconcile(fleet: &Fleet, json: bool) -> Outcome {
    let run = fleet.reconcile(uuid::Uuid::new_v4().to_string()).await;
    if json {
        println!("{}", serde_json::to_string_pretty(&run.to_value()).unwrap_or_default());
    } else {
        let several = run.workspaces.len() > 1;
        for (i, part) in run.workspaces.iter().enumerate() {
            if several {
                println!("workspace {} ({})", part.label, part.workspace);
            }
            for r in &part.summary.incidents {
                println!("{}", report_line(r));
            }
            if let Some(totals) = summary_lines(&part.summary).last() {
                println!("{totals}");
            }
            if i + 1 < run.workspaces.len() {
                println!();
            }
        }
        if several {
            println!("{}", run.totals_line());
        }
    }
    Ok(if run.is_failure() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

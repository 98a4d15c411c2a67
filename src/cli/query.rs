//! `handler query`: prints the exact KQL the timer sends, to try it in Log Analytics.

use std::process::ExitCode;

use super::{CliError, Outcome};
use crate::{
    config::{self, QuerySettings},
    queries,
};

/// Arguments of `handler query`.
#[derive(Debug, clap::Args)]
pub(super) struct Args {
    /// Lookback window in days (default: SYNC_LOOKBACK_DAYS or 30).
    #[arg(long)]
    lookback_days: Option<u32>,
}

pub(super) fn exec(args: Args) -> Outcome {
    let settings =
        QuerySettings::from_lookup(|name| std::env::var(name).ok()).map_err(|e| CliError::usage(e.to_string()))?;
    let days = match args.lookback_days {
        Some(days) => {
            config::check_lookback_days(days).map_err(|e| CliError::usage(format!("--lookback-days: {e}")))?
        }
        None => settings.lookback_days,
    };
    print!(
        "{}",
        queries::sync_candidates(days, queries::Partition::WHOLE, settings.reopen_on_reactivation)
    );
    Ok(ExitCode::SUCCESS)
}

//! Logging. One line per event, `key=value` fields, no colours: the Functions host captures the
//! handler's stdout (as Information) and stderr (as Error, or Warning when the line contains
//! "warn") into Application Insights under `Host.Function.Console`. So warnings and errors go to
//! stderr and everything else to stdout. `RUST_LOG` sets the level (default `info`).

use tracing::Level;
use tracing_subscriber::{EnvFilter, fmt::writer::MakeWriterExt};

/// Installs the global subscriber. `default_level` applies when `RUST_LOG` is unset.
pub fn init(default_level: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let writer = std::io::stderr.with_max_level(Level::WARN).or_else(std::io::stdout);
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(false)
        .with_target(false)
        .try_init();
}

/// Installs a subscriber that writes every line to stderr at `level` (`off` for none), whatever
/// `RUST_LOG` says: for commands whose stdout is their report.
pub fn init_stderr(level: &str) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new(level))
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(false)
        .try_init();
}

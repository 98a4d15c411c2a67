//! The `demo` command (written next).
use std::process::ExitCode;
/// Runs the demo.
pub async fn run(_verbose: bool) -> ExitCode {
    ExitCode::FAILURE
}

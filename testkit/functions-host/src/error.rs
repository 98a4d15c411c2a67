//! The one error type of the emulator.
//!
//! Variants name the host behaviour they stand for (indexing failure, start timeout, early exit),
//! so a failing test says which part of the host contract the handler broke.

use std::path::PathBuf;
use std::time::Duration;

/// Everything that can go wrong while emulating the host.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// A configuration file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file or directory that failed.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A configuration file is not valid JSON.
    #[error("{path} is not valid JSON: {source}")]
    Json {
        /// The file that failed.
        path: PathBuf,
        /// The parser's error.
        source: serde_json::Error,
    },
    /// host.json or a function.json is not what the host accepts (the host would fail to start or index).
    #[error("invalid function app configuration: {0}")]
    Config(String),
    /// A `%NAME%` token in a binding has no app setting; the host fails indexing that function.
    #[error("function {function}: app setting '{name}' referenced as %{name}% is not set")]
    MissingSetting {
        /// The function whose binding uses the token.
        function: String,
        /// The setting name between the percent signs.
        name: String,
    },
    /// The handler executable could not be started.
    #[error("cannot start handler {exe}: {source}")]
    Spawn {
        /// The resolved executable.
        exe: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The handler did not answer `GET /` in time ("Initializing HttpWorker timed out."); it was killed.
    #[error(
        "Initializing HttpWorker timed out after {after:?} (no answer to GET / on port {port}); stderr: {stderr:?}"
    )]
    InitTimeout {
        /// The initialization timeout that elapsed.
        after: Duration,
        /// The port the handler was told to listen on.
        port: u16,
        /// What the handler wrote to stderr meanwhile.
        stderr: Vec<String>,
    },
    /// The handler process exited before it answered the readiness probe.
    #[error("handler exited before it was ready (exit code {code:?}); stderr: {stderr:?}")]
    ExitedEarly {
        /// The exit code; `None` when a signal ended it.
        code: Option<i32>,
        /// What the handler wrote to stderr.
        stderr: Vec<String>,
    },
    /// Waiting for, signalling or killing the process failed.
    #[error("handler process control failed: {0}")]
    Process(std::io::Error),
    /// No function of that name (or of the needed trigger type) is in the app.
    #[error("no {kind} function named '{name}' in the app")]
    UnknownFunction {
        /// The name asked for.
        name: String,
        /// The trigger kind needed ("timer", "http").
        kind: &'static str,
    },
    /// The handler could not be reached (connection refused, reset, or the invocation timed out).
    #[error("handler unreachable at {url}: {source}")]
    Unreachable {
        /// The URL the host called.
        url: String,
        /// The client error.
        source: reqwest::Error,
    },
    /// An HTTP-triggered envelope invocation got an empty or `null` reply: the real host never
    /// completes it, so the caller would wait until functionTimeout.
    #[error("invocation {invocation_id} would hang in the real host: {reason}")]
    WouldHang {
        /// The invocation id sent to the handler.
        invocation_id: String,
        /// Why the host would not complete it.
        reason: String,
    },
    /// The caller's request itself is malformed (bad method or header name, path without '/').
    #[error("invalid caller request: {0}")]
    InvalidRequest(String),
}

//! An emulator of the Azure Functions host as it drives a custom handler.
//!
//! The real host (.NET) cannot run here, so this crate reproduces what it does on the wire,
//! as read from the host's source (the reference payloads are copied into the repository's
//! `tests/fixtures/functions-host/`, whose README names the sources). The product's integration
//! tests and its `demo` command use it to drive the real handler over loopback HTTP exactly as
//! the host would.
//!
//! # Layout
//!
//! - [`app`]: reads `host.json` and every `<Function>/function.json` like the host's indexing
//!   ([`FunctionApp`]).
//! - [`process`]: starts the handler with the host's environment, waits for readiness with the
//!   host's `GET /` probe, captures console output and stops it ([`HandlerProcess`]).
//! - [`invoke`]: sends invocations (timer envelope, forwarded HTTP, HTTP envelope) and judges the
//!   replies by the host's rules ([`FunctionsHost`], [`Outcome`]).
//! - [`timer`]: `TimerInfo` payloads as the timer extension builds them.
//! - [`wire`]: small encodings the host gets from .NET (date formats, query re-encoding).
//! - [`error`]: the error type, [`HostError`].

pub mod app;
pub mod error;
mod http_envelope;
pub mod invoke;
pub mod process;
mod relay;
pub mod timer;
pub mod wire;

pub use app::{FunctionApp, FunctionDef, HttpPath, Trigger};
pub use error::HostError;
pub use invoke::{CallerRequest, CallerResponse, FunctionsHost, Invocation, Outcome};
pub use process::HandlerProcess;

/// The host version the emulator claims to be, in `X-Azure-Functions-HostVersion` and
/// `User-Agent: Azure-Functions-Host/<ver>`; the release whose source the reference data was read from.
pub const HOST_VERSION: &str = "4.1037.0.23568";

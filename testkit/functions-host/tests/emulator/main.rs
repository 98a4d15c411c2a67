//! Integration tests of the host emulator, one binary with a module per area.
//!
//! The handler side is a small axum fake (see `helpers`) that records every request, so tests
//! can assert both what the host sent and that it sent nothing at all.

mod app;
mod envelope;
mod helpers;
mod http;
mod process;
mod proxy;
mod timer;

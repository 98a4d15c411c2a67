//! Integration tests: the real `handler` binary, started as the Functions host starts it, driven
//! with the host's payloads, talking real HTTP to the Azure simulator. Each test owns its
//! simulator and its handler process, so tests run in parallel without sharing state.

mod check;
mod cli;
mod clients;
mod defender_portal;
mod helpers;
mod lifecycle;
mod options;
mod platform;
mod protocol;
mod reference;
mod reliability;
mod scale;
mod timer;
mod webhook;
mod workspaces;

//! Integration tests of azure-sim over real HTTP: one binary, one module per API, shared helpers.

mod fleet;
mod helpers;
mod identity;
mod query;
mod rest;
mod shapes;

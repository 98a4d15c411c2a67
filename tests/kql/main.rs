//! Fidelity of the candidate query, checked with two engines that share no code with the Azure
//! simulator:
//!
//! - [`kusto_language`]: Microsoft's Kusto.Language (npm `@kusto/language-service-next`, via
//!   `tools/kql/check.js`) parses and type-checks the product's query against the real
//!   SecurityIncident / SecurityAlert schemas (`tools/kql/tables.json`) and reports its result
//!   schema, which must be what `engine::candidates_from` reads.
//! - [`simulator_vs_duckdb`]: duckdb-kql (PyPI `duckdb-kql`, via `tools/kql/oracle.py`, one
//!   process per test run) executes the query over the simulator's own table rows; its answer
//!   must equal what the simulator serves over HTTP, for ~150 generated workspaces.
//!
//! The tools are pinned and installed into `.oracles/` by `./scripts/install-test-tools`; when
//! they are missing the tests fail (never skip) and say so.

mod generate;
mod kusto_language;
mod oracles;
mod simulator_vs_duckdb;

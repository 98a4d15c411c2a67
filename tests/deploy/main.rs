//! Deployment tests: the packaged publish tree (`scripts/package`), the infra template and the
//! offline checks that hold it to the code's configuration contract (`infra`), several workspaces from one deployment (`infra_workspaces`), the workbook's queries checked
//! by Kusto.Language (`infra_workbook`), the ARM template against Microsoft's type definitions
//! (`infra_types`), and checkov over the templates (`checkov`).
//!
//! The packaged-tree tests need `DFC_PACKAGE_DIR` pointing at the tree `scripts/package` built (a
//! musl release build takes minutes, so the tests do not build it themselves); they fail with a
//! message saying so when it is unset or missing. The infra tests need the Python of `.oracles/venv`,
//! checkov in `.oracles/checkov` and the workbook's Kusto.Language in `.oracles/node`
//! (`scripts/install-test-tools`).

mod checkov;
mod elf;
mod infra;
mod infra_types;
mod infra_workbook;
mod infra_workspaces;
mod package;

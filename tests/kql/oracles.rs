//! Locating and driving the two offline engines. Paths are relative to the crate root; a missing
//! tool is a test failure that names the fix.

use dfc_sentinel_sync::queries::Partition;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Mutex, OnceLock};

use serde_json::Value;

const INSTALL_HINT: &str =
    "run ./scripts/install-test-tools (from the repository root) to install the pinned KQL checkers";

/// The repository root (the root package's manifest directory).
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Returns `path` or fails the test naming the install script.
fn require(path: PathBuf, what: &str) -> PathBuf {
    assert!(path.exists(), "{what} not found at {}: {INSTALL_HINT}", path.display());
    path
}

/// The product query for a lookback of `days`, exactly as the product sends it (reopen off).
pub fn product_query(days: u32) -> String {
    product_query_part(days, Partition::WHOLE, false)
}

/// The product's query over one part of the workspace, as a run that had to split sends it,
/// with `SYNC_REOPEN_ON_REACTIVATION` as `reopen`.
pub fn product_query_part(days: u32, part: Partition, reopen: bool) -> String {
    dfc_sentinel_sync::queries::sync_candidates(days, part, reopen)
}

/// One diagnostic from Kusto.Language.
#[derive(Debug, Clone)]
pub struct Diagnostic {
    pub code: String,
    pub message: String,
    pub severity: String,
}

/// What `tools/kql/check.js` reports for a query.
#[derive(Debug, Clone)]
pub struct CheckReport {
    pub diagnostics: Vec<Diagnostic>,
    /// (name, Kusto type) of the result table, in order.
    pub result_columns: Vec<(String, String)>,
}

impl CheckReport {
    pub fn errors(&self) -> Vec<&Diagnostic> {
        self.diagnostics.iter().filter(|d| d.severity == "Error").collect()
    }
}

/// Runs Kusto.Language's parser and semantic analysis over `query`.
pub fn kusto_check(query: &str) -> CheckReport {
    let package = require(
        root().join(".oracles/node/node_modules/@kusto/language-service-next/Kusto.Language.Bridge.js"),
        "Kusto.Language (npm @kusto/language-service-next)",
    );
    let script = require(root().join("tools/kql/check.js"), "tools/kql/check.js");
    let mut child = Command::new("node")
        .arg(&script)
        .env("KUSTO_LANGUAGE_DIR", package.parent().expect("package directory"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start `node` ({e}): install Node.js, then {INSTALL_HINT}"));
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(query.as_bytes())
        .expect("write the query to check.js");
    let out = child.wait_with_output().expect("wait for check.js");
    assert!(
        out.status.success(),
        "tools/kql/check.js failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "check.js printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    let text = |d: &Value, k: &str| d[k].as_str().unwrap_or_default().to_string();
    CheckReport {
        diagnostics: v["diagnostics"]
            .as_array()
            .expect("diagnostics array")
            .iter()
            .map(|d| Diagnostic {
                code: text(d, "code"),
                message: text(d, "message"),
                severity: text(d, "severity"),
            })
            .collect(),
        result_columns: v["resultColumns"]
            .as_array()
            .expect("resultColumns array")
            .iter()
            .map(|c| (text(c, "name"), text(c, "type")))
            .collect(),
    }
}

/// The duckdb-kql process (`tools/kql/oracle.py`), one per test run, shared by all tests.
pub struct DuckdbKql {
    _child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

/// The answer to one request.
#[derive(Debug, Clone)]
pub struct DuckdbAnswer {
    /// (name, Kusto type) of the result columns.
    pub columns: Vec<(String, String)>,
    /// Result rows, values in column order (datetimes as DuckDB text, dynamics as JSON text).
    pub rows: Vec<Vec<Value>>,
}

impl DuckdbKql {
    fn start() -> DuckdbKql {
        let python = require(
            root().join(".oracles/venv/bin/python"),
            "the duckdb-kql venv (.oracles/venv)",
        );
        let script = require(root().join("tools/kql/oracle.py"), "tools/kql/oracle.py");
        let mut child = Command::new(&python)
            .arg(&script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {} ({e}): {INSTALL_HINT}", python.display()));
        let stdin = child.stdin.take().expect("stdin");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut ready = String::new();
        stdout.read_line(&mut ready).expect("read oracle.py's ready line");
        let v: Value = serde_json::from_str(&ready)
            .unwrap_or_else(|_| panic!("oracle.py did not start (said {ready:?}): {INSTALL_HINT}"));
        assert_eq!(v["ready"], true, "oracle.py did not start: {ready}");
        assert_eq!(
            v["duckdb_kql"], "1.1.2",
            "unexpected duckdb-kql version: {INSTALL_HINT}"
        );
        // The child ends when this test process exits: its stdin closes and its loop ends.
        DuckdbKql {
            _child: child,
            stdin,
            stdout,
        }
    }

    /// The shared process.
    pub fn shared() -> &'static Mutex<DuckdbKql> {
        static ORACLE: OnceLock<Mutex<DuckdbKql>> = OnceLock::new();
        ORACLE.get_or_init(|| Mutex::new(DuckdbKql::start()))
    }

    /// Sends one request; `Err` carries the engine's error text.
    pub fn ask(&mut self, request: &Value) -> Result<DuckdbAnswer, String> {
        let mut line = serde_json::to_string(request).expect("serialise request");
        line.push('\n');
        self.stdin.write_all(line.as_bytes()).expect("write to oracle.py");
        self.stdin.flush().expect("flush oracle.py");
        let mut reply = String::new();
        let n = self.stdout.read_line(&mut reply).expect("read from oracle.py");
        assert!(n > 0, "oracle.py exited (see its stderr above)");
        let v: Value = serde_json::from_str(&reply).expect("oracle.py answered JSON");
        if v["ok"] != true {
            return Err(format!(
                "{}\n{}",
                v["error"].as_str().unwrap_or("?"),
                v["trace"].as_str().unwrap_or("")
            ));
        }
        Ok(DuckdbAnswer {
            columns: v["columns"]
                .as_array()
                .expect("columns")
                .iter()
                .map(|c| {
                    (
                        c["name"].as_str().unwrap_or_default().to_string(),
                        c["type"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect(),
            rows: v["rows"]
                .as_array()
                .expect("rows")
                .iter()
                .map(|r| r.as_array().expect("row array").clone())
                .collect(),
        })
    }
}

/// Asks the shared duckdb-kql process; a poisoned lock (an earlier test panicked mid-request) is
/// still usable because every request is one whole line each way.
pub fn duckdb_query(request: &Value) -> Result<DuckdbAnswer, String> {
    let mut oracle = DuckdbKql::shared().lock().unwrap_or_else(|e| e.into_inner());
    oracle.ask(request)
}

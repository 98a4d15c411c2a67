//! The simulator's answer to the product query, fetched over real HTTP, equals duckdb-kql's
//! answer to the same text over the same rows, for ~150 generated workspaces. The workspaces
//! are dealt to three tests, a third each, so that the test runner runs them at once; each checks
//! the coverage of its own third.
//!
//! Reproduce one case: `KQL_SEED=<n> cargo test --test kql simulator_answers`; the request sent
//! to duckdb-kql is also written to `<target>/tmp/kql-seed-<n>.json` on a mismatch
//! (`.oracles/venv/bin/python tools/kql/oracle.py < that-file` replays it).
//! `KQL_CASES=<n>` changes the number of generated workspaces (default 150).

use std::collections::{BTreeMap, BTreeSet, HashSet};

use azure_sim::AzureSim;
use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::generate::{self, Generated};
use crate::kusto_language::EXPECTED_COLUMNS;
use dfc_sentinel_sync::queries::Partition;

use crate::oracles::{DuckdbAnswer, duckdb_query, product_query_part};

/// Which engine a value came from: the engines have different known gaps.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Engine {
    Simulator,
    DuckdbKql,
}

/// Canonical JSON text: object keys sorted at every level.
fn canonical(v: &Value) -> String {
    fn sort(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let sorted: BTreeMap<&String, Value> = m.iter().map(|(k, v)| (k, sort(v))).collect();
                Value::Object(sorted.into_iter().map(|(k, v)| (k.clone(), v)).collect())
            }
            Value::Array(a) => Value::Array(a.iter().map(sort).collect()),
            other => other.clone(),
        }
    }
    sort(v).to_string()
}

/// Parses a datetime as either engine prints it, to 100 ns ticks.
fn parse_datetime(engine: Engine, s: &str) -> Result<DateTime<Utc>, String> {
    let t = match engine {
        // Kusto style: ISO-8601 with Z and up to 7 fractional digits.
        Engine::Simulator => DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| format!("{s:?}: {e}"))?,
        // DuckDB's TIMESTAMP_NS text: "YYYY-MM-DD HH:MM:SS[.fffffffff]", UTC.
        Engine::DuckdbKql => NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f")
            .map(|t| t.and_utc())
            .map_err(|e| format!("{s:?}: {e}"))?,
    };
    Ok(chrono::SubsecRound::trunc_subsecs(t, 7))
}

/// The `Alerts` list in a comparable form: make_list's order is unspecified in Kusto, so the
/// entries are sorted; duckdb-kql's documented gap (an unmatched `leftouter` string is null
/// where Kusto gives "") is closed by reading null as "" inside an entry.
fn normalise_alerts(engine: Engine, list: Value) -> Result<Value, String> {
    let Value::Array(items) = list else {
        return Err(format!("Alerts is not an array: {list}"));
    };
    let mut entries = items
        .into_iter()
        .map(|item| match item {
            Value::Array(fields) if fields.len() == 3 => Ok(Value::Array(
                fields
                    .into_iter()
                    .map(|f| match f {
                        Value::Null if engine == Engine::DuckdbKql => Value::String(String::new()),
                        other => other,
                    })
                    .collect(),
            )),
            other => Err(format!("an Alerts entry is not [id, status, product]: {other}")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    entries.sort_by_key(|e| e.to_string());
    Ok(Value::Array(entries))
}

/// One result row, normalised so equal meanings compare equal. Strict where the engines agree
/// on representation; the only leniencies are in [`normalise_alerts`].
fn normalise(engine: Engine, row: &[Value]) -> Result<String, String> {
    if row.len() != EXPECTED_COLUMNS.len() {
        return Err(format!("{} values, expected {}", row.len(), EXPECTED_COLUMNS.len()));
    }
    let mut out = serde_json::Map::new();
    for ((name, ty), value) in EXPECTED_COLUMNS.iter().zip(row) {
        let v = match (*ty, value) {
            ("string", Value::String(s)) => Value::String(s.clone()),
            ("int", Value::Number(n)) if n.is_i64() => Value::Number(n.clone()),
            ("bool", Value::Bool(b)) => Value::Bool(*b),
            // Query API and duckdb-kql both hand dynamic values over as JSON text.
            ("dynamic", Value::String(s)) => {
                let v = serde_json::from_str::<Value>(s).map_err(|e| format!("{name}: not JSON ({e}): {s:?}"))?;
                if *name == "Alerts" {
                    normalise_alerts(engine, v)?
                } else {
                    v
                }
            }
            ("datetime", Value::String(s)) => Value::String(
                parse_datetime(engine, s)
                    .map_err(|e| format!("{name}: {e}"))?
                    .to_rfc3339_opts(SecondsFormat::Nanos, true),
            ),
            ("datetime", Value::Null) => Value::Null,
            (ty, v) => return Err(format!("{name} ({ty}) holds {v}")),
        };
        out.insert(name.to_string(), v);
    }
    Ok(canonical(&Value::Object(out)))
}

fn normalise_all(engine: Engine, rows: &[Vec<Value>]) -> Result<Vec<String>, String> {
    let mut out = rows
        .iter()
        .map(|r| normalise(engine, r).map_err(|e| format!("{engine:?} row {}: {e}", Value::from(r.clone()))))
        .collect::<Result<Vec<_>, _>>()?;
    out.sort();
    Ok(out)
}

/// The simulator's answer over HTTP: managed-identity token, then the query API.
async fn simulator_answer(
    http: &reqwest::Client,
    sim: &AzureSim,
    query: &str,
) -> (Vec<(String, String)>, Vec<Vec<Value>>) {
    let token: Value = http
        .get(format!(
            "{}?api-version=2019-08-01&resource=https://api.loganalytics.io",
            sim.identity_endpoint()
        ))
        .header("X-IDENTITY-HEADER", sim.identity_header())
        .send()
        .await
        .expect("token request")
        .error_for_status()
        .expect("token status")
        .json()
        .await
        .expect("token JSON");
    let token = token["access_token"].as_str().expect("access_token").to_string();
    let response = http
        .post(format!(
            "{}/v1/workspaces/{}/query",
            sim.base_url(),
            sim.workspace().workspace_id
        ))
        .bearer_auth(token)
        .json(&json!({ "query": query }))
        .send()
        .await
        .expect("query request");
    let status = response.status();
    let body: Value = response.json().await.expect("query answer JSON");
    assert!(
        status.is_success(),
        "the simulator refused the product query: {status} {body}"
    );
    let table = &body["tables"][0];
    let columns = table["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap_or_default().to_string(),
                c["type"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let rows = table["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r.as_array().expect("row").clone())
        .collect();
    (columns, rows)
}

/// Fails the case if two rows of one key share a TimeGenerated: `arg_max` over a tie is
/// unspecified, so such a workspace would not have one right answer.
fn assert_no_ties(seed: u64, incidents: &[Value], alerts: &[Value]) {
    for (table, rows, key) in [
        ("SecurityIncident", incidents, "IncidentName"),
        ("SecurityAlert", alerts, "SystemAlertId"),
    ] {
        let mut seen = HashSet::new();
        for r in rows {
            let k = (r[key].to_string(), r["TimeGenerated"].to_string());
            assert!(
                seen.insert(k.clone()),
                "seed {seed}: generator bug, tie in {table}: {k:?}"
            );
        }
    }
}

fn expected_columns() -> Vec<(String, String)> {
    EXPECTED_COLUMNS
        .iter()
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect()
}

/// Coverage of the generated cases, so the generator cannot quietly become trivial.
#[derive(Default, Debug)]
struct Coverage {
    cases: usize,
    empty_answers: usize,
    rows: usize,
    unmatched_rows: usize,
    alert_statuses: BTreeSet<String>,
    incident_statuses: BTreeSet<String>,
    products: BTreeSet<String>,
    lookbacks: BTreeSet<u32>,
    delayed: usize,
    owned: usize,
    recent_tool_changes: usize,
    tool_labels: usize,
    partitions: usize,
    /// Closed rows outside the repair window: returned only to be reopened.
    reopen_candidates: usize,
    providers: BTreeSet<String>,
}

impl Coverage {
    fn add(&mut self, g: &Generated, rows: &[Vec<Value>]) {
        self.cases += 1;
        self.lookbacks.insert(g.lookback_days);
        if !g.ingestion_delay.is_zero() {
            self.delayed += 1;
        }
        if rows.is_empty() {
            self.empty_answers += 1;
        }
        for r in rows {
            self.rows += 1;
            if r[6] == Value::Bool(true) {
                self.recent_tool_changes += 1;
            }
            if r[4] == Value::Bool(true) || r[5] == Value::Bool(true) {
                self.tool_labels += 1;
            }
            if r[3] == Value::Bool(true) {
                self.owned += 1;
            }
            self.incident_statuses.insert(r[2].as_str().unwrap_or("?").to_string());
            self.count_reopen_candidate(r);
            self.providers.insert(r[9].as_str().unwrap_or("?").to_string());
            let alerts: Value = r[7]
                .as_str()
                .and_then(|s| serde_json::from_str(s).ok())
                .unwrap_or_default();
            for a in alerts.as_array().into_iter().flatten() {
                if a[1] == "" {
                    self.unmatched_rows += 1;
                }
                self.alert_statuses.insert(a[1].as_str().unwrap_or("?").to_string());
                self.products.insert(a[2].as_str().unwrap_or("?").to_string());
            }
        }
    }

    /// The answer to the query over one part of the workspace (the other reopen setting).
    fn add_part(&mut self, rows: &[Vec<Value>]) {
        if !rows.is_empty() {
            self.partitions += 1;
        }
        for r in rows {
            self.count_reopen_candidate(r);
        }
    }

    fn count_reopen_candidate(&mut self, row: &[Value]) {
        if row[2] == "Closed" && row[6] == Value::Bool(false) {
            self.reopen_candidates += 1;
        }
    }

    fn check(&self) {
        let c = self;
        let ok = c.empty_answers >= c.cases / 10
            && c.cases - c.empty_answers >= c.cases / 3
            && c.unmatched_rows > 0
            && c.owned > 0
            && c.lookbacks.len() == generate::LOOKBACKS.len()
            && c.delayed > 0
            && c.recent_tool_changes > 0
            && c.tool_labels > 0
            && c.partitions >= c.cases / 3
            && c.reopen_candidates > 0
            && ["Azure Sentinel", "Microsoft XDR"]
                .iter()
                .all(|p| c.providers.contains(*p))
            && ["New", "Active", "Closed"]
                .iter()
                .all(|s| c.incident_statuses.contains(*s))
            && generate::ALERT_STATUSES.iter().all(|s| c.alert_statuses.contains(*s))
            && c.alert_statuses.contains("")
            && [
                "Azure Security Center",
                "Microsoft Defender for Cloud",
                "Azure Sentinel",
                "azure security center",
            ]
            .iter()
            .all(|p| c.products.contains(*p));
        assert!(
            ok || c.cases < 40,
            "the generated workspaces miss cases that matter: {c:#?}"
        );
    }
}

/// The test instances the generated workspaces are dealt to.
const SHARDS: u64 = 3;

/// The seeds of shard `shard` (0-based): its third of `1..=KQL_CASES`, or only `KQL_SEED` (in
/// shard 0).
fn seeds(shard: u64) -> Vec<u64> {
    if let Ok(s) = std::env::var("KQL_SEED") {
        let seed = s.trim().parse().expect("KQL_SEED is a number");
        return if shard == 0 { vec![seed] } else { vec![] };
    }
    let cases: u64 = std::env::var("KQL_CASES")
        .ok()
        .map(|s| s.trim().parse().expect("KQL_CASES is a number"))
        .unwrap_or(150);
    let per_shard = cases.div_ceil(SHARDS);
    let first = shard * per_shard + 1;
    (first..=cases.min(first + per_shard - 1)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulator_answers_the_product_query_like_duckdb_kql_first_third() {
    compare(seeds(0)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulator_answers_the_product_query_like_duckdb_kql_second_third() {
    compare(seeds(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulator_answers_the_product_query_like_duckdb_kql_last_third() {
    compare(seeds(2)).await;
}

async fn compare(seeds: Vec<u64>) {
    let http = reqwest::Client::new();
    let mut coverage = Coverage::default();
    let mut failures: Vec<String> = Vec::new();
    for seed in seeds {
        let sim = AzureSim::start(generate::config(seed))
            .await
            .expect("start the simulator");
        let generated = generate::populate(&sim, seed);
        // The whole workspace, and one part of it as a run that had to split would ask.
        let part = Partition {
            count: 2 + (seed % 3) as u32,
            index: (seed % 2) as u32,
        };
        // Reopen on in one of the two, alternating per seed.
        let reopen = seed % 2 == 0;
        let queries = [
            product_query_part(generated.lookback_days, Partition::WHOLE, reopen),
            product_query_part(generated.lookback_days, part, !reopen),
        ];
        for (which, query) in queries.into_iter().enumerate() {
            let (incidents, alerts) = sim.table_rows();
            assert_no_ties(seed, &incidents, &alerts);
            let (sim_columns, sim_rows) = simulator_answer(&http, &sim, &query).await;
            let now = Utc::now();
            // The rows visible to the query must be the rows handed to duckdb-kql.
            assert_eq!(
                sim.table_rows(),
                (incidents.clone(), alerts.clone()),
                "seed {seed}: table rows changed while querying"
            );
            let request = json!({
                "incidents": incidents,
                "alerts": alerts,
                "query": query,
                "now": now.to_rfc3339_opts(SecondsFormat::Micros, true),
            });
            let duck = tokio::task::block_in_place(|| duckdb_query(&request));
            if which == 0 {
                coverage.add(&generated, &sim_rows);
            } else {
                coverage.add_part(&sim_rows);
            }

            let report = |problem: String, duck_rows: Option<&DuckdbAnswer>| {
                let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("kql-seed-{seed}.json"));
                let _ = std::fs::write(&path, format!("{request}\n"));
                format!(
                    "seed {seed} ({generated:?}, query {which}): {problem}\n  simulator rows ({}):\n{}\n  duckdb-kql rows ({}):\n{}\n  oracle request: {}",
                    sim_rows.len(),
                    sim_rows
                        .iter()
                        .map(|r| format!("    {}", Value::from(r.clone())))
                        .collect::<Vec<_>>()
                        .join("\n"),
                    duck_rows.map_or(0, |d| d.rows.len()),
                    duck_rows
                        .map(|d| d
                            .rows
                            .iter()
                            .map(|r| format!("    {}", Value::from(r.clone())))
                            .collect::<Vec<_>>()
                            .join("\n"))
                        .unwrap_or_default(),
                    path.display(),
                )
            };

            let duck = match duck {
                Ok(d) => d,
                Err(e) => {
                    failures.push(report(format!("duckdb-kql could not run the query: {e}"), None));
                    continue;
                }
            };
            if sim_columns != expected_columns() {
                failures.push(report(format!("simulator columns {sim_columns:?}"), Some(&duck)));
                continue;
            }
            if duck.columns != expected_columns() {
                failures.push(report(format!("duckdb-kql columns {:?}", duck.columns), Some(&duck)));
                continue;
            }
            let (s, d) = match (
                normalise_all(Engine::Simulator, &sim_rows),
                normalise_all(Engine::DuckdbKql, &duck.rows),
            ) {
                (Ok(s), Ok(d)) => (s, d),
                (Err(e), _) | (_, Err(e)) => {
                    failures.push(report(format!("unexpected value: {e}"), Some(&duck)));
                    continue;
                }
            };
            if s != d {
                let only_sim: Vec<&String> = s.iter().filter(|r| !d.contains(r)).collect();
                let only_duck: Vec<&String> = d.iter().filter(|r| !s.contains(r)).collect();
                failures.push(report(
                format!(
                    "answers differ\n  only in the simulator's answer: {only_sim:#?}\n  only in duckdb-kql's answer: {only_duck:#?}"
                ),
                Some(&duck),
            ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} generated workspaces differ; first ones:\n\n{}",
        failures.len(),
        coverage.cases,
        failures.iter().take(3).cloned().collect::<Vec<_>>().join("\n\n")
    );
    coverage.check();
    eprintln!("compared {} workspaces: {coverage:?}", coverage.cases);
}

//! Reconcile at scale: the real release handler, started the way the Functions host starts it,
//! reconciles a simulated workspace of open Defender for Cloud incidents through a timer
//! invocation. The simulator answers every request after 20 ms and throttles ARM like ARM does
//! (per-principal token buckets: reads 250 + 25/s, writes 200 + 10/s, 429 + Retry-After).
//!
//! Scenarios (`BENCH_SCENARIO`, comma-separated; default `1k`):
//! - `1k`   1,000 incidents (~300 actionable): one run ≈ 45 s, bound by the write bucket.
//! - `10k`  10,000 incidents (~3,000 actionable): one run ≈ 10 min (write floor ≈ 580 s); opt-in,
//!   run it with `BENCH_RUNS=1`.
//! - `50k`  50,000 incidents: ≈ 50 min per run at ARM's write rate; opt-in.
//!   `BENCH_RUNS` (default 3) runs per scenario, each on a fresh simulator and handler.
//!   The handler paces itself with ARM's published buckets (src/azure/throttle.rs), so scaling
//!   the simulator's buckets up would not shorten a run; every scenario uses ARM's numbers.
//!   `BENCH_QUICK=1`: one 200-incident run (smoke test).
//!
//! Per run: wall time of the SyncTimer invocation, the floor (least time the ARM buckets allow
//! for the calls the run needed), wall/floor, calls per actionable incident, 429s, the handler's
//! peak RSS, and a second run right after that must make exactly 1 query and 0 writes.

#[path = "common/mod.rs"]
mod common;

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use azure_sim::{ArmThrottle, AzureSim, SimConfig};
use common::*;
use functions_host::Outcome;
use serde_json::Value;

const LATENCY: Duration = Duration::from_millis(20);

struct Scenario {
    name: &'static str,
    incidents: usize,
    throttle: ArmThrottle,
    /// Share of actionable incidents in percent (30 in the standard mix).
    actionable_pct: u64,
    /// Webhook calls made one per second while the run drains the write budget.
    webhook_probes: usize,
}

/// What the handler's log says about the candidate query.
#[derive(Debug, Default, Clone)]
struct QueryLog {
    queries: usize,
    bytes: usize,
    rows: usize,
    parse_ms: f64,
    decode_ms: f64,
}

fn field(line: &str, key: &str) -> Option<f64> {
    let start = line.find(&format!("{key}="))? + key.len() + 1;
    line[start..].split([' ', '"']).next()?.parse().ok()
}

fn query_log(lines: &[String]) -> QueryLog {
    let mut q = QueryLog::default();
    for l in lines {
        if l.contains("query answered") {
            q.queries += 1;
            q.bytes += field(l, "bytes").unwrap_or(0.0) as usize;
            q.rows += field(l, "rows").unwrap_or(0.0) as usize;
            q.parse_ms += field(l, "parse_ms").unwrap_or(0.0);
        }
        if l.contains("candidates decoded") {
            q.decode_ms += field(l, "decode_ms").unwrap_or(0.0);
        }
    }
    q
}

/// Bytes the answer had in its earlier shape (one row per incident and alert, Owner and Labels
/// JSON on every row), rebuilt from the current answer and the incident table: the "before" of
/// the compact answer.
fn earlier_answer_bytes(sim: &AzureSim, answer: &Value) -> usize {
    let (incidents, _) = sim.table_rows();
    let mut latest: std::collections::HashMap<String, &Value> = std::collections::HashMap::new();
    for r in &incidents {
        let name = r["IncidentName"].as_str().unwrap_or_default().to_owned();
        match latest.get(&name) {
            Some(seen) if seen["TimeGenerated"].as_str() > r["TimeGenerated"].as_str() => {}
            _ => {
                latest.insert(name, r);
            }
        }
    }
    let mut bytes = 0;
    for row in answer["tables"][0]["rows"].as_array().into_iter().flatten() {
        let name = row[0].as_str().unwrap_or_default();
        let inc = latest.get(name).copied().unwrap_or(&Value::Null);
        let alerts: Value = row[7]
            .as_str()
            .and_then(|t| serde_json::from_str(t).ok())
            .unwrap_or_default();
        for a in alerts.as_array().into_iter().flatten() {
            let old = serde_json::json!([
                name,
                row[1],
                row[2],
                inc["Owner"].to_string(),
                inc["Labels"].to_string(),
                a[0],
                a[1],
                a[2],
                row[8]
            ]);
            bytes += old.to_string().len() + 1;
        }
    }
    bytes
}

#[derive(Debug, Default, Clone)]
struct RunResult {
    wall_s: f64,
    summary_ms: f64,
    floor_s: f64,
    binding: &'static str,
    concurrency_floor_s: f64,
    actionable_seeded: usize,
    scanned: usize,
    changed: usize,
    failed: usize,
    not_reached: usize,
    calls: BTreeMap<String, usize>,
    sim_gets: usize,
    sim_writes: usize,
    throttled: usize,
    hwm_kib: u64,
    second_queries: usize,
    second_gets: usize,
    second_writes: usize,
    second_wall_ms: f64,
    query: QueryLog,
    open_incidents: usize,
    answer_bytes_before: usize,
    webhook_ms: Vec<f64>,
}

/// Least time the buckets allow for `reads` GETs and `writes` PUT/POSTs, starting full.
fn floor(t: &ArmThrottle, reads: usize, writes: usize) -> (f64, &'static str) {
    let fr = ((reads as f64 - t.read_burst) / t.read_rate).max(0.0);
    let fw = ((writes as f64 - t.write_burst) / t.write_rate).max(0.0);
    if fw >= fr { (fw, "writes") } else { (fr, "reads") }
}

async fn invoke(app: &App) -> (f64, Value) {
    let (wall, inv) = timed_timer(app).await;
    let summary = match inv.outcome {
        Outcome::Succeeded { return_value, .. } => return_value,
        other => {
            // A failed run answers 500 with the summary in the body; keep it for the report.
            eprintln!("[bench] invocation did not succeed: {other:?}");
            serde_json::from_str::<Value>(&inv.raw_body)
                .ok()
                .and_then(|v| v.get("ReturnValue").cloned().or(Some(v)))
                .unwrap_or(Value::Null)
        }
    };
    (wall, summary)
}

fn is_write(method: &str) -> bool {
    matches!(method, "PUT" | "POST" | "PATCH" | "DELETE")
}

/// The simulator's answer to the product query over the whole workspace, as the handler gets it.
async fn sim_answer(sim: &AzureSim) -> Value {
    let http = reqwest::Client::new();
    let token: Value = http
        .get(format!(
            "{}?api-version=2019-08-01&resource=https://api.loganalytics.io",
            sim.identity_endpoint()
        ))
        .header("X-IDENTITY-HEADER", sim.identity_header())
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("token JSON");
    http.post(format!(
        "{}/v1/workspaces/{}/query",
        sim.base_url(),
        sim.workspace().workspace_id
    ))
    .bearer_auth(token["access_token"].as_str().unwrap_or_default())
    .json(&serde_json::json!({ "query": AzureSim::sync_query(30) }))
    .send()
    .await
    .expect("query")
    .json()
    .await
    .expect("query JSON")
}

async fn run_once(exe: &std::path::Path, sc: &Scenario, seed: u64) -> RunResult {
    let sim = AzureSim::start(SimConfig {
        latency: LATENCY,
        arm_throttle: Some(sc.throttle),
        ..SimConfig::default()
    })
    .await
    .expect("simulator starts");
    let mut rng = Rng::new(seed);
    let mut actionable = 0;
    for i in 0..sc.incidents {
        let kind = if sc.actionable_pct == 30 {
            reconcile_kind(&mut rng)
        } else if (i as u64 * sc.actionable_pct) % 100 < sc.actionable_pct {
            Kind::Resolved
        } else if rng.below(3) == 0 {
            Kind::InSync
        } else {
            Kind::Pending
        };
        actionable += kind.actionable() as usize;
        seed_incident(&sim, &mut rng, kind);
    }
    // Incidents for the webhook probes: their alerts changed last, so the run reaches them last.
    let probes: Vec<String> = (0..sc.webhook_probes)
        .map(|_| {
            let alert = sim.add_alert(azure_sim::AlertSeed {
                status: "Resolved".into(),
                last_changed_ago: chrono::Duration::zero(),
                ..azure_sim::AlertSeed::default()
            });
            sim.add_incident(azure_sim::IncidentSeed {
                alert_ids: vec![alert],
                ..azure_sim::IncidentSeed::default()
            })
        })
        .collect();
    let (answer_bytes_before, open_incidents) = {
        let answer = sim_answer(&sim).await;
        (
            earlier_answer_bytes(&sim, &answer),
            answer["tables"][0]["rows"].as_array().map_or(0, Vec::len),
        )
    };
    sim.clear_requests();
    let app = start_app(exe, &sim, &[("SYNC_RUN_BUDGET_SECONDS", "3600")]).await;
    let pid = app.handler.pid().expect("handler running");

    let probe_url = format!("{}/api/SecurityAlertWebhook", app.handler.base_url());
    let probing = async {
        let http = reqwest::Client::new();
        let mut latencies = Vec::new();
        if probes.is_empty() {
            return latencies;
        }
        // Past the write burst: the run is now paced at ARM's 10 writes/s.
        tokio::time::sleep(Duration::from_secs(30)).await;
        for name in &probes {
            let started = Instant::now();
            let ok = http
                .post(&probe_url)
                .header("x-functions-key", FUNCTION_KEY)
                .json(&serde_json::json!({ "incidentId": name }))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            latencies.push(started.elapsed().as_secs_f64() * 1000.0);
            if !ok {
                eprintln!("[bench] webhook probe for {name} failed");
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        latencies
    };
    let ((wall, summary), webhook_ms) = tokio::join!(invoke(&app), probing);
    let requests = sim.requests();
    let arm: Vec<_> = requests
        .iter()
        .filter(|r| r.path.starts_with("/subscriptions/"))
        .collect();
    let sim_gets = arm.iter().filter(|r| r.method == "GET" && r.status != 429).count();
    let sim_writes = arm.iter().filter(|r| is_write(&r.method) && r.status != 429).count();
    let throttled = requests.iter().filter(|r| r.status == 429).count();
    let (floor_s, binding) = floor(&sc.throttle, sim_gets, sim_writes);
    let calls: BTreeMap<String, usize> = summary["calls"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0) as usize))
                .collect()
        })
        .unwrap_or_default();
    let sequential = calls
        .iter()
        .filter(|(k, _)| *k != "query")
        .map(|(_, v)| *v)
        .sum::<usize>();
    let mut r = RunResult {
        wall_s: wall,
        summary_ms: summary["durationMs"].as_f64().unwrap_or(f64::NAN),
        floor_s,
        binding,
        // Calls per incident are sequential; CONCURRENCY (4) incidents run at once.
        concurrency_floor_s: sequential as f64 * LATENCY.as_secs_f64() / 4.0,
        actionable_seeded: actionable,
        scanned: summary["scanned"].as_u64().unwrap_or(0) as usize,
        changed: summary["changed"].as_u64().unwrap_or(0) as usize,
        failed: summary["failed"].as_u64().unwrap_or(0) as usize,
        not_reached: summary["notReached"].as_u64().unwrap_or(0) as usize,
        calls,
        sim_gets,
        sim_writes,
        throttled,
        query: query_log(&app.handler.stdout_lines()),
        open_incidents,
        answer_bytes_before,
        webhook_ms,
        ..RunResult::default()
    };

    // Second run right after, nothing changed in between.
    sim.clear_requests();
    let (wall2, summary2) = invoke(&app).await;
    let req2 = sim.requests();
    r.second_wall_ms = wall2 * 1000.0;
    r.second_queries = req2
        .iter()
        .filter(|q| q.path.to_ascii_lowercase().ends_with("/query"))
        .count();
    r.second_gets = req2
        .iter()
        .filter(|q| q.path.starts_with("/subscriptions/") && q.method == "GET")
        .count();
    r.second_writes = req2
        .iter()
        .filter(|q| is_write(&q.method) && q.path.starts_with("/subscriptions/"))
        .count();
    if summary2["changed"].as_u64() != Some(0) {
        eprintln!("[bench] second run changed something: {}", summary2["changed"]);
    }
    r.hwm_kib = proc_kib(pid, "VmHWM").unwrap_or(0);
    app.stop().await;
    r
}

fn report(sc: &Scenario, runs: &[RunResult]) {
    let f = |g: &dyn Fn(&RunResult) -> f64, p: usize| fmt_spread(&runs.iter().map(g).collect::<Vec<_>>(), p);
    let r0 = &runs[0];
    println!(
        "\n=== reconcile {} — {} incidents, latency {} ms, ARM buckets reads {}+{}/s writes {}+{}/s, {} run(s) ===",
        sc.name,
        sc.incidents,
        LATENCY.as_millis(),
        sc.throttle.read_burst,
        sc.throttle.read_rate,
        sc.throttle.write_burst,
        sc.throttle.write_rate,
        runs.len()
    );
    println!(
        "actionable seeded {} | scanned {} | changed {} | failed {} | not-reached {}",
        r0.actionable_seeded, r0.scanned, r0.changed, r0.failed, r0.not_reached
    );
    println!(
        "calls (summary, run 1) {:?} | ARM answered: GET {} write {}",
        r0.calls, r0.sim_gets, r0.sim_writes
    );
    let per = |k: &str| {
        let v: Vec<f64> = runs
            .iter()
            .map(|r| *r.calls.get(k).unwrap_or(&0) as f64 / r.changed.max(1) as f64)
            .collect();
        fmt_spread(&v, 2)
    };
    println!(
        "per actionable incident: get {} | put {} | comment {} | alerts {}",
        per("get"),
        per("put"),
        per("comment"),
        per("alerts")
    );
    println!("wall s            {}", f(&|r| r.wall_s, 2));
    println!("summary durationMs{}", f(&|r| r.summary_ms, 0));
    println!("floor s ({})   {}", r0.binding, f(&|r| r.floor_s, 2));
    if runs.iter().all(|r| r.floor_s > 0.0) {
        println!("wall/floor        {}", f(&|r| r.wall_s / r.floor_s, 3));
    } else {
        println!("wall/floor        n/a (the needed calls fit in the buckets' burst: floor 0)");
    }
    println!(
        "concurrency floor {} s (calls × 20 ms / 4 in flight)",
        f(&|r| r.concurrency_floor_s, 2)
    );
    println!("429s received     {}", f(&|r| r.throttled as f64, 0));
    println!("peak RSS MiB      {}", f(&|r| mib(r.hwm_kib), 1));
    println!(
        "open incidents in the answer {} | queries sent {} | answer bytes {} ({:.0} per open incident; earlier shape {:.0} per open incident) | parse ms {} | decode ms {}",
        r0.open_incidents,
        f(&|r| r.query.queries as f64, 0),
        r0.query.bytes,
        r0.query.bytes as f64 / r0.open_incidents.max(1) as f64,
        r0.answer_bytes_before as f64 / r0.open_incidents.max(1) as f64,
        f(&|r| r.query.parse_ms, 0),
        f(&|r| r.query.decode_ms, 0),
    );
    if !r0.webhook_ms.is_empty() {
        let mut all: Vec<f64> = runs.iter().flat_map(|r| r.webhook_ms.clone()).collect();
        all.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!(
            "webhook while the run drains writes: {} calls | p50 {:.0} ms | p99 {:.0} ms | max {:.0} ms",
            all.len(),
            percentile(&all, 50.0),
            percentile(&all, 99.0),
            all.last().copied().unwrap_or(0.0)
        );
    }
    println!(
        "second run: queries {} | GETs {} | writes (PUT/POST) {} | wall ms {}",
        f(&|r| r.second_queries as f64, 0),
        f(&|r| r.second_gets as f64, 0),
        f(&|r| r.second_writes as f64, 0),
        f(&|r| r.second_wall_ms, 1)
    );
    println!(
        "RESULT {} {}",
        sc.name,
        serde_json::json!({
            "incidents": sc.incidents,
            "runs": runs.iter().map(|r| serde_json::json!({
                "wall_s": r.wall_s, "floor_s": r.floor_s, "binding": r.binding, "ratio": r.wall_s / r.floor_s,
                "calls": r.calls, "changed": r.changed, "failed": r.failed, "not_reached": r.not_reached,
                "throttled": r.throttled, "hwm_mib": mib(r.hwm_kib), "second_queries": r.second_queries,
                "second_gets": r.second_gets, "second_writes": r.second_writes, "concurrency_floor_s": r.concurrency_floor_s,
                "queries": r.query.queries, "answer_bytes": r.query.bytes, "answer_bytes_before": r.answer_bytes_before,
                "open_incidents": r.open_incidents, "parse_ms": r.query.parse_ms, "decode_ms": r.query.decode_ms,
                "webhook_ms": r.webhook_ms,
            })).collect::<Vec<_>>()
        })
    );
}

#[tokio::main]
async fn main() {
    let exe = handler_exe();
    let runs = if quick() { 1 } else { env_usize("BENCH_RUNS", 3) };
    let scenarios: Vec<Scenario> = if quick() {
        vec![Scenario {
            name: "quick",
            incidents: 200,
            throttle: ArmThrottle::default(),
            actionable_pct: 30,
            webhook_probes: 0,
        }]
    } else {
        std::env::var("BENCH_SCENARIO")
            .unwrap_or_else(|_| "1k".into())
            .split(',')
            .map(|s| match s.trim() {
                "1k" => Scenario {
                    name: "1k",
                    incidents: 1_000,
                    throttle: ArmThrottle::default(),
                    actionable_pct: 30,
                    webhook_probes: 0,
                },
                "10k" => Scenario {
                    name: "10k",
                    incidents: 10_000,
                    throttle: ArmThrottle::default(),
                    actionable_pct: 30,
                    webhook_probes: env_usize("BENCH_WEBHOOK_PROBES", 60),
                },
                "100k" => Scenario {
                    name: "100k",
                    incidents: 100_000,
                    throttle: ArmThrottle::default(),
                    actionable_pct: 1,
                    webhook_probes: 0,
                },
                "50k" => Scenario {
                    name: "50k",
                    incidents: 50_000,
                    throttle: ArmThrottle::default(),
                    actionable_pct: 30,
                    webhook_probes: 0,
                },
                other => panic!("unknown BENCH_SCENARIO {other:?} (1k, 10k, 100k, 50k)"),
            })
            .collect()
    };
    for sc in &scenarios {
        let mut results = Vec::new();
        for i in 0..runs {
            let r = run_once(&exe, sc, 0x5eed).await;
            eprintln!(
                "[bench] {} run {}: wall {:.2}s floor {:.2}s 429s {} changed {} failed {}",
                sc.name,
                i + 1,
                r.wall_s,
                r.floor_s,
                r.throttled,
                r.changed,
                r.failed
            );
            results.push(r);
        }
        report(sc, &results);
    }
}

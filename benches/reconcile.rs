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
use functions_host::{Outcome, timer};
use serde_json::Value;

const LATENCY: Duration = Duration::from_millis(20);

struct Scenario {
    name: &'static str,
    incidents: usize,
    throttle: ArmThrottle,
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
}

/// Least time the buckets allow for `reads` GETs and `writes` PUT/POSTs, starting full.
fn floor(t: &ArmThrottle, reads: usize, writes: usize) -> (f64, &'static str) {
    let fr = ((reads as f64 - t.read_burst) / t.read_rate).max(0.0);
    let fw = ((writes as f64 - t.write_burst) / t.write_rate).max(0.0);
    if fw >= fr { (fw, "writes") } else { (fr, "reads") }
}

async fn invoke(app: &App) -> (f64, Value) {
    let started = Instant::now();
    let inv = app
        .host
        .invoke_timer("SyncTimer", timer::scheduled(), None)
        .await
        .expect("invocation reaches the handler");
    let wall = started.elapsed().as_secs_f64();
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
    for _ in 0..sc.incidents {
        let kind = reconcile_kind(&mut rng);
        actionable += kind.actionable() as usize;
        seed_incident(&sim, &mut rng, kind);
    }
    let app = start_app(exe, &sim, &[("SYNC_RUN_BUDGET_SECONDS", "3600")]).await;
    let pid = app.handler.pid().expect("handler running");

    let (wall, summary) = invoke(&app).await;
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
                },
                "10k" => Scenario {
                    name: "10k",
                    incidents: 10_000,
                    throttle: ArmThrottle::default(),
                },
                "50k" => Scenario {
                    name: "50k",
                    incidents: 50_000,
                    throttle: ArmThrottle::default(),
                },
                other => panic!("unknown BENCH_SCENARIO {other:?} (1k, 10k, 50k)"),
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

//! Several workspaces from one deployment: the real release handler, configured with
//! `BENCH_WORKSPACES` workspaces (default 10) of `BENCH_INCIDENTS` incidents each (default 200,
//! the reconcile mix: ~30 % actionable), dealt round-robin to `BENCH_SUBSCRIPTIONS` subscriptions
//! (default 1), on one simulator server as one principal sees them: ARM's buckets of the principal
//! in each subscription (reads 250 + 25/s, writes 200 + 10/s) shared by its workspaces,
//! the principal's query queue (5 queries at once, each taking `BENCH_QUERY_MS`, default 500 ms;
//! 429 after 3 minutes in the queue), and 20 ms per request. `SENTINEL_WORKSPACE_ID` is not set, so
//! the handler also reads each workspace's id from its resource.
//!
//! Per run: wall time of the SyncTimer invocation, the write floor (least time the busiest
//! subscription's write bucket allows for the writes the run needed there), wall/floor, 429s (ARM and queries), the most
//! queries that ran at once, the handler's peak RSS, and a second run right after that must make
//! one query per workspace, no workspace read and no write. `BENCH_QUICK=1`: 3 × 50 incidents.

#[path = "common/mod.rs"]
mod common;

use std::time::Duration;

use azure_sim::{ArmThrottle, AzureSim, QueryQueue, SimConfig, Workspace};
use common::*;
use serde_json::Value;

/// The `n`th workspace, in subscription `n % subscriptions` (ARM's buckets are per subscription).
fn workspace(n: usize, subscriptions: usize) -> SimConfig {
    SimConfig {
        workspace: Workspace {
            subscription_id: format!("{:08x}-2d3a-4b5c-8d6e-7f8091a2b3c4", n % subscriptions),
            resource_group: format!("rg-{n}"),
            workspace_name: format!("ws-{n}"),
            workspace_id: format!("{n:08x}-6c7d-4e8f-9a0b-1c2d3e4f5a6b"),
        },
        latency: Duration::from_millis(20),
        ..SimConfig::default()
    }
}

async fn invoke(app: &App) -> (f64, u16, Value) {
    let (wall, inv) = timed_timer(app).await;
    let body: Value = serde_json::from_str(&inv.raw_body).unwrap_or(Value::Null);
    (wall, inv.http_status, body["ReturnValue"].clone())
}

fn writes(fleet: &[AzureSim]) -> usize {
    fleet.iter().map(|s| writes_of(std::slice::from_ref(s))).sum()
}

fn writes_of(sims: &[AzureSim]) -> usize {
    sims.iter()
        .flat_map(AzureSim::requests)
        // ARM writes only: query POSTs go to Log Analytics.
        .filter(|r| matches!(r.method.as_str(), "PUT" | "POST" | "PATCH" | "DELETE") && !r.path.ends_with("/query"))
        .count()
}

/// The writes of the busiest subscription.
fn busiest_subscription_writes(fleet: &[AzureSim]) -> usize {
    let mut by_subscription: std::collections::HashMap<String, usize> = Default::default();
    for sim in fleet {
        *by_subscription
            .entry(sim.workspace().subscription_id.clone())
            .or_default() += writes_of(std::slice::from_ref(sim));
    }
    by_subscription.values().copied().max().unwrap_or(0)
}

fn workspace_reads(fleet: &[AzureSim]) -> usize {
    fleet
        .iter()
        .map(|s| {
            let path = s.workspace().resource_id();
            s.requests()
                .iter()
                .filter(|r| r.method == "GET" && r.path == path)
                .count()
        })
        .sum()
}

#[tokio::main]
async fn main() {
    let (count, per) = if quick() {
        (3, 50)
    } else {
        (env_usize("BENCH_WORKSPACES", 10), env_usize("BENCH_INCIDENTS", 200))
    };
    let query_ms = env_usize("BENCH_QUERY_MS", 500) as u64;
    let subscriptions = env_usize("BENCH_SUBSCRIPTIONS", 1).clamp(1, count);
    let exe = handler_exe();
    let throttle = ArmThrottle::default();
    let mut configs: Vec<SimConfig> = (0..count).map(|n| workspace(n, subscriptions)).collect();
    for config in &mut configs {
        config.arm_throttle = Some(throttle);
    }
    configs[0].query_queue = Some(QueryQueue {
        slots: 5,
        max_wait: Duration::from_secs(180),
        run_time: Duration::from_millis(query_ms),
    });
    let fleet = AzureSim::start_fleet(configs).await.expect("simulator starts");
    let mut rng = Rng::new(12);
    let mut actionable = 0;
    for sim in &fleet {
        for _ in 0..per {
            let kind = reconcile_kind(&mut rng);
            actionable += kind.actionable() as usize;
            seed_incident(sim, &mut rng, kind);
        }
        sim.clear_requests();
    }
    let mut settings = settings_for(&fleet[0]);
    settings.retain(|(k, _)| k != "SENTINEL_WORKSPACE_ID" && k != "SENTINEL_WORKSPACE_RESOURCE_ID");
    let ids: Vec<String> = fleet.iter().map(|s| s.workspace().resource_id()).collect();
    settings.push(("SENTINEL_WORKSPACE_RESOURCE_ID".into(), ids.join(",")));
    settings.push(("SYNC_RUN_BUDGET_SECONDS".into(), "3600".into()));
    let app = start_app_with(&exe, settings).await;
    let pid = app.handler.pid().expect("handler running");

    let (wall, status, run) = invoke(&app).await;
    let written = writes(&fleet);
    let busiest = busiest_subscription_writes(&fleet);
    let floor = ((busiest as f64 - throttle.write_burst) / throttle.write_rate).max(0.0);
    let throttled: usize = fleet.iter().map(AzureSim::throttled_requests).sum();
    let (peak_queries, query_429) = fleet[0].query_queue_stats();
    let ids_read = workspace_reads(&fleet);
    for sim in &fleet {
        sim.clear_requests();
    }
    let (wall2, status2, run2) = invoke(&app).await;
    let second_queries = fleet
        .iter()
        .flat_map(AzureSim::requests)
        .filter(|r| r.path.ends_with("/query"))
        .count();
    let second_writes = writes(&fleet);
    let second_ids = workspace_reads(&fleet);
    let rss = proc_kib(pid, "VmHWM").map_or(0.0, mib);
    app.stop().await;

    let totals = &run["totals"];
    println!(
        "# fleet: {count} workspaces × {per} incidents ({actionable} actionable) in {subscriptions} subscriptions, queries take {query_ms} ms"
    );
    println!("first run: HTTP {status}, status {}, {:.1} s", run["status"], wall);
    println!(
        "  changed {} (closed {}, activated {}), failed {}, not reached {}",
        totals["changed"], totals["closed"], totals["activated"], totals["failed"], totals["notReached"]
    );
    println!(
        "  writes {written} ({busiest} in the busiest subscription), write floor {floor:.1} s, wall/floor {:.2}",
        if floor > 0.0 { wall / floor } else { f64::NAN }
    );
    println!(
        "  ARM 429s {throttled}, query 429s {query_429}, most queries at once {peak_queries}, workspace ids read {ids_read}"
    );
    println!(
        "second run: HTTP {status2}, status {}, {:.1} s, {second_queries} queries, {second_writes} writes, {second_ids} workspace reads, changed {}",
        run2["status"], wall2, run2["totals"]["changed"]
    );
    println!("handler peak RSS {rss:.1} MiB");
    println!();
    println!(
        "| workspaces × incidents (subscriptions) | actionable | wall s | write floor s | wall/floor | ARM 429 | query 429 | queries at once | 2nd run | peak RSS |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    println!(
        "| {count} × {per} ({subscriptions}) | {} | {wall:.1} | {floor:.1} | {:.2} | {throttled} | {query_429} | {peak_queries} | {second_queries} queries, {second_writes} writes, {wall2:.1} s | {rss:.1} MiB |",
        totals["changed"],
        if floor > 0.0 { wall / floor } else { f64::NAN }
    );
    assert!(status == 200 && status2 == 200, "both runs must succeed");
    assert_eq!(second_writes, 0, "the second run writes nothing");
    assert_eq!(second_ids, 0, "workspace ids are read once per process");
}

//! Webhook throughput and latency: `POST /api/SecurityAlertWebhook` with `{"incidentId": …}` sent
//! straight to the handler's port (with `x-functions-key`, as the host would forward it; the host
//! emulator's forwarding is left out because it adds its own overhead), against a zero-latency,
//! unthrottled simulator, at 1, 16 and 256 concurrent clients (`BENCH_CLIENTS=1,16,256`).
//!
//! Every request names a fresh seeded incident: half actionable (resolved, dismissed, in
//! progress: GET + POST alerts + PUT + comment PUT), half already Closed (one GET). The client is
//! a pooled reqwest client in this process, which also hosts the simulator: all three share the
//! machine's cores, so the figures are a lower bound of the handler alone.
//!
//! `BENCH_RUNS` (default 3) repetitions per level; `BENCH_QUICK=1` for a smoke test.

#[path = "common/mod.rs"]
mod common;

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use azure_sim::{AzureSim, SimConfig};
use common::*;

struct Level {
    throughput: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    errors: usize,
    requests: usize,
    hwm_kib: u64,
}

fn seed_pool(sim: &AzureSim, rng: &mut Rng, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let kind = match i % 6 {
                0 => Kind::Resolved,
                1 => Kind::Dismissed,
                2 => Kind::InProgress,
                _ => Kind::Closed,
            };
            seed_incident(sim, rng, kind)
        })
        .collect()
}

async fn drive(http: &reqwest::Client, url: &str, names: Arc<Vec<String>>, clients: usize) -> (Vec<f64>, usize, f64) {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (http, url, names, next) = (http.clone(), url.to_owned(), names.clone(), next.clone());
            tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut errors = 0usize;
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(name) = names.get(i) else { break };
                    let body = format!(r#"{{"incidentId":"{name}"}}"#);
                    let t = Instant::now();
                    let ok = match http
                        .post(&url)
                        .header("x-functions-key", FUNCTION_KEY)
                        .header("content-type", "application/json")
                        .body(body)
                        .send()
                        .await
                    {
                        Ok(resp) => {
                            let status = resp.status();
                            let _ = resp.bytes().await;
                            status == 200
                        }
                        Err(_) => false,
                    };
                    lat.push(t.elapsed().as_secs_f64() * 1000.0);
                    if !ok {
                        errors += 1;
                    }
                }
                (lat, errors)
            })
        })
        .collect();
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await.expect("client task");
        all.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_by(|a, b| a.partial_cmp(b).unwrap());
    (all, errors, elapsed)
}

#[tokio::main]
async fn main() {
    let exe = handler_exe();
    let q = quick();
    let runs = if q { 1 } else { env_usize("BENCH_RUNS", 3) };
    let clients: Vec<usize> = std::env::var("BENCH_CLIENTS")
        .unwrap_or_else(|_| "1,16,256".into())
        .split(',')
        .map(|s| s.trim().parse().expect("BENCH_CLIENTS: numbers"))
        .collect();
    let sim = AzureSim::start(SimConfig::default()).await.expect("simulator starts");
    let http = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(1024)
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let mut rng = Rng::new(0xbeef);
    // The handler paces ARM calls with ARM's own buckets (reads 250 + 25/s, writes 200 + 10/s;
    // src/azure/throttle.rs), so a sustained load measures the pacer, not the handler. Each run
    // gets a fresh handler (full buckets) and a batch that fits in the bursts: per 6 requests 3
    // actionable (3 writes + 1 read each) and 3 closed (1 read): 120 requests = 180 writes, 120 reads.
    let n = env_usize("BENCH_REQUESTS", if q { 60 } else { 120 });
    let mut table = Vec::new();
    let mut hwm = 0;
    for &c in &clients {
        let mut levels = Vec::new();
        for run in 0..runs {
            let app = start_app(&exe, &sim, &[]).await;
            let pid = app.handler.pid().expect("handler running");
            let url = format!("{}/api/SecurityAlertWebhook", app.handler.base_url());
            // Warm-up: connections and the token cache (2 reads).
            let warm = Arc::new(seed_pool(&sim, &mut rng, 6).into_iter().skip(4).collect::<Vec<_>>());
            let (_, warm_errors, _) = drive(&http, &url, warm, 1).await;
            assert_eq!(warm_errors, 0, "warm-up requests failed");
            let pool = Arc::new(seed_pool(&sim, &mut rng, n));
            sim.clear_requests();
            let (lat, errors, elapsed) = drive(&http, &url, pool, c).await;
            let l = Level {
                throughput: lat.len() as f64 / elapsed,
                p50_ms: percentile(&lat, 50.0),
                p99_ms: percentile(&lat, 99.0),
                max_ms: lat.last().copied().unwrap_or(f64::NAN),
                errors,
                requests: lat.len(),
                hwm_kib: proc_kib(pid, "VmHWM").unwrap_or(0),
            };
            hwm = hwm.max(l.hwm_kib);
            eprintln!(
                "[bench] clients {c} run {}: {:.0} req/s p50 {:.2} ms p99 {:.2} ms max {:.1} ms errors {} (sim calls {})",
                run + 1,
                l.throughput,
                l.p50_ms,
                l.p99_ms,
                l.max_ms,
                l.errors,
                sim.requests().len()
            );
            levels.push(l);
            app.stop().await;
        }
        table.push((c, levels));
    }
    println!("\n=== webhook — direct to the handler port, zero-latency simulator, {runs} run(s) per level ===");
    println!("| clients | requests/run | throughput req/s | p50 ms | p99 ms | max ms | errors | handler VmHWM MiB |");
    println!("|---|---|---|---|---|---|---|---|");
    for (c, levels) in &table {
        let g = |f: &dyn Fn(&Level) -> f64, p: usize| fmt_spread(&levels.iter().map(f).collect::<Vec<_>>(), p);
        println!(
            "| {c} | {} | {} | {} | {} | {} | {} | {:.1} |",
            levels[0].requests,
            g(&|l| l.throughput, 0),
            g(&|l| l.p50_ms, 2),
            g(&|l| l.p99_ms, 2),
            g(&|l| l.max_ms, 1),
            levels.iter().map(|l| l.errors).sum::<usize>(),
            mib(levels.iter().map(|l| l.hwm_kib).max().unwrap_or(0)),
        );
    }
    println!("peak handler VmHWM over all runs {:.1} MiB", mib(hwm));
}

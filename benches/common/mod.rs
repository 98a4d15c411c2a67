//! Shared helpers of the benchmarks (included with `#[path = "common/mod.rs"] mod common;`):
//! the production handler binary, the function app folder, handler settings pointing at an
//! `azure_sim::AzureSim`, seeding, /proc memory readings and small statistics.

#![allow(dead_code)]

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use azure_sim::{AlertSeed, AzureSim, IncidentSeed};
use functions_host::{FunctionApp, FunctionsHost, HandlerProcess};

pub const FUNCTION_KEY: &str = "bench-function-key";
pub const DFC: &str = "Azure Security Center";

/// `BENCH_QUICK=1`: a smoke-test sized run.
pub fn quick() -> bool {
    std::env::var("BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// An integer from the environment, or `default`.
pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Where the nested release builds go: `$CARGO_TARGET_DIR/handler-build` (or `target/handler-build`).
/// A separate target dir: `cargo bench` builds the package with dev-dependency features (tokio
/// `test-util`) and holds its own build lock, so the production binary is built on its own.
pub fn build_dir() -> PathBuf {
    let base = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|p| if p.is_relative() { repo().join(p) } else { p })
        .unwrap_or_else(|| repo().join("target"));
    base.join("handler-build")
}

/// Runs `cargo build --release <args>` into [`build_dir`]; panics with cargo's output on failure.
fn cargo_release(args: &[&str]) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!(
        "[bench] building: cargo build --release {} (CARGO_TARGET_DIR={})",
        args.join(" "),
        build_dir().display()
    );
    let out = Command::new(cargo)
        .current_dir(repo())
        .env("CARGO_TARGET_DIR", build_dir())
        .args(["build", "--release", "--manifest-path"])
        .arg(repo().join("Cargo.toml"))
        .args(args)
        .output()
        .expect("cargo runs");
    if !out.status.success() {
        panic!(
            "release build failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The production handler: `BENCH_HANDLER=<path>` if set, else `cargo build --release --bin handler`
/// (the same command and profile as a deployment build) into [`build_dir`].
pub fn handler_exe() -> PathBuf {
    if let Ok(p) = std::env::var("BENCH_HANDLER") {
        let p = PathBuf::from(p);
        assert!(p.is_file(), "BENCH_HANDLER={} is not a file", p.display());
        return p;
    }
    cargo_release(&["--bin", "handler"]);
    let exe = build_dir().join("release/handler");
    assert!(exe.is_file(), "no handler binary at {} after the build", exe.display());
    exe
}

/// The floor of the startup benchmark: functions-host's `fake_handler` example, a minimal axum
/// server (GET / → "ok", SIGTERM handling), built with the same workspace release profile.
pub fn hello_exe() -> PathBuf {
    cargo_release(&["-p", "functions-host", "--example", "fake_handler"]);
    let exe = build_dir().join("release/examples/fake_handler");
    assert!(exe.is_file(), "no fake_handler at {}", exe.display());
    exe
}

/// The function app folder (publish layout) in a fresh temp dir. `functionTimeout` is raised to
/// one hour so a long throttled reconcile is measured to its end rather than cut by the emulator.
pub fn app_root() -> PathBuf {
    let root = harness::write_app_root().expect("function app folder written");
    let host_json = root.join("host.json");
    let mut host: serde_json::Value = serde_json::from_slice(&std::fs::read(&host_json).unwrap()).unwrap();
    host["functionTimeout"] = serde_json::json!("01:00:00");
    std::fs::write(&host_json, serde_json::to_vec_pretty(&host).unwrap()).unwrap();
    root
}

/// Settings that point the handler at `sim`, logging at info.
pub fn settings_for(sim: &AzureSim) -> Vec<(String, String)> {
    harness::settings_for(sim, "info")
}

/// A started handler and the emulated host in front of it.
pub struct App {
    pub handler: HandlerProcess,
    pub host: FunctionsHost,
    pub root: PathBuf,
}

impl App {
    /// SIGTERM (SIGKILL after 5 s), then removes the app folder.
    pub async fn stop(self) {
        let _ = self.handler.terminate(Duration::from_secs(5)).await;
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Starts `exe` the way the host does, with settings for `sim` plus `extra`.
pub async fn start_app(exe: &Path, sim: &AzureSim, extra: &[(&str, &str)]) -> App {
    let mut settings = settings_for(sim);
    settings.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
    settings.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    start_app_with(exe, settings).await
}

/// Starts `exe` the way the host does, with exactly `settings`.
pub async fn start_app_with(exe: &Path, settings: Vec<(String, String)>) -> App {
    let root = app_root();
    let map: HashMap<String, String> = settings.iter().cloned().collect();
    let app = FunctionApp::load(&root, &map).expect("function app loads");
    let handler = HandlerProcess::start(exe, &root, &settings, Duration::from_secs(30))
        .await
        .expect("handler becomes ready");
    let host = FunctionsHost::new(handler.base_url(), app, vec![FUNCTION_KEY.to_owned()]);
    App { handler, host, root }
}

/// Fires SyncTimer with the scheduled-run payload; the wall time in seconds and the invocation.
pub async fn timed_timer(app: &App) -> (f64, functions_host::Invocation) {
    let started = std::time::Instant::now();
    let inv = app
        .host
        .invoke_timer("SyncTimer", functions_host::timer::scheduled(), None)
        .await
        .expect("invocation reaches the handler");
    (started.elapsed().as_secs_f64(), inv)
}

/// A field of /proc/<pid>/status in KiB (`VmHWM`, `VmRSS`).
pub fn proc_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field) && l[field.len()..].starts_with(':'))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

pub fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Deterministic pseudo-random numbers (xorshift), so every run seeds the same workspace.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    /// 0..n
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// What a seeded incident is expected to need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// All alerts Resolved → closed (TruePositive).
    Resolved,
    /// All alerts Dismissed → closed (BenignPositive).
    Dismissed,
    /// Resolved + Dismissed → closed.
    Mixed,
    /// New incident, one alert InProgress, none New → activated.
    InProgress,
    /// All Resolved but one alert's only row is older than the lookback window → the engine
    /// lists the alerts (POST …/alerts), then closes.
    OutsideWindow,
    /// Active incident with alerts in progress: already in sync, no call.
    InSync,
    /// At least one alert New: wait, no call.
    Pending,
    /// Already Closed (not a candidate for the timer; a GET only for the webhook).
    Closed,
}

impl Kind {
    pub fn actionable(self) -> bool {
        matches!(
            self,
            Kind::Resolved | Kind::Dismissed | Kind::Mixed | Kind::InProgress | Kind::OutsideWindow
        )
    }
}

/// The reconcile mix, per 100 incidents: 30 actionable (11 resolved, 7 dismissed, 4 mixed,
/// 6 in progress, 2 with an alert outside the window), 20 already in sync, 50 pending.
pub fn reconcile_kind(rng: &mut Rng) -> Kind {
    match rng.below(100) {
        0..11 => Kind::Resolved,
        11..18 => Kind::Dismissed,
        18..22 => Kind::Mixed,
        22..28 => Kind::InProgress,
        28..30 => Kind::OutsideWindow,
        30..50 => Kind::InSync,
        _ => Kind::Pending,
    }
}

fn alert(sim: &AzureSim, status: &str, product: &str, days: i64) -> String {
    sim.add_alert(AlertSeed {
        status: status.into(),
        product_name: product.into(),
        display_name: "Suspicious process".into(),
        last_changed_ago: chrono::Duration::days(days) + chrono::Duration::minutes(5),
    })
}

/// Seeds one incident of `kind` with 1–4 alerts; returns its name.
pub fn seed_incident(sim: &AzureSim, rng: &mut Rng, kind: Kind) -> String {
    let n = 1 + rng.below(4) as usize; // 1..=4 alerts
    let day = |rng: &mut Rng| 1 + rng.below(20) as i64;
    let mut ids = Vec::new();
    let status = match kind {
        Kind::Resolved | Kind::Dismissed | Kind::Mixed | Kind::Closed => {
            for i in 0..n {
                let s = match kind {
                    Kind::Dismissed => "Dismissed",
                    Kind::Mixed if i % 2 == 1 => "Dismissed",
                    _ => "Resolved",
                };
                let d = day(rng);
                ids.push(alert(sim, s, DFC, d));
            }
            if kind == Kind::Closed { "Closed" } else { "New" }
        }
        Kind::InProgress => {
            ids.push(alert(sim, "InProgress", DFC, day(rng)));
            for _ in 1..n {
                let d = day(rng);
                ids.push(alert(sim, "Resolved", DFC, d));
            }
            "New"
        }
        Kind::OutsideWindow => {
            ids.push(alert(sim, "Resolved", DFC, day(rng)));
            ids.push(alert(sim, "Resolved", DFC, 45));
            "New"
        }
        Kind::InSync => {
            for _ in 0..n {
                let d = day(rng);
                ids.push(alert(sim, "InProgress", DFC, d));
            }
            "Active"
        }
        Kind::Pending => {
            ids.push(alert(sim, "New", DFC, day(rng)));
            for i in 1..n {
                // Some pending incidents also hold another product's alert.
                let product = if i == 1 && rng.below(3) == 0 {
                    "Azure Sentinel"
                } else {
                    DFC
                };
                let d = day(rng);
                ids.push(alert(sim, "Resolved", product, d));
            }
            if rng.below(4) == 0 { "Active" } else { "New" }
        }
    };
    let closed = status == "Closed";
    sim.add_incident(IncidentSeed {
        title: "Bench incident".into(),
        severity: "High".into(),
        status: status.into(),
        owner: None,
        labels: vec![],
        alert_ids: ids,
        last_modified_ago: chrono::Duration::days(1 + rng.below(90) as i64),
        classification: closed.then(|| "Undetermined".into()),
        classification_reason: None,
    })
}

/// Median, min, max of `v` (sorted copy).
pub fn spread(v: &[f64]) -> (f64, f64, f64) {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = s.len();
    if n == 0 {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    let med = if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    };
    (med, s[0], s[n - 1])
}

/// "median (min–max)" with `prec` decimals.
pub fn fmt_spread(v: &[f64], prec: usize) -> String {
    let (m, lo, hi) = spread(v);
    if v.len() == 1 {
        return format!("{m:.prec$} (1 run)");
    }
    format!("{m:.prec$} ({lo:.prec$}–{hi:.prec$})")
}

/// Nearest-rank percentile of sorted `s` (0 < p ≤ 100).
pub fn percentile(s: &[f64], p: f64) -> f64 {
    if s.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * s.len() as f64).ceil().max(1.0) as usize;
    s[rank.min(s.len()) - 1]
}

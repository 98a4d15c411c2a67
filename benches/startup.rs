//! Cold start and footprint: time from exec to the first 200 on `GET /` (own spawn + 1 ms poll
//! loop, so the figure is not rounded to the host's 25 ms probe interval), idle RSS and binary
//! size of the release handler, side by side with the floor: functions-host's `fake_handler`
//! example (a minimal axum server: `GET /` → "ok", SIGTERM handling) built with the same
//! workspace release profile. `BENCH_STARTS` (default 25) starts each; `BENCH_QUICK=1`: 5.

#[path = "common/mod.rs"]
mod common;

use std::{
    path::Path,
    process::Stdio,
    time::{Duration, Instant},
};

use azure_sim::{AzureSim, SimConfig};
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn free_port() -> u16 {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One GET / ; Some(status) when anything answered.
async fn probe(port: u16) -> Option<u16> {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok()?;
    s.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .await
        .ok()?;
    let mut buf = [0u8; 64];
    let mut got = 0;
    while got < 12 {
        let n = s.read(&mut buf[got..]).await.ok()?;
        if n == 0 {
            break;
        }
        got += n;
    }
    std::str::from_utf8(&buf[..got]).ok()?.get(9..12)?.parse().ok()
}

struct Start {
    ready_ms: f64,
    idle_rss_kib: u64,
}

async fn start_once(exe: &Path, root: &Path, settings: &[(String, String)]) -> Start {
    let port = free_port();
    let mut cmd = tokio::process::Command::new(exe);
    cmd.current_dir(root)
        .envs(settings.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
        .env("FUNCTIONS_HTTPWORKER_PORT", port.to_string())
        .env("FUNCTIONS_CUSTOMHANDLER_WORKER_ID", "bench")
        .env("FUNCTIONS_APP_ROOT_PATH", root)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    let t = Instant::now();
    let mut child = cmd.spawn().expect("spawn");
    let ready_ms = loop {
        match probe(port).await {
            Some(200) => break t.elapsed().as_secs_f64() * 1000.0,
            Some(other) => panic!("{} answered {other} on GET /", exe.display()),
            None => {}
        }
        if t.elapsed() > Duration::from_secs(20) {
            panic!("{} not ready after 20 s", exe.display());
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    };
    // Idle: ready, answered one probe, nothing else to do.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pid = child.id().expect("running");
    let idle_rss_kib = proc_kib(pid, "VmRSS").unwrap_or(0);
    let _ = child.kill().await;
    Start { ready_ms, idle_rss_kib }
}

#[tokio::main]
async fn main() {
    let handler = handler_exe();
    let hello = hello_exe();
    let n = if quick() { 5 } else { env_usize("BENCH_STARTS", 25) };
    let sim = AzureSim::start(SimConfig::default()).await.expect("simulator starts");
    let settings = settings_for(&sim);
    let root = app_root();
    let (mut h, mut w) = (Vec::new(), Vec::new());
    // Alternate the two so drift on the machine hits both alike; one discarded warm-up each
    // (page cache).
    start_once(&handler, &root, &settings).await;
    start_once(&hello, &root, &settings).await;
    for _ in 0..n {
        h.push(start_once(&handler, &root, &settings).await);
        w.push(start_once(&hello, &root, &settings).await);
    }
    // The emulator's own measure (25 ms probe interval) for reference.
    let mut emu = Vec::new();
    for _ in 0..if quick() { 2 } else { 5 } {
        let app = start_app(&handler, &sim, &[]).await;
        emu.push(app.handler.ready_after().as_secs_f64() * 1000.0);
        app.stop().await;
    }
    let size = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| m.len() as f64 / (1024.0 * 1024.0))
            .unwrap_or(f64::NAN)
    };
    let row = |name: &str, p: &Path, v: &[Start]| {
        let ready: Vec<f64> = v.iter().map(|s| s.ready_ms).collect();
        let rss: Vec<f64> = v.iter().map(|s| mib(s.idle_rss_kib)).collect();
        println!(
            "| {name} | {} | {} | {:.2} |",
            fmt_spread(&ready, 2),
            fmt_spread(&rss, 2),
            size(p)
        );
        (common::spread(&ready).0, common::spread(&rss).0, size(p))
    };
    println!("\n=== startup — {n} starts each, exec → first 200 on GET / (1 ms poll) ===");
    println!("| binary | ready ms median (min–max) | idle RSS MiB median (min–max) | size MiB |");
    println!("|---|---|---|---|");
    let a = row("handler (release)", &handler, &h);
    let b = row("fake_handler floor (release)", &hello, &w);
    println!(
        "ratio handler/floor: ready {:.2}×, idle RSS {:.2}×, size {:.2}×",
        a.0 / b.0,
        a.1 / b.1,
        a.2 / b.2
    );
    println!("HandlerProcess::ready_after (25 ms probe) ms: {}", fmt_spread(&emu, 1));
    let _ = std::fs::remove_dir_all(&root);
}

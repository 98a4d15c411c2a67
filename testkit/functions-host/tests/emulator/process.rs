//! `HandlerProcess` against the `fake_handler` example: readiness, environment, console capture,
//! SIGTERM, early exit and init timeout.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use functions_host::{HandlerProcess, HostError};
use serde_json::Value;

use crate::helpers::temp_dir;

/// The example binary, built by `cargo test` next to this test's `deps` directory.
fn fake_handler() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap();
    let path = profile_dir.join("examples").join("fake_handler");
    assert!(path.is_file(), "example not built at {}", path.display());
    path
}

/// Settings selecting a fake-handler mode.
fn mode(mode: &str) -> Vec<(String, String)> {
    vec![
        ("FAKE_MODE".into(), mode.into()),
        ("MY_SETTING".into(), "from-settings".into()),
    ]
}

/// Waits until `lines()` holds a line containing `needle` (the pipe reader runs concurrently).
async fn eventually_contains(lines: impl Fn() -> Vec<String>, needle: &str) -> bool {
    for _ in 0..100 {
        if lines().iter().any(|l| l.contains(needle)) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test]
async fn starts_like_the_host_and_stops_on_sigterm() {
    // The handler is copied in as "handler" and started by that relative name, as host.json says.
    let root = temp_dir("proc");
    std::fs::copy(fake_handler(), root.join("handler")).unwrap();

    let process = HandlerProcess::start(
        Path::new("handler"),
        &root,
        &mode("slow_start"),
        Duration::from_secs(10),
    )
    .await
    .unwrap();

    assert!(
        process.ready_after() >= Duration::from_millis(300),
        "{:?}",
        process.ready_after()
    );
    assert!(process.pid().is_some());
    let env: Value = reqwest::get(format!("{}/env", process.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let port = process.port().to_string();
    assert_eq!(env["port"], port.as_str());
    assert_eq!(env["httpworker_port"], port.as_str());
    uuid::Uuid::parse_str(env["worker_id"].as_str().unwrap()).unwrap();
    assert_eq!(env["httpworker_id"], env["worker_id"]);
    assert_eq!(env["app_root"], root.display().to_string());
    assert_eq!(env["cwd"], root.canonicalize().unwrap().display().to_string());
    assert_eq!(env["setting"], "from-settings");
    assert_eq!(env["args"], 0, "the host passes no arguments");
    assert!(eventually_contains(|| process.stdout_lines(), &format!("listening on 127.0.0.1:{port}")).await);
    assert!(eventually_contains(|| process.stderr_lines(), "warn: this is a fake handler").await);

    let status = process.terminate(Duration::from_secs(5)).await.unwrap();

    assert_eq!(status.code(), Some(0), "graceful shutdown on SIGTERM: {status:?}");
}

#[tokio::test]
async fn a_handler_ignoring_sigterm_is_killed_after_the_grace_period() {
    let root = temp_dir("proc");
    let process = HandlerProcess::start(&fake_handler(), &root, &mode("ignore_term"), Duration::from_secs(10))
        .await
        .unwrap();
    let started = Instant::now();

    let status = process.terminate(Duration::from_millis(300)).await.unwrap();

    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!((status.code(), status.signal()), (None, Some(libc_sigkill())));
}

/// SIGKILL's number on Linux and macOS.
fn libc_sigkill() -> i32 {
    9
}

#[tokio::test]
async fn exit_before_ready_reports_code_and_stderr() {
    let root = temp_dir("proc");

    let err = HandlerProcess::start(&fake_handler(), &root, &mode("exit_early"), Duration::from_secs(10))
        .await
        .unwrap_err();

    match err {
        HostError::ExitedEarly { code, stderr } => {
            assert_eq!(code, Some(3));
            assert_eq!(stderr, ["fatal: missing configuration"]);
        }
        other => panic!("expected ExitedEarly, got {other:?}"),
    }
}

#[tokio::test]
async fn a_handler_that_never_listens_times_out() {
    let root = temp_dir("proc");
    let started = Instant::now();

    let err = HandlerProcess::start(
        &fake_handler(),
        &root,
        &mode("never_listen"),
        Duration::from_millis(400),
    )
    .await
    .unwrap_err();

    assert!(
        matches!(err, HostError::InitTimeout { after, .. } if after == Duration::from_millis(400)),
        "{err:?}"
    );
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(400) && elapsed < Duration::from_secs(5),
        "{elapsed:?}"
    );
}

#[tokio::test]
async fn a_missing_executable_cannot_start() {
    let root = temp_dir("proc");

    let err = HandlerProcess::start(Path::new("no-such-handler"), &root, &[], Duration::from_secs(1))
        .await
        .unwrap_err();

    assert!(matches!(err, HostError::Spawn { .. }), "{err:?}");
}

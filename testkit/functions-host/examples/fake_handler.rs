//! A tiny custom handler for the emulator's process tests.
//!
//! It does what a real handler must (listen on 127.0.0.1:$FUNCTIONS_CUSTOMHANDLER_PORT, answer
//! `GET /`, exit cleanly on SIGTERM) and misbehaves on request through `FAKE_MODE`, so the tests
//! can check readiness, console capture, early exit, init timeout and forced kill:
//! `serve` (default), `exit_early` (stderr line, exit 3), `never_listen` (writes its pid to ./pid), `ignore_term`,
//! `slow_start` (waits 300 ms before listening).

use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::routing::get;
use serde_json::json;
use tokio::signal::unix::{SignalKind, signal};

#[tokio::main]
async fn main() {
    let mode = std::env::var("FAKE_MODE").unwrap_or_else(|_| "serve".into());
    let port = std::env::var("FUNCTIONS_CUSTOMHANDLER_PORT").expect("the host sets FUNCTIONS_CUSTOMHANDLER_PORT");
    match mode.as_str() {
        "exit_early" => {
            eprintln!("fatal: missing configuration");
            std::process::exit(3);
        }
        "never_listen" => {
            // Lets the test check that the host killed us after the init timeout.
            std::fs::write("pid", std::process::id().to_string()).expect("cwd is writable");
            loop {
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
        }
        "slow_start" => tokio::time::sleep(Duration::from_millis(300)).await,
        _ => {}
    }
    // Registering the stream replaces the default action, so in ignore_term SIGTERM does nothing.
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler installs");
    let app = Router::new().route("/", get(|| async { "ok" })).route(
        "/env",
        get(|| async {
            let var = |k: &str| std::env::var(k).ok();
            Json(json!({
                "port": var("FUNCTIONS_CUSTOMHANDLER_PORT"),
                "httpworker_port": var("FUNCTIONS_HTTPWORKER_PORT"),
                "worker_id": var("FUNCTIONS_CUSTOMHANDLER_WORKER_ID"),
                "httpworker_id": var("FUNCTIONS_HTTPWORKER_ID"),
                "app_root": var("FUNCTIONS_APP_ROOT_PATH"),
                "setting": var("MY_SETTING"),
                "cwd": std::env::current_dir().ok().map(|d| d.display().to_string()),
                "args": std::env::args().count() - 1,
            }))
        }),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port.parse::<u16>().expect("numeric port")))
        .await
        .expect("port is free");
    println!("fake handler listening on 127.0.0.1:{port}");
    eprintln!("warn: this is a fake handler");
    let ignore_term = mode == "ignore_term";
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            loop {
                term.recv().await;
                if !ignore_term {
                    break;
                }
            }
        })
        .await
        .expect("server runs");
    println!("shutting down");
}

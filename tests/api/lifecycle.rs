//! The process's life on the real platform: a SIGKILL at any point of a throttled run, the
//! host's SIGTERM in the middle of a run, and a webhook call while Azure throttles with long
//! `Retry-After`s. Every test drives the real handler binary through the host emulator.

use std::time::{Duration, Instant};

use azure_sim::{ArmThrottle, Fault, FaultKind, FaultTarget, SimConfig};
use functions_host::timer;
use serde_json::{Value, json};

use crate::helpers::*;

/// ARM allowing a handful of writes per second: runs of a few dozen incidents are throttled.
fn throttled() -> SimConfig {
    SimConfig {
        arm_throttle: Some(ArmThrottle {
            read_burst: 20.0,
            read_rate: 20.0,
            write_burst: 6.0,
            write_rate: 6.0,
        }),
        ..SimConfig::default()
    }
}

/// Waits until `ready` holds, polling the simulator; panics after `limit`.
async fn wait_for(limit: Duration, what: &str, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn assert_synced_with_one_comment_each(app: &TestApp, names: &[String], status: &str) {
    for name in names {
        let view = app.incident(name);
        assert_eq!(view.status, status, "{name}");
        assert_eq!(
            view.comments.len(),
            1,
            "{name}: exactly one audit comment, got {:?}",
            view.comments
        );
    }
}

#[tokio::test]
async fn a_kill_between_write_and_comment_is_repaired_by_the_next_process_even_when_the_logs_show_it_closed() {
    let mut app = spawn_process_app_with(throttled(), &[], &[]).await;
    let closes: Vec<String> = (0..10).map(|_| app.seed("New", &[("Resolved", DFC, 1)]).0).collect();
    let activations: Vec<String> = (0..4).map(|_| app.seed("New", &[("InProgress", DFC, 1)]).0).collect();
    // The first three audit comments never arrive: the process dies while they are on the way.
    app.sim.inject(Fault {
        target: FaultTarget::CommentPut,
        kind: FaultKind::Stall(Duration::from_secs(30)),
        times: 3,
    });
    let host = app.host.clone();
    let run = tokio::spawn(async move { host.invoke_timer("SyncTimer", timer::scheduled(), None).await });
    let sim = app.sim.clone();
    wait_for(
        Duration::from_secs(30),
        "three writes waiting for their comment",
        || {
            sim.requests()
                .iter()
                .filter(|r| r.method == "PUT" && r.path.contains("/comments/"))
                .count()
                >= 3
                && sim
                    .requests()
                    .iter()
                    .filter(|r| r.method == "PUT" && !r.path.contains("/comments/") && r.status == 200)
                    .count()
                    >= 3
        },
    )
    .await;
    app.kill_handler();
    let _ = run.await;
    let changed_without_comment = closes
        .iter()
        .chain(&activations)
        .filter(|n| {
            let v = app.incident(n);
            v.status != "New" && v.comments.is_empty()
        })
        .count();
    assert!(
        changed_without_comment >= 1,
        "the kill left changes without their comment"
    );

    // The tables are current: they already show those incidents Closed (or Active) with the label.
    app.start_new_process().await;
    for _ in 0..2 {
        let invocation = app.run_timer().await;
        assert!(invocation.http_status == 200, "{}", invocation.raw_body);
    }
    assert_synced_with_one_comment_each(&app, &closes, "Closed");
    assert_synced_with_one_comment_each(&app, &activations, "Active");
}

#[tokio::test]
async fn sigterm_stops_the_run_answers_what_it_did_and_exits_in_time() {
    let mut app = spawn_process_app().await;
    let names: Vec<String> = (0..24).map(|_| app.seed("New", &[("Dismissed", DFC, 1)]).0).collect();
    app.sim.inject(Fault {
        target: FaultTarget::IncidentGet,
        kind: FaultKind::Delay(Duration::from_millis(700)),
        times: 100,
    });
    let handler = app.handler.take().expect("handler running");
    let sim = app.sim.clone();
    let stop = async move {
        wait_for(Duration::from_secs(30), "the first change", || {
            sim.requests()
                .iter()
                .any(|r| r.method == "PUT" && r.path.contains("/comments/"))
        })
        .await;
        let sent = Instant::now();
        let status = handler.terminate(Duration::from_secs(30)).await.expect("handler stops");
        (status, sent.elapsed())
    };
    let (invocation, (status, took)) = tokio::join!(app.run_timer(), stop);
    assert!(status.success(), "exit status {status:?}");
    assert!(took < Duration::from_secs(20), "exited after {took:?}");
    assert_eq!(
        invocation.http_status, 200,
        "an interrupted run is incomplete, not failed: {}",
        invocation.raw_body
    );
    let (_, summary) = succeeded(&invocation);
    assert_eq!(summary["status"], "incomplete", "{summary:#}");
    assert_eq!(summary["stopped"], true);
    let changed = summary["closed"].as_u64().unwrap();
    assert!((1..24).contains(&changed), "{summary:#}");
    assert!(summary["notReached"].as_u64().unwrap() >= 1);
    // Nothing half-done: every incident is either untouched or closed with its comment.
    for name in &names {
        let view = app.incident(name);
        match view.status.as_str() {
            "New" => assert!(view.comments.is_empty()),
            "Closed" => assert_eq!(view.comments.len(), 1, "{name}"),
            other => panic!("{name} is {other}"),
        }
    }
    // The next process takes the rest.
    app.start_new_process().await;
    succeeded(&app.run_timer().await);
    assert_synced_with_one_comment_each(&app, &names, "Closed");
}

#[tokio::test]
async fn sigterm_between_a_write_and_its_comment_is_not_a_failure_and_the_next_process_completes_it() {
    let mut app = spawn_process_app().await;
    let (name, _) = app.seed("New", &[("Resolved", DFC, 1)]);
    // The status is written; the comment's write outlasts the shutdown grace.
    app.sim.inject(Fault {
        target: FaultTarget::CommentPut,
        kind: FaultKind::Delay(Duration::from_secs(30)),
        times: 1,
    });
    let handler = app.handler.take().expect("handler running");
    let sim = app.sim.clone();
    let watched = name.clone();
    let stop = async move {
        wait_for(Duration::from_secs(30), "the status write", || {
            sim.incident(&watched).is_some_and(|i| i.status == "Closed")
        })
        .await;
        // The comment's write follows at once (and is held by the simulator).
        tokio::time::sleep(Duration::from_millis(500)).await;
        handler.terminate(Duration::from_secs(30)).await.expect("handler stops")
    };
    let (invocation, status) = tokio::join!(app.run_timer(), stop);
    assert!(status.success(), "exit status {status:?}");
    assert_one_incident_cut_mid_way(&invocation, "shutdown");
    assert_eq!(app.incident(&name).status, "Closed");
    // The next process finds the tool's recent change without its comment and adds it, once.
    app.start_new_process().await;
    succeeded(&app.run_timer().await);
    assert_synced_with_one_comment_each(&app, std::slice::from_ref(&name), "Closed");
}

#[tokio::test]
async fn the_webhook_answers_503_with_retry_after_in_time_when_azure_throttles_for_minutes() {
    let app = spawn_app_with(SimConfig::default(), &[("SYNC_WEBHOOK_TIMEOUT_SECONDS", "5")], &[]).await;
    let (name, _) = app.seed("New", &[("Resolved", DFC, 1)]);
    app.sim.inject(Fault {
        target: FaultTarget::IncidentGet,
        kind: FaultKind::Status {
            code: 429,
            retry_after_secs: Some(300),
        },
        times: 1,
    });
    let started = Instant::now();
    let reply = app.post_webhook(&json!({ "incidentId": name })).await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "answered after {:?}",
        started.elapsed()
    );
    assert_eq!(reply.status, 503);
    let retry_after = reply
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("retry-after"))
        .map(|(_, v)| v.clone());
    assert_eq!(retry_after.as_deref(), Some("60"));
    let body: Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(body["error"]["code"], "azure-busy");
    let view = app.incident(&name);
    assert_eq!(
        (view.status.as_str(), view.comments.len()),
        ("New", 0),
        "nothing half-written"
    );
}

#[tokio::test]
async fn the_webhook_does_not_start_a_write_it_cannot_finish_in_time() {
    let app = spawn_app_with(SimConfig::default(), &[("SYNC_WEBHOOK_TIMEOUT_SECONDS", "5")], &[]).await;
    let (name, _) = app.seed("New", &[("Resolved", DFC, 1)]);
    // The read takes most of the time: a write started now could not finish in time.
    app.sim.inject(Fault {
        target: FaultTarget::IncidentGet,
        kind: FaultKind::Delay(Duration::from_millis(3500)),
        times: 1,
    });
    let reply = app.post_webhook(&json!({ "incidentId": name })).await;
    assert_eq!(reply.status, 503, "{}", String::from_utf8_lossy(&reply.body));
    assert!(app.puts().is_empty(), "no write started");
    // Called again once Azure answers quickly, it closes the incident.
    let reply = app.post_webhook(&json!({ "incidentId": name })).await;
    assert_eq!(reply.status, 200);
    assert_eq!(app.incident(&name).comments.len(), 1);
}

#[tokio::test]
async fn a_backlog_larger_than_a_run_drains_over_runs_that_never_fail() {
    // Resource Manager takes 2 writes/s (the pacer assumes 10/s, so it meets 429s and their
    // Retry-After), a run lasts 10 s: the backlog takes several runs, and incidents are in flight
    // when each run's budget ends.
    let config = SimConfig {
        arm_throttle: Some(ArmThrottle {
            read_burst: 20.0,
            read_rate: 20.0,
            write_burst: 4.0,
            write_rate: 2.0,
        }),
        ..SimConfig::default()
    };
    let app = spawn_app_with(config, &[("SYNC_RUN_BUDGET_SECONDS", "10")], &[]).await;
    let names: Vec<String> = (0..24).map(|_| app.seed("New", &[("Resolved", DFC, 1)]).0).collect();
    let mut statuses = Vec::new();
    for _ in 0..8 {
        let invocation = app.run_timer().await;
        // Never a failed execution: the only shortfall is time.
        let (_, summary) = succeeded(&invocation);
        assert_eq!(summary["failed"], 0, "{summary:#}");
        statuses.push(summary["status"].as_str().unwrap().to_owned());
        if summary["status"] == "succeeded" && summary["changed"] == 0 {
            break;
        }
    }
    assert!(statuses.len() >= 3 && statuses[0] == "incomplete", "{statuses:?}");
    assert_eq!(statuses.last().map(String::as_str), Some("succeeded"), "{statuses:?}");
    assert!(
        app.sim.throttled_requests() > 0,
        "the drain met Resource Manager's throttling"
    );
    assert_synced_with_one_comment_each(&app, &names, "Closed");
}

#[tokio::test]
async fn the_timer_keeps_honouring_retry_after_inside_its_budget() {
    let app = spawn_app().await;
    let (name, _) = app.seed("New", &[("Resolved", DFC, 1)]);
    app.sim.inject(Fault {
        target: FaultTarget::IncidentGet,
        kind: FaultKind::Status {
            code: 429,
            retry_after_secs: Some(2),
        },
        times: 1,
    });
    let started = Instant::now();
    let (_, summary) = succeeded(&app.run_timer().await);
    assert!(started.elapsed() >= Duration::from_secs(2), "waited as asked");
    assert_eq!(report(&summary, &name)["action"], "closed");
}

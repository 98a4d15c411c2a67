//! Faults, races and recovery: the invariants users rely on hold whatever the simulator throws.
//! - no incident ends in a state the policy would not choose;
//! - an analyst's edit made between read and write is never lost;
//! - every actionable incident is synced within two runs once the faults stop;
//! - never two audit comments for one transition.

use std::time::Duration;

use azure_sim::{AnalystEdit, Fault, FaultKind, FaultTarget, SimConfig};
use serde_json::json;

use crate::helpers::*;

fn fault(target: FaultTarget, kind: FaultKind, times: u32) -> Fault {
    Fault { target, kind, times }
}

fn status(code: u16) -> FaultKind {
    FaultKind::Status {
        code,
        retry_after_secs: None,
    }
}

/// A tiny deterministic generator, so a failing scenario can be replayed from its seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[tokio::test]
async fn transient_faults_are_retried_within_the_run() {
    let app = spawn_process_app().await;
    let (a, _) = app.seed("New", &[("Resolved", DFC, 1)]);
    let (b, _) = app.seed("New", &[("InProgress", DFC, 1)]);
    app.sim.inject(fault(FaultTarget::Query, status(503), 1));
    app.sim.inject(fault(FaultTarget::Query, FaultKind::GatewayTimeout, 1));
    app.sim.inject(fault(
        FaultTarget::IncidentGet,
        FaultKind::Stall(Duration::from_millis(200)),
        1,
    ));
    app.sim.inject(fault(FaultTarget::IncidentPut, status(502), 1));
    app.sim.inject(fault(FaultTarget::CommentPut, status(500), 1));
    app.sim.inject(fault(FaultTarget::Token, status(500), 1));
    let invocation = app.run_timer().await;
    let (_, summary) = succeeded(&invocation);
    assert_eq!(summary["failed"], 0, "{summary:#}");
    assert_eq!(app.incident(&a).status, "Closed");
    assert_eq!(app.incident(&b).status, "Active");
    assert_eq!(app.incident(&a).comments.len(), 1);
}

#[tokio::test]
async fn identity_endpoint_down_fails_the_run_clearly_and_the_next_run_recovers() {
    let app = spawn_process_app().await;
    let (name, _) = app.seed("New", &[("Resolved", DFC, 1)]);
    // The credential tries 5 times per token; 10 failures fail two runs in a row.
    app.sim.inject(fault(FaultTarget::Token, status(500), 10));
    let invocation = app.run_timer().await;
    assert_eq!(invocation.http_status, 500);
    assert!(invocation.raw_body.contains("token"), "{}", invocation.raw_body);
    assert_eq!(app.incident(&name).status, "New");
    // The next runs consume the remaining failures until the endpoint answers again.
    let mut recovered = false;
    for _ in 0..3 {
        let invocation = app.run_timer().await;
        if invocation.http_status == 200 {
            recovered = true;
            break;
        }
    }
    assert!(recovered, "never recovered");
    assert_eq!(app.incident(&name).status, "Closed");
}

#[tokio::test]
async fn errors_that_outlast_the_retries_fail_the_run_and_the_next_run_finishes_the_job() {
    let app = spawn_app().await;
    let (a, _) = app.seed("New", &[("Resolved", DFC, 1)]);
    let (b, _) = app.seed("New", &[("Resolved", DFC, 1)]);
    // Each write is tried 6 times (5 retries); 12 answers of 503 outlast both.
    app.sim.inject(fault(FaultTarget::IncidentPut, status(503), 12));
    let invocation = app.run_timer().await;
    assert_eq!(invocation.http_status, 500);
    let body: serde_json::Value = serde_json::from_str(&invocation.raw_body).unwrap();
    assert_eq!(body["ReturnValue"]["failed"], 2, "{}", invocation.raw_body);
    assert!(app.calls_for(&a, "PUT").iter().all(|c| c.status == 503));
    for name in [&a, &b] {
        assert_eq!(app.incident(name).status, "New", "nothing half-written");
    }
    let (_, summary) = succeeded(&app.run_timer().await);
    assert_eq!(summary["closed"], 2);
    for name in [&a, &b] {
        assert_eq!(app.incident(name).status, "Closed");
        assert_eq!(app.incident(name).comments.len(), 1);
    }
}

#[tokio::test]
async fn a_missing_audit_comment_is_restored_while_the_logs_lag() {
    let config = SimConfig {
        ingestion_delay: Duration::from_secs(600),
        ..SimConfig::default()
    };
    let app = spawn_app_with(config, &[], &[]).await;
    let (name, _) = app.seed("New", &[("Resolved", DFC, 1)]);
    app.sim.inject(fault(FaultTarget::CommentPut, status(400), 1));
    let first = app.run_timer().await;
    assert_eq!(first.http_status, 500, "a missing audit comment is a reported failure");
    assert!(first.raw_body.contains("comment-failed"));
    assert_eq!(app.incident(&name).status, "Closed");
    assert!(app.incident(&name).comments.is_empty());

    let (_, summary) = succeeded(&app.run_timer().await);
    assert_eq!(report(&summary, &name)["reason"], "incident-closed");
    let comments = app.incident(&name).comments;
    assert_eq!(comments.len(), 1, "restored once");
    assert!(comments[0].message.contains("closed this incident"));
    // A third run finds it and writes nothing.
    app.sim.clear_requests();
    succeeded(&app.run_timer().await);
    assert!(app.puts().is_empty());
}

#[tokio::test]
async fn the_time_budget_stops_the_run_cleanly_and_reports_what_is_left() {
    let app = spawn_app_with(SimConfig::default(), &[("SYNC_RUN_BUDGET_SECONDS", "10")], &[]).await;
    let names: Vec<String> = (0..6).map(|_| app.seed("New", &[("Resolved", DFC, 1)]).0).collect();
    // The first four reads outlast the budget: those incidents are in flight when it ends.
    app.sim.inject(fault(
        FaultTarget::IncidentGet,
        FaultKind::Delay(Duration::from_secs(11)),
        4,
    ));
    let invocation = app.run_timer().await;
    // A run whose only shortfall is time is incomplete, not failed: the host is answered 200.
    let (logs, summary) = succeeded(&invocation);
    assert_eq!(summary["status"], "incomplete", "{summary:#}");
    assert_eq!(summary["notReached"], 6, "{summary:#}");
    assert_eq!(summary["failed"], 0);
    let reports = summary["incidents"].as_array().unwrap();
    assert!(
        reports
            .iter()
            .all(|r| r["action"] == "not-reached" && r["reason"] == "budget"),
        "{summary:#}"
    );
    // The four cut mid-way say what may have happened and what completes it.
    let cut = reports
        .iter()
        .filter(|r| {
            r["detail"]
                .as_str()
                .unwrap()
                .contains("ran out while this incident was being synced")
        })
        .count();
    assert_eq!(cut, 4, "{summary:#}");
    assert!(logs.iter().any(|l| l.contains("not reached")), "{logs:#?}");
    // Nothing half-done: the delayed incidents were never written; the next run closes all.
    let (_, summary) = succeeded(&app.run_timer().await);
    assert_eq!(summary["closed"], 6);
    for name in &names {
        assert_eq!(app.incident(name).comments.len(), 1);
    }
}

#[tokio::test]
async fn a_budget_that_ends_between_the_write_and_its_comment_leaves_the_comment_to_the_next_run() {
    let app = spawn_app_with(SimConfig::default(), &[("SYNC_RUN_BUDGET_SECONDS", "10")], &[]).await;
    let (name, _) = app.seed("New", &[("Resolved", DFC, 1)]);
    // The status is written at once; the audit comment's write outlasts the budget.
    app.sim.inject(fault(
        FaultTarget::CommentPut,
        FaultKind::Delay(Duration::from_secs(12)),
        1,
    ));
    let invocation = app.run_timer().await;
    assert_one_incident_cut_mid_way(&invocation, "budget");
    assert_eq!(app.incident(&name).status, "Closed");
    // The next run checks the tool's recent change and completes it: exactly one comment, even
    // if the delayed write lands meanwhile (it carries the same comment id).
    let (_, summary) = succeeded(&app.run_timer().await);
    assert_eq!(summary["status"], "succeeded", "{summary:#}");
    // (The delayed write, if it lands at all, lands 12 s after it was sent.)
    tokio::time::sleep(Duration::from_secs(5)).await;
    let view = app.incident(&name);
    assert_eq!(view.status, "Closed");
    assert_eq!(view.comments.len(), 1, "{:?}", view.comments);
}

#[tokio::test]
async fn two_webhook_calls_for_one_incident_at_once_close_it_once() {
    let app = spawn_app().await;
    let (name, _) = app.seed("New", &[("Resolved", DFC, 1)]);
    let payload = json!({ "incidentId": name });
    let (r1, r2) = tokio::join!(app.post_webhook(&payload), app.post_webhook(&payload));
    let actions: Vec<String> = [&r1, &r2]
        .iter()
        .map(|r| {
            serde_json::from_slice::<serde_json::Value>(&r.body).unwrap()["action"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(actions.iter().filter(|a| *a == "closed").count(), 1, "{actions:?}");
    assert!(actions.contains(&"unchanged".to_owned()), "{actions:?}");
    assert_eq!(app.incident(&name).comments.len(), 1);
}

#[tokio::test]
async fn a_timer_run_and_a_webhook_on_the_same_incident_close_it_once() {
    let app = spawn_app().await;
    let names: Vec<String> = (0..5).map(|_| app.seed("New", &[("Dismissed", DFC, 1)]).0).collect();
    let hooks = names.iter().map(|n| app.post_webhook_owned(json!({ "incidentId": n })));
    let (invocation, replies) = tokio::join!(app.run_timer(), futures::future::join_all(hooks));
    succeeded(&invocation);
    assert!(replies.iter().all(|r| r.status == 200));
    for name in &names {
        let view = app.incident(name);
        assert_eq!(
            (view.status.as_str(), view.classification.as_deref()),
            ("Closed", Some("BenignPositive"))
        );
        assert_eq!(view.comments.len(), 1, "one comment for {name}");
    }
}

/// Random faults over several runs, with analysts editing in between; then the faults stop and
/// two clean runs must leave every incident where the policy (and the analysts) want it.
#[tokio::test]
async fn random_faults_then_recovery_keep_every_invariant() {
    for seed in [7u64, 1234, 987_654_321] {
        let mut rng = Rng(seed);
        let app = spawn_process_app().await;
        let statuses = ["New", "InProgress", "Resolved", "Dismissed"];
        // (name, expected final status, expected classification or None, analyst-closed?)
        let mut expectations = Vec::new();
        for i in 0..14 {
            let n = 1 + rng.below(3) as usize;
            let alerts: Vec<(&str, &str, i64)> = (0..n).map(|_| (statuses[rng.below(4) as usize], DFC, 1)).collect();
            let (name, _) = app.seed("New", &alerts);
            let any_new = alerts.iter().any(|a| a.0 == "New");
            let all_terminal = alerts.iter().all(|a| a.0 == "Resolved" || a.0 == "Dismissed");
            let any_resolved = alerts.iter().any(|a| a.0 == "Resolved");
            let mut expected = if any_new {
                ("New", None)
            } else if all_terminal {
                (
                    "Closed",
                    Some(if any_resolved { "TruePositive" } else { "BenignPositive" }),
                )
            } else {
                ("Active", None)
            };
            if i % 5 == 0 {
                // An analyst closes it as a false positive right after our next read.
                app.sim.edit_after_next_get(
                    &name,
                    AnalystEdit {
                        status: Some("Closed".into()),
                        classification: Some(("FalsePositive".into(), Some("InaccurateData".into()))),
                        ..AnalystEdit::default()
                    },
                );
                if !any_new {
                    expected = ("Closed", Some("FalsePositive"));
                }
            }
            expectations.push((name, expected, i % 5 == 0 && !any_new));
        }
        let targets = [
            FaultTarget::Query,
            FaultTarget::IncidentGet,
            FaultTarget::IncidentPut,
            FaultTarget::AlertsList,
            FaultTarget::CommentPut,
            FaultTarget::Token,
        ];
        for _ in 0..3 {
            for _ in 0..4 {
                let target = targets[rng.below(targets.len() as u64) as usize];
                let kind = match rng.below(4) {
                    0 => status(500),
                    1 => status(503),
                    2 => FaultKind::Stall(Duration::from_millis(50)),
                    _ => status(429),
                };
                // At most two failures in a row per request keeps retries (and the test) short;
                // the permanent-failure paths are covered above.
                app.sim.inject(fault(target, kind, 1 + rng.below(2) as u32));
            }
            let _ = app.run_timer().await;
        }
        // Faults stop: drain whatever is left of the queue with throwaway runs, then two clean runs.
        for _ in 0..10 {
            if app.run_timer().await.http_status == 200 {
                break;
            }
        }
        for _ in 0..2 {
            succeeded(&app.run_timer().await);
        }
        for (name, (status, classification), analyst_closed) in &expectations {
            let view = app.incident(name);
            assert_eq!(view.status, *status, "seed {seed}: {name}");
            assert_eq!(view.classification.as_deref(), *classification, "seed {seed}: {name}");
            let max_comments = if *analyst_closed || *status == "New" { 0 } else { 1 };
            assert!(
                view.comments.len() <= max_comments,
                "seed {seed}: {name} has {} comments",
                view.comments.len()
            );
            if !*analyst_closed && *status != "New" {
                assert_eq!(view.comments.len(), 1, "seed {seed}: {name} lacks its audit comment");
            }
        }
    }
}

#[tokio::test]
async fn garbage_answers_are_errors_not_guesses() {
    let app = spawn_process_app().await;
    let (name, _) = app.seed("New", &[("Resolved", DFC, 1)]);
    // A token endpoint answering nonsense: the run fails with a credential error, writes nothing.
    app.sim.inject(fault(FaultTarget::Token, FaultKind::Garbage, 1));
    let invocation = app.run_timer().await;
    assert_eq!(invocation.http_status, 500);
    assert!(invocation.raw_body.contains("token"), "{}", invocation.raw_body);
    assert!(app.puts().is_empty());
    // A query answer without tables: the run fails before any write.
    app.sim.inject(fault(FaultTarget::Query, FaultKind::Garbage, 1));
    let invocation = app.run_timer().await;
    assert_eq!(invocation.http_status, 500);
    assert!(invocation.raw_body.contains("cannot read"), "{}", invocation.raw_body);
    assert!(app.puts().is_empty());
    // An incident GET answer of the wrong shape: that incident fails, nothing is written to it.
    app.sim.inject(fault(FaultTarget::IncidentGet, FaultKind::Garbage, 1));
    let invocation = app.run_timer().await;
    assert_eq!(invocation.http_status, 500);
    assert!(app.puts().is_empty());
    assert_eq!(app.incident(&name).status, "New");
    // The faults gone, the next run closes it.
    succeeded(&app.run_timer().await);
    assert_eq!(app.incident(&name).status, "Closed");
}

#[tokio::test]
async fn a_workspace_with_no_data_is_a_succeeded_run_with_nothing_scanned() {
    // The query API answers 204 with an empty body for a workspace without data
    // (tests/fixtures/loganalytics-api/documented-errors/errors.json, `no-data-in-workspace`).
    let app = spawn_app().await;
    let (name, _) = app.seed("New", &[("Resolved", DFC, 1)]);
    app.sim.inject(fault(FaultTarget::Query, FaultKind::NoContent, 1));
    let invocation = app.run_timer().await;
    let (_, summary) = succeeded(&invocation);
    assert_eq!(summary["status"], "succeeded", "{summary:#}");
    assert_eq!(summary["scanned"], 0, "{summary:#}");
    assert!(app.puts().is_empty());
    assert_eq!(app.incident(&name).status, "New");
    // The next run, with data, syncs it.
    succeeded(&app.run_timer().await);
    assert_eq!(app.incident(&name).status, "Closed");
}

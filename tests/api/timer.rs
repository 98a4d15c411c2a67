//! SyncTimer end to end: timer envelope in → handler → Log Analytics query and Sentinel REST on
//! the simulator → incident state checked. One test per row of the behaviour table, then the
//! guarantees around it.

use azure_sim::{AnalystEdit, Fault, FaultKind, FaultTarget, Owner, SimConfig};
use functions_host::{Outcome, timer};

use crate::helpers::*;

async fn run_and_summary(app: &TestApp) -> serde_json::Value {
    let invocation = app.run_timer().await;
    succeeded(&invocation).1
}

#[tokio::test]
async fn all_resolved_closes_as_true_positive_with_audit_trail() {
    let app = spawn_app().await;
    let (name, alerts) = app.seed("New", &[("Resolved", DFC, 1), ("Resolved", DFC, 2)]);

    let invocation = app.run_timer().await;
    let (logs, summary) = succeeded(&invocation);

    let view = app.incident(&name);
    assert_eq!(view.status, "Closed");
    assert_eq!(view.classification.as_deref(), Some("TruePositive"));
    assert_eq!(view.classification_reason.as_deref(), Some("SuspiciousActivity"));
    assert!(
        view.classification_comment
            .as_deref()
            .unwrap_or_default()
            .contains("dfc-sentinel-sync")
    );
    assert!(view.labels.contains(&"dfc-sync-closed".to_owned()));
    assert_eq!(view.comments.len(), 1, "one audit comment");
    for alert in &alerts {
        assert!(view.comments[0].message.contains(alert), "comment names alert {alert}");
    }
    assert_eq!(report(&summary, &name)["action"], "closed");
    assert_eq!(summary["closed"], 1);
    assert!(
        logs.iter().any(|l| l.contains(&name) && l.contains("closed")),
        "{logs:?}"
    );
}

#[tokio::test]
async fn all_dismissed_closes_as_benign_positive() {
    let app = spawn_app().await;
    let (name, _) = app.seed("New", &[("Dismissed", DFC, 1), ("Dismissed", DFC, 1)]);
    run_and_summary(&app).await;
    let view = app.incident(&name);
    assert_eq!(
        (view.status.as_str(), view.classification.as_deref()),
        ("Closed", Some("BenignPositive"))
    );
    assert_eq!(view.classification_reason.as_deref(), Some("SuspiciousButExpected"));
}

#[tokio::test]
async fn mixed_resolved_and_dismissed_closes_once_as_true_positive() {
    let app = spawn_app().await;
    let (name, _) = app.seed("New", &[("Dismissed", DFC, 1), ("Resolved", DFC, 1)]);
    run_and_summary(&app).await;
    let view = app.incident(&name);
    assert_eq!(
        (view.status.as_str(), view.classification.as_deref()),
        ("Closed", Some("TruePositive"))
    );
    // One write for the incident (no racing PUTs with different classifications), one comment.
    let incident_puts = app
        .calls_for(&name, "PUT")
        .into_iter()
        .filter(|r| !r.path.contains("/comments/"))
        .count();
    assert_eq!(incident_puts, 1);
}

#[tokio::test]
async fn in_progress_activates_new_incidents_and_leaves_active_ones() {
    let app = spawn_app().await;
    let (fresh, _) = app.seed("New", &[("InProgress", DFC, 1), ("Resolved", DFC, 1)]);
    let (active, _) = app.seed("Active", &[("InProgress", DFC, 1)]);
    let summary = run_and_summary(&app).await;
    assert_eq!(app.incident(&fresh).status, "Active");
    assert!(app.incident(&fresh).labels.contains(&"dfc-sync-activated".to_owned()));
    assert_eq!(app.incident(&fresh).comments.len(), 1);
    assert_eq!(report(&summary, &fresh)["action"], "activated");
    assert_eq!(app.incident(&active).status, "Active");
    assert_eq!(report(&summary, &active)["reason"], "already-active");
    assert!(app.calls_for(&active, "PUT").is_empty());
}

#[tokio::test]
async fn any_new_alert_waits_without_rest_calls() {
    let app = spawn_app().await;
    let (name, _) = app.seed("New", &[("New", DFC, 1), ("Resolved", DFC, 1)]);
    let summary = run_and_summary(&app).await;
    assert_eq!(app.incident(&name).status, "New");
    assert_eq!(report(&summary, &name)["reason"], "alerts-pending");
    assert!(app.calls_for(&name, "GET").is_empty() && app.calls_for(&name, "PUT").is_empty());
}

#[tokio::test]
async fn closed_and_non_defender_incidents_are_never_touched() {
    let app = spawn_app().await;
    let (closed, _) = app.seed("Closed", &[("Resolved", DFC, 1)]);
    let (sentinel, _) = app.seed("New", &[("Resolved", "Azure Sentinel", 1)]);
    let summary = run_and_summary(&app).await;
    assert_eq!(summary["scanned"], 0);
    assert_eq!(app.incident(&closed).classification.as_deref(), Some("Undetermined"));
    assert_eq!(app.incident(&sentinel).status, "New");
    assert!(app.puts().is_empty());
}

#[tokio::test]
async fn old_incidents_sync_when_an_alert_changed_inside_the_window() {
    let app = spawn_app().await;
    let (old, _) = app.seed_with(
        "New",
        &[("Resolved", "Microsoft Defender for Cloud", 1)],
        400,
        None,
        vec![],
    );
    let (stale, _) = app.seed_with("New", &[("Resolved", DFC, 45)], 60, None, vec![]);
    run_and_summary(&app).await;
    assert_eq!(app.incident(&old).status, "Closed");
    // Nothing about `stale` changed in the 30-day window: it is outside the scan.
    assert_eq!(app.incident(&stale).status, "New");
}

#[tokio::test]
async fn alerts_without_a_row_in_the_window_are_read_fresh_before_writing() {
    let app = spawn_app().await;
    // One alert changed yesterday, the other was resolved 40 days ago (outside the window).
    let (name, _) = app.seed("New", &[("Resolved", DFC, 1), ("Resolved", DFC, 40)]);
    let (waiting, _) = app.seed("New", &[("Resolved", DFC, 1), ("New", DFC, 40)]);
    run_and_summary(&app).await;
    assert_eq!(app.incident(&name).status, "Closed");
    assert_eq!(app.incident(&waiting).status, "New", "the old New alert holds it back");
    assert!(
        app.calls_for(&waiting, "POST")
            .iter()
            .any(|r| r.path.ends_with("/alerts"))
    );
}

#[tokio::test]
async fn a_second_run_with_nothing_changed_writes_nothing() {
    let app = spawn_app().await;
    let (name, _) = app.seed("New", &[("Resolved", DFC, 1)]);
    let (activated, _) = app.seed("New", &[("InProgress", DFC, 1)]);
    run_and_summary(&app).await;
    app.sim.clear_requests();
    let summary = run_and_summary(&app).await;
    assert!(app.puts().is_empty(), "second run wrote: {:?}", app.puts());
    assert_eq!(summary["changed"], 0);
    assert_eq!(app.incident(&name).comments.len(), 1);
    assert_eq!(app.incident(&activated).comments.len(), 1);
}

#[tokio::test]
async fn ingestion_delay_of_our_own_write_causes_no_second_write() {
    let config = SimConfig {
        ingestion_delay: std::time::Duration::from_secs(600),
        ..SimConfig::default()
    };
    let app = spawn_app_with(config, &[], &[]).await;
    // Seeded rows are written in the past, so they are already visible; our write is not.
    let (name, _) = app.seed("New", &[("Resolved", DFC, 1)]);
    run_and_summary(&app).await;
    assert_eq!(app.incident(&name).status, "Closed");
    app.sim.clear_requests();
    let summary = run_and_summary(&app).await;
    // The logs still say New; the fresh GET says Closed, so nothing is written.
    assert_eq!(report(&summary, &name)["reason"], "incident-closed");
    assert!(app.puts().is_empty());
}

#[tokio::test]
async fn an_analyst_change_between_read_and_write_wins() {
    let app = spawn_app().await;
    let (name, _) = app.seed("New", &[("Resolved", DFC, 1)]);
    app.sim.edit_after_next_get(
        &name,
        AnalystEdit {
            status: Some("Closed".into()),
            classification: Some(("FalsePositive".into(), Some("InaccurateData".into()))),
            ..AnalystEdit::default()
        },
    );
    let summary = run_and_summary(&app).await;
    let view = app.incident(&name);
    assert_eq!(
        view.classification.as_deref(),
        Some("FalsePositive"),
        "the analyst's close stands"
    );
    assert_eq!(view.classification_reason.as_deref(), Some("InaccurateData"));
    assert!(view.comments.is_empty());
    let r = report(&summary, &name);
    assert_eq!(r["conflicts"], 1);
    assert_eq!(r["reason"], "incident-closed");
    assert!(app.calls_for(&name, "PUT").iter().any(|c| c.status == 409));
}

#[tokio::test]
async fn an_analyst_assigning_meanwhile_keeps_the_owner() {
    let app = spawn_app().await;
    let (name, _) = app.seed("New", &[("Resolved", DFC, 1)]);
    let owner = Owner {
        object_id: "2046feea-040d-4a46-9e2b-91c2941bfa70".into(),
        email: "ana@contoso.com".into(),
        user_principal_name: "ana@contoso.com".into(),
        assigned_to: "Ana".into(),
    };
    app.sim.edit_after_next_get(
        &name,
        AnalystEdit {
            owner: Some(Some(owner)),
            add_labels: vec!["triage".into()],
            ..AnalystEdit::default()
        },
    );
    run_and_summary(&app).await;
    let view = app.incident(&name);
    assert_eq!(view.status, "Closed");
    assert_eq!(
        view.owner_object_id.as_deref(),
        Some("2046feea-040d-4a46-9e2b-91c2941bfa70")
    );
    assert!(view.labels.contains(&"triage".to_owned()) && view.labels.contains(&"dfc-sync-closed".to_owned()));
}

#[tokio::test]
async fn skip_owned_option_leaves_owned_incidents_and_says_why() {
    let app = spawn_app_with(SimConfig::default(), &[("SYNC_SKIP_OWNED_INCIDENTS", "true")], &[]).await;
    let owner = Owner {
        object_id: "2046feea-040d-4a46-9e2b-91c2941bfa70".into(),
        email: "a@b.c".into(),
        user_principal_name: "a@b.c".into(),
        assigned_to: "A".into(),
    };
    let (owned, _) = app.seed_with("New", &[("Resolved", DFC, 1)], 1, Some(owner), vec![]);
    let (free, _) = app.seed("New", &[("Resolved", DFC, 1)]);
    let summary = run_and_summary(&app).await;
    assert_eq!(app.incident(&owned).status, "New");
    assert_eq!(report(&summary, &owned)["reason"], "owned");
    assert_eq!(app.incident(&free).status, "Closed");
}

#[tokio::test]
async fn reopened_by_an_analyst_is_not_closed_again() {
    let app = spawn_app().await;
    let (name, _) = app.seed("New", &[("Resolved", DFC, 1)]);
    run_and_summary(&app).await;
    app.sim.analyst_edit(
        &name,
        AnalystEdit {
            status: Some("Active".into()),
            ..AnalystEdit::default()
        },
    );
    let summary = run_and_summary(&app).await;
    assert_eq!(app.incident(&name).status, "Active");
    assert_eq!(report(&summary, &name)["reason"], "reverted-by-analyst");
}

#[tokio::test]
async fn dry_run_decides_and_writes_nothing() {
    let app = spawn_app_with(SimConfig::default(), &[("SYNC_DRY_RUN", "true")], &[]).await;
    let (close, _) = app.seed("New", &[("Dismissed", DFC, 1)]);
    let (activate, _) = app.seed("New", &[("InProgress", DFC, 1)]);
    let summary = run_and_summary(&app).await;
    assert!(app.puts().is_empty());
    assert_eq!(report(&summary, &close)["action"], "would-close");
    assert_eq!(report(&summary, &activate)["action"], "would-activate");
    assert_eq!(summary["dryRun"], true);
}

#[tokio::test]
async fn a_partial_query_result_fails_the_run_and_writes_nothing() {
    let app = spawn_process_app().await;
    let (name, _) = app.seed("New", &[("Resolved", DFC, 1)]);
    app.sim.inject(Fault {
        target: FaultTarget::Query,
        kind: FaultKind::PartialFailure,
        times: 1,
    });
    let invocation = app.run_timer().await;
    assert_eq!(invocation.http_status, 500);
    assert!(matches!(invocation.outcome, Outcome::Failed { .. }));
    assert!(invocation.raw_body.contains("PartialError"), "{}", invocation.raw_body);
    assert_eq!(app.incident(&name).status, "New");
    assert!(app.puts().is_empty());
    assert!(app.handler_output().contains("run failed"));
}

#[tokio::test]
async fn one_failing_incident_does_not_stop_the_others() {
    let app = spawn_app().await;
    let (a, _) = app.seed("New", &[("Resolved", DFC, 1)]);
    let (b, _) = app.seed("New", &[("Dismissed", DFC, 1)]);
    // The first incident write fails for good (400 is not retried); the other must still close.
    app.sim.inject(Fault {
        target: FaultTarget::IncidentPut,
        kind: FaultKind::Status {
            code: 400,
            retry_after_secs: None,
        },
        times: 1,
    });
    let invocation = app.run_timer().await;
    assert_eq!(invocation.http_status, 500, "a run with a failure shows as failed");
    let summary: serde_json::Value = serde_json::from_str(&invocation.raw_body).unwrap();
    let summary = &summary["ReturnValue"];
    assert_eq!(summary["failed"], 1);
    assert_eq!(summary["closed"], 1);
    let closed = [&a, &b].iter().filter(|n| app.incident(n).status == "Closed").count();
    assert_eq!(closed, 1);
}

#[tokio::test]
async fn throttling_is_retried_honouring_retry_after() {
    let app = spawn_app().await;
    let (name, _) = app.seed("New", &[("Resolved", DFC, 1)]);
    app.sim.inject(Fault {
        target: FaultTarget::IncidentPut,
        kind: FaultKind::Status {
            code: 429,
            retry_after_secs: Some(1),
        },
        times: 1,
    });
    let started = std::time::Instant::now();
    run_and_summary(&app).await;
    assert_eq!(app.incident(&name).status, "Closed");
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(1),
        "waited for Retry-After"
    );
    assert!(app.calls_for(&name, "PUT").iter().any(|c| c.status == 429));
}

#[tokio::test]
async fn every_timer_payload_variant_runs() {
    let app = spawn_app().await;
    for payload in [
        timer::scheduled(),
        timer::first_run(),
        timer::past_due(),
        timer::no_monitor(),
    ] {
        let invocation = app.host.invoke_timer("SyncTimer", payload.clone(), None).await.unwrap();
        let (logs, _) = succeeded(&invocation);
        let past_due = payload["IsPastDue"].as_bool().unwrap();
        assert!(logs[0].contains(&format!("IsPastDue={past_due}")), "{logs:?}");
    }
    let retry =
        serde_json::json!({ "RetryCount": 0, "MaxRetryCount": 3, "Exception": null, "Instance": null, "State": {} });
    let invocation = app
        .host
        .invoke_timer("SyncTimer", timer::scheduled(), Some(retry))
        .await
        .unwrap();
    succeeded(&invocation);
}

#[tokio::test]
async fn a_tick_during_a_run_is_skipped_not_run_twice() {
    let app = spawn_app().await;
    app.seed("New", &[("Resolved", DFC, 1)]);
    app.sim.inject(Fault {
        target: FaultTarget::Query,
        kind: FaultKind::Delay(std::time::Duration::from_millis(1500)),
        times: 1,
    });
    let first = app.run_timer();
    let second = async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        app.run_timer().await
    };
    let (first, second) = tokio::join!(first, second);
    assert_eq!(succeeded(&first).1["status"], "succeeded");
    assert_eq!(succeeded(&second).1["status"], "skipped");
    let queries = app.sim.requests().iter().filter(|r| r.path.ends_with("/query")).count();
    assert_eq!(queries, 1);
}

#[tokio::test]
async fn tokens_are_cached_per_audience_across_runs() {
    let app = spawn_process_app().await;
    app.seed("New", &[("Resolved", DFC, 1)]);
    for _ in 0..3 {
        run_and_summary(&app).await;
    }
    assert_eq!(app.sim.token_requests(azure_sim::Audience::LogAnalytics), 1);
    assert_eq!(app.sim.token_requests(azure_sim::Audience::Arm), 1);
}

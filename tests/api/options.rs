//! The operator options, through the real path: the classification mapping
//! (`SYNC_RESOLVED_CLASSIFICATION`, `SYNC_DISMISSED_CLASSIFICATION`) and reopening an incident this
//! tool closed when Defender for Cloud reactivates one of its alerts
//! (`SYNC_REOPEN_ON_REACTIVATION`).

use azure_sim::{AnalystEdit, SimConfig};
use functions_host::Outcome;

use crate::helpers::*;

const REOPEN: (&str, &str) = ("SYNC_REOPEN_ON_REACTIVATION", "true");

#[tokio::test]
async fn each_close_takes_the_configured_classification() {
    let app = spawn_app_with(
        SimConfig::default(),
        &[
            ("SYNC_RESOLVED_CLASSIFICATION", "FalsePositive/InaccurateData"),
            ("SYNC_DISMISSED_CLASSIFICATION", "Undetermined"),
        ],
        &[],
    )
    .await;
    let (resolved, _) = app.seed("New", &[("Resolved", DFC, 1)]);
    let (dismissed, _) = app.seed("New", &[("Dismissed", DFC, 1)]);
    let (mixed, _) = app.seed("Active", &[("Dismissed", DFC, 1), ("Resolved", DFC, 1)]);
    let (_, summary) = succeeded(&app.run_timer().await);
    assert_eq!(summary["closed"], 3, "{summary:#}");
    for (name, classification, reason, cause) in [
        (&resolved, "FalsePositive", Some("InaccurateData"), "were Resolved"),
        (&dismissed, "Undetermined", None, "were Dismissed"),
        (&mixed, "FalsePositive", Some("InaccurateData"), "at least one Resolved"),
    ] {
        let view = app.incident(name);
        assert_eq!(view.status, "Closed");
        assert_eq!(view.classification.as_deref(), Some(classification));
        assert_eq!(view.classification_reason.as_deref(), reason);
        let comment = view.classification_comment.unwrap_or_default();
        assert!(comment.contains(cause), "{comment}");
        assert_eq!(view.comments.len(), 1);
    }
    assert_eq!(report(&summary, &dismissed)["reason"], "alerts-dismissed");
    assert_eq!(report(&summary, &resolved)["detail"], "closed as FalsePositive / InaccurateData");
}

#[tokio::test]
async fn an_invalid_classification_fails_every_invocation_naming_the_setting_and_writes_nothing() {
    let app = spawn_app_with(
        SimConfig::default(),
        &[("SYNC_DISMISSED_CLASSIFICATION", "BenignPositive/SuspiciousActivity")],
        &[],
    )
    .await;
    let (name, _) = app.seed("New", &[("Dismissed", DFC, 1)]);
    let invocation = app.run_timer().await;
    assert!(matches!(invocation.outcome, Outcome::Failed { .. }), "{}", invocation.raw_body);
    assert!(invocation.raw_body.contains("SYNC_DISMISSED_CLASSIFICATION"), "{}", invocation.raw_body);
    let r = app.post_webhook(&app.incident_payload(&name)).await;
    assert_eq!(r.status, 500);
    assert!(r.text().contains("SYNC_DISMISSED_CLASSIFICATION"), "{}", r.text());
    assert!(app.sim.requests().is_empty(), "no Azure call at all");
    assert_eq!(app.incident(&name).status, "New");
}

#[tokio::test]
async fn a_reactivated_alert_reopens_the_incident_and_a_later_resolve_closes_it_again() {
    let app = spawn_app_with(SimConfig::default(), &[REOPEN], &[]).await;
    let (name, alerts) = app.seed("New", &[("Resolved", DFC, 1), ("Dismissed", DFC, 1)]);
    let (_, summary) = succeeded(&app.run_timer().await);
    assert_eq!(report(&summary, &name)["action"], "closed");

    app.sim.set_alert_status(&alerts[0], "InProgress");
    let (_, summary) = succeeded(&app.run_timer().await);
    let r = report(&summary, &name);
    assert_eq!((r["action"].as_str(), r["reason"].as_str()), (Some("reopened"), Some("alert-reactivated")), "{r:#}");
    assert_eq!(summary["reopened"], 1);
    let view = app.incident(&name);
    assert_eq!(view.status, "Active");
    assert_eq!(view.classification, None, "an open incident carries no close classification");
    assert!(view.labels.contains(&"dfc-sync-reopened".to_string()), "{:?}", view.labels);
    assert!(!view.labels.contains(&"dfc-sync-closed".to_string()), "{:?}", view.labels);
    assert_eq!(view.comments.len(), 2, "one comment per change");
    let reopen = &view.comments[1].message;
    assert!(
        reopen.starts_with("dfc-sentinel-sync reopened this incident (Closed → Active): Defender for Cloud reactivated alert")
            && reopen.contains(&format!("{} (InProgress)", alerts[0])),
        "{reopen}"
    );

    // Nothing more to do while it stays in progress; resolved again, it is closed again.
    let (_, summary) = succeeded(&app.run_timer().await);
    assert_eq!(report(&summary, &name)["reason"], "already-active");
    app.sim.set_alert_status(&alerts[0], "Resolved");
    let (_, summary) = succeeded(&app.run_timer().await);
    assert_eq!(report(&summary, &name)["action"], "closed");
    let view = app.incident(&name);
    assert_eq!((view.status.as_str(), view.comments.len()), ("Closed", 3));
}

#[tokio::test]
async fn without_the_option_nothing_is_ever_reopened() {
    let app = spawn_app().await;
    let (name, alerts) = app.seed("New", &[("Resolved", DFC, 1)]);
    succeeded(&app.run_timer().await);
    app.sim.set_alert_status(&alerts[0], "New");
    let before = app.puts().len();
    let (_, summary) = succeeded(&app.run_timer().await);
    assert_eq!(report(&summary, &name)["reason"], "incident-closed", "{summary:#}");
    assert_eq!(summary["reopened"], 0);
    assert_eq!(app.puts().len(), before);
    assert_eq!(app.incident(&name).status, "Closed");
}

#[tokio::test]
async fn an_incident_a_person_closed_or_reclassified_is_never_reopened() {
    let app = spawn_app_with(SimConfig::default(), &[REOPEN], &[]).await;
    // Closed by a person, even carrying the tool's label (an earlier close they undid and redid).
    let (theirs, their_alerts) = app.seed_with(
        "Closed",
        &[("Resolved", DFC, 1)],
        1,
        None,
        vec!["dfc-sync-closed".into()],
    );
    // Closed by the tool, then reclassified by a person.
    let (reclassified, alerts) = app.seed("New", &[("Resolved", DFC, 1)]);
    succeeded(&app.run_timer().await);
    app.sim.analyst_edit(
        &reclassified,
        AnalystEdit {
            classification: Some(("BenignPositive".into(), Some("SuspiciousButExpected".into()))),
            ..AnalystEdit::default()
        },
    );
    let before = app.puts().len();
    app.sim.set_alert_status(&their_alerts[0], "InProgress");
    app.sim.set_alert_status(&alerts[0], "InProgress");
    let (_, summary) = succeeded(&app.run_timer().await);
    for name in [&theirs, &reclassified] {
        assert_eq!(report(&summary, name)["reason"], "incident-closed", "{summary:#}");
        assert_eq!(app.incident(name).status, "Closed");
    }
    assert_eq!(app.puts().len(), before, "nothing written");
}

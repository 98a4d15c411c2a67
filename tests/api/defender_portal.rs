//! Sentinel in the Defender portal: incidents from Defender XDR (provider `Microsoft XDR`), DfC
//! alerts correlated with other products' alerts, a close that resolves every alert still open,
//! and XDR changing, re-activating and merging incidents itself. The tool must not fight XDR and
//! must never write after XDR already resolved an incident.

use azure_sim::AlertSeed;

use crate::helpers::*;

const MDE: &str = "Microsoft Defender for Endpoint";

#[tokio::test]
async fn every_alert_of_an_xdr_incident_counts_and_the_summary_counts_xdr_incidents() {
    let app = spawn_app().await;
    let (xdr, alerts) = app.seed_xdr("New", &[("Resolved", DFC, 1), ("New", MDE, 1)]);
    let (sentinel, _) = app.seed("New", &[("Resolved", DFC, 1)]);
    let (_, summary) = succeeded(&app.run_timer().await);
    let r = report(&summary, &xdr);
    assert_eq!(
        (r["reason"].as_str(), r["provider"].as_str()),
        (Some("alerts-pending"), Some("Microsoft XDR")),
        "{r:#}"
    );
    assert_eq!(report(&summary, &sentinel)["provider"], "Azure Sentinel");
    assert_eq!(summary["fromXdr"], 1, "{summary:#}");
    assert_eq!(app.incident(&xdr).status, "New");

    // Once Defender for Endpoint resolves its alert too, the incident is closed.
    app.sim.set_alert_status(&alerts[1], "Resolved");
    let (logs, summary) = succeeded(&app.run_timer().await);
    assert_eq!(report(&summary, &xdr)["action"], "closed");
    assert!(logs.iter().any(|l| l.contains("(1 from Microsoft XDR)")), "{logs:?}");
}

#[tokio::test]
async fn an_alert_correlated_between_read_and_write_is_not_resolved_by_a_close() {
    let app = spawn_app().await;
    let (xdr, _) = app.seed_xdr("New", &[("Resolved", DFC, 1)]);
    // XDR correlates a Defender for Endpoint alert into the incident right after the tool's read.
    let joined = app.sim.attach_after_next_get(
        &xdr,
        AlertSeed {
            status: "New".into(),
            product_name: MDE.into(),
            display_name: "Correlated".into(),
            last_changed_ago: chrono::Duration::minutes(1),
        },
    );
    let (_, summary) = succeeded(&app.run_timer().await);
    assert_eq!(report(&summary, &xdr)["reason"], "alerts-pending", "{summary:#}");
    assert_eq!(app.incident(&xdr).status, "New");
    // A close would have resolved it in XDR; it is still open.
    assert_eq!(app.sim.alert_status(&joined).as_deref(), Some("New"));
}

#[tokio::test]
async fn a_close_by_the_tool_resolves_the_xdr_incidents_alerts_only_when_all_are_done() {
    let app = spawn_app().await;
    let (xdr, alerts) = app.seed_xdr("Active", &[("Resolved", DFC, 1), ("Dismissed", MDE, 1)]);
    let (_, summary) = succeeded(&app.run_timer().await);
    assert_eq!(report(&summary, &xdr)["action"], "closed");
    // Every alert was already terminal: XDR's resolve-all changed nothing.
    assert_eq!(app.sim.alert_status(&alerts[1]).as_deref(), Some("Dismissed"));
}

#[tokio::test]
async fn when_xdr_resolved_the_incident_first_the_tool_writes_nothing() {
    let app = spawn_app_with(lagging(), &[], &[]).await;
    let (xdr, _) = app.seed_xdr("New", &[("Resolved", DFC, 1)]);
    // XDR auto-resolves it; the tables still show it New for ten minutes.
    app.sim.xdr_close(&xdr);
    let (_, summary) = succeeded(&app.run_timer().await);
    let r = report(&summary, &xdr);
    assert_eq!(
        (r["action"].as_str(), r["reason"].as_str()),
        (Some("unchanged"), Some("incident-closed")),
        "{r:#}"
    );
    assert!(app.puts().is_empty(), "no second write after XDR resolved it");
    assert!(app.incident(&xdr).comments.is_empty());
}

#[tokio::test]
async fn the_tool_does_not_fight_xdr_reactivating_an_incident_it_closed() {
    let app = spawn_app().await;
    let (xdr, _) = app.seed_xdr("New", &[("Resolved", DFC, 1)]);
    succeeded(&app.run_timer().await);
    assert_eq!(app.incident(&xdr).status, "Closed");
    app.sim.xdr_reactivate(&xdr);
    let before = app.puts().len();
    for _ in 0..2 {
        let (_, summary) = succeeded(&app.run_timer().await);
        assert_eq!(report(&summary, &xdr)["reason"], "reverted-by-analyst", "{summary:#}");
    }
    assert_eq!(app.puts().len(), before, "not closed again");
    assert_eq!(app.incident(&xdr).status, "Active");
}

#[tokio::test]
async fn a_merged_incident_is_left_closed_and_its_alerts_count_in_the_surviving_one() {
    let app = spawn_app().await;
    let (from, moved) = app.seed_xdr("New", &[("InProgress", DFC, 1)]);
    let (into, _) = app.seed_xdr("New", &[("Resolved", DFC, 1)]);
    app.sim.xdr_merge(&from, &into);
    let merged = app.incident(&from);
    assert_eq!(merged.status, "Closed");
    assert!(merged.labels.contains(&"Redirected".to_string()));
    let (_, summary) = succeeded(&app.run_timer().await);
    // The surviving incident holds an InProgress DfC alert now: Active, not Closed.
    let r = report(&summary, &into);
    assert_eq!(r["action"], "activated", "{r:#}");
    assert!(r["alerts"].as_array().unwrap().iter().any(|a| a["id"] == moved[0]));
    assert!(
        app.calls_for(&from, "PUT").is_empty(),
        "the merged incident is never written"
    );
}

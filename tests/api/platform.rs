//! Correct on the real platform: alerts that join incidents before the tables show them, writes
//! applied whose reply was lost, and later transitions of the same incident. Each test drives
//! the real handler through the host emulator against a simulator behaving like a workspace.

use azure_sim::{AlertSeed, AnalystEdit, Fault, FaultKind, FaultTarget};
use serde_json::{Value, json};

use crate::helpers::*;

fn fault(target: FaultTarget, kind: FaultKind) -> Fault {
    Fault { target, kind, times: 1 }
}

fn new_dfc_alert() -> AlertSeed {
    AlertSeed {
        status: "New".into(),
        product_name: DFC.into(),
        display_name: "Correlated alert".into(),
        last_changed_ago: chrono::Duration::minutes(1),
    }
}

fn body(response: &functions_host::CallerResponse) -> Value {
    serde_json::from_slice(&response.body).expect("JSON reply")
}

#[tokio::test]
async fn an_alert_attached_before_the_tables_show_it_keeps_the_incident_open() {
    let app = spawn_app().await;
    let (name, _) = app.seed("New", &[("Resolved", DFC, 1)]);
    let joined = app.sim.attach_alert(&name, new_dfc_alert());
    let (_, summary) = succeeded(&app.run_timer().await);
    let r = report(&summary, &name);
    assert_eq!(
        (r["action"].as_str(), r["reason"].as_str()),
        (Some("unchanged"), Some("alerts-pending")),
        "{r:#}"
    );
    assert!(r["alerts"].as_array().unwrap().iter().any(|a| a["id"] == joined));
    assert_eq!(app.incident(&name).status, "New");
    assert!(app.puts().is_empty(), "nothing written");

    // Once Defender resolves it too, the next run closes the incident, naming both alerts.
    app.sim.set_alert_status(&joined, "Resolved");
    app.sim.ingest_held_rows();
    let (_, summary) = succeeded(&app.run_timer().await);
    assert_eq!(report(&summary, &name)["action"], "closed");
    let view = app.incident(&name);
    assert_eq!(view.comments.len(), 1);
    assert!(view.comments[0].message.contains(&joined));
}

#[tokio::test]
async fn an_alert_attached_between_read_and_write_is_read_again_after_the_409() {
    let app = spawn_app().await;
    let (name, _) = app.seed("New", &[("Resolved", DFC, 1)]);
    app.sim.attach_after_next_get(&name, new_dfc_alert());
    let (_, summary) = succeeded(&app.run_timer().await);
    let r = report(&summary, &name);
    assert_eq!(r["reason"], "alerts-pending", "{r:#}");
    assert_eq!(r["conflicts"], 1);
    assert_eq!(app.incident(&name).status, "New");
    assert!(app.incident(&name).comments.is_empty());
}

#[tokio::test]
async fn the_webhook_sees_an_alert_attached_between_its_read_and_its_write() {
    let app = spawn_app().await;
    let (name, _) = app.seed("New", &[("Dismissed", DFC, 1)]);
    // The webhook reads the alerts after the incident; the new alert joins right after that.
    app.sim.attach_after_next_alerts_list(&name, new_dfc_alert());
    let reply = app.post_webhook(&json!({ "incidentId": name })).await;
    assert_eq!(reply.status, 200);
    let reply = body(&reply);
    assert_eq!(reply["reason"], "alerts-pending", "{reply:#}");
    assert_eq!(app.incident(&name).status, "New");
}

async fn lost_reply_on_the_timer(kind: FaultKind, alert: &str, expected: &str, status_after: &str) {
    let app = spawn_app_with(lagging(), &[], &[]).await;
    let (name, _) = app.seed("New", &[(alert, DFC, 1)]);
    app.sim.inject(fault(FaultTarget::IncidentPut, kind.clone()));
    let (_, summary) = succeeded(&app.run_timer().await);
    let r = report(&summary, &name);
    assert_eq!(r["action"], expected, "{kind:?}: {r:#}");
    let view = app.incident(&name);
    assert_eq!(view.status, status_after);
    assert_eq!(view.comments.len(), 1, "{kind:?}: exactly one audit comment");
    // The next run (the logs still show it New) changes nothing and adds nothing.
    app.sim.clear_requests();
    succeeded(&app.run_timer().await);
    assert!(app.puts().is_empty(), "{kind:?}: {:?}", app.puts());
    assert_eq!(app.incident(&name).comments.len(), 1);
}

#[tokio::test]
async fn a_close_applied_whose_reply_was_lost_is_recognised_and_gets_its_comment() {
    lost_reply_on_the_timer(FaultKind::AppliedThenStatus(504), "Resolved", "closed", "Closed").await;
    lost_reply_on_the_timer(FaultKind::AppliedThenDropped, "Dismissed", "closed", "Closed").await;
}

#[tokio::test]
async fn an_activation_applied_whose_reply_was_lost_is_recognised_and_gets_its_comment() {
    lost_reply_on_the_timer(FaultKind::AppliedThenStatus(504), "InProgress", "activated", "Active").await;
    lost_reply_on_the_timer(FaultKind::AppliedThenDropped, "InProgress", "activated", "Active").await;
}

#[tokio::test]
async fn the_webhook_recognises_its_own_write_when_the_reply_was_lost() {
    let app = spawn_app().await;
    let (name, _) = app.seed("New", &[("Resolved", DFC, 1)]);
    app.sim
        .inject(fault(FaultTarget::IncidentPut, FaultKind::AppliedThenStatus(504)));
    let reply = app.post_webhook(&json!({ "incidentId": name })).await;
    assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.body));
    assert_eq!(body(&reply)["action"], "closed");
    assert_eq!(app.incident(&name).comments.len(), 1);
}

#[tokio::test]
async fn the_webhook_restores_the_comment_its_first_call_could_not_write() {
    let app = spawn_app().await;
    let (name, _) = app.seed("New", &[("Resolved", DFC, 1)]);
    app.sim.inject(Fault {
        target: FaultTarget::CommentPut,
        kind: FaultKind::Status {
            code: 400,
            retry_after_secs: None,
        },
        times: 1,
    });
    let first = app.post_webhook(&json!({ "incidentId": name })).await;
    assert_eq!(first.status, 502, "{}", String::from_utf8_lossy(&first.body));
    assert_eq!(app.incident(&name).status, "Closed");
    assert!(app.incident(&name).comments.is_empty());
    let second = app.post_webhook(&json!({ "incidentId": name })).await;
    assert_eq!(second.status, 200);
    assert_eq!(body(&second)["reason"], "incident-closed");
    let comments = app.incident(&name).comments;
    assert_eq!(comments.len(), 1, "restored once");
    assert!(comments[0].message.contains("closed this incident"));
    // A third call finds it and writes nothing.
    app.sim.clear_requests();
    app.post_webhook(&json!({ "incidentId": name })).await;
    assert!(app.puts().is_empty());
}

#[tokio::test]
async fn a_later_separate_close_adds_its_own_comment() {
    let app = spawn_app().await;
    let (name, _) = app.seed("New", &[("Resolved", DFC, 1)]);
    succeeded(&app.run_timer().await);
    assert_eq!(app.incident(&name).comments.len(), 1);
    // An analyst reopens it and removes the label; the alerts are still Resolved.
    app.sim.analyst_edit(
        &name,
        AnalystEdit {
            status: Some("Active".into()),
            remove_labels: vec!["dfc-sync-closed".into()],
            ..AnalystEdit::default()
        },
    );
    let (_, summary) = succeeded(&app.run_timer().await);
    assert_eq!(report(&summary, &name)["action"], "closed");
    let view = app.incident(&name);
    assert_eq!(view.status, "Closed");
    assert_eq!(view.comments.len(), 2, "one comment per change: {:?}", view.comments);
    assert_ne!(view.comments[0].id, view.comments[1].id);
    assert!(view.comments[1].message.contains("Active → Closed"));
}

//! Large and slow workspaces: answers past the query API's result limit, rows the decoder
//! cannot read, backlogs worked through in an order that guarantees progress. Real path: the
//! host's timer payload in, the handler process, real HTTP to the simulator.

use azure_sim::{AlertSeed, Fault, FaultKind, FaultTarget, SimConfig};

use crate::helpers::*;

fn queries(app: &TestApp) -> Vec<azure_sim::RecordedRequest> {
    app.sim
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/v1/workspaces/"))
        .collect()
}

/// The incident names in the order the run first read them.
fn get_order(app: &TestApp, names: &[String]) -> Vec<String> {
    let mut order: Vec<String> = Vec::new();
    for r in app.sim.requests() {
        if r.method != "GET" {
            continue;
        }
        if let Some(n) = names.iter().find(|n| r.path.ends_with(n.as_str()))
            && !order.contains(n)
        {
            order.push(n.clone());
        }
    }
    order
}

#[tokio::test]
async fn an_answer_past_the_result_limit_is_split_until_every_part_fits_and_all_is_synced_in_one_run() {
    let config = SimConfig {
        query_record_limit: Some(4),
        ..SimConfig::default()
    };
    let app = spawn_process_app_with(config, &[], &[]).await;
    let names: Vec<String> = (0..11).map(|_| app.seed("New", &[("Resolved", DFC, 1)]).0).collect();
    let (logs, summary) = succeeded(&app.run_timer().await);
    assert_eq!(summary["closed"], 11, "{summary:#}\n{logs:?}");
    assert_eq!(summary["scanned"], 11);
    for name in &names {
        assert_eq!(app.incident(name).comments.len(), 1);
    }
    // 11 rows > 4: whole (cut), two halves of 5-6 (cut), four quarters of at most 3.
    assert_eq!(queries(&app).len(), 7, "{:?}", queries(&app));
    assert!(app.handler_output().contains("too large"));
    // The next run starts with the split it learned: four queries, none cut.
    app.sim.clear_requests();
    succeeded(&app.run_timer().await);
    assert_eq!(queries(&app).len(), 4);
}

#[tokio::test]
async fn the_split_comes_back_down_when_the_answers_are_small_again_but_not_near_the_limit() {
    let config = SimConfig {
        query_record_limit: Some(20),
        ..SimConfig::default()
    };
    let app = spawn_app_with(config, &[], &[]).await;
    // Incidents whose alerts are still New: candidates of every run, left as they are.
    let names: Vec<String> = (0..30).map(|_| app.seed("New", &[("New", DFC, 1)]).0).collect();
    let queries_of_a_run = || async {
        app.sim.clear_requests();
        succeeded(&app.run_timer().await);
        queries(&app).len()
    };
    let close = |names: &[String]| {
        for name in names {
            app.sim.analyst_edit(
                name,
                azure_sim::AnalystEdit {
                    status: Some("Closed".into()),
                    classification: Some(("BenignPositive".into(), Some("SuspiciousButExpected".into()))),
                    ..azure_sim::AnalystEdit::default()
                },
            );
        }
    };
    // 30 rows > 20: the whole (cut), then two halves that fit.
    assert_eq!(queries_of_a_run().await, 3);
    // 8 rows would fit in one answer, but not four times over (30 did not): the split is kept.
    close(&names[..22]);
    assert_eq!(queries_of_a_run().await, 2);
    assert_eq!(queries_of_a_run().await, 2);
    // 4 rows: well below. This run still asks in two parts; the next asks once, and is not cut.
    close(&names[22..26]);
    assert_eq!(queries_of_a_run().await, 2);
    assert_eq!(queries_of_a_run().await, 1);
    assert_eq!(queries_of_a_run().await, 1);
}

#[tokio::test]
async fn the_recorded_size_partial_error_is_split_not_acted_on() {
    let app = spawn_app().await;
    let (name, _) = app.seed("New", &[("Resolved", DFC, 1)]);
    app.sim.inject(Fault {
        target: FaultTarget::Query,
        kind: FaultKind::PartialError,
        times: 1,
    });
    let (_, summary) = succeeded(&app.run_timer().await);
    assert_eq!(summary["closed"], 1, "{summary:#}");
    assert_eq!(app.incident(&name).status, "Closed");
    assert_eq!(queries(&app).len(), 3, "the cut answer, then its two halves");
}

#[tokio::test]
async fn a_row_that_cannot_be_read_fails_that_incident_only() {
    let app = spawn_app().await;
    let (good, _) = app.seed("New", &[("Resolved", DFC, 1)]);
    let (paused, _) = app.seed("New", &[("Resolved", DFC, 1)]);
    let (source, _) = app.seed("New", &[("Dismissed", DFC, 1)]);
    app.sim.write_odd_incident_row(&paused, "Paused", None);
    app.sim.write_odd_incident_row(&source, "New", Some("not/an id"));
    let invocation = app.run_timer().await;
    assert_eq!(
        invocation.http_status, 500,
        "failures are failures: {}",
        invocation.raw_body
    );
    let body: serde_json::Value = serde_json::from_str(&invocation.raw_body).unwrap();
    let summary = &body["ReturnValue"];
    assert_eq!(summary["failed"], 2, "{summary:#}");
    assert_eq!(summary["closed"], 2, "the readable rows are synced: {summary:#}");
    let bad = report(summary, &paused);
    assert_eq!(bad["reason"], "bad-row");
    assert!(bad["detail"].as_str().unwrap().contains("Paused"), "{bad:#}");
    assert_eq!(report(summary, "not/an id")["reason"], "bad-row");
    assert_eq!(app.incident(&good).status, "Closed");
    assert_eq!(app.incident(&source).status, "Closed");
    assert_eq!(
        app.incident(&paused).status,
        "New",
        "nothing is decided from an unreadable row"
    );
}

#[tokio::test]
async fn a_backlog_is_worked_oldest_alert_change_first_and_stuck_incidents_go_last() {
    let app = spawn_app().await;
    // Alert changes 6, 5, 4, … 1 days ago, seeded in a shuffled order.
    let mut names: Vec<(i64, String)> = [3, 6, 1, 5, 2, 4]
        .into_iter()
        .map(|days| (days, app.seed("New", &[("Resolved", DFC, days)]).0))
        .collect();
    // The oldest one holds an alert only the REST API shows, still New: it stays open.
    let stuck = names.iter().find(|(d, _)| *d == 6).unwrap().1.clone();
    app.sim.attach_alert(
        &stuck,
        AlertSeed {
            status: "New".into(),
            ..AlertSeed::default()
        },
    );
    // Reads take 300 ms, so each run works in clear waves of four.
    app.sim.inject(Fault {
        target: FaultTarget::IncidentGet,
        kind: FaultKind::Delay(std::time::Duration::from_millis(300)),
        times: 100,
    });
    succeeded(&app.run_timer().await);
    names.sort_by_key(|(d, _)| -d);
    let oldest_first: Vec<String> = names.iter().map(|(_, n)| n.clone()).collect();
    let order = get_order(&app, &oldest_first);
    // Four are synced at a time: the first four started are the four oldest.
    let started: std::collections::BTreeSet<&String> = order[..4].iter().collect();
    let expected: std::collections::BTreeSet<&String> = oldest_first[..4].iter().collect();
    assert_eq!(started, expected, "oldest alert change first: {order:?}");
    assert_eq!(app.incident(&stuck).status, "New");

    // Next run: the stuck one, although its alert change is still the oldest, goes after the
    // newer ones: it is not in the first wave.
    let others: Vec<String> = (0..7).map(|_| app.seed("New", &[("Resolved", DFC, 1)]).0).collect();
    app.sim.clear_requests();
    succeeded(&app.run_timer().await);
    let mut all = others.clone();
    all.push(stuck.clone());
    let order = get_order(&app, &all);
    assert_eq!(order.len(), 8, "{order:?}");
    assert!(
        !order[..4].contains(&stuck),
        "the stuck incident waits for the others: {order:?}"
    );
}

#[tokio::test]
async fn a_query_slower_than_a_minute_is_waited_for_and_sent_once() {
    let app = spawn_app().await;
    let (name, _) = app.seed("New", &[("Resolved", DFC, 1)]);
    // Slower than azure_core's 60 s read timeout, well inside the service's limit; every copy
    // would be this slow.
    app.sim.inject(Fault {
        target: FaultTarget::Query,
        kind: FaultKind::Delay(std::time::Duration::from_secs(65)),
        times: 6,
    });
    let (_, summary) = succeeded(&app.run_timer().await);
    assert_eq!(summary["closed"], 1, "{summary:#}");
    assert_eq!(app.incident(&name).status, "Closed");
    let prefer = app.sim.query_prefer_headers();
    assert_eq!(prefer.len(), 1, "sent once: {prefer:?}");
    let wait: u64 = prefer[0]
        .strip_prefix("wait=")
        .and_then(|w| w.parse().ok())
        .expect("Prefer: wait=<s>");
    assert!(
        (200..=240).contains(&wait),
        "the service is asked to wait as long as the run may: {wait}"
    );
}

#[tokio::test]
async fn a_query_that_times_out_on_our_side_is_not_sent_again() {
    let app = spawn_app_with(SimConfig::default(), &[("SYNC_RUN_BUDGET_SECONDS", "10")], &[]).await;
    let (name, _) = app.seed("New", &[("Resolved", DFC, 1)]);
    app.sim.inject(Fault {
        target: FaultTarget::Query,
        kind: FaultKind::Delay(std::time::Duration::from_secs(30)),
        times: 6,
    });
    let invocation = app.run_timer().await;
    assert_eq!(invocation.http_status, 500);
    assert!(
        invocation.raw_body.contains("not sent again"),
        "{}",
        invocation.raw_body
    );
    let prefer = app.sim.query_prefer_headers();
    assert_eq!(prefer.len(), 1, "one copy, never re-sent: {prefer:?}");
    assert!(prefer[0].starts_with("wait="), "{prefer:?}");
    assert_eq!(app.incident(&name).status, "New");
}

//! `TimerInfo` payloads as the timer extension builds them, relative to now.
//!
//! Mirrors the four variants of `timer-payload-variants.json`: `Next` is this run's scheduled
//! time (whole seconds), `Last`/`LastUpdated` the previous run's invocation time (with a 7-digit
//! fraction), all written as local-kind dates in UTC, so with `+00:00` and never `Z`. The
//! emulator assumes a five-minute schedule for the previous-run arithmetic; the handler must
//! not depend on the exact spacing anyway.

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use serde_json::{Value, json};

use crate::wire::{DOTNET_MIN_LOCAL, dotnet_local};

/// Spacing assumed between occurrences (the product's default `0 */5 * * * *`).
const PERIOD: TimeDelta = TimeDelta::minutes(5);

/// The scheduled time of a run firing now: the current minute, since the timer fires on time.
fn this_occurrence() -> DateTime<Utc> {
    Utc::now()
        .duration_trunc(TimeDelta::minutes(1))
        .expect("minute truncation cannot overflow")
}

/// A previous invocation time: the occurrence plus the few milliseconds the listener takes.
fn invoked_at(occurrence: DateTime<Utc>) -> DateTime<Utc> {
    occurrence + TimeDelta::nanoseconds(9_603_500)
}

/// Builds a `TimerInfo` JSON object.
fn timer_info(status: Option<(String, String)>, past_due: bool) -> Value {
    let status = match status {
        Some((last, next)) => json!({ "Last": last, "Next": next, "LastUpdated": last }),
        None => Value::Null,
    };
    json!({ "Schedule": { "AdjustForDST": true }, "ScheduleStatus": status, "IsPastDue": past_due })
}

/// A normal scheduled run with the schedule monitor on (`scheduled_run_with_monitor`).
pub fn scheduled() -> Value {
    let next = this_occurrence();
    timer_info(
        Some((dotnet_local(&invoked_at(next - PERIOD)), dotnet_local(&next))),
        false,
    )
}

/// The first run with the monitor on and no stored status yet
/// (`first_run_with_monitor_no_stored_status`): `Last` is `0001-01-01T00:00:00+00:00`.
pub fn first_run() -> Value {
    timer_info(
        Some((DOTNET_MIN_LOCAL.to_string(), dotnet_local(&this_occurrence()))),
        false,
    )
}

/// A run fired at host start because an occurrence was missed (`past_due_run_at_host_start`):
/// `Next` is the missed occurrence, in the past, and `IsPastDue` is true.
pub fn past_due() -> Value {
    let missed = this_occurrence() - PERIOD * 2;
    timer_info(
        Some((dotnet_local(&invoked_at(missed - PERIOD)), dotnet_local(&missed))),
        true,
    )
}

/// A run with `useMonitor: false` or a sub-minute schedule
/// (`use_monitor_false_or_sub_minute_schedule`): `ScheduleStatus` is null.
pub fn no_monitor() -> Value {
    timer_info(None, false)
}

/// `Metadata.RetryContext` as the host adds it when host.json has a retry policy (first attempt).
pub fn retry_context(retry_count: u32, max_retry_count: u32) -> Value {
    json!({
        "RetryCount": retry_count,
        "MaxRetryCount": max_retry_count,
        "Exception": null,
        "Instance": null,
        "State": {}
    })
}

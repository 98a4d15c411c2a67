//! Time handling shared by the tables and the REST API. Kusto and ARM keep 100 ns ticks, so every
//! instant the simulator stores is cut to that precision once, and printed like Kusto prints it.

use chrono::{DateTime, SubsecRound, Utc};

/// The current time cut to 100 ns ticks.
pub fn now() -> DateTime<Utc> {
    to_ticks(Utc::now())
}

/// Cuts an instant to 100 ns ticks, as Kusto stores datetimes.
pub fn to_ticks(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(7)
}

/// ISO-8601 UTC with up to 7 fractional digits and trailing zeros dropped, like
/// `2015-12-31T23:59:59.9Z` in the recorded Log Analytics responses.
pub fn format(t: DateTime<Utc>) -> String {
    use chrono::Timelike;
    // chrono has no 7-digit specifier, so print the 100 ns ticks by hand.
    let ticks = t.nanosecond() % 1_000_000_000 / 100;
    let full = format!("{}.{ticks:07}", t.format("%Y-%m-%dT%H:%M:%S"));
    let trimmed = full.trim_end_matches('0').trim_end_matches('.');
    format!("{trimmed}Z")
}

/// Parses an RFC 3339 timestamp from a request body.
pub fn parse(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| to_ticks(t.with_timezone(&Utc)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_trims_like_kusto() {
        let t = parse("2026-11-23T10:15:42.1234567Z").unwrap();
        assert_eq!(format(t), "2026-11-23T10:15:42.1234567Z");
        let t = parse("2015-12-31T23:59:59.900Z").unwrap();
        assert_eq!(format(t), "2015-12-31T23:59:59.9Z");
        let t = parse("2015-12-31T23:59:59Z").unwrap();
        assert_eq!(format(t), "2015-12-31T23:59:59Z");
    }
}

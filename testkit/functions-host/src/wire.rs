//! Small encodings the host inherits from .NET, reproduced so payloads look like the host's.
//!
//! Newtonsoft writes `DateTime` as `yyyy-MM-ddTHH:mm:ss.FFFFFFF` plus `Z` (UTC kind) or the
//! offset (local kind), trimming trailing zeros of the 7-digit fraction. ASP.NET Core parses the
//! query string into a case-insensitive multi-map and `QueryHelpers.AddQueryString` re-encodes it.

use chrono::{DateTime, Timelike, Utc};

/// The 7-digit fraction with trailing zeros trimmed, as `FFFFFFF` formats it (empty when zero).
fn fraction(dt: &DateTime<Utc>) -> String {
    // .NET ticks are 100 ns; `nanosecond()` can exceed 1e9 only on a leap second.
    let ticks = (dt.nanosecond() % 1_000_000_000) / 100;
    if ticks == 0 {
        return String::new();
    }
    let digits = format!("{ticks:07}");
    format!(".{}", digits.trim_end_matches('0'))
}

/// A UTC-kind `DateTime` as Newtonsoft writes it, e.g. `2026-09-24T13:10:00.0159374Z`.
pub fn dotnet_utc(dt: &DateTime<Utc>) -> String {
    format!("{}{}Z", dt.format("%Y-%m-%dT%H:%M:%S"), fraction(dt))
}

/// A local-kind `DateTime` in a UTC time zone (Azure's default), e.g. `2026-09-24T13:10:00+00:00`.
pub fn dotnet_local(dt: &DateTime<Utc>) -> String {
    format!("{}{}+00:00", dt.format("%Y-%m-%dT%H:%M:%S"), fraction(dt))
}

/// `default(DateTime).ToLocalTime()` as the timer writes it before any status is stored.
pub const DOTNET_MIN_LOCAL: &str = "0001-01-01T00:00:00+00:00";

/// Decodes `%XX` escapes (and `+` as space, as ASP.NET's query parser does); bad escapes stay literal.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes everything but RFC 3986 unreserved characters, like `UrlEncoder.Default`.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The query as ASP.NET Core sees it: keys in first-seen order (matched case-insensitively),
/// each with all its decoded values.
pub fn parse_query(query: &str) -> Vec<(String, Vec<String>)> {
    let mut entries: Vec<(String, Vec<String>)> = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (percent_decode(k), percent_decode(v));
        match entries.iter_mut().find(|(key, _)| key.eq_ignore_ascii_case(&k)) {
            Some((_, values)) => values.push(v),
            None => entries.push((k, vec![v])),
        }
    }
    entries
}

/// The query string the host forwards: `StringValues.ToString()` joins repeated values with a
/// comma, and `QueryHelpers.AddQueryString` re-encodes each key and value. Includes the `?`.
pub fn rebuild_query(entries: &[(String, Vec<String>)]) -> String {
    let mut out = String::new();
    for (k, values) in entries {
        out.push(if out.is_empty() { '?' } else { '&' });
        out.push_str(&percent_encode(k));
        out.push('=');
        out.push_str(&percent_encode(&values.join(",")));
    }
    out
}

/// Standard base64 (with padding), for binary bodies the host puts in JSON as `byte[]`.
pub fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn dates_trim_the_fraction_like_newtonsoft() {
        let whole = Utc.with_ymd_and_hms(2026, 9, 24, 13, 10, 0).unwrap();
        assert_eq!(dotnet_local(&whole), "2026-09-24T13:10:00+00:00");
        let frac = whole + chrono::Duration::nanoseconds(15_937_400);
        assert_eq!(dotnet_utc(&frac), "2026-09-24T13:10:00.0159374Z");
        let trailing = whole + chrono::Duration::milliseconds(500);
        assert_eq!(dotnet_local(&trailing), "2026-09-24T13:10:00.5+00:00");
    }

    #[test]
    fn query_is_grouped_case_insensitively_and_reencoded() {
        let q = parse_query("code=a%2Bb&Name=x+y&name=z&flag");
        assert_eq!(q[0], ("code".to_string(), vec!["a+b".to_string()]));
        assert_eq!(q[1].1, vec!["x y".to_string(), "z".to_string()]);
        assert_eq!(rebuild_query(&q), "?code=a%2Bb&Name=x%20y%2Cz&flag=");
        assert_eq!(rebuild_query(&[]), "");
        assert_eq!(percent_decode("bad%zzend%4"), "bad%zzend%4");
    }

    #[test]
    fn base64_matches_rfc4648_vectors() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }
}

//! Opt-in model of Azure Resource Manager throttling ([`crate::ArmThrottle`]): one token bucket per
//! operation class per subscription (one principal, one region): ARM keeps its buckets "per
//! subscription, per principal and per operation type" (Microsoft Learn, "Understand how Azure
//! Resource Manager throttles requests"); the server gives the workspaces of one subscription one
//! `Throttle`. Reads
//! (`GET`, `HEAD`) take from the read bucket, writes (`PUT`, `PATCH`, `POST`, `DELETE`; ARM counts
//! POST actions such as `…/incidents/{id}/alerts` as writes) from the write bucket. A bucket
//! refills continuously: `tokens = min(burst, tokens + rate × elapsed)`. A request that finds its
//! bucket without a whole token is answered 429 with `Retry-After` (whole seconds, rounded up,
//! at least 1) and does not consume anything. Identity and Log Analytics requests are not ARM
//! requests and are never counted.

use std::time::{Duration, Instant};

use axum::http::{HeaderValue, header};
use axum::response::Response;

use crate::config::ArmThrottle;
use crate::server::error_response;

/// The two ARM operation classes the model distinguishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpClass {
    /// `GET`/`HEAD`.
    Read,
    /// `PUT`/`PATCH`/`POST`/`DELETE`.
    Write,
}

impl OpClass {
    /// The class of an ARM request with this (upper-case) method.
    pub(crate) fn of(method: &str) -> OpClass {
        match method {
            "GET" | "HEAD" | "OPTIONS" => OpClass::Read,
            _ => OpClass::Write,
        }
    }

    /// Word used in ARM's headers and messages.
    fn word(self) -> &'static str {
        match self {
            OpClass::Read => "reads",
            OpClass::Write => "writes",
        }
    }
}

/// One continuously refilled token bucket.
#[derive(Debug, Clone)]
pub(crate) struct Bucket {
    /// Largest number of tokens (the burst).
    burst: f64,
    /// Tokens added per second.
    rate: f64,
    /// Tokens now (fractional between refills).
    tokens: f64,
    /// When `tokens` was last brought up to date.
    last: Instant,
}

impl Bucket {
    /// A full bucket.
    pub(crate) fn new(burst: f64, rate: f64, now: Instant) -> Bucket {
        let burst = burst.max(0.0);
        Bucket {
            burst,
            rate: rate.max(0.0),
            tokens: burst,
            last: now,
        }
    }

    /// Adds what accrued since the last update, capped at the burst.
    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + self.rate * elapsed).min(self.burst);
        self.last = self.last.max(now);
    }

    /// Takes one token at `now`: `Ok(tokens left)`, or `Err(Retry-After)` (whole seconds, rounded
    /// up, at least 1 s) when less than one token is available; a refused request takes nothing.
    pub(crate) fn try_take(&mut self, now: Instant) -> Result<f64, Duration> {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Ok(self.tokens);
        }
        let secs = if self.rate > 0.0 {
            ((1.0 - self.tokens) / self.rate).ceil().clamp(1.0, 86_400.0) as u64
        } else {
            86_400
        };
        Err(Duration::from_secs(secs))
    }

    /// Tokens available at `now` (after refill), for headers and tests.
    pub(crate) fn available(&mut self, now: Instant) -> f64 {
        self.refill(now);
        self.tokens
    }
}

/// The read and write buckets of the simulated principal in one subscription.
#[derive(Debug, Clone)]
pub(crate) struct Throttle {
    /// Read bucket.
    reads: Bucket,
    /// Write bucket.
    writes: Bucket,
}

/// What the throttle says about one ARM request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Verdict {
    /// Let it through; whole tokens left in its bucket.
    Allowed {
        /// The request's class.
        class: OpClass,
        /// Whole tokens left.
        remaining: u64,
    },
    /// 429 with this `Retry-After`.
    Throttled {
        /// The request's class.
        class: OpClass,
        /// Wait before the next request of this class can pass.
        retry_after: Duration,
    },
}

impl Throttle {
    /// Full buckets sized by `config`.
    pub(crate) fn new(config: &ArmThrottle, now: Instant) -> Throttle {
        Throttle {
            reads: Bucket::new(config.read_burst, config.read_rate, now),
            writes: Bucket::new(config.write_burst, config.write_rate, now),
        }
    }

    /// Counts one ARM request with `method` at `now`.
    pub(crate) fn check(&mut self, method: &str, now: Instant) -> Verdict {
        let class = OpClass::of(method);
        let bucket = match class {
            OpClass::Read => &mut self.reads,
            OpClass::Write => &mut self.writes,
        };
        match bucket.try_take(now) {
            Ok(left) => Verdict::Allowed {
                class,
                remaining: left.floor() as u64,
            },
            Err(retry_after) => Verdict::Throttled { class, retry_after },
        }
    }

    /// Tokens available now in (reads, writes).
    pub(crate) fn available(&mut self, now: Instant) -> (f64, f64) {
        (self.reads.available(now), self.writes.available(now))
    }
}

/// Name of ARM's remaining-quota header for `class`.
fn remaining_header(class: OpClass) -> &'static str {
    match class {
        OpClass::Read => "x-ms-ratelimit-remaining-subscription-reads",
        OpClass::Write => "x-ms-ratelimit-remaining-subscription-writes",
    }
}

/// Adds `x-ms-ratelimit-remaining-subscription-{reads,writes}` to an answered ARM request.
pub(crate) fn add_remaining(response: &mut Response, class: OpClass, remaining: u64) {
    response
        .headers_mut()
        .insert(remaining_header(class), HeaderValue::from(remaining));
}

/// ARM's 429: `Retry-After` in whole seconds and the `TooManyRequests` CloudError body.
pub(crate) fn too_many_requests(
    class: OpClass,
    retry_after: Duration,
    subscription: &str,
    principal: &str,
) -> Response {
    let secs = retry_after.as_secs().max(1);
    let mut response = error_response(
        429,
        "TooManyRequests",
        &format!(
            "Number of '{}' requests for subscription '{subscription}' actor '{principal}' exceeded. \
             Please try again after '{secs}' seconds after additional tokens are available. \
             Refer to https://aka.ms/arm-throttling",
            class.word().trim_end_matches('s'),
        ),
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    add_remaining(&mut response, class, 0);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(start: Instant, ms: u64) -> Instant {
        start + Duration::from_millis(ms)
    }

    #[test]
    fn burst_then_refusal_with_rounded_up_retry_after() {
        let t0 = Instant::now();
        let mut b = Bucket::new(3.0, 10.0, t0);
        assert_eq!(b.try_take(t0), Ok(2.0));
        assert_eq!(b.try_take(t0), Ok(1.0));
        assert_eq!(b.try_take(t0), Ok(0.0));
        // 0.1 s short of a token: rounded up to the 1 s minimum.
        assert_eq!(b.try_take(t0), Err(Duration::from_secs(1)));
        // A refused request takes nothing: 100 ms later exactly one token is there.
        assert!(b.try_take(at(t0, 100)).is_ok());
        assert!(b.try_take(at(t0, 100)).is_err());
    }

    #[test]
    fn refill_is_continuous_and_capped_at_the_burst() {
        let t0 = Instant::now();
        let mut b = Bucket::new(200.0, 10.0, t0);
        for _ in 0..200 {
            b.try_take(t0).unwrap();
        }
        assert!((b.available(at(t0, 250)) - 2.5).abs() < 1e-9);
        assert!((b.available(at(t0, 3_000)) - 30.0).abs() < 1e-9);
        assert_eq!(b.available(at(t0, 3_600_000)), 200.0);
    }

    #[test]
    fn retry_after_is_whole_seconds_rounded_up() {
        let t0 = Instant::now();
        // Slow refill: 0.25 token/s, so an empty bucket needs 4 s for one token.
        let mut b = Bucket::new(1.0, 0.25, t0);
        b.try_take(t0).unwrap();
        assert_eq!(b.try_take(t0), Err(Duration::from_secs(4)));
        // 1.5 s later 0.375 token: 2.5 s missing, answered as 3 s.
        assert_eq!(b.try_take(at(t0, 1_500)), Err(Duration::from_secs(3)));
    }

    #[test]
    fn classes_use_separate_buckets_and_post_is_a_write() {
        let t0 = Instant::now();
        let cfg = ArmThrottle {
            read_burst: 2.0,
            read_rate: 1.0,
            write_burst: 1.0,
            write_rate: 1.0,
        };
        let mut t = Throttle::new(&cfg, t0);
        assert!(matches!(
            t.check("POST", t0),
            Verdict::Allowed {
                class: OpClass::Write,
                remaining: 0
            }
        ));
        assert!(matches!(
            t.check("PUT", t0),
            Verdict::Throttled {
                class: OpClass::Write,
                ..
            }
        ));
        assert!(matches!(
            t.check("DELETE", t0),
            Verdict::Throttled {
                class: OpClass::Write,
                ..
            }
        ));
        assert!(matches!(
            t.check("GET", t0),
            Verdict::Allowed {
                class: OpClass::Read,
                remaining: 1
            }
        ));
        assert!(matches!(
            t.check("GET", t0),
            Verdict::Allowed {
                class: OpClass::Read,
                remaining: 0
            }
        ));
        assert!(matches!(
            t.check("GET", t0),
            Verdict::Throttled {
                class: OpClass::Read,
                ..
            }
        ));
    }
}

/// The knobs over real HTTP: latency on every request, 429 bodies and headers, what is counted.
#[cfg(test)]
mod http_tests {
    use std::time::{Duration, Instant};

    use serde_json::Value;

    use crate::{AlertSeed, ArmThrottle, AzureSim, IncidentSeed, SimConfig};

    async fn token(http: &reqwest::Client, sim: &AzureSim, resource: &str) -> String {
        let url = format!("{}?api-version=2019-08-01&resource={resource}", sim.identity_endpoint());
        let resp = http
            .get(url)
            .header("metadata", "true")
            .header("X-IDENTITY-HEADER", sim.identity_header())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        resp.json::<Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    fn incident_url(sim: &AzureSim, id: &str, rest: &str) -> String {
        format!(
            "{}{}/providers/Microsoft.SecurityInsights/incidents/{id}{rest}?api-version=2025-09-01",
            sim.base_url(),
            sim.workspace().resource_id()
        )
    }

    #[tokio::test]
    async fn default_config_neither_delays_nor_throttles() {
        let sim = AzureSim::start(SimConfig::default()).await.unwrap();
        assert_eq!(sim.arm_tokens(), None);
        let http = reqwest::Client::new();
        let arm = token(&http, &sim, "https://management.azure.com").await;
        let id = sim.add_incident(IncidentSeed::default());
        for _ in 0..300 {
            let r = http
                .get(incident_url(&sim, &id, ""))
                .bearer_auth(&arm)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            assert!(r.headers().get("x-ms-ratelimit-remaining-subscription-reads").is_none());
        }
        assert_eq!(sim.throttled_requests(), 0);
    }

    #[tokio::test]
    async fn writes_bucket_empties_into_arm_429_and_refills() {
        let sim = AzureSim::start(SimConfig {
            latency: Duration::from_millis(30),
            arm_throttle: Some(ArmThrottle {
                read_burst: 3.0,
                read_rate: 1.0,
                write_burst: 2.0,
                write_rate: 4.0,
            }),
            ..SimConfig::default()
        })
        .await
        .unwrap();
        let http = reqwest::Client::new();
        // Token requests are not ARM requests: never counted, but delayed like every request.
        let started = Instant::now();
        let arm = token(&http, &sim, "https://management.azure.com").await;
        assert!(started.elapsed() >= Duration::from_millis(30));
        let alert = sim.add_alert(AlertSeed::default());
        let id = sim.add_incident(IncidentSeed {
            alert_ids: vec![alert],
            ..IncidentSeed::default()
        });
        // POST …/alerts is an ARM action: it takes a write token.
        let r = http
            .post(incident_url(&sim, &id, "/alerts"))
            .bearer_auth(&arm)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["x-ms-ratelimit-remaining-subscription-writes"], "1");
        let comment = |n: u32| {
            http.put(incident_url(&sim, &id, &format!("/comments/c{n}")))
                .bearer_auth(&arm)
                .header("content-type", "application/json")
                .body(r#"{"properties":{"message":"hi"}}"#)
                .send()
        };
        assert_eq!(comment(1).await.unwrap().status(), 201);
        let throttled = comment(2).await.unwrap();
        assert_eq!(throttled.status(), 429);
        assert_eq!(throttled.headers()["retry-after"], "1");
        let body: Value = throttled.json().await.unwrap();
        assert_eq!(body["error"]["code"], "TooManyRequests");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("try again after '1' seconds")
        );
        // Reads have their own bucket.
        let r = http
            .get(incident_url(&sim, &id, ""))
            .bearer_auth(&arm)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["x-ms-ratelimit-remaining-subscription-reads"], "2");
        // 4 writes/s: after 300 ms (plus the 30 ms latency) one token is back.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(comment(3).await.unwrap().status(), 201);
        assert_eq!(sim.throttled_requests(), 1);
        let statuses: Vec<u16> = sim.requests().iter().map(|r| r.status).collect();
        assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 1);
        // The Log Analytics query is not ARM either.
        let la = token(&http, &sim, "https://api.loganalytics.io").await;
        for _ in 0..5 {
            let r = http
                .post(format!(
                    "{}/v1/workspaces/{}/query",
                    sim.base_url(),
                    sim.workspace().workspace_id
                ))
                .bearer_auth(&la)
                .header("content-type", "application/json")
                .body(serde_json::json!({"query": AzureSim::sync_query(30)}).to_string())
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
        }
        assert_eq!(sim.throttled_requests(), 1);
    }
}

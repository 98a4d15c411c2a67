//! Client-side pacing for Azure Resource Manager. ARM throttles with token buckets "per
//! subscription, per principal and per operation type" (and per region): reads 250 burst + 25/s,
//! writes 200 burst + 10/s, POST actions counting as writes (Microsoft Learn, "Understand how
//! Azure Resource Manager throttles requests", request-limits-and-throttling.md). Sending faster
//! only buys 429s, and a burst of 429s exhausts the retry policy. So every request first takes a
//! token from a local bucket of the same shape, kept per subscription (the one its URL names):
//! the workspaces of one subscription share it, and those of another subscription (an MSSP's
//! customers) have their own. When ARM answers 429 anyway (another tool shares the principal, or
//! the region's limit is lower) that subscription's bucket is emptied, so its requests in flight
//! slow down together while other subscriptions go on; the retry policy then waits for the
//! service's `Retry-After`.
//!
//! Interactive calls (the webhook: a playbook waits for its answer) have priority over the timer
//! run within each subscription: background calls leave a reserve in each bucket ([`READ_RESERVE`], [`WRITE_RESERVE`])
//! that only interactive calls may take, so a webhook call never queues behind a run that has
//! drained the write budget.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex as StdMutex, PoisonError},
    time::Duration,
};

use async_trait::async_trait;
use azure_core::http::{
    Context, Method, Request, StatusCode,
    policies::{Policy, PolicyResult},
};
use tokio::{sync::Mutex, time::Instant};

/// A token bucket: `capacity` tokens, refilled continuously at `rate` per second.
#[derive(Debug)]
pub struct Bucket {
    capacity: f64,
    rate: f64,
    state: Mutex<(f64, Instant)>,
}

impl Bucket {
    /// A full bucket.
    pub fn new(capacity: f64, rate: f64) -> Self {
        Self {
            capacity,
            rate,
            state: Mutex::new((capacity, Instant::now())),
        }
    }

    /// Waits until a token is available beyond `reserve` (tokens kept for others) and takes it.
    pub async fn acquire(&self, reserve: f64) {
        let need = 1.0 + reserve.clamp(0.0, (self.capacity - 1.0).max(0.0));
        loop {
            let wait = {
                let mut state = self.state.lock().await;
                let now = Instant::now();
                let (tokens, last) = *state;
                let tokens = (tokens + self.rate * now.duration_since(last).as_secs_f64()).min(self.capacity);
                if tokens >= need {
                    *state = (tokens - 1.0, now);
                    return;
                }
                *state = (tokens, now);
                Duration::from_secs_f64((need - tokens) / self.rate)
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// Empties the bucket (the service said we are over its limit).
    pub async fn drain(&self) {
        *self.state.lock().await = (0.0, Instant::now());
    }
}

/// Read tokens background calls leave for interactive ones (1 s of ARM's read refill).
pub const READ_RESERVE: f64 = 25.0;
/// Write tokens background calls leave for interactive ones (2 s of ARM's write refill: a
/// handful of webhook calls at once, each one PUT and one comment).
pub const WRITE_RESERVE: f64 = 20.0;

/// Marks a request as interactive in its pipeline context (see the module doc).
#[derive(Debug, Clone, Copy)]
pub struct Interactive;

/// The ARM read and write buckets of one principal in one subscription.
#[derive(Debug)]
struct Buckets {
    reads: Bucket,
    writes: Bucket,
}

impl Buckets {
    /// ARM's published limits.
    fn arm_defaults() -> Self {
        Self {
            reads: Bucket::new(250.0, 25.0),
            writes: Bucket::new(200.0, 10.0),
        }
    }
}

/// The principal's buckets per subscription, as a pipeline policy. There is one entry per
/// subscription the deployment's workspaces are in (their URLs are the only ones it sees).
#[derive(Debug, Clone, Default)]
pub struct ArmPacing {
    subscriptions: Arc<StdMutex<HashMap<String, Arc<Buckets>>>>,
}

impl ArmPacing {
    /// Buckets with ARM's published limits, made for each subscription on its first request.
    pub fn arm_defaults() -> Self {
        Self::default()
    }

    /// The buckets of the subscription `path` names (`/subscriptions/{id}/…`, case-insensitive;
    /// a path that names none shares one set).
    fn buckets(&self, path: &str) -> (String, Arc<Buckets>) {
        let subscription = subscription_of(path).unwrap_or_default();
        let mut map = self.subscriptions.lock().unwrap_or_else(PoisonError::into_inner);
        let buckets = map
            .entry(subscription.clone())
            .or_insert_with(|| Arc::new(Buckets::arm_defaults()))
            .clone();
        (subscription, buckets)
    }
}

/// The subscription id a Resource Manager path starts with, lower-cased.
fn subscription_of(path: &str) -> Option<String> {
    let mut segments = path.trim_start_matches('/').split('/');
    match (segments.next(), segments.next()) {
        (Some(first), Some(id)) if first.eq_ignore_ascii_case("subscriptions") && !id.is_empty() => {
            Some(id.to_ascii_lowercase())
        }
        _ => None,
    }
}

#[async_trait]
impl Policy for ArmPacing {
    async fn send(&self, ctx: &Context, request: &mut Request, next: &[Arc<dyn Policy>]) -> PolicyResult {
        let interactive = ctx.value::<Interactive>().is_some();
        let (subscription, buckets) = self.buckets(request.url().path());
        let (bucket, reserve) = if request.method() == Method::Get {
            (&buckets.reads, READ_RESERVE)
        } else {
            (&buckets.writes, WRITE_RESERVE)
        };
        bucket.acquire(if interactive { 0.0 } else { reserve }).await;
        let response = next[0].send(ctx, request, &next[1..]).await?;
        if response.status() == StatusCode::TooManyRequests {
            tracing::warn!(method = %request.method(), %subscription, "Resource Manager throttled this request (429); slowing down this subscription's requests");
            bucket.drain().await;
        }
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_paced_per_subscription() {
        let pacing = ArmPacing::arm_defaults();
        let (a, bucket_a) = pacing.buckets("/subscriptions/AAAA-1/resourceGroups/rg/providers/x");
        let (a2, bucket_a2) = pacing.buckets("/subscriptions/aaaa-1/resourceGroups/other/providers/y");
        let (b, bucket_b) = pacing.buckets("/subscriptions/bbbb-2/resourceGroups/rg");
        assert_eq!((a.as_str(), a2.as_str(), b.as_str()), ("aaaa-1", "aaaa-1", "bbbb-2"));
        assert!(
            Arc::ptr_eq(&bucket_a, &bucket_a2),
            "one subscription, one set of buckets"
        );
        assert!(!Arc::ptr_eq(&bucket_a, &bucket_b), "another subscription, its own");
        assert_eq!(subscription_of("/providers/Microsoft.Web"), None);
    }

    #[tokio::test(start_paused = true)]
    async fn the_bucket_allows_its_burst_then_paces_at_its_rate() {
        let bucket = Bucket::new(5.0, 10.0);
        let start = Instant::now();
        for _ in 0..5 {
            bucket.acquire(0.0).await;
        }
        assert!(start.elapsed() < Duration::from_millis(1), "burst is immediate");
        for _ in 0..10 {
            bucket.acquire(0.0).await;
        }
        let paced = start.elapsed();
        assert!(
            paced >= Duration::from_millis(990) && paced <= Duration::from_millis(1100),
            "{paced:?}"
        );
        bucket.drain().await;
        let before = Instant::now();
        bucket.acquire(0.0).await;
        assert!(before.elapsed() >= Duration::from_millis(99));
    }

    #[tokio::test(start_paused = true)]
    async fn background_calls_leave_the_reserve_to_interactive_ones() {
        let bucket = Bucket::new(10.0, 10.0);
        let start = Instant::now();
        // Background: only the 7 tokens above a reserve of 3 come at once.
        for _ in 0..7 {
            bucket.acquire(3.0).await;
        }
        assert!(start.elapsed() < Duration::from_millis(1));
        // Interactive calls still find the 3 reserved tokens at once.
        for _ in 0..3 {
            bucket.acquire(0.0).await;
        }
        assert!(start.elapsed() < Duration::from_millis(1), "the reserve was kept");
        // The next background call waits until the reserve is refilled and one more token.
        bucket.acquire(3.0).await;
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_millis(390) && waited <= Duration::from_millis(420),
            "{waited:?}"
        );
    }
}

//! Client-side pacing for Azure Resource Manager. ARM throttles each principal with token
//! buckets per region: reads 250 burst + 25/s, writes 200 burst + 10/s (POST actions count as
//! writes). Sending faster only buys 429s, and a burst of 429s exhausts the retry policy. So
//! every request first takes a token from a local bucket with the same shape; when ARM answers
//! 429 anyway (another tool shares the principal, or the region's limit is lower) the bucket is
//! emptied so every request in flight slows down together, and the retry policy then waits for
//! the service's `Retry-After`.
//!
//! Interactive calls (the webhook: a playbook waits for its answer) have priority over the timer
//! run: background calls leave a reserve in each bucket ([`READ_RESERVE`], [`WRITE_RESERVE`])
//! that only interactive calls may take, so a webhook call never queues behind a run that has
//! drained the write budget.

use std::{sync::Arc, time::Duration};

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

/// The ARM read and write buckets of one principal, as a pipeline policy.
#[derive(Debug, Clone)]
pub struct ArmPacing {
    reads: Arc<Bucket>,
    writes: Arc<Bucket>,
}

impl ArmPacing {
    /// Buckets with ARM's published per-principal limits.
    pub fn arm_defaults() -> Self {
        Self {
            reads: Arc::new(Bucket::new(250.0, 25.0)),
            writes: Arc::new(Bucket::new(200.0, 10.0)),
        }
    }
}

#[async_trait]
impl Policy for ArmPacing {
    async fn send(&self, ctx: &Context, request: &mut Request, next: &[Arc<dyn Policy>]) -> PolicyResult {
        let interactive = ctx.value::<Interactive>().is_some();
        let (bucket, reserve) = if request.method() == Method::Get {
            (&self.reads, READ_RESERVE)
        } else {
            (&self.writes, WRITE_RESERVE)
        };
        bucket.acquire(if interactive { 0.0 } else { reserve }).await;
        let response = next[0].send(ctx, request, &next[1..]).await?;
        if response.status() == StatusCode::TooManyRequests {
            tracing::warn!(method = %request.method(), "Resource Manager throttled this request (429); slowing down");
            bucket.drain().await;
        }
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

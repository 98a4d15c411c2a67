//! The principal's query queue of the Log Analytics query API: at most `slots` queries of one
//! user or principal run at once, across every workspace; the others wait in a FIFO queue, and a
//! query that waited longer than `max_wait` is answered 429 ("5 concurrent queries per user; a
//! query waiting more than 3 minutes in the queue gets 429": MicrosoftDocs/azure-monitor-docs,
//! `articles/azure-monitor/logs/includes/azure-monitor-limits-log-queries.md`). The 429's body
//! is not documented; this one says what happened. Each query holds its slot for `run_time`, as
//! a real query takes time in the engine. Off unless `SimConfig::query_queue` is set; shared by
//! every workspace of a fleet (one principal).

use std::{
    sync::atomic::{AtomicUsize, Ordering},
    time::Duration,
};

use axum::response::{IntoResponse, Response};

/// The queue's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryQueue {
    /// Queries that run at once (the service: 5).
    pub slots: usize,
    /// Longest wait in the queue before a 429 (the service: 3 minutes).
    pub max_wait: Duration,
    /// How long each query runs once it has a slot.
    pub run_time: Duration,
}

/// The queue at run time.
#[derive(Debug)]
pub(crate) struct Gate {
    shape: QueryQueue,
    slots: tokio::sync::Semaphore,
    running: AtomicUsize,
    /// Most queries seen running at once.
    pub peak: AtomicUsize,
    /// Queries answered 429 because they waited too long.
    pub rejected: AtomicUsize,
}

impl Gate {
    pub(crate) fn new(shape: QueryQueue) -> Self {
        Self {
            shape,
            slots: tokio::sync::Semaphore::new(shape.slots),
            running: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            rejected: AtomicUsize::new(0),
        }
    }

    /// Waits for a slot and holds it for the run time; `Err` with the 429 when the wait was too
    /// long. The answer is computed after this returns.
    pub(crate) async fn pass(&self) -> Result<(), Response> {
        let Ok(Ok(_slot)) = tokio::time::timeout(self.shape.max_wait, self.slots.acquire()).await else {
            self.rejected.fetch_add(1, Ordering::Relaxed);
            return Err((
                axum::http::StatusCode::TOO_MANY_REQUESTS,
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                serde_json::json!({ "error": {
                    "code": "TooManyRequests",
                    "message": format!(
                        "The query waited more than {} ms in the queue of this principal's queries ({} run at once)",
                        self.shape.max_wait.as_millis(),
                        self.shape.slots
                    ),
                }})
                .to_string(),
            )
                .into_response());
        };
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        // Counted down also when the client gives up and the request is dropped mid-run.
        let _running = Running(&self.running);
        tokio::time::sleep(self.shape.run_time).await;
        Ok(())
    }
}

struct Running<'a>(&'a AtomicUsize);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

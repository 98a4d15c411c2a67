//! Fault injection: a queue of misbehaviours the tests ask for (throttling, slowness, partial
//! results, dropped connections). Faults are consumed in insertion order among those matching a
//! request's target, so a test can script "429, then 500, then normal".

use std::time::Duration;

/// Which kind of request a fault applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultTarget {
    /// `GET /msi/token`.
    Token,
    /// Log Analytics query (POST or GET).
    Query,
    /// `GET …/incidents/{id}`.
    IncidentGet,
    /// `PUT …/incidents/{id}`.
    IncidentPut,
    /// `POST …/incidents/{id}/alerts` (every page).
    AlertsList,
    /// `PUT …/incidents/{id}/comments/{commentId}`.
    CommentPut,
    /// `GET` of the workspace resource (`…/Microsoft.OperationalInsights/workspaces/{name}`): where
    /// a deployment without `SENTINEL_WORKSPACE_ID` reads the workspace's id.
    WorkspaceGet,
    /// Any Sentinel (ARM) request.
    AnyArm,
}

impl FaultTarget {
    /// Whether a fault aimed at `self` applies to a request classified as `request`.
    pub(crate) fn matches(self, request: FaultTarget) -> bool {
        self == request || (self == FaultTarget::AnyArm && !matches!(request, FaultTarget::Token | FaultTarget::Query))
    }
}

/// What the simulator does instead of (or before) answering normally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultKind {
    /// Answer with this status, an error body and, if given, a `Retry-After` header.
    Status {
        /// HTTP status code.
        code: u16,
        /// `Retry-After` value in seconds.
        retry_after_secs: Option<u64>,
    },
    /// Wait, then answer normally.
    Delay(Duration),
    /// Query only: 200 with the real tables plus the recorded `PartialError` object (its inner
    /// error is the result-size limit, `E_QUERY_RESULT_SET_TOO_LARGE`).
    PartialError,
    /// Query only: 200 with the real tables plus a `PartialError` that is not about size: the
    /// engine ran short of memory on part of the data (Kusto's documented partial query failure
    /// `E_LOW_MEMORY_CONDITION`, "Query execution lacks memory resources to complete (80DA0007)").
    PartialFailure,
    /// Query: the recorded 504 GatewayTimeout body; elsewhere a generic 504.
    GatewayTimeout,
    /// Wait, then close the connection without answering.
    Stall(Duration),
    /// Answer 200 with a JSON body that is not the documented shape (`{"unexpected":true}`):
    /// a broken or impostor endpoint.
    Garbage,
    /// Answer 200 with a JSON document of `bytes` bytes (one long string), with its
    /// `Content-Length`, or in chunks without one when `chunked`: an answer larger than the
    /// service ever sends (a broken or impostor endpoint, or a proxy gone wrong).
    HugeBody {
        /// Size of the body.
        bytes: usize,
        /// Sent in chunks, with no `Content-Length`.
        chunked: bool,
    },
    /// The write is applied, then its reply is lost: the caller gets this status instead (504
    /// from the gateway, as ARM answers when the resource provider replies too late; 500, 502)
    /// with the generic error body. The pipeline's retry then carries a stale etag.
    AppliedThenStatus(u16),
    /// The write is applied, then the connection is closed without an answer (a reset, or a
    /// client timeout that fired after the service had committed the change).
    AppliedThenDropped,
    /// Query only: 204 No Content with an empty body, the documented answer for a workspace that
    /// has no data (MicrosoftDocs/azure-monitor-docs `articles/azure-monitor/logs/api/errors.md`;
    /// case `no-data-in-workspace` of `tests/fixtures/loganalytics-api/documented-errors/errors.json`).
    /// Other targets answer normally.
    NoContent,
}

/// One scripted fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// Requests it applies to.
    pub target: FaultTarget,
    /// What happens.
    pub kind: FaultKind,
    /// How many matching requests it affects before it is used up.
    pub times: u32,
}

/// Pending faults in insertion order.
#[derive(Debug, Default)]
pub(crate) struct FaultQueue {
    /// Faults not yet used up.
    pending: Vec<Fault>,
}

impl FaultQueue {
    /// Adds a fault behind the others.
    pub(crate) fn push(&mut self, fault: Fault) {
        if fault.times > 0 {
            self.pending.push(fault);
        }
    }

    /// Takes one use of the first fault matching `target`, if any.
    pub(crate) fn take(&mut self, target: FaultTarget) -> Option<FaultKind> {
        let pos = self.pending.iter().position(|f| f.target.matches(target))?;
        let fault = &mut self.pending[pos];
        fault.times -= 1;
        let kind = fault.kind.clone();
        if fault.times == 0 {
            self.pending.remove(pos);
        }
        Some(kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consumed_in_order_per_target() {
        let mut q = FaultQueue::default();
        let s = |code| FaultKind::Status {
            code,
            retry_after_secs: None,
        };
        q.push(Fault {
            target: FaultTarget::Query,
            kind: s(429),
            times: 2,
        });
        q.push(Fault {
            target: FaultTarget::AnyArm,
            kind: s(500),
            times: 1,
        });
        q.push(Fault {
            target: FaultTarget::Query,
            kind: s(503),
            times: 1,
        });
        assert_eq!(q.take(FaultTarget::Token), None);
        assert_eq!(q.take(FaultTarget::IncidentPut), Some(s(500)));
        assert_eq!(q.take(FaultTarget::IncidentPut), None);
        assert_eq!(q.take(FaultTarget::Query), Some(s(429)));
        assert_eq!(q.take(FaultTarget::Query), Some(s(429)));
        assert_eq!(q.take(FaultTarget::Query), Some(s(503)));
        assert_eq!(q.take(FaultTarget::Query), None);
    }
}

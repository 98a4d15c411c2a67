//! The Log Analytics query API (`POST {endpoint}/v1/workspaces/{id}/query`); its typed result
//! tables are [`super::table`]. One client serves every workspace of the deployment: it holds the connection pool and
//! the principal's query slots ([`MAX_CONCURRENT_QUERIES`]). Columns are found by name, never by
//! position; values are checked against the column type the service declares; `dynamic` cells arrive as JSON text and are parsed again.
//! A `PartialError` (200 with an `error` object) fails the query: acting on half a result could
//! close incidents whose other alerts were simply missing.

use std::sync::Arc;

use azure_core::{
    credentials::TokenCredential,
    http::{Method, Url},
};
use serde::Deserialize;

pub use super::table::{Cell, Column, ColumnRef, Reader, Table};
use super::{AzureError, transport::ServiceClient};
use crate::domain::WorkspaceGuid;

const SERVICE: &str = "Log Analytics";
/// The longest a query may run: the service's limit with `Prefer: wait=600`.
pub const MAX_QUERY_TIME: std::time::Duration = std::time::Duration::from_secs(600);
/// Retries of a query answered 429 or 5xx (or not reached), within its time.
const MAX_QUERY_RETRIES: u32 = 5;
/// Queries one principal may have running at once: Log Analytics answers 429 to more ("up to 5
/// concurrent queries per user", Azure Monitor service limits, Log Analytics query API). With
/// several workspaces, their queries wait for a slot here instead of being throttled.
pub const MAX_CONCURRENT_QUERIES: usize = 5;

/// Client of the query API, for any workspace.
#[derive(Debug, Clone)]
pub struct LogsClient {
    client: ServiceClient,
    endpoint: Url,
    slots: Arc<tokio::sync::Semaphore>,
}

impl LogsClient {
    /// A client of the query API at `endpoint`, with tokens for `scope`; fails when its HTTP
    /// client cannot be built.
    pub fn new(endpoint: &Url, credential: Arc<dyn TokenCredential>, scope: &'static str) -> Result<Self, AzureError> {
        Ok(Self {
            client: ServiceClient::for_long_requests(SERVICE, credential, scope)?,
            endpoint: endpoint.clone(),
            slots: Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT_QUERIES)),
        })
    }

    fn query_url(&self, workspace: &WorkspaceGuid) -> Url {
        let mut url = self.endpoint.clone();
        url.path_segments_mut()
            .expect("an http(s) URL has path segments")
            .pop_if_empty()
            .extend(["v1", "workspaces", workspace.as_str(), "query"]);
        url
    }

    /// Runs `query` and returns its primary result table, or `None` when the service answers
    /// 204 No Content: the documented answer for a workspace that has no data
    /// (MicrosoftDocs/azure-monitor-docs `articles/azure-monitor/logs/api/errors.md`), which
    /// carries no table, hence no columns to check.
    ///
    /// The query may run for up to `timeout` (at most the service's 10 minutes): the request asks
    /// the service to wait that long (`Prefer: wait=<seconds>`; without it the service stops after
    /// 3 minutes) and is abandoned after it. An abandoned query is never sent again: its first
    /// copy may still run server-side and count against the 5 concurrent queries a principal may
    /// run. Throttling (429) and server errors are retried, honouring `Retry-After`, within
    /// `timeout`.
    ///
    /// At most [`MAX_CONCURRENT_QUERIES`] queries of this client are in flight at once; the wait
    /// for a slot counts against `timeout`.
    pub async fn query(
        &self,
        workspace: &WorkspaceGuid,
        query: &str,
        timeout: std::time::Duration,
    ) -> Result<Option<Table>, AzureError> {
        let deadline = tokio::time::Instant::now() + timeout.min(MAX_QUERY_TIME);
        let query_url = self.query_url(workspace);
        let body = serde_json::json!({ "query": query });
        let mut retries = 0;
        let answer = loop {
            let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
            if remaining < std::time::Duration::from_secs(1) {
                return Err(AzureError::Transport {
                    service: SERVICE,
                    message: format!("no answer within {} s", timeout.as_secs()),
                });
            }
            // One of the principal's query slots first; the service is asked to wait only for the
            // time left after it. (The semaphore is never closed.)
            let slot = match tokio::time::timeout(remaining, self.slots.acquire()).await {
                Ok(slot) => slot.ok(),
                Err(_) => {
                    return Err(AzureError::Transport {
                        service: SERVICE,
                        message: format!(
                            "no query slot became free within {} s: this identity's {MAX_CONCURRENT_QUERIES} queries (the service's limit) were all running; the query was not sent",
                            timeout.as_secs()
                        ),
                    });
                }
            };
            let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
            let prefer = [(
                "prefer",
                format!("wait={}", remaining.as_secs().clamp(1, MAX_QUERY_TIME.as_secs())),
            )];
            let send = self
                .client
                .send_with(Method::Post, query_url.clone(), Some(&body), &prefer);
            let answer = tokio::time::timeout(remaining, send).await;
            drop(slot);
            let answer = match answer {
                Err(_) => {
                    return Err(AzureError::Transport {
                        service: SERVICE,
                        message: format!(
                            "the query did not answer within {} s; it is not sent again in this run (its first copy may still be running in the service)",
                            timeout.as_secs()
                        ),
                    });
                }
                Ok(answer) => answer,
            };
            let pause = match &answer {
                Ok(a) if matches!(a.status, 429 | 500 | 502 | 503 | 504) => {
                    a.retry_after.map(std::time::Duration::from_secs)
                }
                Err(AzureError::Transport { .. }) => None,
                _ => break answer?,
            };
            retries += 1;
            if retries > MAX_QUERY_RETRIES {
                break answer?;
            }
            let pause = pause.unwrap_or(std::time::Duration::from_millis(250 << retries));
            if tokio::time::Instant::now() + pause >= deadline {
                break answer?;
            }
            tokio::time::sleep(pause).await;
        };
        if answer.status == 204 {
            return Ok(None);
        }
        if answer.status != 200 {
            return Err(answer.into_error(SERVICE));
        }
        if answer.body.is_empty() {
            // The documented answer to a request the service did not understand as JSON.
            return Err(AzureError::Decode {
                service: SERVICE,
                message: "empty body (the service did not read the request as JSON)".into(),
            });
        }
        let parse_started = std::time::Instant::now();
        let bytes = answer.body.len();
        let response: QueryResponse = answer.json(SERVICE)?;
        drop(answer);
        tracing::info!(
            bytes,
            rows = response.tables.first().map_or(0, |t| t.rows.len()),
            parse_ms = parse_started.elapsed().as_millis() as u64,
            "query answered"
        );
        if let Some(error) = response.error {
            let details: Vec<String> = error
                .details
                .iter()
                .map(|d| {
                    d.innererror
                        .as_ref()
                        .and_then(|i| i.message.clone())
                        .or_else(|| d.message.clone())
                        .unwrap_or_default()
                })
                .collect();
            return Err(AzureError::Status {
                service: SERVICE,
                status: 200,
                code: error.code.unwrap_or_else(|| "PartialError".into()),
                message: format!("{} {}", error.message.unwrap_or_default(), details.join("; "))
                    .trim()
                    .to_owned(),
            });
        }
        response
            .tables
            .into_iter()
            .next()
            .map(Some)
            .ok_or_else(|| AzureError::Decode {
                service: SERVICE,
                message: "the response has no tables".into(),
            })
    }
}

/// The body of a query answer.
#[derive(Debug, Deserialize)]
pub struct QueryResponse {
    /// Result tables; the first is `PrimaryResult`.
    pub tables: Vec<Table>,
    /// Present on a partial failure.
    #[serde(default)]
    pub error: Option<QueryError>,
}

/// The error object of a query answer.
#[derive(Debug, Deserialize)]
pub struct QueryError {
    /// For example `PartialError`.
    #[serde(default)]
    pub code: Option<String>,
    /// Top-level message.
    #[serde(default)]
    pub message: Option<String>,
    /// Per-part errors.
    #[serde(default)]
    pub details: Vec<QueryErrorDetail>,
}

/// One detail of a query error.
#[derive(Debug, Deserialize)]
pub struct QueryErrorDetail {
    /// Detail message.
    #[serde(default)]
    pub message: Option<String>,
    /// The engine's inner error.
    #[serde(default)]
    pub innererror: Option<InnerError>,
}

/// The engine's error under a detail.
#[derive(Debug, Deserialize)]
pub struct InnerError {
    /// The engine's message, such as the result-size limit.
    #[serde(default)]
    pub message: Option<String>,
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    fn reference(path: &str) -> Value {
        let full = format!(
            "{}/{path}",
            concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/loganalytics-api")
        );
        serde_json::from_str(&std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"))).unwrap()
    }

    #[test]
    fn recorded_typed_values_decode_by_column_type() {
        let body = reference("recorded/typed-values-200-truncated.json")["body"].clone();
        let response: QueryResponse = serde_json::from_value(body).unwrap();
        let table = &response.tables[0];
        let r = Reader::new(table);
        let row = &r.rows()[0];
        assert_eq!(r.integer(row, r.column("Int", &["int"]).unwrap()).unwrap(), Some(12345));
        assert_eq!(
            r.string(row, r.column("String", &["string"]).unwrap())
                .unwrap()
                .as_deref(),
            Some("string value")
        );
        let when = r
            .datetime(row, r.column("DateTime", &["datetime"]).unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(when.to_rfc3339(), "2015-12-31T23:59:59.900+00:00");
        let dynamic = r.dynamic(row, r.column("Dynamic", &["dynamic"]).unwrap()).unwrap();
        assert_eq!(dynamic["c"], serde_json::json!([1, 2, 3]));
        // A wrong type is a decode error naming the column, not a silent coercion.
        let err = r.column("Int", &["string"]).unwrap_err().to_string();
        assert!(err.contains("\"Int\""), "{err}");
        assert!(r.integer(row, r.column("String", &["string"]).unwrap()).is_err());
    }

    #[test]
    fn partial_error_body_is_recognised() {
        let body = reference("recorded/partial-error-200.json")["body"].clone();
        let response: QueryResponse = serde_json::from_value(body).unwrap();
        let error = response.error.expect("error object");
        assert_eq!(error.code.as_deref(), Some("PartialError"));
        assert!(
            error.details[0]
                .innererror
                .as_ref()
                .unwrap()
                .message
                .as_ref()
                .unwrap()
                .contains("E_QUERY_RESULT_SET_TOO_LARGE")
        );
        // A dynamic cell holding a plain string stays that string.
        let table = &response.tables[0];
        let r = Reader::new(table);
        let thread = r
            .dynamic(&r.rows()[0], r.column("Thread", &["dynamic"]).unwrap())
            .unwrap();
        assert_eq!(thread, Value::String("boundedElastic-1".into()));
    }
}

//! The Log Analytics query API (`POST {endpoint}/v1/workspaces/{id}/query`) and its typed result
//! tables. One client serves every workspace of the deployment: it holds the connection pool and
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
use serde_json::Value;

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
    /// A client of the query API at `endpoint`, with tokens for `scope`.
    pub fn new(endpoint: &Url, credential: Arc<dyn TokenCredential>, scope: &'static str) -> Self {
        Self {
            client: ServiceClient::for_long_requests(SERVICE, credential, scope),
            endpoint: endpoint.clone(),
            slots: Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT_QUERIES)),
        }
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

/// One result table.
#[derive(Debug, Clone, Deserialize)]
pub struct Table {
    /// Table name (`PrimaryResult`).
    pub name: String,
    /// Columns in order.
    pub columns: Vec<Column>,
    /// Rows, each as long as `columns`.
    pub rows: Vec<Box<[Cell]>>,
}

/// One cell of a result row, as compact as the values a query answer holds: a large answer (one
/// row per open incident) is kept in memory whole while it is read, so a cell costs 24 bytes plus
/// its text rather than a general JSON value.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// null.
    Null,
    /// true or false.
    Bool(bool),
    /// A whole number.
    Int(i64),
    /// Any other number.
    Float(f64),
    /// A string (dynamic values arrive as JSON text in a string).
    Str(Box<str>),
    /// An array or object sent as JSON rather than as text, kept as its JSON text.
    Json(Box<str>),
}

impl std::fmt::Display for Cell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Null => f.write_str("null"),
            Self::Bool(b) => write!(f, "{b}"),
            Self::Int(i) => write!(f, "{i}"),
            Self::Float(x) => write!(f, "{x}"),
            Self::Str(s) => write!(f, "{:?}", s),
            Self::Json(j) => f.write_str(j),
        }
    }
}

impl<'de> Deserialize<'de> for Cell {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Cell;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_unit<E>(self) -> Result<Cell, E> {
                Ok(Cell::Null)
            }
            fn visit_none<E>(self) -> Result<Cell, E> {
                Ok(Cell::Null)
            }
            fn visit_bool<E>(self, b: bool) -> Result<Cell, E> {
                Ok(Cell::Bool(b))
            }
            fn visit_i64<E>(self, i: i64) -> Result<Cell, E> {
                Ok(Cell::Int(i))
            }
            fn visit_u64<E>(self, u: u64) -> Result<Cell, E> {
                Ok(i64::try_from(u).map_or(Cell::Float(u as f64), Cell::Int))
            }
            fn visit_f64<E>(self, x: f64) -> Result<Cell, E> {
                Ok(Cell::Float(x))
            }
            fn visit_str<E>(self, s: &str) -> Result<Cell, E> {
                Ok(Cell::Str(s.into()))
            }
            fn visit_string<E>(self, s: String) -> Result<Cell, E> {
                Ok(Cell::Str(s.into_boxed_str()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Cell, A::Error> {
                let v = Value::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))?;
                Ok(Cell::Json(v.to_string().into_boxed_str()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Cell, A::Error> {
                let v = Value::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(Cell::Json(v.to_string().into_boxed_str()))
            }
        }
        deserializer.deserialize_any(Visit)
    }
}

/// A column of a result table.
#[derive(Debug, Clone, Deserialize)]
pub struct Column {
    /// Column name.
    pub name: String,
    /// Kusto type: bool, datetime, dynamic, int, long, real, string, guid, decimal, timespan.
    #[serde(rename = "type")]
    pub kind: String,
}

/// Reads cells of one table by column name.
#[derive(Debug)]
pub struct Reader<'a> {
    table: &'a Table,
}

/// A column found in a table: its position and type.
#[derive(Debug, Clone, Copy)]
pub struct ColumnRef<'a> {
    index: usize,
    name: &'a str,
    kind: &'a str,
}

impl<'a> Reader<'a> {
    /// Starts reading `table`.
    pub fn new(table: &'a Table) -> Self {
        Self { table }
    }

    /// Finds a column by name and checks its type is one of `kinds`.
    pub fn column(&self, name: &'a str, kinds: &[&str]) -> Result<ColumnRef<'a>, AzureError> {
        let (index, column) = self
            .table
            .columns
            .iter()
            .enumerate()
            .find(|(_, c)| c.name == name)
            .ok_or_else(|| decode(format!("the result has no column {name:?}")))?;
        if !kinds.contains(&column.kind.as_str()) {
            return Err(decode(format!(
                "column {name:?} has type {:?}, expected {}",
                column.kind,
                kinds.join(" or ")
            )));
        }
        Ok(ColumnRef {
            index,
            name,
            kind: &column.kind,
        })
    }

    /// The rows.
    pub fn rows(&self) -> &'a [Box<[Cell]>] {
        &self.table.rows
    }

    /// A string cell; null and "" both read as `None`.
    pub fn string(&self, row: &[Cell], column: ColumnRef<'_>) -> Result<Option<String>, AzureError> {
        match cell(row, column)? {
            Cell::Null => Ok(None),
            Cell::Str(s) if s.is_empty() => Ok(None),
            Cell::Str(s) => Ok(Some(s.to_string())),
            other => Err(decode(format!(
                "column {:?} holds {other}, expected a string",
                column.name
            ))),
        }
    }

    /// An int/long cell.
    pub fn integer(&self, row: &[Cell], column: ColumnRef<'_>) -> Result<Option<i64>, AzureError> {
        match cell(row, column)? {
            Cell::Null => Ok(None),
            Cell::Int(i) => Ok(Some(*i)),
            Cell::Float(n) => Err(decode(format!(
                "column {:?} holds {n}, expected a whole number",
                column.name
            ))),
            other => Err(decode(format!(
                "column {:?} holds {other}, expected a number",
                column.name
            ))),
        }
    }

    /// A bool cell (the query API sends `true`/`false`; null reads as `None`).
    pub fn boolean(&self, row: &[Cell], column: ColumnRef<'_>) -> Result<Option<bool>, AzureError> {
        match cell(row, column)? {
            Cell::Null => Ok(None),
            Cell::Bool(b) => Ok(Some(*b)),
            other => Err(decode(format!(
                "column {:?} holds {other}, expected true or false",
                column.name
            ))),
        }
    }

    /// A datetime cell.
    pub fn datetime(
        &self,
        row: &[Cell],
        column: ColumnRef<'_>,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>, AzureError> {
        match cell(row, column)? {
            Cell::Null => Ok(None),
            Cell::Str(s) if s.is_empty() => Ok(None),
            Cell::Str(s) => chrono::DateTime::parse_from_rfc3339(s)
                .map(|d| Some(d.with_timezone(&chrono::Utc)))
                .map_err(|e| decode(format!("column {:?} holds {s:?}, not a date-time ({e})", column.name))),
            other => Err(decode(format!(
                "column {:?} holds {other}, expected a date-time string",
                column.name
            ))),
        }
    }

    /// A dynamic cell: the service sends JSON text, which is parsed again. A dynamic cell that
    /// holds a plain string comes back as that string, so text that is not JSON is kept as a
    /// string value.
    pub fn dynamic(&self, row: &[Cell], column: ColumnRef<'_>) -> Result<Value, AzureError> {
        Ok(match cell(row, column)? {
            Cell::Str(s) if column.kind == "dynamic" => {
                serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.to_string()))
            }
            Cell::Str(s) => Value::String(s.to_string()),
            Cell::Json(j) => serde_json::from_str(j).unwrap_or(Value::Null),
            Cell::Null => Value::Null,
            Cell::Bool(b) => Value::Bool(*b),
            Cell::Int(i) => Value::from(*i),
            Cell::Float(x) => Value::from(*x),
        })
    }
}

fn cell<'v>(row: &'v [Cell], column: ColumnRef<'_>) -> Result<&'v Cell, AzureError> {
    row.get(column.index)
        .ok_or_else(|| decode(format!("a row is too short to have column {:?}", column.name)))
}

fn decode(message: String) -> AzureError {
    AzureError::Decode {
        service: SERVICE,
        message,
    }
}

#[cfg(test)]
mod tests {
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

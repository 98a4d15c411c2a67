//! Invocations as the host sends them, and the host's judgement of the handler's replies.
//!
//! The paths, as in `DefaultHttpWorkerService.InvokeAsync`:
//! - timer (and any non-forwarded function): a chunked JSON envelope `{"Data","Metadata"}` POSTed
//!   to `/<FunctionName>`; the reply must be 2xx, `application/json` or `text/json`, a JSON object
//!   (keys matched case-insensitively). An empty or `null` reply is not an error in the host: it
//!   never completes the invocation, which the emulator reports as [`Outcome::WouldHang`].
//! - proxied or forwarded HTTP (one httpTrigger in + one http out, and `enableProxyingHttpRequest`,
//!   checked first, or `enableForwardingHttpRequest`): the caller's request goes to the handler at
//!   its original path and the reply is relayed as is ([`crate::relay`]);
//! - HTTP envelope (neither): the request becomes `Data.req`, and `Outputs.res` becomes the
//!   caller's response; anything the host cannot use gives the caller a 500
//!   ([`crate::http_envelope`]).
//!
//! In front of both HTTP paths the host routes `api/<FunctionName>` case-insensitively (404 when
//! nothing matches, including a disallowed method) and checks the function key (401), so the
//! handler never sees such requests.

use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{CONTENT_TYPE, HeaderName, HeaderValue, USER_AGENT};
use serde_json::{Map, Value, json};

use crate::app::{HttpPath, get_ci};
use crate::http_envelope::dotnet_string;
use crate::wire::{dotnet_utc, parse_query};
use crate::{FunctionApp, FunctionDef, HOST_VERSION, HostError, Trigger};

/// Header carrying the host version on every request to the handler.
const HOST_VERSION_HEADER: &str = "X-Azure-Functions-HostVersion";
/// Header carrying the invocation id on every request to the handler.
const INVOCATION_ID_HEADER: &str = "X-Azure-Functions-InvocationId";
/// `functionTimeout` when host.json sets none (Dedicated/Premium/Flex default).
const DEFAULT_FUNCTION_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// A caller's HTTP request to `https://<app>/api/<Function>`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CallerRequest {
    /// The HTTP method, e.g. `POST`.
    pub method: String,
    /// Path and query as the caller sent them, e.g. `/api/SecurityAlertWebhook?code=k`.
    pub path_and_query: String,
    /// The caller's headers in order (no need for Content-Length; `body`/`chunked` define framing).
    pub headers: Vec<(String, String)>,
    /// The request body.
    pub body: Vec<u8>,
    /// Whether the caller sent the body chunked (no Content-Length); the host then drops it.
    pub chunked: bool,
}

impl CallerRequest {
    /// A non-chunked POST with a JSON body, the way a Sentinel playbook's HTTP action calls the webhook.
    pub fn post_json(path_and_query: impl Into<String>, body: impl Into<Vec<u8>>) -> Self {
        CallerRequest {
            method: "POST".into(),
            path_and_query: path_and_query.into(),
            headers: vec![("Content-Type".into(), "application/json; charset=utf-8".into())],
            body: body.into(),
            chunked: false,
        }
    }

    /// Adds a header (builder style).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// What the caller receives.
#[derive(Debug, Clone, PartialEq)]
pub struct CallerResponse {
    /// The HTTP status.
    pub status: u16,
    /// Response headers in order.
    pub headers: Vec<(String, String)>,
    /// The response body.
    pub body: Vec<u8>,
}

impl CallerResponse {
    /// A response the host produces itself (401, 404, 500): empty body.
    pub(crate) fn from_host(status: u16) -> Self {
        CallerResponse {
            status,
            headers: vec![("Content-Length".into(), "0".into())],
            body: Vec::new(),
        }
    }

    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as (lossy) UTF-8 text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One envelope invocation and the host's verdict on the reply.
#[derive(Debug, Clone, PartialEq)]
pub struct Invocation {
    /// The GUID sent in `X-Azure-Functions-InvocationId`.
    pub invocation_id: String,
    /// The handler's HTTP status.
    pub http_status: u16,
    /// How the host treats the reply.
    pub outcome: Outcome,
    /// The reply body as (lossy) UTF-8 text.
    pub raw_body: String,
}

/// How the host treats a handler's reply to an envelope invocation.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// 2xx, `application/json` or `text/json`, a JSON object; keys matched case-insensitively.
    Succeeded {
        /// `Logs`, which the host writes at Information under `Function.<Name>.User`.
        logs: Vec<String>,
        /// `Outputs` (an object; `{}` when absent).
        outputs: Value,
        /// `ReturnValue` (`null` when absent).
        return_value: Value,
    },
    /// The invocation fails: non-2xx (its `Logs` are dropped), wrong media type, or invalid JSON.
    Failed {
        /// The host's error message.
        reason: String,
    },
    /// 2xx with an empty body or literal `null`: the real host never completes the invocation
    /// and waits until functionTimeout, then restarts the handler.
    WouldHang {
        /// Why.
        reason: String,
    },
}

/// Sends invocations the way the host does and judges the replies by the host's rules.
#[derive(Debug, Clone)]
pub struct FunctionsHost {
    /// The handler's base URL, e.g. `http://127.0.0.1:PORT`, without a trailing slash.
    pub(crate) base_url: String,
    /// The indexed app.
    app: FunctionApp,
    /// Keys accepted for `authLevel: function`.
    function_keys: Vec<String>,
    /// Scheme and host callers use (`Host` default and `Data.req.Url`).
    pub(crate) public_origin: String,
    /// The host's single HttpClient for the handler (envelopes and forwarding).
    pub(crate) client: reqwest::Client,
    /// YARP's client for proxying: never follows redirects, no overall timeout (its
    /// `ActivityTimeout` of 240 s is an idle limit).
    pub(crate) proxy_client: reqwest::Client,
}

impl FunctionsHost {
    /// An emulated host in front of the handler at `handler_base_url`, accepting `function_keys`
    /// for `authLevel: function`. Callers appear to reach it at `http://localhost:7071` (Core Tools).
    pub fn new(handler_base_url: impl Into<String>, app: FunctionApp, function_keys: Vec<String>) -> Self {
        let timeout = app.function_timeout.unwrap_or(DEFAULT_FUNCTION_TIMEOUT) + Duration::from_secs(60);
        // AllowAutoRedirect = !EnableForwardingHttpRequest; no cookies; no proxy on loopback.
        let redirect = if app.forwarding {
            reqwest::redirect::Policy::none()
        } else {
            reqwest::redirect::Policy::default()
        };
        let client = reqwest::Client::builder()
            .redirect(redirect)
            .no_proxy()
            .timeout(timeout)
            .build()
            .expect("reqwest client builds");
        let proxy_client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .read_timeout(Duration::from_secs(240))
            .build()
            .expect("reqwest client builds");
        let base_url = handler_base_url.into().trim_end_matches('/').to_string();
        FunctionsHost {
            base_url,
            app,
            function_keys,
            public_origin: "http://localhost:7071".into(),
            client,
            proxy_client,
        }
    }

    /// Sets the scheme and host callers use, e.g. `https://myapp.azurewebsites.net`.
    pub fn with_public_origin(mut self, origin: impl Into<String>) -> Self {
        self.public_origin = origin.into().trim_end_matches('/').to_string();
        self
    }

    /// The app this host serves.
    pub fn app(&self) -> &FunctionApp {
        &self.app
    }

    /// POSTs `/<FunctionName>` with `{"Data":{"<binding>": timer},"Metadata":{"sys":{..}}}` (plus
    /// `Metadata.RetryContext` when `retry` is given), chunked, with the host's headers, and
    /// classifies the reply. Transport failures are `HostError::Unreachable`.
    pub async fn invoke_timer(
        &self,
        function: &str,
        timer: Value,
        retry: Option<Value>,
    ) -> Result<Invocation, HostError> {
        let def = self
            .app
            .function(function)
            .filter(|f| matches!(f.trigger, Trigger::Timer { .. }))
            .ok_or_else(|| HostError::UnknownFunction {
                name: function.into(),
                kind: "timer",
            })?;
        let mut metadata = Map::new();
        if let Some(retry) = retry {
            metadata.insert("RetryContext".into(), retry);
        }
        metadata.insert("sys".into(), sys(&def.name));
        let mut data = Map::new();
        data.insert(def.trigger_binding.clone(), timer);
        let body = json!({ "Data": data, "Metadata": metadata });
        self.post_envelope(&def.name, &body).await
    }

    /// A caller's request to the app: routing (404), key check (401), then the path the host's
    /// rule picks for the function ([`FunctionApp::http_path`]).
    pub async fn call_http(&self, req: CallerRequest) -> Result<CallerResponse, HostError> {
        let def = match self.admit(&req)? {
            Ok(def) => def,
            Err(rejection) => return Ok(rejection),
        };
        match self.app.http_path(def) {
            HttpPath::Proxy => self.proxy(def, req).await,
            HttpPath::Forward => self.forward(def, req).await,
            HttpPath::Envelope => self.envelope(def, req).await,
        }
    }

    /// Like [`FunctionsHost::call_http`] but always through the envelope, as with forwarding off.
    /// An empty or `null` handler reply is reported as `HostError::WouldHang`.
    pub async fn call_http_envelope(&self, req: CallerRequest) -> Result<CallerResponse, HostError> {
        match self.admit(&req)? {
            Ok(def) => self.envelope(def, req).await,
            Err(rejection) => Ok(rejection),
        }
    }

    /// Routing and authorization, which the host does before any function code runs: the inner
    /// `Err` is the host's own 404 or 401.
    fn admit(&self, req: &CallerRequest) -> Result<Result<&FunctionDef, CallerResponse>, HostError> {
        let (path, query) = split_path(&req.path_and_query)?;
        let Some(def) = self.route(&req.method, path) else {
            return Ok(Err(CallerResponse::from_host(404)));
        };
        if !self.authorized(def, req, query) {
            return Ok(Err(CallerResponse::from_host(401)));
        }
        Ok(Ok(def))
    }

    /// The HTTP function at `api/<name>` (case-insensitive, optional trailing slash) allowing `method`.
    fn route(&self, method: &str, path: &str) -> Option<&FunctionDef> {
        let path = path.strip_suffix('/').unwrap_or(path);
        let mut segments = path.strip_prefix('/')?.split('/');
        let (prefix, name) = (segments.next()?, segments.next()?);
        if segments.next().is_some() || !prefix.eq_ignore_ascii_case("api") {
            return None;
        }
        self.app.functions.iter().find(|f| {
            matches!(f.trigger, Trigger::Http)
                && f.name.eq_ignore_ascii_case(name)
                && (f.methods.is_empty() || f.methods.iter().any(|m| m.eq_ignore_ascii_case(method)))
        })
    }

    /// `AuthenticationLevelHandler`: the key comes from `x-functions-key` if present, else `?code=`.
    /// Only function keys are configured, so `admin` functions always get 401.
    fn authorized(&self, def: &FunctionDef, req: &CallerRequest, query: &str) -> bool {
        match def.auth_level.as_str() {
            "anonymous" => true,
            "function" => self
                .presented_key(req, query)
                .is_some_and(|k| self.function_keys.contains(&k)),
            _ => false,
        }
    }

    /// The key the caller presented, if any.
    fn presented_key(&self, req: &CallerRequest, query: &str) -> Option<String> {
        let header = req
            .headers
            .iter()
            .find(|(n, v)| n.eq_ignore_ascii_case("x-functions-key") && !v.is_empty())
            .map(|(_, v)| v.clone());
        header.or_else(|| {
            parse_query(query)
                .into_iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("code"))
                .map(|(_, values)| values.join(","))
        })
    }

    /// The `Host` the caller addressed: its own header, else the public origin's authority.
    pub(crate) fn caller_host(&self, req: &CallerRequest) -> String {
        req.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("host"))
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| {
                self.public_origin
                    .split_once("://")
                    .map_or(&*self.public_origin, |(_, h)| h)
                    .to_string()
            })
    }

    /// POSTs an envelope to `/<FunctionName>`: chunked JSON with the host's headers.
    pub(crate) async fn post_envelope(&self, function: &str, body: &Value) -> Result<Invocation, HostError> {
        let invocation_id = uuid::Uuid::new_v4().to_string();
        let url = format!("{}/{}", self.base_url, function);
        let bytes = Bytes::from(serde_json::to_vec(body).expect("JSON values serialize"));
        // ObjectContent has no precomputed length, so HttpClient streams it chunked.
        let stream = futures::stream::once(async move { Ok::<_, std::io::Error>(bytes) });
        let response = self
            .client
            .post(&url)
            .header(CONTENT_TYPE, "application/json; charset=utf-8")
            .header(HOST_VERSION_HEADER, HOST_VERSION)
            .header(INVOCATION_ID_HEADER, &invocation_id)
            .header(USER_AGENT, format!("Azure-Functions-Host/{HOST_VERSION}"))
            .body(reqwest::Body::wrap_stream(stream))
            .send()
            .await
            .map_err(|source| HostError::Unreachable {
                url: url.clone(),
                source,
            })?;
        let status = response.status();
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let reply = response
            .bytes()
            .await
            .map_err(|source| HostError::Unreachable { url, source })?;
        Ok(Invocation {
            invocation_id,
            http_status: status.as_u16(),
            outcome: classify(status, content_type.as_deref(), &reply),
            raw_body: String::from_utf8_lossy(&reply).into_owned(),
        })
    }
}

/// Judges an envelope reply as `DefaultHttpWorkerService` + `ReadAsAsync` do.
pub fn classify(status: reqwest::StatusCode, content_type: Option<&str>, body: &[u8]) -> Outcome {
    if !status.is_success() {
        // EnsureSuccessStatusCode: the body, and so its Logs, is never read.
        return Outcome::Failed {
            reason: format!(
                "Response status code does not indicate success: {} ({}).",
                status.as_u16(),
                status.canonical_reason().unwrap_or("Unknown")
            ),
        };
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Outcome::WouldHang {
            reason: "empty body: ReadAsAsync returns null and the host never completes the invocation".into(),
        };
    }
    let media_type = content_type
        .and_then(|ct| ct.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase())
        .unwrap_or_else(|| "application/octet-stream".into());
    if media_type != "application/json" && media_type != "text/json" {
        return Outcome::Failed {
            reason: format!(
                "Invalid HttpResponseMessage: No MediaTypeFormatter is available to read an object of type \
                 'HttpScriptInvocationResult' from content with media type '{media_type}'."
            ),
        };
    }
    let invalid = |why: &str| Outcome::Failed {
        reason: format!("Invalid HttpResponseMessage: {why}: {}", String::from_utf8_lossy(body)),
    };
    let object = match serde_json::from_slice::<Value>(body) {
        Err(e) => return invalid(&e.to_string()),
        Ok(Value::Null) => {
            return Outcome::WouldHang {
                reason: "body is the JSON literal null: the host never completes the invocation".into(),
            };
        }
        Ok(Value::Object(object)) => object,
        Ok(_) => return invalid("not a JSON object"),
    };
    let outputs = match get_ci(&object, "Outputs") {
        None | Some(Value::Null) => json!({}),
        Some(o @ Value::Object(_)) => o.clone(),
        Some(_) => return invalid("Outputs is not an object"),
    };
    let logs = match get_ci(&object, "Logs") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => {
            let mut logs = Vec::new();
            for item in items {
                match item {
                    Value::String(s) => logs.push(s.clone()),
                    Value::Null => {}
                    Value::Number(_) | Value::Bool(_) => logs.push(dotnet_string(item)),
                    _ => return invalid("Logs must hold strings"),
                }
            }
            logs
        }
        Some(_) => return invalid("Logs is not an array"),
    };
    let return_value = get_ci(&object, "ReturnValue").cloned().unwrap_or(Value::Null);
    Outcome::Succeeded {
        logs,
        outputs,
        return_value,
    }
}


/// `Metadata.sys` (`SystemBindingData`): method name, UTC now with `Z`, a fresh GUID.
pub(crate) fn sys(function: &str) -> Value {
    json!({
        "MethodName": function,
        "UtcNow": dotnet_utc(&chrono::Utc::now()),
        "RandGuid": uuid::Uuid::new_v4().to_string(),
    })
}


/// Splits `path_and_query` at `?`; the path must start with `/`.
pub(crate) fn split_path(path_and_query: &str) -> Result<(&str, &str), HostError> {
    let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
    if !path.starts_with('/') {
        return Err(HostError::InvalidRequest(format!(
            "path '{path_and_query}' must start with '/'"
        )));
    }
    Ok((path, query))
}

/// A header name from the caller, or `InvalidRequest`.
pub(crate) fn header_name(name: &str) -> Result<HeaderName, HostError> {
    HeaderName::from_bytes(name.as_bytes()).map_err(|_| HostError::InvalidRequest(format!("bad header name '{name}'")))
}

/// A header value from the caller, or `InvalidRequest`.
pub(crate) fn header_value(value: &str) -> Result<HeaderValue, HostError> {
    HeaderValue::from_str(value).map_err(|_| HostError::InvalidRequest(format!("bad header value '{value}'")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::StatusCode;

    #[test]
    fn classify_follows_the_host_rules() {
        let ok = classify(
            StatusCode::OK,
            Some("text/json"),
            br#"{"outputs":{"a":1},"logs":["x",2]}"#,
        );
        assert_eq!(
            ok,
            Outcome::Succeeded {
                logs: vec!["x".into(), "2".into()],
                outputs: json!({"a":1}),
                return_value: Value::Null
            }
        );
        assert!(matches!(
            classify(StatusCode::NO_CONTENT, None, b""),
            Outcome::WouldHang { .. }
        ));
        assert!(matches!(classify(StatusCode::OK, None, b"{}"), Outcome::Failed { .. }));
        assert!(matches!(
            classify(StatusCode::OK, Some("application/json"), b"[1]"),
            Outcome::Failed { .. }
        ));
        assert!(matches!(
            classify(StatusCode::OK, Some("application/json"), br#"{"Logs":"x"}"#),
            Outcome::Failed { .. }
        ));
    }
}

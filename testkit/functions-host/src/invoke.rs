//! Invocations as the host sends them, and the host's judgement of the handler's replies.
//!
//! Three paths, as in `DefaultHttpWorkerService`:
//! - timer (and any non-forwarded function): a chunked JSON envelope `{"Data","Metadata"}` POSTed
//!   to `/<FunctionName>`; the reply must be 2xx, `application/json` or `text/json`, a JSON object
//!   (keys matched case-insensitively). An empty or `null` reply is not an error in the host: it
//!   never completes the invocation, which the emulator reports as [`Outcome::WouldHang`].
//! - forwarded HTTP (`enableForwardingHttpRequest` and one httpTrigger in + one http out): the
//!   caller's request is copied to the handler at its original path and the reply is relayed as is.
//! - HTTP envelope (forwarding off): the request becomes `Data.req`, and `Outputs.res` becomes the
//!   caller's response; anything the host cannot use gives the caller a 500.
//!
//! In front of both HTTP paths the host routes `api/<FunctionName>` case-insensitively (404 when
//! nothing matches, including a disallowed method) and checks the function key (401), so the
//! handler never sees such requests.

use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, USER_AGENT};
use serde_json::{Map, Value, json};

use crate::app::get_ci;
use crate::wire::{base64, dotnet_utc, parse_query, rebuild_query};
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
    fn from_host(status: u16) -> Self {
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
    base_url: String,
    /// The indexed app.
    app: FunctionApp,
    /// Keys accepted for `authLevel: function`.
    function_keys: Vec<String>,
    /// Scheme and host callers use (`Host` default and `Data.req.Url`).
    public_origin: String,
    /// The host's single HttpClient for the handler.
    client: reqwest::Client,
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
        let base_url = handler_base_url.into().trim_end_matches('/').to_string();
        FunctionsHost {
            base_url,
            app,
            function_keys,
            public_origin: "http://localhost:7071".into(),
            client,
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

    /// A caller's request to the app: routing (404), key check (401), then forwarding when the
    /// app enables it and the function is HTTP-in-and-out, else the envelope path.
    pub async fn call_http(&self, req: CallerRequest) -> Result<CallerResponse, HostError> {
        let def = match self.admit(&req)? {
            Ok(def) => def,
            Err(rejection) => return Ok(rejection),
        };
        if self.app.forwarding && def.http_in_and_out {
            self.forward(def, req).await
        } else {
            self.envelope(def, req).await
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
    fn caller_host(&self, req: &CallerRequest) -> String {
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

    /// Forwarding (`ProcessHttpInAndOutInvocationRequest` + `ToHttpRequestMessage`).
    async fn forward(&self, _def: &FunctionDef, req: CallerRequest) -> Result<CallerResponse, HostError> {
        let (path, query) = split_path(&req.path_and_query)?;
        let url = format!("{}{}{}", self.base_url, path, rebuild_query(&parse_query(query)));
        let method = reqwest::Method::from_bytes(req.method.as_bytes())
            .map_err(|_| HostError::InvalidRequest(format!("bad method '{}'", req.method)))?;
        let invocation_id = uuid::Uuid::new_v4().to_string();
        let mut headers = HeaderMap::new();
        let mut user_agent = Vec::new();
        let mut content_type = None;
        let mut has_host = false;
        for (name, value) in &req.headers {
            match name.to_ascii_lowercase().as_str() {
                // Framing and hop-by-hop headers belong to the caller's connection.
                "content-length" | "transfer-encoding" | "connection" | "keep-alive" | "te" | "upgrade"
                | "proxy-connection" => {}
                // A content header: re-added only together with a body.
                "content-type" => content_type = Some(value.clone()),
                "user-agent" => user_agent.push(value.clone()),
                lower => {
                    has_host |= lower == "host";
                    headers.append(header_name(name)?, header_value(value)?);
                }
            }
        }
        if !has_host {
            headers.insert(reqwest::header::HOST, header_value(&self.caller_host(&req))?);
        }
        user_agent.push(format!("Azure-Functions-Host/{HOST_VERSION}"));
        headers.insert(USER_AGENT, header_value(&user_agent.join(" "))?);
        headers.append(
            HeaderName::from_static("x-azure-functions-hostversion"),
            HeaderValue::from_static(HOST_VERSION),
        );
        headers.append(
            HeaderName::from_static("x-azure-functions-invocationid"),
            header_value(&invocation_id)?,
        );
        let mut request = self.client.request(method, &url).headers(headers);
        // The body (and its Content-Type/Length) goes only when the caller sent Content-Length > 0.
        if !req.chunked && !req.body.is_empty() {
            if let Some(ct) = content_type {
                request = request.header(CONTENT_TYPE, header_value(&ct)?);
            }
            request = request.body(req.body);
        }
        let Ok(response) = request.send().await else {
            return Ok(CallerResponse::from_host(500));
        };
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        match response.bytes().await {
            Ok(body) => Ok(CallerResponse {
                status,
                headers,
                body: body.to_vec(),
            }),
            Err(_) => Ok(CallerResponse::from_host(500)),
        }
    }

    /// The HTTP envelope (`GetRequestAsJObject` + HTTP trigger binding data) and the mapping of
    /// `Outputs.<http output>` to the caller's response.
    async fn envelope(&self, def: &FunctionDef, req: CallerRequest) -> Result<CallerResponse, HostError> {
        let (path, query) = split_path(&req.path_and_query)?;
        let entries = parse_query(query);
        let body_sent = !req.chunked && !req.body.is_empty();

        // Headers as ASP.NET Core holds them: grouped by name, framing from the actual request.
        let mut grouped: Vec<(String, Vec<String>)> = Vec::new();
        let mut add = |name: &str, value: &str| match grouped.iter_mut().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
            Some((_, values)) => values.push(value.to_string()),
            None => grouped.push((canonical_header(name), vec![value.to_string()])),
        };
        for (name, value) in &req.headers {
            if !name.eq_ignore_ascii_case("content-length") && !name.eq_ignore_ascii_case("transfer-encoding") {
                add(name, value);
            }
        }
        if !req.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
            add("Host", &self.caller_host(&req));
        }
        if req.chunked {
            add("Transfer-Encoding", "chunked");
        } else if body_sent {
            add("Content-Length", &req.body.len().to_string());
        }
        let content_type = grouped
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-type"))
            .map(|(_, v)| v.join(",").to_ascii_lowercase())
            .unwrap_or_default();

        let scheme = self.public_origin.split_once("://").map_or("http", |(s, _)| s);
        let mut data_req = Map::new();
        data_req.insert(
            "Url".into(),
            json!(format!(
                "{scheme}://{}{}{}",
                self.caller_host(&req),
                path,
                raw_query(query)
            )),
        );
        data_req.insert("Method".into(), json!(req.method.to_ascii_uppercase()));
        data_req.insert(
            "Query".into(),
            entries.iter().map(|(k, v)| (k.clone(), json!(v.join(",")))).collect(),
        );
        data_req.insert(
            "Headers".into(),
            grouped.iter().map(|(k, v)| (k.clone(), json!(v))).collect(),
        );
        data_req.insert("Params".into(), json!({}));
        let keyed = def.auth_level == "function";
        data_req.insert(
            "Identities".into(),
            if keyed { json!([key_identity()]) } else { json!([]) },
        );
        if body_sent {
            // Binary media types arrive as byte[] (base64 in JSON); everything else as a string.
            let binary = content_type.starts_with("application/octet-stream") || content_type.starts_with("multipart/");
            let text = if binary {
                base64(&req.body)
            } else {
                String::from_utf8_lossy(&req.body).into_owned()
            };
            data_req.insert("Body".into(), json!(text));
        }

        let mut metadata = Map::new();
        if body_sent && let Ok(Value::Object(props)) = serde_json::from_slice::<Value>(&req.body) {
            for (k, v) in props {
                match v {
                    Value::Array(_) | Value::Null => {}
                    Value::Object(_) => {
                        metadata.insert(k, v);
                    }
                    scalar => {
                        metadata.insert(k, double_encoded(&dotnet_string(&scalar)));
                    }
                }
            }
        }
        for (k, values) in &entries {
            if !k.eq_ignore_ascii_case("code") {
                metadata.insert(k.clone(), double_encoded(&values.join(",")));
            }
        }
        metadata.insert(
            "Query".into(),
            entries
                .iter()
                .map(|(k, v)| (k.clone(), json!(v.last().cloned().unwrap_or_default())))
                .collect(),
        );
        metadata.insert(
            "Headers".into(),
            grouped.iter().map(|(k, v)| (k.clone(), json!(v.join(",")))).collect(),
        );
        metadata.insert("sys".into(), sys(&def.name));

        let mut data = Map::new();
        data.insert(def.trigger_binding.clone(), Value::Object(data_req));
        let body = json!({ "Data": data, "Metadata": metadata });
        let invocation = match self.post_envelope(&def.name, &body).await {
            Ok(invocation) => invocation,
            Err(HostError::Unreachable { .. }) => return Ok(CallerResponse::from_host(500)),
            Err(e) => return Err(e),
        };
        match invocation.outcome {
            Outcome::Succeeded {
                outputs, return_value, ..
            } => {
                let output = def.http_output.as_deref().unwrap_or("res");
                let res = if output == "$return" {
                    Some(&return_value)
                } else {
                    outputs.as_object().and_then(|o| get_ci(o, output))
                };
                Ok(http_output_response(res).unwrap_or_else(|| CallerResponse::from_host(500)))
            }
            Outcome::Failed { .. } => Ok(CallerResponse::from_host(500)),
            Outcome::WouldHang { reason } => Err(HostError::WouldHang {
                invocation_id: invocation.invocation_id,
                reason,
            }),
        }
    }

    /// POSTs an envelope to `/<FunctionName>`: chunked JSON with the host's headers.
    async fn post_envelope(&self, function: &str, body: &Value) -> Result<Invocation, HostError> {
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

/// Maps an http output value to the caller's response (`GetHttpOutputBindingResponse`,
/// `HttpBinding`, `RawScriptResult`); `None` when the host cannot parse it (caller gets 500).
fn http_output_response(res: Option<&Value>) -> Option<CallerResponse> {
    let object = match res {
        // No value for the http output: an empty response object is bound.
        None | Some(Value::Null) => {
            let headers = vec![(
                "Content-Type".to_string(),
                "application/json; charset=utf-8".to_string(),
            )];
            return Some(CallerResponse {
                status: 200,
                headers,
                body: b"{}".to_vec(),
            });
        }
        Some(Value::Object(o)) => o.clone(),
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Object(o)) => o,
            _ => return None,
        },
        Some(_) => return None,
    };
    let status_value = get_ci(&object, "statusCode")
        .filter(|v| !v.is_null())
        .or_else(|| get_ci(&object, "status"));
    let status = match status_value {
        Some(Value::String(s)) => s.trim().parse::<u16>().ok(),
        Some(Value::Number(n)) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
        _ => None,
    }
    .filter(|s| (100..=999).contains(s))
    .unwrap_or(200);
    let mut headers: Vec<(String, String)> = match get_ci(&object, "headers") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(h)) => h.iter().map(|(k, v)| (k.clone(), dotnet_string(v))).collect(),
        Some(_) => return None,
    };
    let (body, default_type) = match get_ci(&object, "body") {
        None | Some(Value::Null) => (Vec::new(), None),
        Some(Value::String(s)) => (s.clone().into_bytes(), Some("text/plain; charset=utf-8")),
        Some(v @ (Value::Object(_) | Value::Array(_))) => {
            let text = serde_json::to_string_pretty(v).expect("JSON values serialize");
            (text.into_bytes(), Some("application/json; charset=utf-8"))
        }
        Some(v) => (dotnet_string(v).into_bytes(), Some("text/plain; charset=utf-8")),
    };
    if let Some(default_type) = default_type
        && !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
    {
        headers.push(("Content-Type".into(), default_type.into()));
    }
    Some(CallerResponse { status, headers, body })
}

/// `Metadata.sys` (`SystemBindingData`): method name, UTC now with `Z`, a fresh GUID.
fn sys(function: &str) -> Value {
    json!({
        "MethodName": function,
        "UtcNow": dotnet_utc(&chrono::Utc::now()),
        "RandGuid": uuid::Uuid::new_v4().to_string(),
    })
}

/// The `WebJobsAuthLevel` identity a function key produces (layout approximated, see README).
fn key_identity() -> Value {
    let claim = |kind: &str, value: &str| {
        json!({
            "Issuer": "LOCAL AUTHORITY",
            "OriginalIssuer": "LOCAL AUTHORITY",
            "Properties": {},
            "Type": format!("http://schemas.microsoft.com/2017/07/functions/claims/{kind}"),
            "Value": value,
            "ValueType": "http://www.w3.org/2001/XMLSchema#string"
        })
    };
    json!({
        "AuthenticationType": "WebJobsAuthLevel",
        "IsAuthenticated": true,
        "Actor": null,
        "BootstrapContext": null,
        "Claims": [claim("authlevel", "Function"), claim("invoke", "true"), claim("keyid", "default")],
        "Label": null,
        "Name": null,
        "NameClaimType": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
        "RoleClaimType": "http://schemas.microsoft.com/ws/2008/06/identity/claims/role"
    })
}

/// A scalar as .NET's `ToString()` writes it (`True`/`False` for booleans).
fn dotnet_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        other => other.to_string(),
    }
}

/// A string JSON-encoded a second time, as `GetHttpScriptInvocationContextValue` does: `"\"x\""`.
fn double_encoded(s: &str) -> Value {
    Value::String(serde_json::to_string(s).expect("strings serialize"))
}

/// Splits `path_and_query` at `?`; the path must start with `/`.
fn split_path(path_and_query: &str) -> Result<(&str, &str), HostError> {
    let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
    if !path.starts_with('/') {
        return Err(HostError::InvalidRequest(format!(
            "path '{path_and_query}' must start with '/'"
        )));
    }
    Ok((path, query))
}

/// `Request.QueryString` as received: `?` plus the raw query, or nothing.
fn raw_query(query: &str) -> String {
    if query.is_empty() {
        String::new()
    } else {
        format!("?{query}")
    }
}

/// Kestrel's canonical casing for well-known headers; other names keep the caller's casing.
fn canonical_header(name: &str) -> String {
    const KNOWN: &[&str] = &[
        "Accept",
        "Accept-Encoding",
        "Accept-Language",
        "Authorization",
        "Cache-Control",
        "Connection",
        "Content-Encoding",
        "Content-Length",
        "Content-Type",
        "Cookie",
        "Expect",
        "Host",
        "Origin",
        "Referer",
        "Transfer-Encoding",
        "User-Agent",
    ];
    KNOWN
        .iter()
        .find(|k| k.eq_ignore_ascii_case(name))
        .map_or_else(|| name.to_string(), |k| k.to_string())
}

/// A header name from the caller, or `InvalidRequest`.
fn header_name(name: &str) -> Result<HeaderName, HostError> {
    HeaderName::from_bytes(name.as_bytes()).map_err(|_| HostError::InvalidRequest(format!("bad header name '{name}'")))
}

/// A header value from the caller, or `InvalidRequest`.
fn header_value(value: &str) -> Result<HeaderValue, HostError> {
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

    #[test]
    fn http_output_maps_status_body_and_headers() {
        let r = http_output_response(Some(
            &json!({"statusCode": "202", "body": "{\"a\":1}", "headers": {"Content-Type": "application/json"}}),
        ))
        .unwrap();
        assert_eq!(
            (r.status, r.text(), r.header("content-type")),
            (202, "{\"a\":1}".to_string(), Some("application/json"))
        );
        let r = http_output_response(Some(&json!({"Status": 409, "Body": {"a": 1}}))).unwrap();
        assert_eq!((r.status, r.text()), (409, "{\n  \"a\": 1\n}".to_string()));
        let r = http_output_response(Some(&json!("{\"status\":\"nope\"}"))).unwrap();
        assert_eq!((r.status, r.body.len()), (200, 0));
        let r = http_output_response(None).unwrap();
        assert_eq!((r.status, r.text()), (200, "{}".to_string()));
        assert!(http_output_response(Some(&json!(42))).is_none());
        assert!(http_output_response(Some(&json!({"headers": [1]}))).is_none());
    }
}

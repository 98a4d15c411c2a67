//! The two paths that hand the caller's own HTTP request to the handler, for an HTTP function
//! with exactly one `httpTrigger` in and one `http` out (`DefaultHttpWorkerService.InvokeAsync`):
//! - proxying (`enableProxyingHttpRequest`, checked first by current hosts): YARP's
//!   `IHttpForwarder` streams the request, path and query untouched, body included even when
//!   chunked, and streams the handler's reply back;
//! - forwarding (`enableForwardingHttpRequest`, the legacy setting): the request is rebuilt
//!   (`ToHttpRequestMessage`): query re-encoded, body only with `Content-Length > 0`.
//!
//! Either way the handler's status, headers and body reach the caller unchanged, and a handler
//! that cannot be reached gives the caller a 500.

use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, USER_AGENT};

use crate::invoke::{header_name, header_value, split_path};
use crate::wire::{parse_query, rebuild_query};
use crate::{CallerRequest, CallerResponse, FunctionDef, FunctionsHost, HOST_VERSION, HostError};

/// Headers that belong to the caller's connection, never relayed.
const HOP_BY_HOP: [&str; 7] = [
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "te",
    "upgrade",
    "proxy-connection",
];

impl FunctionsHost {
    /// Forwarding (`ProcessHttpInAndOutInvocationRequest` + `ToHttpRequestMessage`).
    pub(crate) async fn forward(&self, _def: &FunctionDef, req: CallerRequest) -> Result<CallerResponse, HostError> {
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
                lower if HOP_BY_HOP.contains(&lower) => {}
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
        host_headers(&mut headers, &invocation_id)?;
        let mut request = self.client.request(method, &url).headers(headers);
        // The body (and its Content-Type/Length) goes only when the caller sent Content-Length > 0.
        if !req.chunked && !req.body.is_empty() {
            if let Some(ct) = content_type {
                request = request.header(CONTENT_TYPE, header_value(&ct)?);
            }
            request = request.body(req.body);
        }
        relay(request).await
    }

    /// Proxying (`DefaultHttpWorkerService.ProxyInvocationRequest`, YARP `IHttpForwarder` with
    /// the host's transforms, per the 2025 host source summarised in the reference notes §5.4).
    /// YARP's default transformer drops the caller's `Host` (the handler sees its own address),
    /// adds `X-Forwarded-For/-Proto/-Host`, and copies every other header; the host adds its
    /// version, the invocation id and `x-ms-invocation-id`. The body is streamed as it came,
    /// chunked bodies included, and redirects are not followed.
    /// <https://learn.microsoft.com/dotnet/api/yarp.reverseproxy.forwarder.httptransformer.default>
    pub(crate) async fn proxy(&self, _def: &FunctionDef, req: CallerRequest) -> Result<CallerResponse, HostError> {
        split_path(&req.path_and_query)?;
        let url = format!("{}{}", self.base_url, req.path_and_query);
        let method = reqwest::Method::from_bytes(req.method.as_bytes())
            .map_err(|_| HostError::InvalidRequest(format!("bad method '{}'", req.method)))?;
        let invocation_id = uuid::Uuid::new_v4().to_string();
        let caller_host = self.caller_host(&req);
        let mut headers = HeaderMap::new();
        for (name, value) in &req.headers {
            let lower = name.to_ascii_lowercase();
            if HOP_BY_HOP.contains(&lower.as_str()) || lower == "host" {
                continue;
            }
            headers.append(header_name(name)?, header_value(value)?);
        }
        let scheme = self.public_origin.split_once("://").map_or("http", |(s, _)| s);
        headers.insert("x-forwarded-for", HeaderValue::from_static("127.0.0.1"));
        headers.insert("x-forwarded-proto", header_value(scheme)?);
        headers.insert("x-forwarded-host", header_value(&caller_host)?);
        host_headers(&mut headers, &invocation_id)?;
        headers.append(
            HeaderName::from_static("x-ms-invocation-id"),
            header_value(&invocation_id)?,
        );
        let mut request = self.proxy_client.request(method, &url).headers(headers);
        if req.chunked {
            let body = bytes::Bytes::from(req.body);
            let stream = futures::stream::once(async move { Ok::<_, std::io::Error>(body) });
            request = request.body(reqwest::Body::wrap_stream(stream));
        } else if !req.body.is_empty() {
            request = request.body(req.body);
        }
        relay(request).await
    }
}

/// The headers the host adds to every request it relays: its version and the invocation id.
fn host_headers(headers: &mut HeaderMap, invocation_id: &str) -> Result<(), HostError> {
    headers.append(
        HeaderName::from_static("x-azure-functions-hostversion"),
        HeaderValue::from_static(HOST_VERSION),
    );
    headers.append(
        HeaderName::from_static("x-azure-functions-invocationid"),
        header_value(invocation_id)?,
    );
    Ok(())
}

/// Sends the request to the handler and hands its reply to the caller as it is.
async fn relay(request: reqwest::RequestBuilder) -> Result<CallerResponse, HostError> {
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

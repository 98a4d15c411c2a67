//! Sending one request through an azure_core [`Pipeline`] and turning the answer into either a
//! status plus body or an [`AzureError`] that says which service failed and how. Status codes are
//! handled by the callers (a 404 or a 409 is an answer, not a failure), so the pipeline's own
//! success check is skipped; its retry policy still retries 408/429/5xx and connection errors.

use std::sync::Arc;

use azure_core::{
    credentials::TokenCredential,
    error::ErrorKind,
    http::{ClientOptions, Context, ExponentialRetryOptions, Method, Pipeline, Request, RetryOptions, Url},
    time::Duration,
};

use azure_core::http::policies::Policy;

use super::{
    error::{AzureError, chain},
    identity::BearerTokenPolicy,
};

/// A service's answer: status and body.
#[derive(Debug)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// Body bytes, as the transport received them (not copied).
    pub body: Body,
    /// How many times the pipeline sent the request (more than 1 after retries). An answer to a
    /// retried write does not say whether an earlier try was applied.
    pub tries: u32,
    /// The `Retry-After` the service asked for, in seconds.
    pub retry_after: Option<u64>,
}

/// A response body: the transport's buffer, read as bytes without a copy (a query answer can be
/// tens of megabytes).
pub struct Body(Box<dyn AsRef<[u8]> + Send + Sync>);

impl Body {
    /// A body holding `bytes`.
    pub fn new(bytes: impl AsRef<[u8]> + Send + Sync + 'static) -> Self {
        Self(Box::new(bytes))
    }
}

impl std::ops::Deref for Body {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        (*self.0).as_ref()
    }
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Body({} bytes)", self.len())
    }
}

/// Counts the tries of one request; lives in the request's pipeline [`Context`].
#[derive(Debug, Default)]
struct Tries(std::sync::atomic::AtomicU32);

/// Per-try policy that counts into the request's [`Tries`].
#[derive(Debug)]
struct CountTries;

#[async_trait::async_trait]
impl Policy for CountTries {
    async fn send(
        &self,
        ctx: &Context,
        request: &mut Request,
        next: &[Arc<dyn Policy>],
    ) -> azure_core::http::policies::PolicyResult {
        if let Some(tries) = ctx.value::<Tries>() {
            tries.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        next[0].send(ctx, request, &next[1..]).await
    }
}

impl Answer {
    /// Decodes the body as JSON of type `T`.
    pub fn json<T: serde::de::DeserializeOwned>(&self, service: &'static str) -> Result<T, AzureError> {
        serde_json::from_slice(&self.body).map_err(|e| AzureError::Decode {
            service,
            message: e.to_string(),
        })
    }

    /// Converts an unexpected status into an error carrying the service's `error.code`/`message`.
    pub fn into_error(self, service: &'static str) -> AzureError {
        #[derive(serde::Deserialize)]
        struct Envelope {
            error: Detail,
        }
        #[derive(serde::Deserialize)]
        struct Detail {
            code: Option<String>,
            message: Option<String>,
        }
        let parsed = serde_json::from_slice::<Envelope>(&self.body).ok();
        let reason = azure_core::http::StatusCode::from(self.status)
            .canonical_reason()
            .into_owned();
        let (code, message) = match parsed {
            Some(Envelope { error }) => (error.code.unwrap_or(reason), error.message.unwrap_or_default()),
            None => (reason, String::from_utf8_lossy(&self.body).chars().take(300).collect()),
        };
        let message = if matches!(self.status, 401 | 403) {
            format!(
                "{message} (the app's identity needs Microsoft Sentinel Responder and Log Analytics Reader on the \
                 workspace; right after deployment, role assignments can take several minutes to apply, and a \
                 later run succeeds on its own)"
            )
        } else {
            message
        };
        AzureError::Status {
            service,
            status: self.status,
            code,
            message,
        }
    }
}

/// One Azure service: a pipeline with retries and a bearer token for the service's audience.
#[derive(Debug, Clone)]
pub struct ServiceClient {
    pipeline: Pipeline,
    service: &'static str,
    /// Requests carry [`super::throttle::Interactive`]: the pacer gives them priority.
    interactive: bool,
    /// The largest answer body read: past it, the call fails (and the rest is not read).
    max_body: usize,
}

/// The largest Resource Manager answer read: an incident, a page of alerts or comments, a
/// workspace resource are kilobytes; a page of alerts with large entities stays well under this.
pub const MAX_ARM_BODY: usize = 8 << 20;
/// The largest query answer read: the query API answers at most 500,000 records and about
/// 100 MiB (64 MB compressed) per result (Azure Monitor service limits,
/// `articles/azure-monitor/service-limits.md`, "Query API"), plus headroom for the JSON.
pub const MAX_QUERY_BODY: usize = 128 << 20;

/// The transport of [`ServiceClient::for_long_requests`], from `builder`: no read timeout, a 20 s
/// connect timeout, redirects not followed.
fn long_request_transport(
    builder: reqwest::ClientBuilder,
    service: &'static str,
) -> Result<azure_core::http::Transport, AzureError> {
    let client = builder
        .connect_timeout(std::time::Duration::from_secs(20))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| AzureError::Transport {
            service,
            message: format!("its HTTP client could not be built: {}", chain(&e)),
        })?;
    Ok(azure_core::http::Transport::new(Arc::new(client)))
}

impl ServiceClient {
    // Retries of `with_policies`: exponential from 500 ms, at most 5 retries within 40 s, each
    // wait at most 20 s unless the service's `Retry-After` asks for longer.

    /// Same, with extra per-try policies that run before authentication (such as pacing).
    pub fn with_policies(
        service: &'static str,
        credential: Arc<dyn TokenCredential>,
        scope: &'static str,
        per_try: Vec<Arc<dyn Policy>>,
    ) -> Self {
        let options = ClientOptions {
            retry: RetryOptions::exponential(ExponentialRetryOptions {
                initial_delay: Duration::milliseconds(500),
                max_retries: 5,
                max_total_elapsed: Duration::seconds(40),
                max_delay: Duration::seconds(20),
            }),
            ..ClientOptions::default()
        };
        Self::build(service, credential, scope, per_try, options)
    }

    /// A client for requests that may take minutes (Log Analytics queries): no retries by the
    /// pipeline (the caller retries, and never re-sends a request that timed out on its side)
    /// and no read timeout in the transport (azure_core's default stops reading after 60 s; the
    /// caller bounds each request itself). Fails when that transport cannot be built: falling
    /// back to azure_core's default would bring its 60 s read timeout back.
    pub fn for_long_requests(
        service: &'static str,
        credential: Arc<dyn TokenCredential>,
        scope: &'static str,
    ) -> Result<Self, AzureError> {
        let http = long_request_transport(reqwest::Client::builder(), service)?;
        let options = ClientOptions {
            retry: RetryOptions::none(),
            transport: Some(http),
            ..ClientOptions::default()
        };
        Ok(Self {
            max_body: MAX_QUERY_BODY,
            ..Self::build(service, credential, scope, Vec::new(), options)
        })
    }

    fn build(
        service: &'static str,
        credential: Arc<dyn TokenCredential>,
        scope: &'static str,
        mut per_try: Vec<Arc<dyn Policy>>,
        options: ClientOptions,
    ) -> Self {
        let auth = Arc::new(BearerTokenPolicy::new(credential, scope, service));
        let pipeline = Pipeline::new(
            Some(env!("CARGO_PKG_NAME")),
            Some(env!("CARGO_PKG_VERSION")),
            options,
            Vec::new(),
            {
                per_try.insert(0, Arc::new(CountTries));
                per_try.push(auth);
                per_try
            },
            None,
        );
        Self {
            pipeline,
            service,
            interactive: false,
            max_body: MAX_ARM_BODY,
        }
    }

    /// The same client (same pipeline, same pacer) whose requests are interactive.
    pub fn interactive(&self) -> Self {
        Self {
            interactive: true,
            ..self.clone()
        }
    }

    /// Sends one request (with an optional JSON body) and returns the final answer.
    pub async fn send(&self, method: Method, url: Url, body: Option<&serde_json::Value>) -> Result<Answer, AzureError> {
        self.send_with(method, url, body, &[]).await
    }

    /// Same, with extra request headers.
    pub async fn send_with(
        &self,
        method: Method,
        url: Url,
        body: Option<&serde_json::Value>,
        headers: &[(&'static str, String)],
    ) -> Result<Answer, AzureError> {
        let mut request = Request::new(url, method);
        request.insert_header("accept", "application/json");
        for (name, value) in headers {
            request.insert_header(*name, value.clone());
        }
        if let Some(body) = body {
            request.insert_header("content-type", "application/json");
            let bytes = serde_json::to_vec(body).map_err(|e| AzureError::Decode {
                service: self.service,
                message: e.to_string(),
            })?;
            request.set_body(bytes);
        }
        let mut ctx = Context::new().with_value(Tries::default());
        if self.interactive {
            ctx.insert(super::throttle::Interactive);
        }
        self.send_streamed(&ctx, &mut request).await
    }

    /// Sends without the pipeline buffering the body, then reads it into one buffer sized by
    /// `Content-Length`: a body of tens of megabytes is held once, not in a buffer that doubles
    /// as it grows. A body larger than the client's `max_body` fails the call unread.
    async fn send_streamed(&self, ctx: &Context<'_>, request: &mut Request) -> Result<Answer, AzureError> {
        use futures::StreamExt;
        let options = azure_core::http::PipelineStreamOptions {
            skip_checks: true,
            ..Default::default()
        };
        let response = self
            .pipeline
            .stream(ctx, request, Some(options))
            .await
            .map_err(|e| self.classify(e))?;
        let status = u16::from(response.status());
        let (retry_after, length) = {
            let header = |name: &azure_core::http::headers::HeaderName| {
                response
                    .headers()
                    .get_optional_str(name)
                    .and_then(|v| v.trim().parse::<u64>().ok())
            };
            (
                header(&azure_core::http::headers::RETRY_AFTER),
                header(&azure_core::http::headers::CONTENT_LENGTH).unwrap_or(0),
            )
        };
        // Not a transport error: sending the request again would bring the same answer.
        let too_large = || AzureError::Decode {
            service: self.service,
            message: format!(
                "the answer is larger than {} MiB, more than this service sends; it was not read",
                self.max_body >> 20
            ),
        };
        if length > self.max_body as u64 {
            return Err(too_large());
        }
        let mut bytes = Vec::with_capacity(usize::try_from(length).unwrap_or(0));
        let mut stream = response.into_body();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| AzureError::Transport {
                service: self.service,
                message: format!("the answer broke off: {}", chain(&e)),
            })?;
            if bytes.len() + chunk.len() > self.max_body {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(Answer {
            status,
            body: Body::new(bytes),
            tries: ctx
                .value::<Tries>()
                .map_or(1, |t| t.0.load(std::sync::atomic::Ordering::Relaxed)),
            retry_after,
        })
    }

    fn classify(&self, error: azure_core::Error) -> AzureError {
        let message = chain(&error);
        match error.kind() {
            ErrorKind::Credential => AzureError::Credential {
                service: self.service,
                message,
            },
            ErrorKind::HttpResponse { status, .. } => AzureError::Status {
                service: self.service,
                status: u16::from(*status),
                code: status.canonical_reason().into_owned(),
                message,
            },
            _ => AzureError::Transport {
                service: self.service,
                message,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_transport_that_cannot_be_built_is_an_error_not_the_default_transport() {
        // No TLS version is both at least 1.3 and at most 1.2: the client cannot be built.
        let impossible = reqwest::Client::builder()
            .min_tls_version(reqwest::tls::Version::TLS_1_3)
            .max_tls_version(reqwest::tls::Version::TLS_1_2);
        let error = long_request_transport(impossible, "Log Analytics").unwrap_err();
        assert!(
            error.to_string().contains("Log Analytics") && error.to_string().contains("HTTP client could not be built"),
            "{error}"
        );
        assert!(long_request_transport(reqwest::Client::builder(), "Log Analytics").is_ok());
    }
}

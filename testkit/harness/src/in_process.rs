//! The real handler served inside the test process: the product's own router
//! (`dfc_sentinel_sync::host`) on a listener on 127.0.0.1, built from app settings given as a
//! list rather than read from the environment, with the credential injected
//! ([`SimCredential`]). No process starts, so a test pays for no exec and no readiness polling.
//!
//! What only a process shows (signals, stdout/stderr, the credential that reads
//! `IDENTITY_ENDPOINT`, a kill) is tested with `functions_host::HandlerProcess` instead.

use std::{collections::HashMap, sync::Arc, time::Duration};

use async_trait::async_trait;
use azure_core::{
    credentials::{AccessToken, TokenCredential, TokenRequestOptions},
    error::ErrorKind,
    time::OffsetDateTime,
};
use dfc_sentinel_sync::{
    config::Config,
    host::{self, App},
};
use tokio::sync::watch;

/// Tokens from the simulator's managed-identity endpoint (the App Service protocol: `GET
/// <endpoint>?api-version=2019-08-01&resource=<audience>` with `X-IDENTITY-HEADER`), cached per
/// scope until five minutes before they expire, as azure_identity's credential caches them.
#[derive(Debug)]
pub struct SimCredential {
    endpoint: String,
    header: String,
    client: reqwest::Client,
    cache: tokio::sync::Mutex<HashMap<String, AccessToken>>,
}

impl SimCredential {
    /// A credential for the identity endpoint `endpoint` and its secret `header`.
    pub fn new(endpoint: String, header: String) -> Self {
        Self {
            endpoint,
            header,
            client: reqwest::Client::new(),
            cache: tokio::sync::Mutex::default(),
        }
    }

    async fn fetch(&self, resource: &str) -> Result<AccessToken, String> {
        let mut url = url::Url::parse(&self.endpoint).map_err(|e| format!("IDENTITY_ENDPOINT: {e}"))?;
        url.query_pairs_mut()
            .append_pair("api-version", "2019-08-01")
            .append_pair("resource", resource);
        let response = self
            .client
            .get(url)
            .header("X-IDENTITY-HEADER", &self.header)
            .timeout(Duration::from_secs(15))
            .send()
            .await
            .map_err(|e| format!("the identity endpoint did not answer: {e}"))?;
        let status = response.status();
        let body: serde_json::Value = response
            .json()
            .await
            .map_err(|e| format!("the identity endpoint answered {status} without JSON: {e}"))?;
        if !status.is_success() {
            return Err(format!("the identity endpoint answered {status}: {body}"));
        }
        let token = body["access_token"]
            .as_str()
            .ok_or_else(|| format!("no access_token in {body}"))?;
        let expires = match &body["expires_on"] {
            serde_json::Value::String(s) => s.parse::<i64>().ok(),
            other => other.as_i64(),
        }
        .ok_or_else(|| format!("no expires_on in {body}"))?;
        let expires_on =
            OffsetDateTime::from_unix_timestamp(expires).map_err(|e| format!("expires_on {expires}: {e}"))?;
        Ok(AccessToken::new(token.to_owned(), expires_on))
    }
}

#[async_trait]
impl TokenCredential for SimCredential {
    async fn get_token(
        &self,
        scopes: &[&str],
        _options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        let scope = scopes.first().copied().unwrap_or_default();
        let mut cache = self.cache.lock().await;
        if let Some(token) = cache.get(scope)
            && token.expires_on > OffsetDateTime::now_utc() + azure_core::time::Duration::minutes(5)
        {
            return Ok(token.clone());
        }
        let resource = scope.trim_end_matches("/.default");
        let token = self
            .fetch(resource)
            .await
            .map_err(|message| azure_core::Error::with_message(ErrorKind::Credential, message))?;
        cache.insert(scope.to_owned(), token.clone());
        Ok(token)
    }
}

/// A handler serving on 127.0.0.1 inside this process. Dropping it stops it as the host's
/// SIGTERM would: no new incident starts, and the server closes.
#[derive(Debug)]
pub struct InProcessHandler {
    base_url: String,
    stop: watch::Sender<bool>,
}

impl InProcessHandler {
    /// Serves the handler with these app settings: the settings the host would give the process,
    /// read with the product's own rules ([`Config::from_lookup`]); `IDENTITY_ENDPOINT` and
    /// `IDENTITY_HEADER` make the [`SimCredential`].
    pub async fn start(settings: &[(String, String)]) -> std::io::Result<Self> {
        let map: HashMap<String, String> = settings.iter().cloned().collect();
        let (stop, stopping) = watch::channel(false);
        let app = match Config::from_lookup(|name| map.get(name).cloned()) {
            Ok(config) => {
                let endpoint = map.get("IDENTITY_ENDPOINT").cloned().unwrap_or_default();
                let header = map.get("IDENTITY_HEADER").cloned().unwrap_or_default();
                let credential: Arc<dyn TokenCredential> = Arc::new(SimCredential::new(endpoint, header));
                App::new(
                    config,
                    Arc::new(move |_: &Config| Ok(credential.clone())),
                    stopping.clone(),
                )
            }
            Err(e) => App::broken(e.to_string()),
        };
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let base_url = format!("http://{}", listener.local_addr()?);
        let mut closed = stopping;
        let shutdown = async move {
            let _ = closed.wait_for(|stopped| *stopped).await;
        };
        tokio::spawn(host::serve(listener, Arc::new(app), shutdown));
        Ok(Self { base_url, stop })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }
}

impl Drop for InProcessHandler {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

//! Identity: which azure_identity credential to use, and the policy that puts its token on each
//! request.
//!
//! In Azure Functions the platform sets `IDENTITY_ENDPOINT` and `IDENTITY_HEADER`; azure_identity's
//! [`ManagedIdentityCredential`] then uses the App Service token protocol (system-assigned, or the
//! user-assigned identity named by `AZURE_CLIENT_ID`). Elsewhere (an operator's laptop running
//! `sync --dry-run`) the [`DeveloperToolsCredential`] uses the signed-in Azure CLI or azd.
//! Tokens are cached per scope by the credential and refreshed when within 5 minutes of expiry.

use std::sync::Arc;

use async_trait::async_trait;
use azure_core::{
    credentials::TokenCredential,
    error::ErrorKind,
    http::{
        ClientOptions, Context, ExponentialRetryOptions, Request, RetryOptions,
        policies::{Policy, PolicyResult},
    },
    time::Duration,
};
use azure_identity::{
    DeveloperToolsCredential, ManagedIdentityCredential, ManagedIdentityCredentialOptions, UserAssignedId,
};

/// Where tokens come from, for logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    /// The Functions app's managed identity (App Service protocol).
    ManagedIdentity,
    /// Azure CLI / Azure Developer CLI on a developer's machine.
    DeveloperTools,
}

impl CredentialKind {
    /// The kind this process's environment calls for: the managed identity when the platform
    /// gives its endpoint (`IDENTITY_ENDPOINT`), developer tools otherwise. The one place that
    /// reads it.
    pub fn from_env() -> Self {
        if std::env::var_os("IDENTITY_ENDPOINT").is_some_and(|v| !v.is_empty()) {
            Self::ManagedIdentity
        } else {
            Self::DeveloperTools
        }
    }
}

/// The credential this process's environment calls for ([`CredentialKind::from_env`]); a
/// user-assigned managed identity when `client_id` is given.
pub fn credential(client_id: Option<&str>) -> azure_core::Result<(Arc<dyn TokenCredential>, CredentialKind)> {
    if CredentialKind::from_env() == CredentialKind::ManagedIdentity {
        let options = ManagedIdentityCredentialOptions {
            user_assigned_id: client_id.map(|id| UserAssignedId::ClientId(id.to_owned())),
            // The default retry keeps failing for ~80 s when the endpoint is down; a run has a
            // budget, so give up sooner and report it.
            client_options: ClientOptions {
                retry: RetryOptions::exponential(ExponentialRetryOptions {
                    initial_delay: Duration::milliseconds(300),
                    max_retries: 4,
                    max_total_elapsed: Duration::seconds(15),
                    max_delay: Duration::seconds(5),
                }),
                ..ClientOptions::default()
            },
        };
        let credential: Arc<dyn TokenCredential> = ManagedIdentityCredential::new(Some(options))?;
        Ok((credential, CredentialKind::ManagedIdentity))
    } else {
        let credential: Arc<dyn TokenCredential> = DeveloperToolsCredential::new(None)?;
        Ok((credential, CredentialKind::DeveloperTools))
    }
}

/// Adds `Authorization: Bearer <token>` for one scope. azure_core's own bearer policy refuses
/// plain-http URLs, which the loopback test doubles use; this one applies to both, and the
/// configuration only allows http:// for loopback hosts.
#[derive(Debug)]
pub struct BearerTokenPolicy {
    credential: Arc<dyn TokenCredential>,
    scope: &'static str,
    service: &'static str,
}

impl BearerTokenPolicy {
    /// A policy for `scope` (for example `https://management.azure.com/.default`).
    pub fn new(credential: Arc<dyn TokenCredential>, scope: &'static str, service: &'static str) -> Self {
        Self {
            credential,
            scope,
            service,
        }
    }
}

#[async_trait]
impl Policy for BearerTokenPolicy {
    async fn send(&self, ctx: &Context, request: &mut Request, next: &[Arc<dyn Policy>]) -> PolicyResult {
        let token = self.credential.get_token(&[self.scope], None).await.map_err(|e| {
            let message = format!("token for {} (scope {}) not issued", self.service, self.scope);
            azure_core::Error::with_error(ErrorKind::Credential, e, message)
        })?;
        request.insert_header("authorization", format!("Bearer {}", token.token.secret()));
        next[0].send(ctx, request, &next[1..]).await
    }
}

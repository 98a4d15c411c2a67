//! What a failed probe means and what to change: each Azure error of the preflight becomes a short
//! detail (`403 AuthorizationFailed`) and a fix naming the role or the setting. Pure functions,
//! unit-tested on the error bodies the services are known to send.

use crate::{
    azure::{AzureError, identity::CredentialKind},
    config::Config,
    domain::{WorkspaceGuid, WorkspaceResourceId},
};

/// Who the identity is, as its access token says (Entra tokens are JWTs; the claims are read, not
/// verified: they only name the principal in messages).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Principal {
    /// `oid`: the principal's object id, what a role assignment names.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object_id: Option<String>,
    /// `appid` (v1) or `azp` (v2): the client id of an app or managed identity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_id: Option<String>,
    /// `upn` or `unique_name`: a signed-in user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// `tid`: the tenant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
}

impl Principal {
    /// The claims of a JWT access token; `None` for a token that is not a JWT.
    pub fn from_token(token: &str) -> Option<Self> {
        let payload = token.split('.').nth(1)?;
        let bytes = azure_core::base64::decode_url_safe(payload).ok()?;
        let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
        let claim = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| claims.get(*n).and_then(serde_json::Value::as_str))
                .map(str::to_owned)
        };
        Some(Self {
            object_id: claim(&["oid"]),
            app_id: claim(&["appid", "azp"]),
            user: claim(&["upn", "unique_name"]),
            tenant_id: claim(&["tid"]),
        })
    }

    /// For messages: `principal <oid> (user …)`.
    pub fn describe(&self) -> Option<String> {
        let id = self.object_id.as_deref()?;
        Some(match (&self.user, &self.app_id) {
            (Some(user), _) => format!("principal {id} (user {user})"),
            (None, Some(app)) => format!("principal {id} (client id {app})"),
            (None, None) => format!("principal {id}"),
        })
    }
}

/// The object id an ARM `AuthorizationFailed` message names ("… with object id '<id>' …").
pub fn object_id_in(message: &str) -> Option<String> {
    let rest = message.split("with object id '").nth(1)?;
    let id = rest.split('\'').next()?;
    (!id.is_empty()).then(|| id.to_owned())
}

/// Who a missing role is to be granted to.
#[derive(Debug, Clone, Copy)]
pub struct Grantee<'a> {
    /// The principal the token names, when it is a JWT.
    pub principal: Option<&'a Principal>,
    /// The credential in use.
    pub kind: CredentialKind,
    /// `AZURE_CLIENT_ID`.
    pub client_id: Option<&'a str>,
}

impl Grantee<'_> {
    /// The object id to assign the role to: the token's, or the one the service's `message` names.
    pub fn object_id(&self, message: &str) -> Option<String> {
        self.principal
            .and_then(|p| p.object_id.clone())
            .or_else(|| object_id_in(message))
    }

    /// In words: the token's principal, the one the service named, or the credential's kind.
    pub fn describe(&self, message: &str) -> String {
        if let Some(p) = self.principal.and_then(Principal::describe) {
            return p;
        }
        if let Some(id) = object_id_in(message) {
            return format!("principal {id}");
        }
        match (self.kind, self.client_id) {
            (CredentialKind::ManagedIdentity, Some(id)) => format!("the user-assigned identity with client id {id}"),
            (CredentialKind::ManagedIdentity, None) => "the function app's system-assigned identity".into(),
            (CredentialKind::DeveloperTools, _) => "the account signed in to the Azure CLI".into(),
        }
    }

    /// The Azure CLI command that grants `role` on `scope`, when the object id is known. The
    /// principal type is given when known (a managed identity is a service principal), so the
    /// CLI need not look the object up in Microsoft Graph.
    pub fn command(&self, message: &str, role: &str, scope: &str) -> Option<String> {
        let kind = match (self.kind, self.principal.and_then(|p| p.user.as_ref())) {
            (CredentialKind::ManagedIdentity, _) => " --assignee-principal-type ServicePrincipal",
            (CredentialKind::DeveloperTools, Some(_)) => " --assignee-principal-type User",
            (CredentialKind::DeveloperTools, None) => "",
        };
        self.object_id(message).map(|id| {
            format!("az role assignment create --assignee-object-id {id}{kind} --role \"{role}\" --scope {scope}")
        })
    }
}

/// The api-versions an ARM "api-version not supported" message lists, newest last as sent.
pub fn supported_api_versions(message: &str) -> Vec<String> {
    ["supported versions are '", "supported api-versions are '"]
        .iter()
        .find_map(|marker| message.split(marker).nth(1))
        .and_then(|rest| rest.split('\'').next())
        .map(|list| {
            list.split(',')
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// Is this Resource Manager refusing the api-version (`InvalidApiVersionParameter`, or
/// `NoRegisteredProviderFound` "… and API version '…' for type …")?
pub fn is_api_version_error(error: &AzureError) -> bool {
    matches!(error, AzureError::Status { status: 400, code, .. }
        if code == "InvalidApiVersionParameter" || code == "NoRegisteredProviderFound")
}

/// The service's own words, without the generic role advice the client appends to 401/403.
pub fn service_message(error: &AzureError) -> String {
    let text = match error {
        AzureError::Status { message, .. }
        | AzureError::Transport { message, .. }
        | AzureError::Credential { message, .. }
        | AzureError::Decode { message, .. } => message.as_str(),
    };
    let text = text.split(" (the app's identity needs").next().unwrap_or(text).trim();
    let mut short: String = text.chars().take(300).collect();
    if short.len() < text.len() {
        short.push('…');
    }
    short
}

/// The short form of an error: `403 AuthorizationFailed`, `not reached`, ….
pub fn detail(error: &AzureError) -> String {
    match error {
        AzureError::Status { status: 200, code, .. } => format!("partial result ({code})"),
        AzureError::Status { status, code, .. } => format!("{status} {code}"),
        AzureError::Transport { .. } => "no answer".into(),
        AzureError::Credential { .. } => "no token".into(),
        AzureError::Decode { .. } => "unreadable answer".into(),
    }
}

/// The workspace a step is about: its ARM id and, when known, its Log Analytics id (and
/// whether the settings gave it).
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// The workspace's ARM id.
    pub resource: &'a WorkspaceResourceId,
    /// Its Log Analytics id, when known.
    pub id: Option<&'a WorkspaceGuid>,
    /// `SENTINEL_WORKSPACE_ID` gave the id (else it was read from the workspace resource).
    pub id_from_settings: bool,
}

impl Target<'_> {
    /// How the workspace id is referred to in a fix: the setting, or the id read.
    fn id_words(&self) -> String {
        let guid = self.id.map_or("?", |g| g.as_str());
        if self.id_from_settings {
            format!("SENTINEL_WORKSPACE_ID ({guid})")
        } else {
            format!("the workspace id {guid} (read from the workspace resource)")
        }
    }
}

/// The fix for a token Resource Manager refuses because the workspace belongs to another tenant
/// that has not delegated it (`InvalidAuthenticationTokenTenant`).
fn foreign_tenant_fix(rid: &str, who: &str) -> String {
    format!(
        "the workspace {rid} belongs to another Microsoft Entra tenant that has not delegated it to this identity: the customer delegates it through Azure Lighthouse, with Microsoft Sentinel Responder and Log Analytics Reader for {who} (docs/design.md, Several workspaces)"
    )
}

fn is_foreign_tenant(error: &AzureError) -> bool {
    matches!(error, AzureError::Status { code, .. } if code == "InvalidAuthenticationTokenTenant")
}

/// What to change when the workspace resource cannot be read for its id (`SENTINEL_WORKSPACE_ID`
/// not set).
pub fn workspace_id_fix(error: &AzureError, config: &Config, target: Target<'_>, who: &str) -> String {
    let rid = target.resource.arm_id();
    match error {
        e if is_foreign_tenant(e) => foreign_tenant_fix(&rid, who),
        AzureError::Status { status: 403, .. } => format!(
            "grant Log Analytics Reader on the workspace {rid} to {who} (it allows reading the workspace resource), or set SENTINEL_WORKSPACE_ID"
        ),
        AzureError::Status { status: 404, .. } => format!(
            "SENTINEL_WORKSPACE_RESOURCE_ID names no workspace at {rid}: copy the resource id from the workspace's Properties page"
        ),
        _ => sentinel_fix(error, config, target, who),
    }
}

/// What to change when the Sentinel incidents API refuses the read. `who` names the grantee.
pub fn sentinel_fix(error: &AzureError, config: &Config, target: Target<'_>, who: &str) -> String {
    let ws = target.resource;
    let rid = ws.arm_id();
    match error {
        e if is_foreign_tenant(e) => foreign_tenant_fix(&rid, who),
        e if token_refused(e) => {
            format!(
                "Resource Manager refused the token: check AZURE_CLOUD ({}) and ARM_ENDPOINT ({}) name the workspace's cloud",
                config.cloud.name(),
                config.arm_endpoint
            )
        }
        AzureError::Status { status: 403, .. } => format!(
            "grant Microsoft Sentinel Responder on the workspace {rid} to {who} (a new role assignment can take several minutes to apply)"
        ),
        AzureError::Status { status: 404, .. } => format!(
            "SENTINEL_WORKSPACE_RESOURCE_ID names no workspace with Microsoft Sentinel (subscription {}, resource group {}, workspace {}): copy the resource id from the workspace's Properties page",
            ws.subscription_id, ws.resource_group, ws.workspace_name
        ),
        e if is_api_version_error(e) => api_version_fix(e, &config.api_version),
        AzureError::Status {
            status: 429 | 500..=599,
            ..
        } => "Resource Manager is throttling or failing: run check again in a few minutes".into(),
        AzureError::Status { .. } => format!(
            "Sentinel refused the request: check SENTINEL_WORKSPACE_RESOURCE_ID ({rid}) and SENTINEL_API_VERSION ({})",
            config.api_version
        ),
        AzureError::Transport { .. } => format!(
            "Resource Manager at {} could not be reached: check ARM_ENDPOINT / AZURE_CLOUD and the app's outbound network (VNet, firewall, proxy)",
            config.arm_endpoint
        ),
        AzureError::Credential { .. } => "the identity has no Resource Manager token: see arm-token".into(),
        AzureError::Decode { .. } => format!(
            "the answer is not the Sentinel API's: check ARM_ENDPOINT ({})",
            config.arm_endpoint
        ),
    }
}

/// What to set when Resource Manager refuses `SENTINEL_API_VERSION`.
pub fn api_version_fix(error: &AzureError, configured: &str) -> String {
    let message = match error {
        AzureError::Status { message, .. } => message.as_str(),
        _ => "",
    };
    let supported = supported_api_versions(message);
    let newest_stable = supported.iter().filter(|v| !v.ends_with("-preview")).max().cloned();
    let suggestion = match newest_stable {
        Some(v) => format!("set it to {v} (newest stable version the service lists)"),
        None => format!("set it to {} or leave it empty", crate::config::DEFAULT_API_VERSION),
    };
    format!("SENTINEL_API_VERSION={configured} is not served by Microsoft.SecurityInsights here: {suggestion}")
}

/// What to change when the candidate query fails.
pub fn query_fix(error: &AzureError, config: &Config, target: Target<'_>, who: &str) -> String {
    let rid = target.resource.arm_id();
    let id = target.id_words();
    match error {
        e if token_refused(e) => format!(
            "Log Analytics refused the token: check AZURE_CLOUD ({}) and LOG_ANALYTICS_ENDPOINT ({}) name the workspace's cloud",
            config.cloud.name(),
            config.log_analytics_endpoint
        ),
        AzureError::Status { status: 403, .. } => format!(
            "grant Log Analytics Reader on the workspace {rid} to {who}, and check that {id} is that workspace's id (a new role assignment can take several minutes to apply)"
        ),
        AzureError::Status { status: 404, .. } => format!(
            "{id} names no workspace: use the 'Workspace ID' GUID on the workspace's Overview page (not its name or resource id)"
        ),
        AzureError::Status { status: 400, .. } => format!(
            "Log Analytics refused the request: check {id}; `handler query` prints the query sent"
        ),
        AzureError::Status { status: 200, .. } => {
            "Log Analytics answered part of the query only: run check again; nothing is decided from a partial answer".into()
        }
        AzureError::Status { status: 429 | 500..=599, .. } => {
            "Log Analytics is throttling, failing or timed out: run check again; see 'Large workspaces' in docs/design.md if it keeps timing out".into()
        }
        AzureError::Status { .. } => format!("Log Analytics refused the request: check {id}"),
        AzureError::Transport { .. } => format!(
            "Log Analytics at {} did not answer: check LOG_ANALYTICS_ENDPOINT / AZURE_CLOUD and the outbound network; a query slower than SYNC_RUN_BUDGET_SECONDS ({} s) needs a larger budget",
            config.log_analytics_endpoint, config.run_budget_seconds
        ),
        AzureError::Credential { .. } => "the identity has no Log Analytics token: see logs-token".into(),
        AzureError::Decode { .. } => format!(
            "the answer is not the query API's: check LOG_ANALYTICS_ENDPOINT ({})",
            config.log_analytics_endpoint
        ),
    }
}

/// What to do when the credential issues no token.
pub fn token_fix(kind: CredentialKind, client_id: Option<&str>) -> String {
    match (kind, client_id) {
        (CredentialKind::ManagedIdentity, Some(id)) => format!(
            "the function's identity cannot get a token: check that AZURE_CLIENT_ID ({id}) is the client id of a user-assigned identity attached to the app"
        ),
        (CredentialKind::ManagedIdentity, None) => {
            "the function's identity cannot get a token: turn on the app's system-assigned identity, or attach a user-assigned one and set AZURE_CLIENT_ID".into()
        }
        (CredentialKind::DeveloperTools, _) => {
            "no signed-in account: run `az login` (or `azd auth login`) in the workspace's tenant and cloud".into()
        }
    }
}

/// The credential in words.
pub fn credential_words(kind: CredentialKind, client_id: Option<&str>) -> String {
    match (kind, client_id) {
        (CredentialKind::ManagedIdentity, Some(id)) => {
            format!("managed identity, user-assigned (AZURE_CLIENT_ID {id}), from IDENTITY_ENDPOINT")
        }
        (CredentialKind::ManagedIdentity, None) => "managed identity, system-assigned, from IDENTITY_ENDPOINT".into(),
        (CredentialKind::DeveloperTools, _) => {
            "developer tools: the Azure CLI or azd sign-in (IDENTITY_ENDPOINT is not set: this is not the app's identity)"
                .into()
        }
    }
}

/// A 401, or a 403 whose code says the token itself is wrong (not the roles).
fn token_refused(error: &AzureError) -> bool {
    match error {
        AzureError::Status { status: 401, .. } => true,
        AzureError::Status { status: 403, code, .. } => code.starts_with("InvalidAuthenticationToken"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config::from_lookup(|k| match k {
            "SENTINEL_WORKSPACE_ID" => Some("c8c99641-985d-4e4e-8e91-fb3466cd0e5b".into()),
            "SENTINEL_WORKSPACE_RESOURCE_ID" => Some("/subscriptions/d0cfe6b2-9ac0-4464-9919-dccaee2e48c0/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/ws".into()),
            "SENTINEL_API_VERSION" => Some("2019-01-01-preview".into()),
            _ => None,
        })
        .unwrap()
    }

    fn target(c: &Config) -> Target<'_> {
        Target {
            resource: &c.workspaces[0].resource,
            id: c.workspaces[0].id.as_ref(),
            id_from_settings: true,
        }
    }

    fn status(status: u16, code: &str, message: &str) -> AzureError {
        AzureError::Status {
            service: "Sentinel",
            status,
            code: code.into(),
            message: message.into(),
        }
    }

    #[test]
    fn a_forbidden_read_names_the_role_the_workspace_and_the_principal() {
        // The gateway's body, as quoted from the live service (Azure/Azure-Sentinel issue #4549).
        let message = "The client '0b8e4a3c-1111-4d2e-9c55-6f1e2d3c4b5a' with object id '0b8e4a3c-1111-4d2e-9c55-6f1e2d3c4b5a' does not have authorization to perform action 'Microsoft.SecurityInsights/incidents/read' over scope '/subscriptions/…' or the scope is invalid. If access was recently granted, please refresh your credentials. (the app's identity needs Microsoft Sentinel Responder and Log Analytics Reader on the workspace; …)";
        let e = status(403, "AuthorizationFailed", message);
        let grantee = Grantee {
            principal: None,
            kind: CredentialKind::ManagedIdentity,
            client_id: None,
        };
        let who = grantee.describe(message);
        assert_eq!(who, "principal 0b8e4a3c-1111-4d2e-9c55-6f1e2d3c4b5a");
        assert_eq!(
            grantee.command(message, "Microsoft Sentinel Responder", "/s").unwrap(),
            "az role assignment create --assignee-object-id 0b8e4a3c-1111-4d2e-9c55-6f1e2d3c4b5a --assignee-principal-type ServicePrincipal --role \"Microsoft Sentinel Responder\" --scope /s"
        );
        let c = config();
        let fix = sentinel_fix(&e, &c, target(&c), &who);
        assert!(fix.starts_with("grant Microsoft Sentinel Responder on the workspace /subscriptions/d0cfe6b2-9ac0-4464-9919-dccaee2e48c0/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/ws to principal 0b8e4a3c"), "{fix}");
        assert_eq!(detail(&e), "403 AuthorizationFailed");
        assert!(!service_message(&e).contains("the app's identity needs"));
    }

    #[test]
    fn a_refused_api_version_names_the_setting_and_a_version_the_service_lists() {
        // ARM's message shape for an unregistered version (Azure/azure-cli issue #28496).
        let e = status(
            400,
            "NoRegisteredProviderFound",
            "No registered resource provider found for location 'westeurope' and API version '2019-01-01-preview' for type 'workspaces'. The supported api-versions are '2024-09-01, 2025-07-01-preview, 2025-09-01'. The supported locations are 'westeurope'.",
        );
        assert!(is_api_version_error(&e));
        let c = config();
        let fix = sentinel_fix(&e, &c, target(&c), "x");
        assert_eq!(
            fix,
            "SENTINEL_API_VERSION=2019-01-01-preview is not served by Microsoft.SecurityInsights here: set it to 2025-09-01 (newest stable version the service lists)"
        );
        let e = status(
            400,
            "InvalidApiVersionParameter",
            "The api-version '2019-01-01' is invalid.",
        );
        assert!(api_version_fix(&e, "2019-01-01").ends_with("set it to 2025-09-01 or leave it empty"));
        assert!(!is_api_version_error(&status(400, "BadRequest", "")));
    }

    #[test]
    fn query_failures_point_at_the_role_or_the_workspace_id() {
        let c = config();
        let forbidden = status(
            403,
            "InsufficientAccessError",
            "The provided credentials have insufficient access",
        );
        assert!(
            query_fix(&forbidden, &c, target(&c), "principal p")
                .starts_with("grant Log Analytics Reader on the workspace /subscriptions/")
        );
        let audience = status(403, "InvalidAuthenticationTokenAudience", "wrong audience");
        assert!(query_fix(&audience, &c, target(&c), "p").contains("AZURE_CLOUD (public)"));
        let missing = status(404, "PathNotFoundError", "The requested path does not exist");
        assert!(
            query_fix(&missing, &c, target(&c), "p")
                .starts_with("SENTINEL_WORKSPACE_ID (c8c99641-985d-4e4e-8e91-fb3466cd0e5b) names no workspace")
        );
        let learnt = Target {
            id_from_settings: false,
            ..target(&c)
        };
        assert!(
            query_fix(&missing, &c, learnt, "p")
                .starts_with("the workspace id c8c99641-985d-4e4e-8e91-fb3466cd0e5b (read from the workspace resource) names no workspace")
        );
        // A workspace of a tenant that has not delegated it: Lighthouse, for every API.
        let foreign = status(
            401,
            "InvalidAuthenticationTokenTenant",
            "The access token is from the wrong issuer",
        );
        for fix in [
            sentinel_fix(&foreign, &c, target(&c), "p"),
            workspace_id_fix(&foreign, &c, target(&c), "p"),
        ] {
            assert!(
                fix.contains(
                    "through Azure Lighthouse, with Microsoft Sentinel Responder and Log Analytics Reader for p"
                ),
                "{fix}"
            );
        }
        let no_read = status(403, "AuthorizationFailed", "no");
        assert!(workspace_id_fix(&no_read, &c, target(&c), "p").ends_with("or set SENTINEL_WORKSPACE_ID"));
    }

    #[test]
    fn jwt_claims_name_the_principal_and_opaque_tokens_do_not() {
        let claims = r#"{"aud":"https://management.azure.com","oid":"11111111-2222-3333-4444-555555555555","appid":"5e29463d-0a3b-4c4f-9a3e-2b6e0c1d8f70","tid":"t"}"#;
        let token = format!(
            "e30.{}.sig",
            azure_core::base64::encode_url_safe(claims).trim_end_matches('=')
        );
        let p = Principal::from_token(&token).unwrap();
        assert_eq!(
            p.describe().unwrap(),
            "principal 11111111-2222-3333-4444-555555555555 (client id 5e29463d-0a3b-4c4f-9a3e-2b6e0c1d8f70)"
        );
        assert_eq!(Principal::from_token("sim.arm.0123"), None);
        let grantee = Grantee {
            principal: None,
            kind: CredentialKind::ManagedIdentity,
            client_id: Some("abc"),
        };
        assert_eq!(grantee.describe(""), "the user-assigned identity with client id abc");
        assert_eq!(grantee.command("", "r", "/s"), None);
        let with_token = Grantee {
            principal: Some(&p),
            ..grantee
        };
        assert_eq!(
            with_token.object_id("").as_deref(),
            Some("11111111-2222-3333-4444-555555555555")
        );
    }
}

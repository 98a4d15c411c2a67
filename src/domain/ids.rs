//! The identifiers of a workspace and an incident, parsed at the edge so that nothing from a
//! payload or a setting reaches a URL unchecked.

use std::fmt;

use super::ParseError;

/// Name of a Sentinel incident: the last segment of its ARM id, `SecurityIncident.IncidentName`,
/// the webhook's `object.name`. Incident names are client-chosen strings (GUIDs in practice);
/// this type allows only ASCII letters, digits, `-` and `_`, 1 to 128 characters, so a name can be
/// put into a URL path without escaping and can never change which resource a URL points to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct IncidentName(String);

impl IncidentName {
    /// Checks a candidate name.
    pub fn parse(value: &str) -> Result<Self, ParseError> {
        const WHAT: &str = "incident id";
        if value.is_empty() {
            return Err(ParseError::new(WHAT, "is empty"));
        }
        if value.len() > 128 {
            return Err(ParseError::new(WHAT, "is longer than 128 characters"));
        }
        if let Some(bad) = value
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
        {
            return Err(ParseError::new(
                WHAT,
                format!("contains {bad:?}; only letters, digits, '-' and '_' are allowed"),
            ));
        }
        Ok(Self(value.to_owned()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IncidentName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A Log Analytics workspace's customer id (a GUID), used by the query API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkspaceGuid(String);

impl WorkspaceGuid {
    /// Accepts a GUID in its 8-4-4-4-12 hexadecimal form; stores it lower-cased.
    pub fn parse(value: &str) -> Result<Self, ParseError> {
        if is_guid(value) {
            Ok(Self(value.to_ascii_lowercase()))
        } else {
            Err(ParseError::new(
                "workspace id",
                format!("{value:?} is not a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)"),
            ))
        }
    }

    /// The GUID as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// True when `value` is a GUID in 8-4-4-4-12 hexadecimal form.
pub fn is_guid(value: &str) -> bool {
    let groups: Vec<&str> = value.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.chars().all(|c| c.is_ascii_hexdigit()))
}

/// The ARM id of a Log Analytics workspace:
/// `/subscriptions/{guid}/resourceGroups/{rg}/providers/Microsoft.OperationalInsights/workspaces/{name}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkspaceResourceId {
    /// Subscription GUID (lower case).
    pub subscription_id: String,
    /// Resource group name (as given; ARM compares it case-insensitively).
    pub resource_group: String,
    /// Workspace name.
    pub workspace_name: String,
}

impl WorkspaceResourceId {
    /// Parses a workspace ARM id. Segment keywords are matched case-insensitively, as ARM does.
    pub fn parse(value: &str) -> Result<Self, ParseError> {
        const WHAT: &str = "workspace resource id";
        let expected =
            "/subscriptions/<guid>/resourceGroups/<name>/providers/Microsoft.OperationalInsights/workspaces/<name>";
        let parts: Vec<&str> = value.trim_end_matches('/').split('/').collect();
        let shape_ok = parts.len() == 9
            && parts[0].is_empty()
            && parts[1].eq_ignore_ascii_case("subscriptions")
            && parts[3].eq_ignore_ascii_case("resourceGroups")
            && parts[5].eq_ignore_ascii_case("providers")
            && parts[6].eq_ignore_ascii_case("Microsoft.OperationalInsights")
            && parts[7].eq_ignore_ascii_case("workspaces");
        if !shape_ok {
            return Err(ParseError::new(
                WHAT,
                format!("{value:?} does not have the form {expected}"),
            ));
        }
        if !is_guid(parts[2]) {
            return Err(ParseError::new(
                WHAT,
                format!("subscription {:?} is not a GUID", parts[2]),
            ));
        }
        let rg = parts[4];
        let rg_ok = !rg.is_empty()
            && rg.len() <= 90
            && !rg.ends_with('.')
            && rg
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '(' | ')'));
        if !rg_ok {
            return Err(ParseError::new(
                WHAT,
                format!("resource group {rg:?} is not a valid resource group name"),
            ));
        }
        let ws = parts[8];
        let ws_ok = (1..=90).contains(&ws.len())
            && ws.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !ws.starts_with('-')
            && !ws.ends_with('-');
        if !ws_ok {
            return Err(ParseError::new(
                WHAT,
                format!("workspace name {ws:?} is not a valid workspace name"),
            ));
        }
        Ok(Self {
            subscription_id: parts[2].to_ascii_lowercase(),
            resource_group: rg.to_owned(),
            workspace_name: ws.to_owned(),
        })
    }

    /// The canonical ARM id.
    pub fn arm_id(&self) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.OperationalInsights/workspaces/{}",
            self.subscription_id, self.resource_group, self.workspace_name
        )
    }

    /// Does `wanted` name this workspace: its resource id, or its name (a CLI's `--workspace`)?
    pub fn is_named(&self, wanted: &str) -> bool {
        match Self::parse(wanted) {
            Ok(id) => self.same_as(&id),
            Err(_) => self.workspace_name.eq_ignore_ascii_case(wanted),
        }
    }

    /// Same workspace? ARM names are case-insensitive.
    pub fn same_as(&self, other: &Self) -> bool {
        self.subscription_id.eq_ignore_ascii_case(&other.subscription_id)
            && self.resource_group.eq_ignore_ascii_case(&other.resource_group)
            && self.workspace_name.eq_ignore_ascii_case(&other.workspace_name)
    }
}

/// A reference to one incident: its workspace and its name, parsed from a full ARM id such as
/// `…/workspaces/{ws}/providers/Microsoft.SecurityInsights/Incidents/{name}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentArmId {
    /// The workspace the incident lives in.
    pub workspace: WorkspaceResourceId,
    /// The incident's name.
    pub name: IncidentName,
}

impl IncidentArmId {
    /// Parses a full incident ARM id.
    pub fn parse(value: &str) -> Result<Self, ParseError> {
        const WHAT: &str = "incident resource id";
        let parts: Vec<&str> = value.split('/').collect();
        if parts.len() != 13
            || !parts[9].eq_ignore_ascii_case("providers")
            || !parts[10].eq_ignore_ascii_case("Microsoft.SecurityInsights")
            || !parts[11].eq_ignore_ascii_case("incidents")
        {
            return Err(ParseError::new(
                WHAT,
                "expected <workspace id>/providers/Microsoft.SecurityInsights/Incidents/<name>",
            ));
        }
        let workspace =
            WorkspaceResourceId::parse(&parts[..9].join("/")).map_err(|e| ParseError::new(WHAT, e.problem))?;
        let name = IncidentName::parse(parts[12]).map_err(|e| ParseError::new(WHAT, e.to_string()))?;
        Ok(Self { workspace, name })
    }
}

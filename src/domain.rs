//! Domain vocabulary: incident and alert statuses, classifications, and the identifiers of a
//! workspace and an incident. Every type here is parsed at the edge and cannot hold an invalid
//! value, so the rest of the crate never re-checks a string.

use std::fmt;

/// Why a value could not be parsed into a domain type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what}: {problem}")]
pub struct ParseError {
    /// The kind of value that was expected (for example "incident id").
    pub what: &'static str,
    /// What is wrong with the value, in words a user can act on.
    pub problem: String,
}

impl ParseError {
    fn new(what: &'static str, problem: impl Into<String>) -> Self {
        Self {
            what,
            problem: problem.into(),
        }
    }
}

/// Status of a Sentinel incident (`properties.status`, `SecurityIncident.Status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum IncidentStatus {
    /// Open, nobody is working on it yet.
    New,
    /// Open and being handled.
    Active,
    /// Closed (always with a classification).
    Closed,
}

impl IncidentStatus {
    /// Parses the API and table spelling (`New`, `Active`, `Closed`).
    pub fn parse(value: &str) -> Result<Self, ParseError> {
        match value {
            "New" => Ok(Self::New),
            "Active" => Ok(Self::Active),
            "Closed" => Ok(Self::Closed),
            other => Err(ParseError::new("incident status", format!("unknown value {other:?}"))),
        }
    }

    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "New",
            Self::Active => "Active",
            Self::Closed => "Closed",
        }
    }
}

impl fmt::Display for IncidentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Latest status of an alert as Defender for Cloud reports it (`SecurityAlert.Status`, alert
/// entity `properties.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum AlertStatus {
    /// Raised, nobody acted on it.
    New,
    /// Someone set it In progress in Defender for Cloud.
    InProgress,
    /// Closed after handling.
    Resolved,
    /// Dismissed as not needing action.
    Dismissed,
    /// The service did not say (the API enum has this value).
    Unknown,
}

impl AlertStatus {
    /// Parses the spelling used by the table and the API. Values this tool does not know map to
    /// `Unknown`, which makes the policy wait rather than guess.
    pub fn parse_lenient(value: &str) -> Self {
        match value {
            "New" => Self::New,
            "InProgress" => Self::InProgress,
            "Resolved" => Self::Resolved,
            "Dismissed" => Self::Dismissed,
            _ => Self::Unknown,
        }
    }

    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "New",
            Self::InProgress => "InProgress",
            Self::Resolved => "Resolved",
            Self::Dismissed => "Dismissed",
            Self::Unknown => "Unknown",
        }
    }

    /// Resolved or Dismissed: nothing more will happen to the alert in Defender for Cloud.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Resolved | Self::Dismissed)
    }
}

impl fmt::Display for AlertStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Classification (with its reason) given to an incident when it is closed: one of the pairs the
/// Sentinel API accepts (`IncidentClassification` / `IncidentClassificationReason`; the reason
/// must match the classification, and `Undetermined` takes none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Classification {
    /// `TruePositive` / `SuspiciousActivity`: the activity was malicious and was handled.
    TruePositive,
    /// `BenignPositive` / `SuspiciousButExpected`: the activity was real but expected.
    BenignPositive,
    /// `FalsePositive` / `IncorrectAlertLogic`.
    FalsePositiveIncorrectAlertLogic,
    /// `FalsePositive` / `InaccurateData`.
    FalsePositiveInaccurateData,
    /// `Undetermined`, no reason.
    Undetermined,
}

impl Classification {
    /// Every valid pair, in the order the README lists them.
    pub const ALL: [Classification; 5] = [
        Self::TruePositive,
        Self::BenignPositive,
        Self::FalsePositiveIncorrectAlertLogic,
        Self::FalsePositiveInaccurateData,
        Self::Undetermined,
    ];

    /// The API's `classification`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TruePositive => "TruePositive",
            Self::BenignPositive => "BenignPositive",
            Self::FalsePositiveIncorrectAlertLogic | Self::FalsePositiveInaccurateData => "FalsePositive",
            Self::Undetermined => "Undetermined",
        }
    }

    /// The API's `classificationReason` (none for `Undetermined`).
    pub fn reason(self) -> Option<&'static str> {
        match self {
            Self::TruePositive => Some("SuspiciousActivity"),
            Self::BenignPositive => Some("SuspiciousButExpected"),
            Self::FalsePositiveIncorrectAlertLogic => Some("IncorrectAlertLogic"),
            Self::FalsePositiveInaccurateData => Some("InaccurateData"),
            Self::Undetermined => None,
        }
    }

    /// The setting's spelling: `Classification/Reason`, or `Undetermined`.
    pub fn setting(self) -> String {
        match self.reason() {
            Some(r) => format!("{}/{r}", self.as_str()),
            None => self.as_str().into(),
        }
    }

    /// Parses the setting's spelling (exact pair names, case-insensitive).
    pub fn parse_setting(value: &str) -> Result<Self, String> {
        let found = Self::ALL
            .into_iter()
            .find(|c| c.setting().eq_ignore_ascii_case(value.trim()));
        found.ok_or_else(|| {
            let valid: Vec<String> = Self::ALL.iter().map(|c| c.setting()).collect();
            format!(
                "{value:?} is not a valid classification; use one of {}",
                valid.join(", ")
            )
        })
    }

    /// The pair an incident read from the API carries, when it is a valid one.
    pub fn from_api(classification: Option<&str>, reason: Option<&str>) -> Option<Self> {
        let reason = reason.filter(|r| !r.is_empty());
        Self::ALL
            .into_iter()
            .find(|c| Some(c.as_str()) == classification && c.reason() == reason)
    }
}

impl fmt::Display for Classification {
    /// `TruePositive / SuspiciousActivity`, or `Undetermined`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.reason() {
            Some(r) => write!(f, "{} / {r}", self.as_str()),
            None => f.write_str(self.as_str()),
        }
    }
}

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

/// `providerName` of incidents Sentinel's own analytics rules create.
pub const SENTINEL_PROVIDER_NAME: &str = "Azure Sentinel";

/// `providerName` of incidents that Defender XDR creates and correlates (a workspace onboarded
/// to the Defender portal): `Microsoft XDR`. Older incidents of such workspaces may still say
/// `Microsoft 365 Defender`, the product's previous name.
pub const XDR_PROVIDER_NAMES: [&str; 2] = ["Microsoft XDR", "Microsoft 365 Defender"];

/// Is this `providerName` Defender XDR's?
pub fn is_xdr_provider(provider: &str) -> bool {
    XDR_PROVIDER_NAMES.iter().any(|p| p.eq_ignore_ascii_case(provider))
}

#[cfg(test)]
mod tests {
    use super::*;

    const WS: &str = "/subscriptions/d0cfe6b2-9ac0-4464-9919-dccaee2e48c0/resourceGroups/myRg/providers/Microsoft.OperationalInsights/workspaces/myWorkspace";

    #[test]
    fn incident_names_reject_path_and_url_characters() {
        assert!(IncidentName::parse("73e01a99-5cd7-4139-a149-9f2736ff2ab5").is_ok());
        for bad in [
            "",
            "a/b",
            "..",
            "a?b",
            "a#b",
            "a%2Fb",
            " a",
            "a b",
            "https://evil",
            "a\u{0}b",
            "é",
        ] {
            assert!(IncidentName::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(IncidentName::parse(&"a".repeat(129)).is_err());
    }

    #[test]
    fn workspace_ids_parse_case_insensitively_and_reject_junk() {
        let ws = WorkspaceResourceId::parse(&WS.to_lowercase()).unwrap();
        assert_eq!(ws.workspace_name, "myworkspace");
        assert!(ws.same_as(&WorkspaceResourceId::parse(WS).unwrap()));
        assert!(
            WorkspaceResourceId::parse(
                "/subscriptions/x/resourceGroups/a/providers/Microsoft.OperationalInsights/workspaces/b"
            )
            .is_err()
        );
        assert!(WorkspaceResourceId::parse(&format!("{WS}/extra")).is_err());
        assert!(WorkspaceResourceId::parse("").is_err());
    }

    #[test]
    fn incident_arm_ids_split_into_workspace_and_name() {
        let id = IncidentArmId::parse(&format!("{WS}/providers/Microsoft.SecurityInsights/Incidents/abc-1")).unwrap();
        assert_eq!(id.name.as_str(), "abc-1");
        assert!(IncidentArmId::parse(&format!("{WS}/providers/Microsoft.SecurityInsights/Incidents/../x")).is_err());
        assert!(IncidentArmId::parse(&format!("{WS}/providers/Microsoft.SecurityInsights/alertRules/abc")).is_err());
    }

    #[test]
    fn classification_settings_accept_exactly_the_valid_pairs() {
        for c in Classification::ALL {
            assert_eq!(Classification::parse_setting(&c.setting()), Ok(c));
            assert_eq!(Classification::from_api(Some(c.as_str()), c.reason()), Some(c));
        }
        assert_eq!(
            Classification::parse_setting("falsepositive/inaccuratedata"),
            Ok(Classification::FalsePositiveInaccurateData)
        );
        for bad in [
            "TruePositive",
            "TruePositive/SuspiciousButExpected",
            "Undetermined/SuspiciousActivity",
            "BenignPositive/",
            "",
            "FalsePositive",
        ] {
            let e = Classification::parse_setting(bad).unwrap_err();
            assert!(
                e.contains("TruePositive/SuspiciousActivity") && e.contains("Undetermined"),
                "{e}"
            );
        }
        assert_eq!(
            Classification::from_api(Some("Undetermined"), Some("")),
            Some(Classification::Undetermined)
        );
        assert_eq!(
            Classification::from_api(Some("TruePositive"), Some("InaccurateData")),
            None
        );
        assert_eq!(
            Classification::FalsePositiveIncorrectAlertLogic.to_string(),
            "FalsePositive / IncorrectAlertLogic"
        );
    }
}

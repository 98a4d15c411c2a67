//! Domain vocabulary: incident and alert statuses, classifications, an alert's latest state,
//! and the identifiers of a workspace and an incident ([`ids`]). Every type here is parsed at the
//! edge and cannot hold an invalid value, so the rest of the crate never re-checks a string.

mod ids;

pub use ids::{IncidentArmId, IncidentName, WorkspaceGuid, WorkspaceResourceId, is_guid};

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
    /// Every valid pair, in the order docs/configuration.md lists them.
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

/// Product names under which Defender for Cloud alerts appear (`SecurityAlert.ProductName`,
/// alert entity `productName`): the legacy name first, then the current one.
pub const DEFENDER_PRODUCT_NAMES: [&str; 2] = ["Azure Security Center", "Microsoft Defender for Cloud"];

/// One alert of an incident, with its latest status.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AlertState {
    /// `SystemAlertId`.
    pub id: String,
    /// Latest status.
    pub status: AlertStatus,
    /// Product that raised the alert.
    pub product: String,
}

impl AlertState {
    /// Raised by Defender for Cloud?
    pub fn is_defender(&self) -> bool {
        DEFENDER_PRODUCT_NAMES
            .iter()
            .any(|p| p.eq_ignore_ascii_case(&self.product))
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

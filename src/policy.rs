//! The decision policy: given an incident and the latest status of each of its alerts, what
//! should the incident become? Pure functions only (no I/O, no clock), so every row of the
//! behaviour table is one unit test, and the engine can re-apply the same decision to a fresh
//! read of the incident right before it writes.
//!
//! | Alert statuses in the incident              | Decision                                          |
//! |---------------------------------------------|---------------------------------------------------|
//! | any New or Unknown                          | none (wait)                                       |
//! | all Resolved                                | Closed, TruePositive / SuspiciousActivity         |
//! | all Dismissed                               | Closed, BenignPositive / SuspiciousButExpected    |
//! | all terminal, mixed Resolved and Dismissed  | Closed, TruePositive / SuspiciousActivity         |
//! | at least one InProgress, none New/Unknown   | Active if the incident is New, else none          |
//! | incident already Closed                     | never touched                                     |
//!
//! Two guards protect analysts: an incident with an owner can be skipped (option), and an
//! incident that carries this tool's label for a transition but is no longer in that state was
//! put back by a person; the tool leaves it alone from then on.

use crate::domain::{AlertStatus, Classification, IncidentStatus};

/// Product names under which Defender for Cloud alerts appear (`SecurityAlert.ProductName`,
/// alert entity `productName`): the legacy name first, then the current one.
pub const DEFENDER_PRODUCT_NAMES: [&str; 2] = ["Azure Security Center", "Microsoft Defender for Cloud"];

/// Label this tool adds when it closes an incident.
pub const LABEL_CLOSED: &str = "dfc-sync-closed";
/// Label this tool adds when it sets an incident Active.
pub const LABEL_ACTIVATED: &str = "dfc-sync-activated";

/// The parts of an incident the policy looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentState {
    /// Current status.
    pub status: IncidentStatus,
    /// Whether an owner (user or group) is assigned.
    pub has_owner: bool,
    /// Label names on the incident.
    pub labels: Vec<String>,
}

/// One alert of the incident, with its latest status.
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

/// Switches that change what the policy does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PolicyOptions {
    /// Leave incidents that have an owner assigned to their owner.
    pub skip_owned: bool,
}

/// What to do with the incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Close it with this classification (and its matching reason).
    Close(Classification),
    /// Set it Active.
    Activate,
    /// Leave it as it is, for this reason.
    Leave(Reason),
}

/// Why an incident is left as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    /// The incident is Closed; closed incidents are never touched.
    IncidentClosed,
    /// The incident has no alerts.
    NoAlerts,
    /// None of its alerts comes from Defender for Cloud.
    NoDefenderAlert,
    /// Some alert is still New (or its status is unknown): wait for it.
    AlertsPending,
    /// Alerts are in progress and the incident is already Active.
    AlreadyActive,
    /// An owner is assigned and the skip-owned option is on.
    Owned,
    /// This tool made this change before and a person undid it.
    RevertedByAnalyst,
}

impl Reason {
    /// Stable identifier used in logs and summaries.
    pub fn code(self) -> &'static str {
        match self {
            Self::IncidentClosed => "incident-closed",
            Self::NoAlerts => "no-alerts",
            Self::NoDefenderAlert => "no-defender-alert",
            Self::AlertsPending => "alerts-pending",
            Self::AlreadyActive => "already-active",
            Self::Owned => "owned",
            Self::RevertedByAnalyst => "reverted-by-analyst",
        }
    }

    /// One sentence for people.
    pub fn describe(self) -> &'static str {
        match self {
            Self::IncidentClosed => "the incident is already closed",
            Self::NoAlerts => "the incident has no alerts",
            Self::NoDefenderAlert => "the incident has no Defender for Cloud alert",
            Self::AlertsPending => "an alert is still New or its status is unknown",
            Self::AlreadyActive => "alerts are in progress and the incident is already Active",
            Self::Owned => "the incident has an owner and SYNC_SKIP_OWNED_INCIDENTS is on",
            Self::RevertedByAnalyst => "an analyst undid this tool's earlier change; leaving it to them",
        }
    }
}

/// Decides what the incident should become. See the module table.
pub fn decide(incident: &IncidentState, alerts: &[AlertState], options: PolicyOptions) -> Decision {
    if incident.status == IncidentStatus::Closed {
        return Decision::Leave(Reason::IncidentClosed);
    }
    if alerts.is_empty() {
        return Decision::Leave(Reason::NoAlerts);
    }
    if !alerts.iter().any(AlertState::is_defender) {
        return Decision::Leave(Reason::NoDefenderAlert);
    }
    if alerts
        .iter()
        .any(|a| matches!(a.status, AlertStatus::New | AlertStatus::Unknown))
    {
        return Decision::Leave(Reason::AlertsPending);
    }
    let wanted = if alerts.iter().all(|a| a.status.is_terminal()) {
        // Mixed Resolved + Dismissed closes as TruePositive: someone judged at least one alert
        // real, and a deterministic choice keeps two runs from disagreeing.
        if alerts.iter().any(|a| a.status == AlertStatus::Resolved) {
            Decision::Close(Classification::TruePositive)
        } else {
            Decision::Close(Classification::BenignPositive)
        }
    } else if incident.status == IncidentStatus::New {
        Decision::Activate
    } else {
        return Decision::Leave(Reason::AlreadyActive);
    };
    if options.skip_owned && incident.has_owner {
        return Decision::Leave(Reason::Owned);
    }
    let own_label = match wanted {
        Decision::Close(_) => LABEL_CLOSED,
        _ => LABEL_ACTIVATED,
    };
    if incident.labels.iter().any(|l| l == own_label) {
        return Decision::Leave(Reason::RevertedByAnalyst);
    }
    wanted
}

/// The label recording this decision on the incident.
pub fn label_for(decision: Decision) -> Option<&'static str> {
    match decision {
        Decision::Close(_) => Some(LABEL_CLOSED),
        Decision::Activate => Some(LABEL_ACTIVATED),
        Decision::Leave(_) => None,
    }
}

/// Text of the classification comment set when closing.
pub fn classification_comment(classification: Classification, alerts: &[AlertState], change_id: &str) -> String {
    let what = match classification {
        Classification::TruePositive if alerts.iter().all(|a| a.status == AlertStatus::Resolved) => {
            "all its Defender for Cloud alerts were Resolved"
        }
        Classification::TruePositive => "all its alerts were Resolved or Dismissed, at least one Resolved",
        Classification::BenignPositive => "all its Defender for Cloud alerts were Dismissed",
    };
    format!("Closed by dfc-sentinel-sync: {what} in Defender for Cloud. {CHANGE_MARKER}{change_id}]")
}

/// Opens the change id in a classification comment: `[dfc-sync change <id>]`. The id names the
/// change's audit comment, so a later read can check that comment exists.
const CHANGE_MARKER: &str = "[dfc-sync change ";

/// The change id recorded in a classification comment written by [`classification_comment`].
pub fn change_id_in(classification_comment: &str) -> Option<String> {
    let (_, rest) = classification_comment.rsplit_once(CHANGE_MARKER)?;
    let id = rest.strip_suffix(']')?;
    uuid::Uuid::parse_str(id).ok().map(|u| u.to_string())
}

/// How every audit comment of `decision` begins.
pub fn audit_comment_prefix(decision: Decision) -> &'static str {
    match decision {
        Decision::Close(_) => "dfc-sentinel-sync closed this incident",
        Decision::Activate => "dfc-sentinel-sync set this incident Active",
        Decision::Leave(_) => "dfc-sentinel-sync left this incident",
    }
}

/// The incident comment that records a change: which alerts had which status, and that this
/// tool made the change.
/// `previous` is `None` when the comment is restored later and the earlier status is not known.
pub fn audit_comment(decision: Decision, previous: Option<IncidentStatus>, alerts: &[AlertState]) -> String {
    let from = previous.map(|p| format!("{p} → ")).unwrap_or_else(|| "→ ".into());
    let change = match decision {
        Decision::Close(c) => format!("({from}Closed, {} / {})", c.as_str(), c.reason()),
        Decision::Activate => format!("({from}Active)"),
        Decision::Leave(r) => format!("as it is: {}", r.describe()),
    };
    let change = format!("{} {change}", audit_comment_prefix(decision));
    let mut sorted: Vec<&AlertState> = alerts.iter().collect();
    sorted.sort_by(|a, b| a.id.cmp(&b.id));
    let lines: Vec<String> = sorted
        .iter()
        .map(|a| format!("- alert {} ({}): {}", a.id, a.product, a.status))
        .collect();
    format!(
        "{change} because of the alerts' status in Defender for Cloud:\n{}",
        lines.join("\n")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use AlertStatus::*;

    fn incident(status: IncidentStatus) -> IncidentState {
        IncidentState {
            status,
            has_owner: false,
            labels: vec![],
        }
    }

    fn alerts(statuses: &[AlertStatus]) -> Vec<AlertState> {
        statuses
            .iter()
            .enumerate()
            .map(|(i, s)| AlertState {
                id: format!("a{i}"),
                status: *s,
                product: DEFENDER_PRODUCT_NAMES[0].into(),
            })
            .collect()
    }

    fn decide_new(statuses: &[AlertStatus]) -> Decision {
        decide(
            &incident(IncidentStatus::New),
            &alerts(statuses),
            PolicyOptions::default(),
        )
    }

    // One test per row of the behaviour table.

    #[test]
    fn any_new_or_unknown_alert_waits() {
        assert_eq!(decide_new(&[New]), Decision::Leave(Reason::AlertsPending));
        assert_eq!(decide_new(&[Resolved, New]), Decision::Leave(Reason::AlertsPending));
        assert_eq!(
            decide_new(&[InProgress, Unknown]),
            Decision::Leave(Reason::AlertsPending)
        );
        assert_eq!(
            decide_new(&[Dismissed, Unknown]),
            Decision::Leave(Reason::AlertsPending)
        );
    }

    #[test]
    fn all_resolved_closes_as_true_positive() {
        assert_eq!(decide_new(&[Resolved]), Decision::Close(Classification::TruePositive));
        assert_eq!(
            decide_new(&[Resolved, Resolved]),
            Decision::Close(Classification::TruePositive)
        );
    }

    #[test]
    fn all_dismissed_closes_as_benign_positive() {
        assert_eq!(
            decide_new(&[Dismissed, Dismissed]),
            Decision::Close(Classification::BenignPositive)
        );
        assert_eq!(Classification::BenignPositive.reason(), "SuspiciousButExpected");
    }

    #[test]
    fn mixed_terminal_closes_as_true_positive_whatever_the_order() {
        assert_eq!(
            decide_new(&[Dismissed, Resolved]),
            Decision::Close(Classification::TruePositive)
        );
        assert_eq!(
            decide_new(&[Resolved, Dismissed]),
            Decision::Close(Classification::TruePositive)
        );
        assert_eq!(Classification::TruePositive.reason(), "SuspiciousActivity");
    }

    #[test]
    fn in_progress_activates_a_new_incident_only() {
        assert_eq!(decide_new(&[InProgress]), Decision::Activate);
        assert_eq!(decide_new(&[InProgress, Resolved]), Decision::Activate);
        let active = decide(
            &incident(IncidentStatus::Active),
            &alerts(&[InProgress, Dismissed]),
            PolicyOptions::default(),
        );
        assert_eq!(active, Decision::Leave(Reason::AlreadyActive));
    }

    #[test]
    fn closed_incidents_are_never_touched() {
        for s in [&[Resolved][..], &[InProgress], &[New], &[]] {
            let d = decide(&incident(IncidentStatus::Closed), &alerts(s), PolicyOptions::default());
            assert_eq!(d, Decision::Leave(Reason::IncidentClosed));
        }
    }

    #[test]
    fn active_incident_with_all_alerts_done_is_closed() {
        let d = decide(
            &incident(IncidentStatus::Active),
            &alerts(&[Resolved]),
            PolicyOptions::default(),
        );
        assert_eq!(d, Decision::Close(Classification::TruePositive));
    }

    #[test]
    fn incidents_without_defender_alerts_are_left_alone() {
        let mut a = alerts(&[Resolved]);
        a[0].product = "Azure Sentinel".into();
        assert_eq!(
            decide(&incident(IncidentStatus::New), &a, PolicyOptions::default()),
            Decision::Leave(Reason::NoDefenderAlert)
        );
        assert_eq!(
            decide(&incident(IncidentStatus::New), &[], PolicyOptions::default()),
            Decision::Leave(Reason::NoAlerts)
        );
        a[0].product = "Microsoft Defender for Cloud".into();
        assert_eq!(
            decide(&incident(IncidentStatus::New), &a, PolicyOptions::default()),
            Decision::Close(Classification::TruePositive)
        );
    }

    #[test]
    fn a_non_defender_alert_still_counts_toward_the_statuses() {
        let mut a = alerts(&[Resolved, New]);
        a[1].product = "Azure Sentinel".into();
        assert_eq!(
            decide(&incident(IncidentStatus::New), &a, PolicyOptions::default()),
            Decision::Leave(Reason::AlertsPending)
        );
    }

    #[test]
    fn owned_incidents_are_skipped_only_when_asked() {
        let mut i = incident(IncidentStatus::New);
        i.has_owner = true;
        let a = alerts(&[Resolved]);
        assert_eq!(
            decide(&i, &a, PolicyOptions { skip_owned: true }),
            Decision::Leave(Reason::Owned)
        );
        assert_eq!(
            decide(&i, &a, PolicyOptions::default()),
            Decision::Close(Classification::TruePositive)
        );
        // Waiting beats the owner check: the reason says what really holds the incident back.
        assert_eq!(
            decide(&i, &alerts(&[New]), PolicyOptions { skip_owned: true }),
            Decision::Leave(Reason::AlertsPending)
        );
    }

    #[test]
    fn an_analyst_undoing_our_change_wins() {
        let mut reopened = incident(IncidentStatus::Active);
        reopened.labels = vec![LABEL_CLOSED.into()];
        assert_eq!(
            decide(&reopened, &alerts(&[Resolved]), PolicyOptions::default()),
            Decision::Leave(Reason::RevertedByAnalyst)
        );
        let mut set_back_to_new = incident(IncidentStatus::New);
        set_back_to_new.labels = vec![LABEL_ACTIVATED.into()];
        assert_eq!(
            decide(&set_back_to_new, &alerts(&[InProgress]), PolicyOptions::default()),
            Decision::Leave(Reason::RevertedByAnalyst)
        );
        // Having been activated by us does not stop a later close.
        assert_eq!(
            decide(&set_back_to_new, &alerts(&[Resolved]), PolicyOptions::default()),
            Decision::Close(Classification::TruePositive)
        );
    }

    #[test]
    fn audit_comment_names_every_alert_and_the_tool() {
        let a = alerts(&[Resolved, Dismissed]);
        let text = audit_comment(
            Decision::Close(Classification::TruePositive),
            Some(IncidentStatus::New),
            &a,
        );
        assert!(
            text.contains("dfc-sentinel-sync closed this incident (New → Closed, TruePositive / SuspiciousActivity)")
        );
        assert!(text.contains("- alert a0 (Azure Security Center): Resolved"));
        assert!(text.contains("- alert a1 (Azure Security Center): Dismissed"));
        let id = "0b6a3f4e-52c1-5d9e-8f00-7a1b2c3d4e5f";
        let comment = classification_comment(Classification::BenignPositive, &a, id);
        assert!(comment.contains("Dismissed"));
        assert_eq!(change_id_in(&comment).as_deref(), Some(id));
        assert_eq!(change_id_in("Closed by an analyst [dfc-sync change nope]"), None);
        assert_eq!(change_id_in("Closed by an analyst"), None);
        let restored = audit_comment(Decision::Activate, None, &a);
        assert!(
            restored.starts_with("dfc-sentinel-sync set this incident Active (→ Active)"),
            "{restored}"
        );
    }
}

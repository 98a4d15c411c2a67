//! The decision policy: given an incident and the latest status of each of its alerts, what
//! should the incident become? Pure functions only (no I/O, no clock), so every row of the
//! behaviour table is one unit test, and the engine can re-apply the same decision to a fresh
//! read of the incident right before it writes.
//!
//! | Alert statuses in the incident              | Decision                                          |
//! |---------------------------------------------|---------------------------------------------------|
//! | any New or Unknown                          | none (wait)                                       |
//! | all Resolved                                | Closed, the Resolved mapping (default TruePositive / SuspiciousActivity) |
//! | all Dismissed                               | Closed, the Dismissed mapping (default BenignPositive / SuspiciousButExpected) |
//! | all terminal, mixed Resolved and Dismissed  | Closed, the Resolved mapping                      |
//! | at least one InProgress, none New/Unknown   | Active if the incident is New, else none          |
//! | incident Closed                             | never touched, except (opt-in) below              |
//! | Closed by this tool, untouched since, a DfC alert New or InProgress again | Active again, if `reopen_on_reactivation` |
//!
//! Two guards protect analysts: an incident with an owner can be skipped (option), and an
//! incident that carries this tool's label for a transition but is no longer in that state was
//! put back by a person (or by Defender XDR); the tool leaves it alone from then on. An incident
//! a person closed is never reopened.

mod comments;

pub use comments::{audit_comment, audit_comment_prefix, change_id_in, classification_comment, closed_by_tool};

use crate::domain::{AlertState, AlertStatus, Classification, IncidentStatus};

/// Label this tool adds when it closes an incident.
pub const LABEL_CLOSED: &str = "dfc-sync-closed";
/// Label this tool adds when it sets an incident Active.
pub const LABEL_ACTIVATED: &str = "dfc-sync-activated";
/// Label this tool adds when it reopens an incident it had closed (it removes
/// [`LABEL_CLOSED`] then, so a later close is not taken for an analyst's undo).
pub const LABEL_REOPENED: &str = "dfc-sync-reopened";

/// The parts of an incident the policy looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentState {
    /// Current status.
    pub status: IncidentStatus,
    /// Whether an owner (user or group) is assigned.
    pub has_owner: bool,
    /// Label names on the incident.
    pub labels: Vec<String>,
    /// Closed by this tool and untouched by a person since ([`closed_by_tool`]). From the query
    /// alone this is only its label; the fresh read before a write checks the rest.
    pub closed_by_tool: bool,
}

/// Switches that change what the policy does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PolicyOptions {
    /// Leave incidents that have an owner assigned to their owner.
    pub skip_owned: bool,
    /// The close when every alert is Resolved, or some Resolved and the rest Dismissed.
    pub resolved: Classification,
    /// The close when every alert is Dismissed.
    pub dismissed: Classification,
    /// Set an incident this tool closed Active again when a Defender for Cloud alert of it is
    /// New or InProgress again.
    pub reopen_on_reactivation: bool,
}

impl Default for PolicyOptions {
    /// The seed's mapping (TruePositive for Resolved, BenignPositive for Dismissed), nothing
    /// skipped, nothing reopened.
    fn default() -> Self {
        Self {
            skip_owned: false,
            resolved: Classification::TruePositive,
            dismissed: Classification::BenignPositive,
            reopen_on_reactivation: false,
        }
    }
}

/// Why an incident is closed: which terminal statuses its alerts have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseCause {
    /// Every alert Resolved.
    AllResolved,
    /// Every alert Dismissed.
    AllDismissed,
    /// Some Resolved, the rest Dismissed.
    Mixed,
}

impl CloseCause {
    /// The cause the alerts show (all of them terminal).
    pub fn of(alerts: &[AlertState]) -> Self {
        if alerts.iter().all(|a| a.status == AlertStatus::Resolved) {
            Self::AllResolved
        } else if alerts.iter().all(|a| a.status == AlertStatus::Dismissed) {
            Self::AllDismissed
        } else {
            Self::Mixed
        }
    }
}

/// A close: the classification it writes and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closing {
    /// Classification and reason written.
    pub classification: Classification,
    /// The alerts' statuses behind it.
    pub cause: CloseCause,
}

/// What to do with the incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Close it.
    Close(Closing),
    /// Set it Active.
    Activate,
    /// Set it Active again: this tool closed it and Defender for Cloud reactivated an alert.
    Reopen,
    /// Leave it as it is, for this reason.
    Leave(Reason),
}

/// A change this tool makes: what its label and audit comment record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transition {
    /// Closed.
    Closed,
    /// Set Active (from New).
    Activated,
    /// Set Active again after this tool closed it.
    Reopened,
}

impl Transition {
    /// Stable word, part of change ids.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Activated => "activated",
            Self::Reopened => "reopened",
        }
    }

    /// The incident's status after the change.
    pub fn target(self) -> IncidentStatus {
        match self {
            Self::Closed => IncidentStatus::Closed,
            Self::Activated | Self::Reopened => IncidentStatus::Active,
        }
    }

    /// The label recording the change on the incident.
    pub fn label(self) -> &'static str {
        match self {
            Self::Closed => LABEL_CLOSED,
            Self::Activated => LABEL_ACTIVATED,
            Self::Reopened => LABEL_REOPENED,
        }
    }
}

impl Decision {
    /// The change this decision makes, if any.
    pub fn transition(self) -> Option<Transition> {
        match self {
            Self::Close(_) => Some(Transition::Closed),
            Self::Activate => Some(Transition::Activated),
            Self::Reopen => Some(Transition::Reopened),
            Self::Leave(_) => None,
        }
    }
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
            Self::RevertedByAnalyst => {
                "someone (an analyst, or Defender XDR) undid this tool's earlier change; leaving it to them"
            }
        }
    }
}

/// Decides what the incident should become. See the module table.
pub fn decide(incident: &IncidentState, alerts: &[AlertState], options: PolicyOptions) -> Decision {
    if incident.status == IncidentStatus::Closed {
        let reactivated = alerts
            .iter()
            .any(|a| a.is_defender() && matches!(a.status, AlertStatus::New | AlertStatus::InProgress));
        if !(options.reopen_on_reactivation && incident.closed_by_tool && reactivated) {
            return Decision::Leave(Reason::IncidentClosed);
        }
        if options.skip_owned && incident.has_owner {
            return Decision::Leave(Reason::Owned);
        }
        return Decision::Reopen;
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
        // Mixed Resolved + Dismissed takes the Resolved mapping: someone judged at least one
        // alert real, and a deterministic choice keeps two runs from disagreeing.
        let cause = CloseCause::of(alerts);
        let classification = match cause {
            CloseCause::AllDismissed => options.dismissed,
            CloseCause::AllResolved | CloseCause::Mixed => options.resolved,
        };
        Decision::Close(Closing { classification, cause })
    } else if incident.status == IncidentStatus::New {
        Decision::Activate
    } else {
        return Decision::Leave(Reason::AlreadyActive);
    };
    if options.skip_owned && incident.has_owner {
        return Decision::Leave(Reason::Owned);
    }
    if let Some(own_label) = label_for(wanted)
        && incident.labels.iter().any(|l| l == own_label)
    {
        return Decision::Leave(Reason::RevertedByAnalyst);
    }
    wanted
}

/// The label recording this decision on the incident.
pub fn label_for(decision: Decision) -> Option<&'static str> {
    decision.transition().map(Transition::label)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use AlertStatus::*;

    use crate::domain::DEFENDER_PRODUCT_NAMES;

    fn incident(status: IncidentStatus) -> IncidentState {
        IncidentState {
            status,
            has_owner: false,
            labels: vec![],
            closed_by_tool: false,
        }
    }

    pub(super) const RESOLVED: Decision = Decision::Close(Closing {
        classification: Classification::TruePositive,
        cause: CloseCause::AllResolved,
    });
    pub(super) const MIXED: Decision = Decision::Close(Closing {
        classification: Classification::TruePositive,
        cause: CloseCause::Mixed,
    });
    pub(super) const DISMISSED: Decision = Decision::Close(Closing {
        classification: Classification::BenignPositive,
        cause: CloseCause::AllDismissed,
    });

    fn skip_owned() -> PolicyOptions {
        PolicyOptions {
            skip_owned: true,
            ..PolicyOptions::default()
        }
    }

    pub(super) fn alerts(statuses: &[AlertStatus]) -> Vec<AlertState> {
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
        assert_eq!(decide_new(&[Resolved]), RESOLVED);
        assert_eq!(decide_new(&[Resolved, Resolved]), RESOLVED);
    }

    #[test]
    fn all_dismissed_closes_as_benign_positive() {
        assert_eq!(decide_new(&[Dismissed, Dismissed]), DISMISSED);
        assert_eq!(Classification::BenignPositive.reason(), Some("SuspiciousButExpected"));
    }

    #[test]
    fn mixed_terminal_closes_as_true_positive_whatever_the_order() {
        assert_eq!(decide_new(&[Dismissed, Resolved]), MIXED);
        assert_eq!(decide_new(&[Resolved, Dismissed]), MIXED);
        assert_eq!(Classification::TruePositive.reason(), Some("SuspiciousActivity"));
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
        assert_eq!(d, RESOLVED);
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
            RESOLVED
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
        assert_eq!(decide(&i, &a, skip_owned()), Decision::Leave(Reason::Owned));
        assert_eq!(decide(&i, &a, PolicyOptions::default()), RESOLVED);
        // Waiting beats the owner check: the reason says what really holds the incident back.
        assert_eq!(
            decide(&i, &alerts(&[New]), skip_owned()),
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
            RESOLVED
        );
    }

    #[test]
    fn the_mapping_settings_choose_the_close_for_each_row() {
        for resolved in Classification::ALL {
            for dismissed in Classification::ALL {
                let options = PolicyOptions {
                    resolved,
                    dismissed,
                    ..PolicyOptions::default()
                };
                let close =
                    |statuses: &[AlertStatus]| decide(&incident(IncidentStatus::New), &alerts(statuses), options);
                let expect = |classification, cause| Decision::Close(Closing { classification, cause });
                assert_eq!(close(&[Resolved, Resolved]), expect(resolved, CloseCause::AllResolved));
                assert_eq!(close(&[Dismissed]), expect(dismissed, CloseCause::AllDismissed));
                assert_eq!(close(&[Dismissed, Resolved]), expect(resolved, CloseCause::Mixed));
                assert_eq!(close(&[InProgress, Dismissed]), Decision::Activate);
                assert_eq!(close(&[New, Resolved]), Decision::Leave(Reason::AlertsPending));
            }
        }
    }

    fn closed_by_us() -> IncidentState {
        IncidentState {
            status: IncidentStatus::Closed,
            has_owner: false,
            labels: vec![LABEL_CLOSED.into()],
            closed_by_tool: true,
        }
    }

    fn reopening() -> PolicyOptions {
        PolicyOptions {
            reopen_on_reactivation: true,
            ..PolicyOptions::default()
        }
    }

    #[test]
    fn a_reactivated_alert_reopens_only_what_this_tool_closed_and_only_when_asked() {
        for s in [New, InProgress] {
            assert_eq!(
                decide(&closed_by_us(), &alerts(&[Resolved, s]), reopening()),
                Decision::Reopen
            );
            // Off by default: nothing is ever reopened.
            assert_eq!(
                decide(&closed_by_us(), &alerts(&[Resolved, s]), PolicyOptions::default()),
                Decision::Leave(Reason::IncidentClosed)
            );
            // A person's close (or a change since ours) is never reopened.
            let mut theirs = closed_by_us();
            theirs.closed_by_tool = false;
            assert_eq!(
                decide(&theirs, &alerts(&[s]), reopening()),
                Decision::Leave(Reason::IncidentClosed)
            );
        }
        // Still terminal, Unknown, or a reactivated alert of another product: nothing to reopen.
        for statuses in [&[Resolved, Dismissed][..], &[Unknown]] {
            assert_eq!(
                decide(&closed_by_us(), &alerts(statuses), reopening()),
                Decision::Leave(Reason::IncidentClosed)
            );
        }
        let mut other = alerts(&[Resolved, InProgress]);
        other[1].product = "Microsoft Defender for Endpoint".into();
        assert_eq!(
            decide(&closed_by_us(), &other, reopening()),
            Decision::Leave(Reason::IncidentClosed)
        );
        // Owners keep their incidents when asked to.
        let mut owned = closed_by_us();
        owned.has_owner = true;
        let options = PolicyOptions {
            skip_owned: true,
            ..reopening()
        };
        assert_eq!(
            decide(&owned, &alerts(&[InProgress]), options),
            Decision::Leave(Reason::Owned)
        );
    }
}

//! The texts this tool writes on an incident, and how it recognises them later: the
//! classification comment of a close (with the classification and the change id), and the
//! audit comment of every change. Pure, like the rest of the policy.

use super::{CloseCause, Closing, Decision, LABEL_CLOSED, Transition};
use crate::domain::AlertState;
use crate::domain::{AlertStatus, Classification, IncidentStatus};

/// How the classification comment of a close begins; it names the classification written with
/// it, so a later read can tell whether a person changed the classification since.
fn closed_as(classification: Classification) -> String {
    format!("Closed by dfc-sentinel-sync as {classification}:")
}

/// Text of the classification comment set when closing.
pub fn classification_comment(closing: Closing, change_id: &str) -> String {
    let what = match closing.cause {
        CloseCause::AllResolved => "all its Defender for Cloud alerts were Resolved",
        CloseCause::AllDismissed => "all its Defender for Cloud alerts were Dismissed",
        CloseCause::Mixed => "all its alerts were Resolved or Dismissed, at least one Resolved",
    };
    format!(
        "{} {what} in Defender for Cloud. {CHANGE_MARKER}{change_id}]",
        closed_as(closing.classification)
    )
}

/// Whether an incident is closed the way this tool closed it, with no person's change since: it
/// carries [`LABEL_CLOSED`], and its classification comment is this tool's (with a change id)
/// and names the classification the incident has now. Reopening, re-closing, or changing the
/// classification or its comment breaks one of these.
pub fn closed_by_tool(labels: &[String], classification: Option<Classification>, comment: Option<&str>) -> bool {
    let Some(comment) = comment else { return false };
    labels.iter().any(|l| l == LABEL_CLOSED)
        && change_id_in(comment).is_some()
        && classification.is_some_and(|c| comment.starts_with(&closed_as(c)))
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
pub fn audit_comment_prefix(transition: Transition) -> &'static str {
    match transition {
        Transition::Closed => "dfc-sentinel-sync closed this incident",
        Transition::Activated => "dfc-sentinel-sync set this incident Active",
        Transition::Reopened => "dfc-sentinel-sync reopened this incident",
    }
}

/// The incident comment that records a change: which alerts had which status, and that this
/// tool made the change.
/// `previous` is `None` when the comment is restored later and the earlier status is not known.
pub fn audit_comment(decision: Decision, previous: Option<IncidentStatus>, alerts: &[AlertState]) -> String {
    let from = previous.map(|p| format!("{p} → ")).unwrap_or_else(|| "→ ".into());
    let change = match decision {
        Decision::Close(c) => format!("({from}Closed, {})", c.classification),
        Decision::Activate => format!("({from}Active)"),
        Decision::Reopen => {
            let reactivated: Vec<String> = alerts
                .iter()
                .filter(|a| a.is_defender() && matches!(a.status, AlertStatus::New | AlertStatus::InProgress))
                .map(|a| format!("{} ({})", a.id, a.status))
                .collect();
            format!(
                "({from}Active): Defender for Cloud reactivated alert {}",
                reactivated.join(", ")
            )
        }
        Decision::Leave(r) => return format!("dfc-sentinel-sync left this incident as it is: {}", r.describe()),
    };
    let prefix = decision.transition().map(audit_comment_prefix).unwrap_or_default();
    let change = format!("{prefix} {change}");
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
    use super::super::tests::{DISMISSED, MIXED, RESOLVED, alerts};
    use super::super::*;
    use AlertStatus::*;

    #[test]
    fn audit_comment_names_every_alert_and_the_tool() {
        let a = alerts(&[Resolved, Dismissed]);
        let text = audit_comment(MIXED, Some(IncidentStatus::New), &a);
        assert!(
            text.contains("dfc-sentinel-sync closed this incident (New → Closed, TruePositive / SuspiciousActivity)")
        );
        assert!(text.contains("- alert a0 (Azure Security Center): Resolved"));
        assert!(text.contains("- alert a1 (Azure Security Center): Dismissed"));
        let id = "0b6a3f4e-52c1-5d9e-8f00-7a1b2c3d4e5f";
        let Decision::Close(dismissed) = DISMISSED else {
            unreachable!()
        };
        let comment = classification_comment(dismissed, id);
        assert!(comment.starts_with("Closed by dfc-sentinel-sync as BenignPositive / SuspiciousButExpected: all its Defender for Cloud alerts were Dismissed"), "{comment}");
        assert_eq!(change_id_in(&comment).as_deref(), Some(id));
        assert_eq!(change_id_in("Closed by an analyst [dfc-sync change nope]"), None);
        assert_eq!(change_id_in("Closed by an analyst"), None);
        let restored = audit_comment(Decision::Activate, None, &a);
        assert!(
            restored.starts_with("dfc-sentinel-sync set this incident Active (→ Active)"),
            "{restored}"
        );
    }

    #[test]
    fn closed_by_tool_needs_the_label_the_marked_comment_and_its_classification() {
        let Decision::Close(closing) = RESOLVED else {
            unreachable!()
        };
        let comment = classification_comment(closing, "0b6a3f4e-52c1-5d9e-8f00-7a1b2c3d4e5f");
        let labels = vec![LABEL_CLOSED.to_string()];
        let tp = Some(Classification::TruePositive);
        assert!(closed_by_tool(&labels, tp, Some(&comment)));
        assert!(!closed_by_tool(&[], tp, Some(&comment)), "label removed");
        assert!(
            !closed_by_tool(
                &labels,
                Some(Classification::FalsePositiveInaccurateData),
                Some(&comment)
            ),
            "reclassified"
        );
        assert!(
            !closed_by_tool(&labels, tp, Some("Closed by an analyst")),
            "comment replaced"
        );
        assert!(!closed_by_tool(&labels, tp, None));
        let unmarked = comment.split(" [dfc-sync change").next().unwrap();
        assert!(!closed_by_tool(&labels, tp, Some(unmarked)));
    }

    #[test]
    fn a_reopen_comment_names_the_reactivated_alert_and_its_status() {
        let a = alerts(&[Resolved, InProgress]);
        let text = audit_comment(Decision::Reopen, Some(IncidentStatus::Closed), &a);
        assert!(
            text.starts_with("dfc-sentinel-sync reopened this incident (Closed → Active): Defender for Cloud reactivated alert a1 (InProgress)"),
            "{text}"
        );
        assert!(text.contains("- alert a0 (Azure Security Center): Resolved"), "{text}");
        assert_eq!(label_for(Decision::Reopen), Some(LABEL_REOPENED));
    }
}

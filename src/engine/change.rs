//! A change this tool makes to an incident, and the change of this tool an incident shows: the
//! update each transition writes, how a fresh read tells whether a write was applied, and the
//! deterministic change id that names the audit comment.

use crate::{
    azure::incidents::{Incident, Update},
    domain::{AlertState, Classification, IncidentName, IncidentStatus},
    policy::{self, CloseCause, Closing, Decision, IncidentState, Transition},
};

/// One change this tool makes (or made) to an incident.
#[derive(Debug, Clone)]
pub(crate) struct Change {
    /// Close (with its classification), Activate or Reopen.
    pub decision: Decision,
    /// Status before the change.
    pub previous: IncidentStatus,
    /// The change id, also the audit comment's id.
    pub id: String,
    /// The alerts the decision rests on, for the audit comment.
    pub alerts: Vec<AlertState>,
}

impl Change {
    /// The change `decision` makes to `incident` as read: its id is derived from the incident
    /// and its etag, so it is the same for every attempt on that version and new for a later,
    /// separate transition.
    pub(crate) fn new(
        name: &IncidentName,
        decision: Decision,
        incident: &Incident,
        previous: IncidentStatus,
        alerts: &[AlertState],
    ) -> Self {
        let version = incident.etag.as_deref().unwrap_or_default();
        Self {
            decision,
            previous,
            id: change_id(name, transition_of(decision), version),
            alerts: alerts.to_vec(),
        }
    }

    /// What the change does.
    pub(crate) fn transition(&self) -> Transition {
        transition_of(self.decision)
    }

    /// The incident's status after the change.
    pub(crate) fn target(&self) -> IncidentStatus {
        self.transition().target()
    }

    /// Whether `incident` is in the state this change produces: the write was applied even if
    /// its reply never arrived.
    pub(crate) fn is_applied(&self, incident: &Incident, state: &IncidentState) -> bool {
        let Some(own) = own_change(incident, state) else {
            return false;
        };
        own.transition == self.transition()
            && match self.decision {
                // A close records its classification and its id: only this very write matches.
                Decision::Close(c) => {
                    own.classification == Some(c.classification) && own.change_id.as_deref() == Some(self.id.as_str())
                }
                _ => true,
            }
    }

    /// The write that makes the change. A close writes its classification comment, which
    /// carries the change id.
    pub(crate) fn update(&self) -> Update {
        match self.decision {
            Decision::Close(c) => Update::close(
                c.classification,
                policy::classification_comment(c, &self.id),
                policy::LABEL_CLOSED,
            ),
            Decision::Reopen => Update::reopen(policy::LABEL_REOPENED, policy::LABEL_CLOSED),
            _ => Update::activate(policy::LABEL_ACTIVATED),
        }
    }
}

/// The change of this tool an incident shows: in the state one of its labels records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OwnChange {
    /// What the change was.
    pub transition: Transition,
    /// The classification of a close.
    pub classification: Option<Classification>,
    /// Its id, when the incident records it (closes do, in the classification comment).
    pub change_id: Option<String>,
}

impl OwnChange {
    /// The decision that made this change, for its audit comment (a close's cause is read off
    /// the alerts).
    pub(crate) fn decision(&self, alerts: &[AlertState]) -> Decision {
        match (self.transition, self.classification) {
            (Transition::Closed, Some(classification)) => Decision::Close(Closing {
                classification,
                cause: CloseCause::of(alerts),
            }),
            (Transition::Reopened, _) => Decision::Reopen,
            _ => Decision::Activate,
        }
    }
}

/// The classification an incident read from the API carries, when it is a valid pair.
pub(crate) fn classification_of(incident: &Incident) -> Option<Classification> {
    Classification::from_api(
        incident.properties.classification.as_deref(),
        incident.properties.classification_reason.as_deref(),
    )
}

/// The change this tool made, if the incident is in the state one of its labels records:
/// Closed with its label and a valid classification, Active with its reopen label (and no close
/// label), or Active with its activation label.
pub(crate) fn own_change(incident: &Incident, state: &IncidentState) -> Option<OwnChange> {
    let has = |label: &str| state.labels.iter().any(|l| l == label);
    let own = |transition| OwnChange {
        transition,
        classification: None,
        change_id: None,
    };
    match state.status {
        IncidentStatus::Closed if has(policy::LABEL_CLOSED) => Some(OwnChange {
            transition: Transition::Closed,
            classification: Some(classification_of(incident)?),
            change_id: incident
                .properties
                .classification_comment
                .as_deref()
                .and_then(policy::change_id_in),
        }),
        IncidentStatus::Active if has(policy::LABEL_REOPENED) && !has(policy::LABEL_CLOSED) => {
            Some(own(Transition::Reopened))
        }
        IncidentStatus::Active if has(policy::LABEL_ACTIVATED) => Some(own(Transition::Activated)),
        _ => None,
    }
}

/// The transition of a decision that changes the incident (a change is never made of a `Leave`).
pub(crate) fn transition_of(decision: Decision) -> Transition {
    decision.transition().unwrap_or(Transition::Closed)
}

/// The change id (and audit comment id) of `transition` on the incident version `version`.
pub(crate) fn change_id(name: &IncidentName, transition: Transition, version: &str) -> String {
    uuid::Uuid::new_v5(
        &COMMENT_NAMESPACE,
        format!("{name}/{}/{version}", transition.as_str()).as_bytes(),
    )
    .to_string()
}

/// Namespace of the deterministic change ids.
const COMMENT_NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x6d1f_5c3e_9a0b_4f7e_8b2c_d4e5_f6a7_b8c9);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn change_ids_differ_per_version_and_transition_and_repeat_for_the_same() {
        let name = IncidentName::parse("inc-1").unwrap();
        let close = Transition::Closed;
        let a = change_id(&name, close, "\"v1\"");
        assert_eq!(a, change_id(&name, close, "\"v1\""));
        assert_ne!(a, change_id(&name, close, "\"v2\""));
        assert_ne!(a, change_id(&name, Transition::Activated, "\"v1\""));
        assert_ne!(a, change_id(&name, Transition::Reopened, "\"v1\""));
    }
}

//! The KQL the tool sends, embedded from `src/queries/*.kql` so the text tested is the text sent.

/// Body of the candidate query; see the file for what it returns.
pub const SYNC_CANDIDATES: &str = include_str!("queries/sync_candidates.kql");

/// The candidate query's result columns with their Log Analytics types, in query order: what
/// the decoder (`engine::candidates_from`) reads, and what the Kusto.Language check must find.
pub const SYNC_CANDIDATE_COLUMNS: [(&str, &str); 10] = [
    ("IncidentName", "string"),
    ("IncidentNumber", "int"),
    ("IncidentStatus", "string"),
    ("HasOwner", "bool"),
    ("ClosedLabel", "bool"),
    ("ActivatedLabel", "bool"),
    ("ToolChangedRecently", "bool"),
    ("Alerts", "dynamic"),
    ("LastAlertChange", "datetime"),
    ("ProviderName", "string"),
];

/// Which part of the workspace one query answers: the incidents whose number is `index` modulo
/// `count`. `Partition::WHOLE` is the whole workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Partition {
    /// How many parts the workspace is split into (at least 1).
    pub count: u32,
    /// This part (below `count`).
    pub index: u32,
}

impl Partition {
    /// The whole workspace in one answer.
    pub const WHOLE: Partition = Partition { count: 1, index: 0 };

    /// The two halves of this part: `index` and `index + count` of `2 × count`, which together
    /// hold exactly the incidents of this part.
    pub fn halves(self) -> Option<[Partition; 2]> {
        let count = self.count.checked_mul(2)?;
        Some([
            Partition {
                count,
                index: self.index,
            },
            Partition {
                count,
                index: self.index + self.count,
            },
        ])
    }
}

impl std::fmt::Display for Partition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The full candidate query for a lookback window of `lookback_days` days over `part` of the
/// workspace, with the closed incidents that may be reopened when `reopen` is on. The
/// parameters are declared on the first four lines, which the simulator and the offline KQL
/// engines rely on.
pub fn sync_candidates(lookback_days: u32, part: Partition, reopen: bool) -> String {
    format!(
        "let lookback = {lookback_days}d;\nlet partitions = {};\nlet partition = {};\nlet reopenClosed = {reopen};\n{SYNC_CANDIDATES}",
        part.count, part.index
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_declared_on_the_first_lines_and_bound_the_scans() {
        let q = sync_candidates(7, Partition { count: 4, index: 3 }, true);
        assert!(q.starts_with("let lookback = 7d;\nlet partitions = 4;\nlet partition = 3;\nlet reopenClosed = true;\n"));
        assert!(sync_candidates(7, Partition::WHOLE, false).contains("\nlet reopenClosed = false;\n"));
        assert!(q.contains("SecurityAlert\n    | where TimeGenerated > ago(lookback)"));
        assert!(q.contains("| where IncidentNumber % partitions == partition"));
        for (column, _) in SYNC_CANDIDATE_COLUMNS {
            assert!(q.contains(column), "{column}");
        }
    }

    #[test]
    fn halves_cover_a_part_exactly() {
        let part = Partition { count: 2, index: 1 };
        let [a, b] = part.halves().unwrap();
        for n in 0..64u32 {
            let in_part = n % part.count == part.index;
            let in_halves = n % a.count == a.index || n % b.count == b.index;
            assert_eq!(in_part, in_halves, "{n}");
        }
        assert!(
            Partition {
                count: 1 << 31,
                index: 0
            }
            .halves()
            .is_none()
        );
    }
}

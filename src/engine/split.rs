//! How many parts the candidate query is split into: learned from answers that came back too
//! large, and given back when the answers are small again, with hysteresis so that it does not
//! flap.
//!
//! The split grows when an answer is cut (`E_QUERY_RESULT_SET_TOO_LARGE`): that part is queried as
//! its two halves. The run that grew it records how many rows the whole workspace answered with
//! (`rows_at_split`): at half as many parts, that many rows did not fit. A later run halves the
//! split only when the workspace answers with less than a quarter of that: four times below the
//! size that was too large, so a workspace near the limit keeps its split instead of being cut
//! every other run. One halving per run; each halving halves the recorded size with it (at half
//! as many parts, half as many rows already did not fit).

/// The split the next run starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Split {
    /// Parts of the workspace (1: the whole).
    pub(crate) count: u32,
    /// Rows of the whole workspace's answer in the run that last grew the split.
    rows_at_split: Option<usize>,
}

/// What a run's queries found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Answered {
    /// The most parts the run used (after any growth in this run).
    pub(crate) count: u32,
    /// Whether an answer was cut and split in this run.
    pub(crate) grew: bool,
    /// Rows of every part's answer together.
    pub(crate) rows: usize,
}

impl Default for Split {
    fn default() -> Self {
        Self::WHOLE
    }
}

impl Split {
    /// The whole workspace in one query.
    pub(crate) const WHOLE: Split = Split {
        count: 1,
        rows_at_split: None,
    };

    /// The split after a run whose queries all answered (`answered`).
    pub(crate) fn after(self, answered: Answered) -> Split {
        if answered.grew {
            return Split {
                count: answered.count.max(self.count),
                rows_at_split: Some(answered.rows),
            };
        }
        match self.rows_at_split {
            Some(at_split) if self.count > 1 && answered.rows.saturating_mul(4) < at_split => {
                let count = self.count / 2;
                Split {
                    count,
                    rows_at_split: (count > 1).then_some(at_split / 2),
                }
            }
            _ => self,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(count: u32, grew: bool, rows: usize) -> Answered {
        Answered { count, grew, rows }
    }

    #[test]
    fn grows_on_a_cut_answer_and_comes_back_only_well_below_the_size_that_was_too_large() {
        // 11 rows did not fit in 2 parts: 4 parts.
        let split = Split::WHOLE.after(answered(4, true, 11));
        assert_eq!(split.count, 4);
        // Still near that size: kept (hysteresis).
        assert_eq!(split.after(answered(4, false, 11)), split);
        assert_eq!(split.after(answered(4, false, 3)), split, "3 × 4 = 12 is not below 11");
        // Well below: one halving per run, the recorded size halved with it.
        let two = split.after(answered(4, false, 2));
        assert_eq!((two.count, two.rows_at_split), (2, Some(5)));
        assert_eq!(two.after(answered(2, false, 2)), two, "2 × 4 = 8 is not below 5");
        let one = two.after(answered(2, false, 1));
        assert_eq!(one, Split::WHOLE);
        assert_eq!(one.after(answered(1, false, 0)), Split::WHOLE);
    }

    #[test]
    fn a_run_that_grows_again_records_the_new_size() {
        let split = Split::WHOLE.after(answered(2, true, 10));
        let grown = split.after(answered(8, true, 40));
        assert_eq!((grown.count, grown.rows_at_split), (8, Some(40)));
        // Empty answers never shrink a split that was never recorded.
        let unknown = Split {
            count: 4,
            rows_at_split: None,
        };
        assert_eq!(unknown.after(answered(4, false, 0)), unknown);
    }
}

//! `SENTINEL_WORKSPACE_RESOURCE_ID` and `SENTINEL_WORKSPACE_ID` as lists: the workspaces one
//! deployment serves (an enterprise's several workspaces, or an MSSP's customers' workspaces
//! delegated through Azure Lighthouse). One id keeps meaning what it always meant.

use crate::domain::{WorkspaceGuid, WorkspaceResourceId};

/// Most workspaces one deployment serves. Every run queries each of them, five at a time (the
/// Log Analytics limit per principal), inside one run budget; beyond this, deploy another
/// instance for the rest.
pub const MAX_WORKSPACES: usize = 100;

/// One configured workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkspaceSetting {
    /// Its ARM id, for the Sentinel API.
    pub resource: WorkspaceResourceId,
    /// Its Log Analytics id (GUID), when `SENTINEL_WORKSPACE_ID` gives it; otherwise the handler
    /// reads it from the workspace resource (`properties.customerId`) on first use.
    pub id: Option<WorkspaceGuid>,
}

const RESOURCE_SETTING: &str = "SENTINEL_WORKSPACE_RESOURCE_ID";

/// The entries of a comma-separated list, trimmed; an empty entry is an error naming its place.
fn entries(value: &str) -> Result<Vec<&str>, String> {
    let entries: Vec<&str> = value.split(',').map(str::trim).collect();
    if let Some(i) = entries.iter().position(|e| e.is_empty()) {
        return Err(format!(
            "entry {} of {} is empty; separate the entries with single commas",
            i + 1,
            entries.len()
        ));
    }
    Ok(entries)
}

/// Prefixes `problem` with the entry's place when the list has more than one.
fn at(i: usize, count: usize, problem: String) -> String {
    if count == 1 {
        problem
    } else {
        format!("entry {} of {count}: {problem}", i + 1)
    }
}

/// Parses both settings into the workspace list. Errors come as `(setting, problem)`.
pub fn parse(
    resource_ids: Option<&str>,
    ids: Option<&str>,
) -> Result<Vec<WorkspaceSetting>, Vec<(&'static str, String)>> {
    let mut errors = Vec::new();
    let resources = match resource_ids {
        None => {
            errors.push((
                RESOURCE_SETTING,
                "missing; set it to the workspace's resource id (/subscriptions/…/resourceGroups/…/providers/Microsoft.OperationalInsights/workspaces/…), or to a comma-separated list of them".to_owned(),
            ));
            None
        }
        Some(v) => resources(v).map_err(|p| errors.push((RESOURCE_SETTING, p))).ok(),
    };
    let guids = match ids {
        None => None,
        Some(v) => match guids(v) {
            Ok(g) => Some(g),
            Err(p) => {
                errors.push(("SENTINEL_WORKSPACE_ID", p));
                return Err(errors);
            }
        },
    };
    let Some(resources) = resources else {
        return Err(errors);
    };
    match guids {
        None => Ok(resources
            .into_iter()
            .map(|resource| WorkspaceSetting { resource, id: None })
            .collect()),
        Some(guids) if guids.len() != resources.len() => Err(vec![(
            "SENTINEL_WORKSPACE_ID",
            format!(
                "{} workspace ids for {} workspace resource ids ({RESOURCE_SETTING}); give one per workspace in the same order, or leave it empty so that each id is read from its workspace resource",
                guids.len(),
                resources.len()
            ),
        )]),
        Some(guids) => Ok(resources
            .into_iter()
            .zip(guids)
            .map(|(resource, id)| WorkspaceSetting { resource, id: Some(id) })
            .collect()),
    }
}

fn resources(value: &str) -> Result<Vec<WorkspaceResourceId>, String> {
    let entries = entries(value)?;
    if entries.len() > MAX_WORKSPACES {
        return Err(format!(
            "{} workspaces; one deployment serves at most {MAX_WORKSPACES}: deploy another for the rest",
            entries.len()
        ));
    }
    parse_each(
        &entries,
        |e| WorkspaceResourceId::parse(e).map_err(|e| e.problem),
        WorkspaceResourceId::same_as,
        "names the same workspace as",
    )
}

fn guids(value: &str) -> Result<Vec<WorkspaceGuid>, String> {
    parse_each(
        &entries(value)?,
        |e| WorkspaceGuid::parse(e).map_err(|e| e.problem),
        |a, b| a == b,
        "is the same workspace id as",
    )
}

/// Parses each entry; a problem names its place, and an entry `same` as an earlier one is an
/// error saying it `repeats` that entry.
fn parse_each<T>(
    entries: &[&str],
    parse: impl Fn(&str) -> Result<T, String>,
    same: impl Fn(&T, &T) -> bool,
    repeats: &str,
) -> Result<Vec<T>, String> {
    let mut parsed: Vec<T> = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let item = parse(entry).map_err(|p| at(i, entries.len(), p))?;
        if let Some(first) = parsed.iter().position(|p| same(p, &item)) {
            return Err(format!(
                "entry {} {repeats} entry {}; list each workspace once",
                i + 1,
                first + 1
            ));
        }
        parsed.push(item);
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "/subscriptions/d0cfe6b2-9ac0-4464-9919-dccaee2e48c0/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/a";
    const B: &str = "/subscriptions/0f7b9c1e-2d3a-4b5c-8d6e-7f8091a2b3c4/resourceGroups/customer-rg/providers/Microsoft.OperationalInsights/workspaces/b";
    const GA: &str = "c8c99641-985d-4e4e-8e91-fb3466cd0e5b";
    const GB: &str = "3a9e1f52-6c7d-4e8f-9a0b-1c2d3e4f5a6b";

    fn problem(r: Option<&str>, g: Option<&str>) -> (&'static str, String) {
        let mut e = parse(r, g).unwrap_err();
        assert_eq!(e.len(), 1, "{e:?}");
        e.remove(0)
    }

    #[test]
    fn one_id_or_a_list_with_or_without_the_guids() {
        let one = parse(Some(A), Some(GA)).unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].id.as_ref().map(WorkspaceGuid::as_str), Some(GA));
        let two = parse(Some(&format!(" {A} ,\t{B} ")), None).unwrap();
        assert_eq!(
            two.iter()
                .map(|w| w.resource.workspace_name.as_str())
                .collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert!(two.iter().all(|w| w.id.is_none()));
        let paired = parse(Some(&format!("{A},{B}")), Some(&format!("{GA}, {GB}"))).unwrap();
        assert_eq!(paired[1].id.as_ref().map(WorkspaceGuid::as_str), Some(GB));
    }

    #[test]
    fn malformed_or_mismatched_lists_name_the_setting_and_the_entry() {
        let (s, p) = problem(Some(&format!("{A},,{B}")), None);
        assert_eq!(s, RESOURCE_SETTING);
        assert_eq!(p, "entry 2 of 3 is empty; separate the entries with single commas");
        let (s, p) = problem(Some(&format!("{A},{B},")), None);
        assert_eq!(
            (s, p.as_str()),
            (
                RESOURCE_SETTING,
                "entry 3 of 3 is empty; separate the entries with single commas"
            )
        );
        let (_, p) = problem(Some(&format!("{A},/subscriptions/x")), None);
        assert!(
            p.starts_with("entry 2 of 2: \"/subscriptions/x\" does not have the form"),
            "{p}"
        );
        let (_, p) = problem(Some(&format!("{A},{}", A.to_uppercase())), None);
        assert_eq!(
            p,
            "entry 2 names the same workspace as entry 1; list each workspace once"
        );
        let (s, p) = problem(Some(&format!("{A},{B}")), Some(GA));
        assert_eq!(s, "SENTINEL_WORKSPACE_ID");
        assert!(p.starts_with("1 workspace ids for 2 workspace resource ids"), "{p}");
        let (s, p) = problem(Some(A), Some(&format!("{GA},{GB}")));
        assert_eq!(s, "SENTINEL_WORKSPACE_ID");
        assert!(p.starts_with("2 workspace ids for 1 workspace resource ids"), "{p}");
        let (_, p) = problem(Some(&format!("{A},{B}")), Some(&format!("{GA},{GA}")));
        assert_eq!(
            p,
            "entry 2 is the same workspace id as entry 1; list each workspace once"
        );
        let (_, p) = problem(Some(&format!("{A},{B}")), Some(&format!("{GA},nope")));
        assert!(p.starts_with("entry 2 of 2: "), "{p}");
        let many = vec![A; MAX_WORKSPACES + 1].join(",");
        let (_, p) = problem(Some(&many), None);
        assert!(
            p.starts_with("101 workspaces; one deployment serves at most 100"),
            "{p}"
        );
        // Both wrong: both named.
        let e = parse(Some("x"), Some("y")).unwrap_err();
        assert_eq!(
            e.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
            [RESOURCE_SETTING, "SENTINEL_WORKSPACE_ID"]
        );
    }
}

//! The preflight's report: one step per thing checked, each ok, failed or skipped with a
//! one-line fix, printed as aligned text or as one JSON object. Pure; the probes are in `super`.

use serde::Serialize;
use serde_json::Value;

/// Step names, in the order they run.
pub const SETTINGS: &str = "settings";
/// Which credential the process uses.
pub const CREDENTIAL: &str = "credential";
/// A token for Resource Manager (the Sentinel API).
pub const ARM_TOKEN: &str = "arm-token";
/// A token for the Log Analytics query API.
pub const LOGS_TOKEN: &str = "logs-token";
/// The workspace's Log Analytics id: given by `SENTINEL_WORKSPACE_ID`, or read from the
/// workspace resource.
pub const WORKSPACE: &str = "workspace";
/// Reading incidents.
pub const INCIDENTS: &str = "incidents";
/// The Sentinel API accepted `SENTINEL_API_VERSION`.
pub const API_VERSION: &str = "api-version";
/// The candidate query.
pub const QUERY: &str = "query";
/// A reconciliation with dry run forced on.
pub const DRY_RUN: &str = "dry-run";
/// Every step, in order.
pub const STEPS: [&str; 9] = [
    SETTINGS,
    CREDENTIAL,
    ARM_TOKEN,
    LOGS_TOKEN,
    WORKSPACE,
    INCIDENTS,
    API_VERSION,
    QUERY,
    DRY_RUN,
];
/// The steps run once, whatever the number of workspaces; the others run per workspace.
pub const COMMON_STEPS: usize = 4;

/// Outcome of one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Works.
    Ok,
    /// Does not work; `fix` says what to change.
    Fail,
    /// Not tried, because a step it needs failed.
    Skipped,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Fail => "FAIL",
            Self::Skipped => "skip",
        }
    }
}

/// One step of the preflight.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// One of [`STEPS`].
    pub name: &'static str,
    /// Ok, failed or skipped.
    pub status: Status,
    /// What was found, in one line (`403 AuthorizationFailed`, `2025-09-01 accepted`).
    pub detail: String,
    /// When failed: the role or setting to change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    /// Further lines: each settings problem, the service's own message, incidents that would change.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Facts of the step for scripts (counts, versions, the dry run's summary).
    #[serde(skip_serializing_if = "Value::is_null")]
    pub data: Value,
}

impl Step {
    /// A step that works.
    pub fn ok(name: &'static str, detail: impl Into<String>) -> Self {
        Self {
            name,
            status: Status::Ok,
            detail: detail.into(),
            fix: None,
            notes: Vec::new(),
            data: Value::Null,
        }
    }

    /// A step that failed, with what to change.
    pub fn fail(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            status: Status::Fail,
            fix: Some(fix.into()),
            ..Self::ok(name, detail)
        }
    }

    /// A step not tried.
    pub fn skipped(name: &'static str, why: impl Into<String>) -> Self {
        Self {
            status: Status::Skipped,
            ..Self::ok(name, why)
        }
    }

    /// The same step with these facts.
    pub fn with_data(mut self, data: Value) -> Self {
        self.data = data;
        self
    }

    /// The same step with one more note (kept on one line, so the text report stays aligned).
    pub fn note(mut self, line: impl Into<String>) -> Self {
        let line: String = line.into();
        self.notes.push(line.replace(['\r', '\n'], " "));
        self
    }
}

/// The whole preflight.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// Every step ok.
    pub ok: bool,
    /// The process's exit status: 0 all ok, 1 a check failed, 2 settings missing or invalid.
    pub exit_code: u8,
    /// The workspace checked (its resource id), when the settings name one and only one is
    /// checked.
    pub workspace: Option<String>,
    /// Every step in [`STEPS`] order; with several workspaces, only the common ones (the first
    /// [`COMMON_STEPS`]).
    pub steps: Vec<Step>,
    /// With several workspaces: each one's own steps (from [`WORKSPACE`] on).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub workspaces: Vec<WorkspaceChecks>,
}

/// The per-workspace steps of one of several workspaces.
#[derive(Debug, Clone, Serialize)]
pub struct WorkspaceChecks {
    /// The workspace's resource id.
    pub workspace: String,
    /// Every one of its steps ok.
    pub ok: bool,
    /// Its steps, in [`STEPS`] order.
    pub steps: Vec<Step>,
}

/// Adds the steps of `names` that `steps` lacks as skipped, and sorts them in [`STEPS`] order.
fn complete(mut steps: Vec<Step>, names: &[&'static str], why: &str) -> Vec<Step> {
    for name in names {
        if !steps.iter().any(|s| s.name == *name) {
            steps.push(Step::skipped(name, why.to_owned()));
        }
    }
    steps.sort_by_key(|s| STEPS.iter().position(|n| *n == s.name));
    steps
}

fn why_not_run(steps: &[Step]) -> String {
    match steps.iter().find(|s| s.status == Status::Fail) {
        Some(failed) => format!("not run: {} failed", failed.name),
        None => "not run".to_owned(),
    }
}

fn all_ok(steps: &[Step]) -> bool {
    steps.iter().all(|s| s.status == Status::Ok)
}

impl Report {
    /// The report of `steps`; steps not run are added as skipped, so every report lists all.
    pub fn new(workspace: Option<String>, steps: Vec<Step>) -> Self {
        let why = why_not_run(&steps);
        let steps = complete(steps, &STEPS, &why);
        Self::finish(workspace, steps, Vec::new())
    }

    /// The report over several workspaces: the common steps once, then each workspace's own.
    pub fn several(common: Vec<Step>, parts: Vec<(String, Vec<Step>)>) -> Self {
        let why = why_not_run(&common);
        let common = complete(common, &STEPS[..COMMON_STEPS], &why);
        let workspaces = parts
            .into_iter()
            .map(|(workspace, steps)| {
                let why = if all_ok(&common) {
                    why_not_run(&steps)
                } else {
                    why_not_run(&common)
                };
                let steps = complete(steps, &STEPS[COMMON_STEPS..], &why);
                WorkspaceChecks {
                    workspace,
                    ok: all_ok(&steps),
                    steps,
                }
            })
            .collect();
        Self::finish(None, common, workspaces)
    }

    fn finish(workspace: Option<String>, steps: Vec<Step>, workspaces: Vec<WorkspaceChecks>) -> Self {
        let settings_failed = steps.iter().any(|s| s.name == SETTINGS && s.status == Status::Fail);
        let ok = all_ok(&steps) && workspaces.iter().all(|w| w.ok);
        Self {
            ok,
            exit_code: if settings_failed {
                2
            } else if ok {
                0
            } else {
                1
            },
            workspace,
            steps,
            workspaces,
        }
    }

    /// The step called `name`.
    pub fn step(&self, name: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.name == name)
    }

    /// Aligned text: one line per step (`ok    settings     …`, `FAIL  incidents    403 …: grant …`),
    /// its notes indented below, each workspace's steps under its name when there are several,
    /// and a last line saying whether the deployment is ready.
    pub fn text(&self) -> String {
        let mut out = String::new();
        if let Some(ws) = &self.workspace {
            out.push_str(&format!("handler check: workspace {ws}\n"));
        } else if !self.workspaces.is_empty() {
            out.push_str(&format!("handler check: {} workspaces\n", self.workspaces.len()));
        }
        write_steps(&mut out, &self.steps);
        for part in &self.workspaces {
            out.push_str(&format!("workspace {}\n", part.workspace));
            write_steps(&mut out, &part.steps);
        }
        let every: Vec<&Step> = self
            .steps
            .iter()
            .chain(self.workspaces.iter().flat_map(|w| &w.steps))
            .collect();
        let failed = every.iter().filter(|s| s.status == Status::Fail).count();
        let skipped = every.iter().filter(|s| s.status == Status::Skipped).count();
        if self.ok {
            out.push_str(&format!(
                "all {} checks passed: the handler can read, query and decide; review the dry run above before setting SYNC_DRY_RUN=false\n",
                every.len()
            ));
        } else {
            out.push_str(&format!(
                "{failed} failed, {skipped} skipped: fix the FAIL lines and run `handler check` again (exit status {})\n",
                self.exit_code
            ));
        }
        out
    }
}

fn write_steps(out: &mut String, steps: &[Step]) {
    for step in steps {
        let line = match &step.fix {
            Some(fix) => format!("{}: {fix}", step.detail),
            None => step.detail.clone(),
        };
        out.push_str(&format!("{:<6}{:<13}{line}\n", step.status.label(), step.name));
        for note in &step.notes {
            out.push_str(&format!("{:19}{note}\n", ""));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_steps_are_listed_as_skipped_and_settings_failures_exit_2() {
        let report = Report::new(
            None,
            vec![Step::fail(SETTINGS, "2 settings missing or invalid", "set them")],
        );
        assert_eq!(report.exit_code, 2);
        assert!(!report.ok);
        let names: Vec<&str> = report.steps.iter().map(|s| s.name).collect();
        assert_eq!(names, STEPS);
        assert_eq!(report.step(DRY_RUN).unwrap().status, Status::Skipped);
        assert_eq!(report.step(QUERY).unwrap().detail, "not run: settings failed");
    }

    #[test]
    fn any_failure_exits_1_and_all_ok_exits_0() {
        let all: Vec<Step> = STEPS.iter().map(|n| Step::ok(n, "fine")).collect();
        let report = Report::new(Some("/subscriptions/x".into()), all.clone());
        assert_eq!((report.ok, report.exit_code), (true, 0));
        assert!(report.text().contains("all 9 checks passed"));
        let mut some = all;
        some[5] = Step::fail(
            INCIDENTS,
            "403 AuthorizationFailed",
            "grant Microsoft Sentinel Responder",
        );
        let report = Report::new(None, some);
        assert_eq!((report.ok, report.exit_code), (false, 1));
        let text = report.text();
        assert!(
            text.contains("FAIL  incidents    403 AuthorizationFailed: grant Microsoft Sentinel Responder\n"),
            "{text}"
        );
        assert!(text.contains("ok    settings     fine\n"), "{text}");
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["exitCode"], 1);
        assert_eq!(json["steps"][5]["status"], "fail");
        assert_eq!(json["steps"][5]["fix"], "grant Microsoft Sentinel Responder");
        assert!(json["steps"][0].get("fix").is_none());
        let several = Report::several(
            STEPS[..COMMON_STEPS].iter().map(|n| Step::ok(n, "fine")).collect(),
            vec![
                (
                    "/w/a".into(),
                    STEPS[COMMON_STEPS..].iter().map(|n| Step::ok(n, "fine")).collect(),
                ),
                (
                    "/w/b".into(),
                    vec![Step::fail(
                        WORKSPACE,
                        "401 InvalidAuthenticationTokenTenant",
                        "delegate it",
                    )],
                ),
            ],
        );
        assert_eq!((several.ok, several.exit_code), (false, 1));
        assert!(several.workspaces[0].ok && !several.workspaces[1].ok);
        assert_eq!(several.workspaces[1].steps.len(), STEPS.len() - COMMON_STEPS);
        assert_eq!(several.workspaces[1].steps[1].detail, "not run: workspace failed");
        let text = several.text();
        assert!(text.starts_with("handler check: 2 workspaces\n"), "{text}");
        assert!(
            text.contains("workspace /w/b\nFAIL  workspace    401 InvalidAuthenticationTokenTenant: delegate it\n"),
            "{text}"
        );
        assert!(text.contains("1 failed, 4 skipped"), "{text}");
        let step = Step::ok(CREDENTIAL, "x").note("failed.\nTo troubleshoot, visit …");
        assert_eq!(step.notes, ["failed. To troubleshoot, visit …"]);
    }
}

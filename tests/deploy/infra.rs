//! The offline infra checks (tools/infra/check.py, run with the pinned pycep-parser in
//! .oracles/venv): they pass on the repository's templates, and they can fail.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn python() -> PathBuf {
    let py = repo().join(".oracles/venv/bin/python");
    assert!(
        py.is_file(),
        "{} is missing: run scripts/install-test-tools (it installs pycep-parser)",
        py.display()
    );
    py
}

fn check(args: &[&str]) -> (bool, String) {
    let out: Output = Command::new(python())
        .arg(repo().join("tools/infra/check.py"))
        .args(args)
        .output()
        .expect("check.py runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// A scratch copy of infra/ that a test may break.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        let root = std::env::temp_dir().join(format!("dfc-infra-{}", uuid::Uuid::new_v4().simple()));
        copy_dir(&repo().join("infra"), &root);
        Scratch(root)
    }
    fn edit(&self, file: &str, from: &str, to: &str) {
        let path = self.0.join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains(from),
            "{file} no longer contains {from:?}; update the test"
        );
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    }
    fn check(&self) -> (bool, String) {
        check(&["--infra", self.0.to_str().unwrap()])
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let target = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &target);
        } else {
            std::fs::copy(&p, &target).unwrap();
        }
    }
}

#[test]
fn the_infra_templates_pass_the_offline_checks() {
    let (ok, out) = check(&[]);
    assert!(ok, "{out}");
    assert!(out.contains("RESULT: PASS"), "{out}");
    for line in [
        "ok: main.bicep parses",
        "ok: modules/workspace-access.bicep parses",
        "ok: same resource types",
        "ok: same role-definition GUIDs",
        "ok: same parameter names",
        "ok: same app-setting names",
        "ok: Bicep app settings equal SETTINGS in src/config.rs",
        "ok: ARM app settings equal SETTINGS in src/config.rs",
    ] {
        assert!(out.contains(line), "missing {line:?} in\n{out}");
    }
}

#[test]
fn a_broken_bicep_file_is_reported_as_a_parse_error() {
    let path = std::env::temp_dir().join(format!("broken-{}.bicep", uuid::Uuid::new_v4().simple()));
    std::fs::write(
        &path,
        "param location string = resourceGroup().location\n\
         resource sa 'Microsoft.Storage/storageAccounts@2023-05-01' = {\n  name: 'x'\n  location: \n}\n",
    )
    .unwrap();
    let (ok, out) = check(&["--parse-only", path.to_str().unwrap()]);
    let _ = std::fs::remove_file(&path);
    assert!(!ok, "{out}");
    assert!(out.contains("parse error") && out.contains("line 5"), "{out}");
}

#[test]
fn a_syntax_error_in_main_bicep_fails_the_full_check() {
    let s = Scratch::new();
    s.edit("main.bicep", "param syncDryRun bool = true", "param syncDryRun bool = ");
    let (ok, out) = s.check();
    assert!(!ok, "{out}");
    assert!(out.contains("FAIL: main.bicep parses: parse error"), "{out}");
}

#[test]
fn an_app_setting_missing_from_the_arm_template_is_reported_by_name() {
    let s = Scratch::new();
    s.edit(
        "azuredeploy.json",
        "createObject('name', 'SYNC_LOOKBACK_DAYS', 'value', string(parameters('syncLookbackDays'))), ",
        "",
    );
    let (ok, out) = s.check();
    assert!(!ok, "{out}");
    assert!(
        out.contains("FAIL: same app-setting names") && out.contains("SYNC_LOOKBACK_DAYS"),
        "{out}"
    );
    assert!(out.contains("FAIL: ARM app settings equal SETTINGS"), "{out}");
}

#[test]
fn a_role_granted_only_in_the_bicep_is_reported() {
    let s = Scratch::new();
    // Swap Log Analytics Reader for Reader (acdd72a7-3385-48ef-bd42-f606fba81ae7) in the Bicep only.
    s.edit(
        "modules/workspace-access.bicep",
        "var logAnalyticsReaderRoleId = '73c42c96-874c-492b-b04d-ab87d138a893'",
        "var logAnalyticsReaderRoleId = 'acdd72a7-3385-48ef-bd42-f606fba81ae7'",
    );
    let (ok, out) = s.check();
    assert!(!ok, "{out}");
    assert!(out.contains("FAIL: same role-definition GUIDs"), "{out}");
}

#[test]
fn a_role_assignment_named_without_the_principal_is_reported() {
    // Flaw 10 of the Logic App: a name derived from the resource group only collides across instances.
    let s = Scratch::new();
    s.edit(
        "modules/workspace-access.bicep",
        "name: guid(workspace.id, principalId, sentinelResponderRoleId)",
        "name: guid(resourceGroup().id, sentinelResponderRoleId)",
    );
    let (ok, out) = s.check();
    assert!(!ok, "{out}");
    assert!(
        out.contains("FAIL: Bicep workspace-access.bicep:sentinelResponder is named guid"),
        "{out}"
    );
}

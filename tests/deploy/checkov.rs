//! checkov (the IaC scanner many security teams run), pinned in `.oracles/checkov` by
//! `scripts/install-test-tools`, over every template the project ships: nothing fails, nothing
//! fails to parse, and every check the templates skip says why, in both the ARM and the Bicep.

use std::path::Path;
use std::process::Command;

use crate::infra::Scratch;

fn repo() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs checkov over `infra` (ARM and Bicep), offline: (exit status 0, output).
fn checkov(infra: &Path) -> (bool, String) {
    let bin = repo().join(".oracles/checkov/bin/checkov");
    assert!(bin.is_file(), "{} is missing: run scripts/install-test-tools", bin.display());
    let out = Command::new(bin)
        .args(["-d"])
        .arg(infra)
        .args(["--framework", "arm", "bicep", "--skip-download", "--compact"])
        // A file checkov cannot parse is a failure, not a file with no findings.
        .env("CKV_PARSE_ERROR_FAIL", "true")
        // No network: no version check, no policy metadata download.
        .env("CKV_SKIP_PACKAGE_UPDATE_CHECK", "true")
        .env("BC_SKIP_MAPPING", "TRUE")
        .env("LOG_LEVEL", "ERROR")
        .output()
        .expect("checkov runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn checkov_finds_nothing_unexplained_in_the_templates() {
    let (ok, out) = checkov(&repo().join("infra"));
    assert!(ok, "{out}");
    for framework in ["arm scan results:", "bicep scan results:"] {
        assert!(out.contains(framework), "{framework} missing:\n{out}");
    }
    assert!(!out.contains("FAILED for resource"), "{out}");
    assert_eq!(out.matches("Failed checks: 0,").count(), 2, "{out}");
}

#[test]
fn every_skipped_check_says_why_and_the_two_templates_skip_the_same() {
    let arm = std::fs::read_to_string(repo().join("infra/azuredeploy.json")).unwrap();
    let bicep = std::fs::read_to_string(repo().join("infra/main.bicep")).unwrap();
    let skips = |text: &str, marker: &str| -> Vec<(String, String)> {
        let mut found: Vec<(String, String)> = text
            .lines()
            .filter_map(|l| l.split_once(marker).map(|(_, rest)| rest))
            .map(|rest| {
                let rest = rest.trim().trim_end_matches(',').trim_matches('"');
                let (id, why) = rest.split_once(':').unwrap_or((rest, ""));
                (id.to_owned(), why.trim().to_owned())
            })
            .collect();
        found.sort();
        found
    };
    let arm_skips = skips(&arm, "\"CKV_").into_iter().map(|(id, why)| (format!("CKV_{id}"), why)).collect::<Vec<_>>();
    let bicep_skips = skips(&bicep, "// checkov:skip=");
    assert!(!arm_skips.is_empty());
    for (id, why) in arm_skips.iter().chain(&bicep_skips) {
        assert!(why.len() >= 40, "{id} is skipped without a reason a reviewer can check: {why:?}");
    }
    assert_eq!(arm_skips, bicep_skips, "the ARM and the Bicep skip different checks, or for different reasons");
}

#[test]
fn a_finding_without_its_skip_and_a_template_checkov_cannot_parse_fail_the_suite() {
    let scratch = Scratch::new();
    scratch.edit(
        "azuredeploy.json",
        "\"CKV_AZURE_212:",
        "\"CKV_AZURE_212_REMOVED:",
    );
    let (ok, out) = checkov(scratch.path());
    assert!(!ok && out.contains("CKV_AZURE_212") && out.contains("FAILED for resource"), "{out}");

    let scratch = Scratch::new();
    // A lambda checkov's Bicep parser (pycep-parser 0.5.1) does not know.
    scratch.edit(
        "main.bicep",
        "length(union(split(toLower(join(allWorkspaceResourceIds, ',')), ','), []))",
        "length(union(map(allWorkspaceResourceIds, id => toLower(id)), []))",
    );
    let (ok, out) = checkov(scratch.path());
    assert!(!ok, "a Bicep file checkov cannot parse passed:\n{out}");
}

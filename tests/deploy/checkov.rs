//! checkov (the IaC scanner many security teams run), pinned in `.oracles/checkov` by
//! `scripts/install-test-tools`, over every template the project ships: nothing fails, nothing
//! fails to parse, and every check the template skips says why.

use std::path::Path;
use std::process::Command;

use crate::infra::{Scratch, outcome, repo};

/// Runs checkov over `infra`, offline: (exit status 0, output).
fn checkov(infra: &Path) -> (bool, String) {
    let bin = repo().join(".oracles/checkov/bin/checkov");
    assert!(
        bin.is_file(),
        "{} is missing: run scripts/install-test-tools",
        bin.display()
    );
    outcome(
        Command::new(bin)
            .args(["-d"])
            .arg(infra)
            .args(["--framework", "arm", "--skip-download", "--compact"])
            // A file checkov cannot parse is a failure, not a file with no findings.
            .env("CKV_PARSE_ERROR_FAIL", "true")
            // No network: no version check, no policy metadata download.
            .env("CKV_SKIP_PACKAGE_UPDATE_CHECK", "true")
            .env("BC_SKIP_MAPPING", "TRUE")
            .env("LOG_LEVEL", "ERROR"),
        "checkov",
    )
}

#[test]
fn checkov_finds_nothing_unexplained_in_the_templates() {
    let (ok, out) = checkov(&repo().join("infra"));
    assert!(ok, "{out}");
    assert!(out.contains("arm scan results:"), "{out}");
    assert!(!out.contains("FAILED for resource"), "{out}");
    assert_eq!(out.matches("Failed checks: 0,").count(), 1, "{out}");
}

#[test]
fn every_skipped_check_says_why() {
    let arm = std::fs::read_to_string(repo().join("infra/azuredeploy.json")).unwrap();
    let template: serde_json::Value = serde_json::from_str(&arm).unwrap();
    let mut skips = Vec::new();
    let mut stack = vec![&template];
    while let Some(node) = stack.pop() {
        for res in node["resources"].as_array().into_iter().flatten() {
            for skip in res["metadata"]["checkov"].as_array().into_iter().flatten() {
                skips.push(skip.as_str().expect("a checkov skip is a string").to_owned());
            }
            stack.push(&res["properties"]["template"]);
        }
    }
    assert!(!skips.is_empty());
    for skip in &skips {
        let (id, why) = skip.split_once(':').unwrap_or((skip, ""));
        assert!(
            id.starts_with("CKV_") && why.trim().len() >= 40,
            "{id} is skipped without a reason a reviewer can check: {why:?}"
        );
    }
}

#[test]
fn a_finding_without_its_skip_and_a_template_checkov_cannot_parse_fail_the_suite() {
    let scratch = Scratch::new();
    scratch.edit("azuredeploy.json", "\"CKV_AZURE_212:", "\"CKV_AZURE_212_REMOVED:");
    let (ok, out) = checkov(scratch.path());
    assert!(
        !ok && out.contains("CKV_AZURE_212") && out.contains("FAILED for resource"),
        "{out}"
    );

    let scratch = Scratch::new();
    scratch.edit(
        "azuredeploy.json",
        "\"contentVersion\"",
        "\"contentVersion\" \"broken\"",
    );
    let (ok, out) = checkov(scratch.path());
    assert!(!ok, "a template checkov cannot parse passed:\n{out}");
}

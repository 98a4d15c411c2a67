//! The ARM template against Microsoft's own type definitions (`tools/infra/arm_types.py`, the
//! excerpts of Azure/bicep-types-az in `tests/fixtures/azure-types/`): it passes on the
//! repository's template for every parameter set, and each kind of mistake is reported.

use std::process::Command;

use crate::infra::{Scratch, outcome, python, repo};

fn arm_types(infra: &std::path::Path) -> (bool, String) {
    outcome(
        Command::new(python())
            .arg(repo().join("tools/infra/arm_types.py"))
            .arg("--infra")
            .arg(infra),
        "arm_types.py",
    )
}

/// The scratch template after `edits` (file, from, to), checked: it must fail, naming `expected`.
fn reported(edits: &[(&str, &str)], expected: &[&str]) {
    let scratch = Scratch::new();
    for (from, to) in edits {
        scratch.edit("azuredeploy.json", from, to);
    }
    let (ok, out) = arm_types(scratch.path());
    assert!(!ok, "not reported:\n{out}");
    for e in expected {
        assert!(out.contains(e), "{e:?} not in:\n{out}");
    }
}

#[test]
fn every_resource_of_every_parameter_set_matches_microsofts_type_definitions() {
    let (ok, out) = arm_types(&repo().join("infra"));
    assert!(ok, "{out}");
    assert!(out.contains("matches Microsoft's type definitions"), "{out}");
}

#[test]
fn unknown_and_mis_cased_properties_are_reported() {
    reported(
        &[("\"httpsOnly\": true,", "\"HttpsOnly\": true, \"notAProperty\": 1,")],
        &[
            "properties.HttpsOnly: mis-cased: the type spells it 'httpsOnly'",
            "properties.notAProperty: not a property of this type",
        ],
    );
}

#[test]
fn wrong_values_read_only_and_missing_required_properties_are_reported() {
    reported(
        &[
            (
                "\"httpsOnly\": true,",
                "\"httpsOnly\": \"yes\", \"state\": \"Running\",",
            ),
            (
                "\"kind\": \"functionapp,linux\",",
                "\"kind\": \"functionapp,linux\", \"location\": null,",
            ),
        ],
        &[
            "properties.httpsOnly: \"yes\" is not a boolean",
            "properties.state: read-only",
            "location: required, and missing",
        ],
    );
    // A literal the type fixes (the storage account's blob service is always named 'default').
    reported(
        &[(
            "'{0}/{1}', variables('storageAccountName'), 'default'",
            "'{0}/{1}', variables('storageAccountName'), 'other'",
        )],
        &["name: \"other\" is not \"default\""],
    );
}

#[test]
fn a_name_the_longest_app_name_makes_too_long_is_reported() {
    // log-<appName> must fit a workspace name (4–63): appName allows 59 characters, not 60.
    reported(
        &[("\"maxLength\": 59,", "\"maxLength\": 60,")],
        &["is 64 characters, longer than 63"],
    );
}

#[test]
fn a_resource_type_or_api_version_without_its_definition_is_reported() {
    reported(
        &[(
            "\"apiVersion\": \"2024-04-01\",\n      \"name\": \"[variables('planName')]\"",
            "\"apiVersion\": \"2099-01-01\",\n      \"name\": \"[variables('planName')]\"",
        )],
        &["Microsoft.Web/serverfarms@2099-01-01 has no type definition"],
    );
}

#[test]
fn an_exception_the_template_no_longer_needs_is_reported() {
    reported(
        &[("\"parameterValueType\": \"Alternative\",", "")],
        &["ALLOWED lists", "properties.parameterValueType", "no longer sets"],
    );
}

#[test]
fn the_lighthouse_delegation_is_checked_too() {
    let scratch = Scratch::new();
    scratch.edit(
        "lighthouse/delegation.json",
        "\"authorizations\": \"[variables('authorizations')]\"",
        "\"authorizations\": \"[variables('authorizations')]\", \"autoApprove\": true",
    );
    let (ok, out) = arm_types(scratch.path());
    assert!(!ok, "not reported:\n{out}");
    assert!(
        out.contains("Microsoft.ManagedServices/registrationDefinitions@2022-10-01")
            && out.contains("properties.autoApprove: not a property of this type"),
        "{out}"
    );
}

//! The offline infra checks (tools/infra/check.py, run with the Python of .oracles/venv): they
//! pass on the repository's template, and they can fail.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub(crate) fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The Python of `.oracles/venv`, which runs the offline checkers of `tools/infra`.
pub(crate) fn python() -> PathBuf {
    let py = repo().join(".oracles/venv/bin/python");
    assert!(
        py.is_file(),
        "{} is missing: run scripts/install-test-tools",
        py.display()
    );
    py
}

/// Runs `command` to its end: (exit status 0, stdout then stderr).
pub(crate) fn outcome(command: &mut Command, what: &str) -> (bool, String) {
    let out: Output = command.output().unwrap_or_else(|e| panic!("{what} does not run: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

pub(crate) fn check(args: &[&str]) -> (bool, String) {
    outcome(
        Command::new(python())
            .arg(repo().join("tools/infra/check.py"))
            .args(args),
        "check.py",
    )
}

/// A scratch copy of infra/ that a test may break.
pub(crate) struct Scratch(PathBuf);

impl Scratch {
    pub(crate) fn new() -> Scratch {
        let root = std::env::temp_dir().join(format!("dfc-infra-{}", uuid::Uuid::new_v4().simple()));
        copy_dir(&repo().join("infra"), &root);
        Scratch(root)
    }
    pub(crate) fn edit(&self, file: &str, from: &str, to: &str) {
        self.edit_after(file, "", from, to);
    }
    /// Replaces the first `from` that follows the first `anchor` (a template holding two copies
    /// of one module, say).
    pub(crate) fn edit_after(&self, file: &str, anchor: &str, from: &str, to: &str) {
        let path = self.0.join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        let start = text
            .find(anchor)
            .unwrap_or_else(|| panic!("{file} no longer contains {anchor:?}; update the test"));
        let at = text[start..]
            .find(from)
            .unwrap_or_else(|| panic!("{file} no longer contains {from:?} after {anchor:?}; update the test"));
        let at = start + at;
        std::fs::write(&path, format!("{}{to}{}", &text[..at], &text[at + from.len()..])).unwrap();
    }
    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
    pub(crate) fn check(&self) -> (bool, String) {
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
        "ok: app settings equal SETTINGS in src/config/mod.rs",
        "ok: Microsoft Sentinel Responder (3e150937-b8fe-4cfb-8069-0eaf05ecd056) is granted",
        "ok: workspace-access grants both workspace roles",
        // Hosting plans, the ARM template evaluated for each.
        "ok: ARM hostingPlan allows FlexConsumption, ElasticPremium, Consumption (default FlexConsumption)",
        "ok: ARM Flex maximumInstanceCount is at least 40",
        "ok: ARM FlexConsumption: plan FC1 (FlexConsumption)",
        "ok: ARM ElasticPremium: plan EP1 (ElasticPremium), Linux (reserved)",
        "ok: ARM Consumption: plan Y1 (Dynamic), Linux (reserved)",
        "ok: ARM FlexConsumption: functionAppConfig runtime custom 1.0, identity-based deployment storage",
        "ok: ARM ElasticPremium: no functionAppConfig, linuxFxVersion empty, FUNCTIONS_WORKER_RUNTIME=custom, FUNCTIONS_EXTENSION_VERSION=~4",
        "ok: ARM Consumption: no functionAppConfig, linuxFxVersion empty, FUNCTIONS_WORKER_RUNTIME=custom, FUNCTIONS_EXTENSION_VERSION=~4",
        "ok: ARM ElasticPremium: no Azure Files content share; runs from the package blob",
        "ok: ARM Consumption: no Azure Files content share; runs from the package blob",
        // Alerts.
        "ok: ARM FlexConsumption: no alert rule without alertActionGroupResourceId",
        "ok: ARM Consumption: no alert rule without alertActionGroupResourceId",
        "ok: ARM alerts: with alertActionGroupResourceId, exactly the run-failed and no-success rules",
        "ok: ARM alert run-failed: on Application Insights, GreaterThan 0 every PT5M over PT15M, to the action group",
        "ok: ARM alert no-success: on Application Insights, LessThan 1 every PT15M over PT1H, to the action group",
        // The webhook path.
        "ok: playbook definition: one trigger, Microsoft Sentinel incident (ApiConnectionWebhook /incident-creation",
        "ok: playbook definition: one action, HTTP POST @triggerBody() to @parameters('webhookUrl') with x-functions-key",
        "ok: playbook definition: functionKey is a SecureString without default, the HTTP action's inputs are secured",
        "ok: SecurityAlertWebhook/function.json: HTTP POST with authLevel function",
        "ok: ARM webhook: without deployWebhookPlaybook no playbook, no automation rule",
        "ok: ARM webhook: with deployWebhookPlaybook, the playbook in the app's resource group, the automation rules at the workspace's",
        "ok: ARM webhook: the automation deployment follows the playbook deployment, which follows the function app",
        "ok: ARM webhook playbook: Microsoft Sentinel connection (azuresentinel) authenticated by the Logic App's managed identity",
        "ok: ARM webhook playbook: the workflow definition is infra/playbook/webhook-playbook.definition.json",
        "ok: ARM webhook playbook: posts to https://<function app host>/api/SecurityAlertWebhook with the function host key read by listKeys",
        "ok: ARM webhook playbook: Microsoft Sentinel Automation Contributor on the playbook's resource group",
        "ok: ARM webhook automation: Microsoft Sentinel Reader on the workspace for the playbook's identity",
        "ok: ARM webhook automation: two enabled rules on incidents Created and Updated",
        // The workbook.
        "ok: workbook: its 5 queries are exactly the texts of infra/workbook/queries/*.kql, each file used once",
        "ok: workbook: each query runs against the Sentinel workspace or Application Insights",
        "ok: workbook: the tool-changes block of changes-per-day.kql and change-delay.kql is the same text",
        "ok: ARM workbook: deployed by default, not with deployWorkbook=false, in the workspace's subscription and resource group",
        "ok: ARM workbook: kind shared, category sentinel, sourceId the workspace",
    ] {
        assert!(out.contains(line), "missing {line:?} in\n{out}");
    }
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
        out.contains("FAIL: app settings equal SETTINGS") && out.contains("SYNC_LOOKBACK_DAYS"),
        "{out}"
    );
}

#[test]
fn a_workspace_role_that_is_not_granted_is_reported() {
    let s = Scratch::new();
    // Swap Log Analytics Reader for Reader (acdd72a7-3385-48ef-bd42-f606fba81ae7) on the primary
    // workspace (the loop over the additional ones keeps it: the loop then differs too).
    s.edit(
        "azuredeploy.json",
        "\"logAnalyticsReaderRoleId\": \"73c42c96-874c-492b-b04d-ab87d138a893\"",
        "\"logAnalyticsReaderRoleId\": \"acdd72a7-3385-48ef-bd42-f606fba81ae7\"",
    );
    assert_fails(
        &s,
        &[
            "FAIL: workspace-access grants both workspace roles",
            "FAIL: ARM workspaces: one copy loop of the workspace-access deployment",
        ],
    );
}

#[test]
fn a_role_assignment_named_without_the_principal_is_reported() {
    // Flaw 10 of the Logic App: a name derived from the resource group only collides across instances.
    let s = Scratch::new();
    s.edit(
        "azuredeploy.json",
        "parameters('principalId'), variables('sentinelResponderRoleId'))]",
        "variables('sentinelResponderRoleId'))]",
    );
    assert_fails(
        &s,
        &["FAIL: role assignment is named guid(scope, principalId, roleDefinitionId)"],
    );
}

/// Runs the full check on a scratch copy and asserts it fails with every expected line.
pub(crate) fn assert_fails(s: &Scratch, expected: &[&str]) {
    let (ok, out) = s.check();
    assert!(!ok, "{out}");
    for line in expected {
        assert!(out.contains(line), "missing {line:?} in\n{out}");
    }
}

#[test]
fn a_flex_maximum_instance_count_below_40_is_reported() {
    let s = Scratch::new();
    s.edit("azuredeploy.json", "\"minValue\": 40,", "\"minValue\": 1,");
    assert_fails(&s, &["FAIL: ARM Flex maximumInstanceCount is at least 40"]);
}

#[test]
fn worker_runtime_settings_on_flex_are_reported() {
    // Flex rejects FUNCTIONS_WORKER_RUNTIME / FUNCTIONS_EXTENSION_VERSION: only EP1/Y1 may get them.
    let s = Scratch::new();
    s.edit(
        "azuredeploy.json",
        "if(variables('runsFromPackage'), createArray(createObject('name', 'FUNCTIONS_EXTENSION_VERSION'",
        "if(true(), createArray(createObject('name', 'FUNCTIONS_EXTENSION_VERSION'",
    );
    assert_fails(
        &s,
        &[
            "FAIL: ARM FlexConsumption: functionAppConfig runtime custom 1.0",
            "FUNCTIONS_WORKER_RUNTIME",
        ],
    );
}

#[test]
fn functionappconfig_off_flex_is_reported() {
    let s = Scratch::new();
    s.edit(
        "azuredeploy.json",
        "\"functionAppConfig\": \"[if(variables('isFlex'), ",
        "\"functionAppConfig\": \"[if(true(), ",
    );
    assert_fails(
        &s,
        &[
            "FAIL: ARM ElasticPremium: no functionAppConfig",
            "FAIL: ARM Consumption: no functionAppConfig",
        ],
    );
}

#[test]
fn a_wrong_worker_runtime_or_plan_sku_on_ep1_y1_is_reported() {
    let s = Scratch::new();
    s.edit(
        "azuredeploy.json",
        "createObject('name', 'FUNCTIONS_WORKER_RUNTIME', 'value', 'custom')",
        "createObject('name', 'FUNCTIONS_WORKER_RUNTIME', 'value', 'node')",
    );
    s.edit("azuredeploy.json", "\"name\": \"Y1\"", "\"name\": \"Y2\"");
    assert_fails(
        &s,
        &[
            "FAIL: ARM ElasticPremium: no functionAppConfig, linuxFxVersion empty, FUNCTIONS_WORKER_RUNTIME=custom",
            "FAIL: ARM Consumption: plan Y1 (Dynamic)",
        ],
    );
}

#[test]
fn an_azure_files_content_share_is_reported() {
    // It needs a storage key; the account refuses shared keys, so EP1/Y1 run from the package blob.
    let s = Scratch::new();
    s.edit(
        "azuredeploy.json",
        "createObject('name', 'FUNCTIONS_WORKER_RUNTIME', 'value', 'custom'),",
        "createObject('name', 'FUNCTIONS_WORKER_RUNTIME', 'value', 'custom'), createObject('name', 'WEBSITE_CONTENTSHARE', 'value', 'share'),",
    );
    assert_fails(
        &s,
        &[
            "FAIL: ARM ElasticPremium: no Azure Files content share",
            "FAIL: ARM Consumption: no Azure Files content share",
            "which needs a storage key",
        ],
    );
}

#[test]
fn alert_rules_deployed_without_an_action_group_are_reported() {
    let s = Scratch::new();
    s.edit(
        "azuredeploy.json",
        "\"condition\": \"[variables('deployAlerts')]\",",
        "",
    );
    assert_fails(
        &s,
        &["FAIL: ARM FlexConsumption: no alert rule without alertActionGroupResourceId"],
    );
}

#[test]
fn alert_rules_on_another_scope_or_action_group_are_reported() {
    let s = Scratch::new();
    s.edit(
        "azuredeploy.json",
        "\"[parameters('alertActionGroupResourceId')]\"",
        "\"[parameters('appInsightsWorkspaceResourceId')]\"",
    );
    s.edit(
        "azuredeploy.json",
        "\"scopes\": [\n          \"[resourceId('Microsoft.Insights/components', variables('appInsightsName'))]\"",
        "\"scopes\": [\n          \"[resourceId('Microsoft.Storage/storageAccounts', variables('storageAccountName'))]\"",
    );
    assert_fails(
        &s,
        &[
            "FAIL: ARM alert run-failed: on Application Insights",
            "actionGroups ['']",
            "scopes ['/subscriptions/",
        ],
    );
}

#[test]
fn an_alert_schedule_or_query_that_is_wrong_is_reported() {
    let s = Scratch::new();
    s.edit(
        "azuredeploy.json",
        "\"evaluationFrequency\": \"PT5M\"",
        "\"evaluationFrequency\": \"PT1H\"",
    );
    s.edit("azuredeploy.json", "and success == true\"", "and success == false\"");
    assert_fails(&s, &["FAIL: ARM alert run-failed", "FAIL: ARM alert no-success"]);
}

#[test]
fn a_playbook_trigger_other_than_the_sentinel_incident_trigger_is_reported() {
    let s = Scratch::new();
    s.edit(
        "playbook/webhook-playbook.definition.json",
        "\"path\": \"/incident-creation\"",
        "\"path\": \"/alert-creation\"",
    );
    assert_fails(
        &s,
        &[
            "FAIL: playbook definition: one trigger, Microsoft Sentinel incident",
            // The ARM copy is now another definition than the file.
            "FAIL: ARM webhook playbook: the workflow definition is infra/playbook/webhook-playbook.definition.json",
        ],
    );
}

#[test]
fn an_arm_playbook_definition_that_drifts_from_the_file_is_reported() {
    let s = Scratch::new();
    s.edit(
        "azuredeploy.json",
        "\"x-functions-key\": \"@parameters('functionKey')\"",
        "\"x-functions-key\": \"pasted-by-hand\"",
    );
    assert_fails(
        &s,
        &["FAIL: ARM webhook playbook: the workflow definition is infra/playbook/webhook-playbook.definition.json"],
    );
}

#[test]
fn a_function_key_visible_in_run_history_or_pasted_is_reported() {
    let s = Scratch::new();
    // Inputs (the header with the key) no longer secured in run history.
    s.edit(
        "playbook/webhook-playbook.definition.json",
        "\"properties\": [\n            \"inputs\"\n          ]",
        "\"properties\": [\n            \"outputs\"\n          ]",
    );
    // A key pasted into the template instead of listKeys.
    s.edit(
        "azuredeploy.json",
        "\"value\": \"[listKeys(format('{0}/host/default', resourceId('Microsoft.Web/sites', parameters('functionAppName'))), '2024-04-01').functionKeys.default]\"",
        "\"value\": \"pasted-key\"",
    );
    assert_fails(
        &s,
        &[
            "FAIL: playbook definition: functionKey is a SecureString without default, the HTTP action's inputs are secured",
            "FAIL: ARM webhook playbook: posts to https://<function app host>/api/SecurityAlertWebhook with the function host key read by listKeys",
        ],
    );
}

#[test]
fn a_missing_or_wrong_automation_contributor_role_is_reported() {
    let s = Scratch::new();
    // ARM grants Reader (acdd72a7-…) instead of Microsoft Sentinel Automation Contributor.
    s.edit(
        "azuredeploy.json",
        "\"automationContributorRoleId\": \"f4c81013-99ee-4d62-a7ee-b3f1f648599a\"",
        "\"automationContributorRoleId\": \"acdd72a7-3385-48ef-bd42-f606fba81ae7\"",
    );
    assert_fails(
        &s,
        &["FAIL: ARM webhook playbook: Microsoft Sentinel Automation Contributor on the playbook's resource group"],
    );
}

#[test]
fn automation_rules_that_miss_created_or_other_products_are_reported() {
    let s = Scratch::new();
    s.edit(
        "azuredeploy.json",
        "\"triggersWhen\": \"Created\"",
        "\"triggersWhen\": \"Updated\"",
    );
    assert_fails(
        &s,
        &[
            "FAIL: ARM webhook automation: two enabled rules on incidents Created and Updated",
            "triggersWhen ['Updated', 'Updated']",
        ],
    );
}

#[test]
fn a_webhook_playbook_deployed_by_default_is_reported() {
    let s = Scratch::new();
    s.edit(
        "azuredeploy.json",
        "\"deployWebhookPlaybook\": {\n      \"type\": \"bool\",\n      \"defaultValue\": false,",
        "\"deployWebhookPlaybook\": {\n      \"type\": \"bool\",\n      \"defaultValue\": true,",
    );
    assert_fails(
        &s,
        &["FAIL: ARM webhook: without deployWebhookPlaybook no playbook, no automation rule"],
    );
}

#[test]
fn a_workbook_query_edited_only_in_its_kql_file_is_reported() {
    let s = Scratch::new();
    s.edit(
        "workbook/queries/runs-per-day.kql",
        "bin(timestamp, 1d)",
        "bin(timestamp, 1h)",
    );
    s.edit(
        "workbook/queries/change-delay.kql",
        "TimeGenerated - LastModifiedTime < 1h",
        "TimeGenerated - LastModifiedTime < 2h",
    );
    assert_fails(
        &s,
        &[
            "FAIL: workbook: its 5 queries are exactly the texts of infra/workbook/queries/*.kql",
            "item 'query - runs-per-day': its query is not the text of workbook/queries/runs-per-day.kql",
            "FAIL: workbook: the tool-changes block of changes-per-day.kql and change-delay.kql is the same text",
        ],
    );
}

#[test]
fn a_workbook_outside_the_sentinel_gallery_or_always_deployed_is_reported() {
    let s = Scratch::new();
    s.edit(
        "azuredeploy.json",
        "\"condition\": \"[parameters('deployWorkbook')]\",",
        "",
    );
    // The ARM copy of the workbook drifts from the file.
    s.edit(
        "azuredeploy.json",
        "\"json\": \"# dfc-sentinel-sync\\n",
        "\"json\": \"# dfc sync\\n",
    );
    assert_fails(
        &s,
        &[
            "FAIL: ARM workbook: deployed by default, not with deployWorkbook=false",
            "FAIL: ARM workbook: kind shared, category sentinel, sourceId the workspace, guid name, serializedData",
            "run tools/infra/embed.py",
        ],
    );
}

//! Several workspaces from one deployment (check 9, tools/infra/workspaces.py): the template
//! passes, and a scratch copy broken in one way fails with the check that says so.

use crate::infra::{Scratch, assert_fails, check};

/// The loop deployment of the ARM template: edits after it reach its copy of the module.
const ARM_LOOP: &str = "\"name\": \"additionalWorkspaceAccess\"";

#[test]
fn the_templates_pass_the_several_workspaces_checks() {
    let (ok, out) = check(&[]);
    assert!(ok, "{out}");
    for line in [
        "ok: workspaces: additionalWorkspaceResourceIds and delegatedWorkspaceResourceIds are arrays defaulting to []",
        "ok: workspaces, one workspace: SENTINEL_WORKSPACE_RESOURCE_ID the ids joined with ',' in order, SENTINEL_WORKSPACE_ID the primary workspace customerId",
        "ok: workspaces, primary + 2 additional + 1 delegated: SENTINEL_WORKSPACE_RESOURCE_ID the ids joined with ',' in order, SENTINEL_WORKSPACE_ID empty",
        "ok: workspaces, primary + 1 additional:",
        "ok: workspaces, primary + 1 delegated:",
        "ok: workspaces: a malformed workspace resource id (8 segments, another type, an empty segment, a trailing slash) or a workspace listed twice fails the deployment, naming it",
        "ok: ARM workspaces: one copy loop of the workspace-access deployment, one instance per additionalWorkspaceResourceIds entry, with the primary workspace's inner template",
        "ok: ARM workspaces (system-assigned identity): every additional workspace gets Microsoft Sentinel Responder and Log Analytics Reader",
        "ok: ARM workspaces (user-assigned identity): every additional workspace gets Microsoft Sentinel Responder and Log Analytics Reader",
        "ok: workspaces: a delegated (Azure Lighthouse) workspace gets no deployment and no role assignment",
        "ok: lighthouse/delegation.json: a subscription deployment that delegates the workspace's resource group to the managing tenant, authorizing only the app's identity with the two roles",
    ] {
        assert!(out.contains(line), "missing {line:?} in\n{out}");
    }
}

#[test]
fn a_role_missing_from_the_loop_is_reported() {
    let s = Scratch::new();
    // ARM: the loop's second assignment grants Responder again instead of Log Analytics Reader.
    s.edit_after(
        "azuredeploy.json",
        ARM_LOOP,
        "\"roleDefinitionId\": \"[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', variables('logAnalyticsReaderRoleId'))]\"",
        "\"roleDefinitionId\": \"[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', variables('sentinelResponderRoleId'))]\"",
    );
    assert_fails(
        &s,
        &[
            "FAIL: ARM workspaces: one copy loop of the workspace-access deployment, one instance per additionalWorkspaceResourceIds entry, with the primary workspace's inner template",
            "FAIL: ARM workspaces (system-assigned identity): every additional workspace gets Microsoft Sentinel Responder and Log Analytics Reader",
            "(want ['3e150937-b8fe-4cfb-8069-0eaf05ecd056', '73c42c96-874c-492b-b04d-ab87d138a893'])",
        ],
    );
}

#[test]
fn a_delegated_workspace_given_a_role_assignment_is_reported() {
    let s = Scratch::new();
    // The template loops the role assignments over the delegated workspaces too.
    s.edit(
        "azuredeploy.json",
        "\"count\": \"[length(parameters('additionalWorkspaceResourceIds'))]\"",
        "\"count\": \"[length(concat(parameters('additionalWorkspaceResourceIds'), parameters('delegatedWorkspaceResourceIds')))]\"",
    );
    for _ in 0..4 {
        s.edit_after(
            "azuredeploy.json",
            ARM_LOOP,
            "parameters('additionalWorkspaceResourceIds')[copyIndex()]",
            "concat(parameters('additionalWorkspaceResourceIds'), parameters('delegatedWorkspaceResourceIds'))[copyIndex()]",
        );
    }
    assert_fails(
        &s,
        &[
            "FAIL: workspaces: a delegated (Azure Lighthouse) workspace gets no deployment and no role assignment",
            "at 77777777-7777-7777-7777-777777777777/rg-customer-sentinel",
        ],
    );
}

#[test]
fn a_delegated_workspace_left_out_of_the_setting_is_reported() {
    let s = Scratch::new();
    s.edit(
        "azuredeploy.json",
        "parameters('additionalWorkspaceResourceIds'), parameters('delegatedWorkspaceResourceIds'))]\"",
        "parameters('additionalWorkspaceResourceIds'))]\"",
    );
    assert_fails(
        &s,
        &[
            "FAIL: workspaces, primary + 1 delegated: SENTINEL_WORKSPACE_RESOURCE_ID the ids joined with ',' in order",
            "FAIL: workspaces, primary + 2 additional + 1 delegated:",
        ],
    );
}

#[test]
fn a_workspace_guid_set_with_several_workspaces_is_reported() {
    // With several workspaces SENTINEL_WORKSPACE_ID must be empty: one GUID would pair with the
    // first id only, and the handler reads each workspace's id itself.
    let s = Scratch::new();
    s.edit(
        "azuredeploy.json",
        "if(variables('singleWorkspace'), reference(parameters('sentinelWorkspaceResourceId'), '2023-09-01').customerId, '')",
        "reference(parameters('sentinelWorkspaceResourceId'), '2023-09-01').customerId",
    );
    assert_fails(
        &s,
        &[
            "FAIL: workspaces, primary + 2 additional + 1 delegated: SENTINEL_WORKSPACE_RESOURCE_ID the ids joined with ',' in order, SENTINEL_WORKSPACE_ID empty",
            "FAIL: workspaces, primary + 1 delegated:",
            "SENTINEL_WORKSPACE_ID=Ref('reference(/subscriptions/11111111-1111-1111-1111-111111111111/",
        ],
    );
}

#[test]
fn a_loop_that_deploys_at_the_wrong_resource_group_is_reported() {
    let s = Scratch::new();
    // The loop deploys every additional workspace's roles at the primary's resource group.
    s.edit(
        "azuredeploy.json",
        "\"resourceGroup\": \"[split(parameters('additionalWorkspaceResourceIds')[copyIndex()], '/')[4]]\"",
        "\"resourceGroup\": \"[variables('workspaceResourceGroupName')]\"",
    );
    assert_fails(
        &s,
        &["FAIL: ARM workspaces (system-assigned identity): every additional workspace gets"],
    );
}

#[test]
fn a_malformed_workspace_id_that_deploys_is_reported() {
    // The ARM template joins the ids without checking them.
    let s = Scratch::new();
    s.edit(
        "azuredeploy.json",
        "\"sentinelWorkspaceResourceIds\": \"[createObject('valid', join(variables('allWorkspaceResourceIds'), ','))[if(empty(variables('workspaceIdProblems')), 'valid', format('invalid workspace resource ids ({0})', join(variables('workspaceIdProblems'), '; ')))]]\"",
        "\"sentinelWorkspaceResourceIds\": \"[join(variables('allWorkspaceResourceIds'), ',')]\"",
    );
    assert_fails(
        &s,
        &[
            "FAIL: workspaces: a malformed workspace resource id (8 segments, another type, an empty segment, a trailing slash) or a workspace listed twice fails the deployment",
            "accepts an id of 8 segments",
            "accepts a workspace listed twice",
        ],
    );
}

#[test]
fn a_lighthouse_delegation_with_another_role_is_reported() {
    // Owner cannot be delegated through Azure Lighthouse, and the app needs only its two roles.
    let s = Scratch::new();
    s.edit(
        "lighthouse/delegation.json",
        "\"logAnalyticsReaderRoleId\": \"73c42c96-874c-492b-b04d-ab87d138a893\"",
        "\"logAnalyticsReaderRoleId\": \"8e3af657-a8ff-443c-a75c-2fe8c4bcb635\"",
    );
    assert_fails(
        &s,
        &[
            "FAIL: lighthouse/delegation.json: a subscription deployment that delegates the workspace's resource group to the managing tenant",
            "Owner or User Access Administrator authorized",
        ],
    );
}

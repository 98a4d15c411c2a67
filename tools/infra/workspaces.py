"""Check 10 of tools/infra/check.py: several Sentinel workspaces from one deployment.

The template takes, besides sentinelWorkspaceResourceId (the primary workspace), two arrays:
additionalWorkspaceResourceIds (the deployer can create role assignments there) and
delegatedWorkspaceResourceIds (Azure Lighthouse: the customer's delegation grants the roles). It
is evaluated (armeval) with one workspace and with a primary, two additional and one delegated
workspace. What must hold:

  - both parameters are arrays that default to [];
  - SENTINEL_WORKSPACE_RESOURCE_ID is the primary, additional and delegated ids joined with ',' in
    that order; SENTINEL_WORKSPACE_ID the primary workspace's customerId (reference()) when there
    is one workspace in all, else empty;
  - a malformed id (not /subscriptions/<sub>/resourceGroups/<rg>/providers/
    Microsoft.OperationalInsights/workspaces/<name>) or a workspace listed twice fails the
    evaluation, with an error that names it;
  - every additional workspace gets one deployment of the workspace-access template (a copy loop)
    at its own subscription and resource group, with the
    primary's inner template: Microsoft Sentinel Responder and Log Analytics Reader on the
    workspace for the app's identity (system- or user-assigned), named guid(workspace id,
    principal, role); the deployment names are deterministic and distinct;
  - a delegated workspace gets no deployment and no role assignment: no evaluated resource outside
    the function app's settings names it;
  - infra/lighthouse/delegation.json (the customer's Azure Lighthouse delegation): a subscription
    deployment whose registration definition authorizes exactly the app's identity with the two
    roles the workspace-access template grants (no Owner, no User Access Administrator) for the managing
    tenant, assigned on the workspace's resource group only.
"""

import json

import armeval

LIGHTHOUSE = "lighthouse/delegation.json"
OWNER = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
USER_ACCESS_ADMINISTRATOR = "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9"
ARRAYS = ("additionalWorkspaceResourceIds", "delegatedWorkspaceResourceIds")


def _ws(sub, rg, name):
    return f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.OperationalInsights/workspaces/{name}"


ADDITIONAL = [_ws("55555555-5555-5555-5555-555555555555", "rg-soc-emea", "ws-emea"),
              _ws("66666666-6666-6666-6666-666666666666", "rg-soc-apac", "ws-apac")]
DELEGATED = [_ws("77777777-7777-7777-7777-777777777777", "rg-customer-sentinel", "ws-customer")]
SAMPLE_IDENTITY = "/subscriptions/22222222-2222-2222-2222-222222222222/resourceGroups/rg-id/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-dfc"
# Lists the templates must refuse, and what the error must name.
BAD = {
    "an id of 8 segments": ({"additionalWorkspaceResourceIds": [ADDITIONAL[0].rsplit("/", 1)[0]]}, ADDITIONAL[0].rsplit("/", 1)[0]),
    "another resource type": ({"delegatedWorkspaceResourceIds": [DELEGATED[0].replace("Microsoft.OperationalInsights", "Microsoft.Insights")]},
                              DELEGATED[0].replace("Microsoft.OperationalInsights", "Microsoft.Insights")),
    "an empty resource group": ({"additionalWorkspaceResourceIds": [ADDITIONAL[1].replace("rg-soc-apac", "")]}, ADDITIONAL[1].replace("rg-soc-apac", "")),
    "a trailing slash": ({"delegatedWorkspaceResourceIds": [DELEGATED[0] + "/"]}, DELEGATED[0] + "/"),
    "a workspace listed twice": ({"additionalWorkspaceResourceIds": ADDITIONAL, "delegatedWorkspaceResourceIds": [ADDITIONAL[1].upper()]},
                                 "listed twice"),
}


def scenarios(primary):
    """Sample lists: name -> (parameters, the joined setting, several workspaces?)."""
    return {
        "one workspace": ({}, primary, False),
        "primary + 2 additional + 1 delegated": (
            {"additionalWorkspaceResourceIds": ADDITIONAL, "delegatedWorkspaceResourceIds": DELEGATED},
            ",".join([primary] + ADDITIONAL + DELEGATED), True),
        "primary + 1 additional": ({"additionalWorkspaceResourceIds": ADDITIONAL[:1]}, ",".join([primary] + ADDITIONAL[:1]), True),
        "primary + 1 delegated": ({"delegatedWorkspaceResourceIds": DELEGATED}, ",".join([primary] + DELEGATED), True),
    }


def check(infra, arm, report, workspace):
    roles = access_roles(arm)
    check_parameters(arm, report)
    for name, (params, joined, several) in scenarios(workspace).items():
        check_settings(arm, report, workspace, name, params, joined, several)
    check_refused(arm, report, workspace)
    check_loop(arm, report, workspace, set(roles.values()))
    check_delegated(arm, report, workspace)
    check_lighthouse(infra, report, roles)


def access_roles(arm):
    """The role-definition ids the workspace-access template grants: its variables named *RoleId."""
    for res in arm.get("resources", []):
        if res.get("type") == "Microsoft.Resources/deployments" and "workspace-access" in str(res.get("name")) and "copy" not in res:
            variables = res.get("properties", {}).get("template", {}).get("variables", {})
            return {n: v for n, v in variables.items() if n.endswith("RoleId")}
    return {}


def settings(arm, workspace, params):
    """The function app's app settings, evaluated (raises armeval.EvalError)."""
    resources, _ = armeval.evaluate(arm, {"sentinelWorkspaceResourceId": workspace, **params})
    site = next(r for r in resources if r["type"] == "Microsoft.Web/sites")
    return {s["name"]: s["value"] for s in site["properties"]["siteConfig"]["appSettings"]}


def check_parameters(arm, report):
    problems = []
    for name in ARRAYS:
        a = arm.get("parameters", {}).get(name, {})
        if a.get("type") != "array" or a.get("defaultValue") != []:
            problems.append(f"{name}: {a.get('type')} = {a.get('defaultValue')!r}")
    report.check(not problems, "workspaces: additionalWorkspaceResourceIds and delegatedWorkspaceResourceIds are arrays defaulting to []",
                 "; ".join(problems))


def check_settings(arm, report, workspace, scenario, params, joined, several):
    customer_id = armeval.Ref(f"reference({workspace})").get("customerId")
    want_id = "" if several else customer_id
    problems = []
    try:
        a = settings(arm, workspace, params)
        got = (a.get("SENTINEL_WORKSPACE_RESOURCE_ID"), a.get("SENTINEL_WORKSPACE_ID"))
        if got != (joined, want_id):
            problems.append(f"SENTINEL_WORKSPACE_RESOURCE_ID={got[0]!r}, SENTINEL_WORKSPACE_ID={got[1]!r}")
    except armeval.EvalError as e:
        problems.append(f"does not evaluate: {e}")
    report.check(not problems, f"workspaces, {scenario}: SENTINEL_WORKSPACE_RESOURCE_ID the ids joined with ',' in order, "
                 f"SENTINEL_WORKSPACE_ID {'empty' if several else 'the primary workspace customerId'}",
                 f"want ({joined!r}, {want_id!r}); " + "; ".join(problems))


def check_refused(arm, report, workspace):
    problems = []
    for what, (params, named) in BAD.items():
        try:
            value = settings(arm, workspace, params)
            problems.append(f"accepts {what}: {value}")
        except armeval.EvalError as e:
            if named not in str(e):
                problems.append(f"refuses {what} without naming {named!r}: {e}")
    report.check(not problems, "workspaces: a malformed workspace resource id (8 segments, another type, an empty segment, a "
                 "trailing slash) or a workspace listed twice fails the deployment, naming it", "; ".join(problems))


def nested(arm, report, what, **params):
    try:
        return armeval.evaluate_nested(arm, params)
    except armeval.EvalError as e:
        report.check(False, f"workspaces: ARM nested deployments evaluate with {what}", str(e))
        return None


def check_loop(arm, report, workspace, role_ids):
    top = [r for r in arm.get("resources", []) if r.get("type") == "Microsoft.Resources/deployments" and "workspace-access" in str(r.get("name"))]
    primary_tpl = next((r["properties"].get("template") for r in top if "copy" not in r), None)
    loops = [r for r in top if "copy" in r]
    count = loops[0]["copy"].get("count") if len(loops) == 1 else None
    report.check(len(loops) == 1 and count == "[length(parameters('additionalWorkspaceResourceIds'))]"
                 and loops[0]["properties"].get("template") == primary_tpl and primary_tpl is not None,
                 "ARM workspaces: one copy loop of the workspace-access deployment, one instance per additionalWorkspaceResourceIds "
                 "entry, with the primary workspace's inner template", json.dumps([{"name": r.get("name"), "copy": r.get("copy")} for r in loops]))
    for who, identity in (("system-assigned", ""), ("user-assigned", SAMPLE_IDENTITY)):
        deps = nested(arm, report, f"2 additional workspaces ({who})", sentinelWorkspaceResourceId=workspace,
                      additionalWorkspaceResourceIds=ADDITIONAL, userAssignedIdentityResourceId=identity)
        if deps is None:
            return
        primary = next((d for d in deps if d["name"].startswith("workspace-access-") and d["copy"] is None), None)
        principal = primary and primary["parameters"].get("principalId")
        want_principal = (armeval.Ref(f"reference({SAMPLE_IDENTITY})").get("principalId") if identity else None)
        problems = []
        if primary is None or (identity and principal != want_principal):
            problems.append(f"primary workspace deployment {primary and primary['parameters']}")
        loop = [d for d in deps if d["copy"] is not None and d["name"].startswith("workspace-access-")]
        if [d["copy"]["index"] for d in loop] != list(range(len(ADDITIONAL))):
            problems.append(f"{len(loop)} loop instances for {len(ADDITIONAL)} additional workspaces")
        names = [d["name"] for d in loop]
        if len(set(names)) != len(names) or (primary and primary["name"] in names):
            problems.append(f"deployment names not distinct: {names}")
        for d, ws_id in zip(loop, ADDITIONAL):
            parts = ws_id.split("/")
            if (d["subscription"], d["resource_group"], d["deployed"]) != (parts[2], parts[4], True):
                problems.append(f"{d['name']}: at {d['subscription']}/{d['resource_group']} (want {parts[2]}/{parts[4]}), deployed {d['deployed']}")
            if d["parameters"] != {"workspaceName": parts[8], "principalId": principal}:
                problems.append(f"{d['name']}: parameters {d['parameters']} (want workspaceName {parts[8]}, principalId {principal})")
            assignments = [r for r in d["resources"] if r["type"] == "Microsoft.Authorization/roleAssignments"]
            got = {}
            for r in assignments:
                p = r.get("properties", {})
                role = str(p.get("roleDefinitionId", "")).rsplit("/", 1)[-1]
                got[role] = r
                if (not r["deployed"] or r.get("scope") != f"Microsoft.OperationalInsights/workspaces/{parts[8]}"
                        or p.get("principalId") != principal or p.get("principalType") != "ServicePrincipal"
                        or r.get("name") != armeval.guid(ws_id, principal, role)):
                    problems.append(f"{d['name']}: role {role}: scope {r.get('scope')}, principal {p.get('principalId')}, "
                                    f"name {r.get('name')} (want guid(workspace id, principal, role))")
            if set(got) != role_ids or len(assignments) != len(role_ids):
                problems.append(f"{d['name']}: roles {sorted(got)} (want {sorted(role_ids)})")
        report.check(not problems, f"ARM workspaces ({who} identity): every additional workspace gets Microsoft Sentinel Responder and "
                     "Log Analytics Reader for the app's identity, at its own subscription and resource group, named guid(workspace id, "
                     "principal, role), in distinct deployments", "; ".join(problems))


def mentions(node, text):
    return text.lower() in json.dumps(node, default=str).lower()


def check_delegated(arm, report, workspace):
    params = {"sentinelWorkspaceResourceId": workspace, "additionalWorkspaceResourceIds": ADDITIONAL,
              "delegatedWorkspaceResourceIds": DELEGATED, "deployWebhookPlaybook": True, "sentinelAutomationPrincipalId": "44444444-4444-4444-4444-444444444444"}
    try:
        resources, _ = armeval.evaluate(arm, params)
    except armeval.EvalError as e:
        report.check(False, "workspaces: ARM evaluates with delegated workspaces", str(e))
        return
    deps = nested(arm, report, "delegated workspaces", **params)
    if deps is None:
        return
    problems = []
    for d in DELEGATED:
        parts = d.split("/")
        for r in resources:
            body_ = {k: v for k, v in r.items() if r["type"] != "Microsoft.Web/sites" or k != "properties"}
            if r["type"] != "Microsoft.Resources/deployments" and mentions(body_, d):
                problems.append(f"{r['type']} {r.get('name')} names {d}")
        for dep in deps:
            if (dep["subscription"], dep["resource_group"]) == (parts[2], parts[4]) or mentions(dep["parameters"], parts[8]):
                problems.append(f"deployment {dep['name']} at {dep['subscription']}/{dep['resource_group']} with {dep['parameters']}")
            for r in dep["resources"]:
                if mentions(r, parts[8]) or mentions(r, d):
                    problems.append(f"{dep['name']}: {r['type']} {r.get('name')} names {parts[8]}")
    report.check(not problems, "workspaces: a delegated (Azure Lighthouse) workspace gets no deployment and no role assignment, "
                 "only its place in SENTINEL_WORKSPACE_RESOURCE_ID", "; ".join(problems))


def check_lighthouse(infra, report, roles):
    path = infra / LIGHTHOUSE
    try:
        offer = json.loads(path.read_text())
    except Exception as e:
        report.check(False, f"{LIGHTHOUSE} is valid JSON", str(e))
        return
    tenant, principal, rg = "88888888-8888-8888-8888-888888888888", "99999999-9999-9999-9999-999999999999", "rg-customer-sentinel"
    problems = []
    if "subscriptionDeploymentTemplate.json" not in str(offer.get("$schema")):
        problems.append(f"$schema {offer.get('$schema')} (a subscription deployment)")
    try:
        resources, _ = armeval.evaluate(offer, {"managedByTenantId": tenant, "principalId": principal, "workspaceResourceGroupName": rg})
        deps = armeval.evaluate_nested(offer, {"managedByTenantId": tenant, "principalId": principal, "workspaceResourceGroupName": rg})
    except armeval.EvalError as e:
        report.check(False, f"{LIGHTHOUSE} evaluates", str(e))
        return
    defs = [r for r in resources if r["type"] == "Microsoft.ManagedServices/registrationDefinitions" and r["deployed"]]
    if len(defs) != 1:
        problems.append(f"{len(defs)} registration definitions")
    else:
        p = defs[0]["properties"]
        auths = p.get("authorizations", [])
        granted = sorted(a.get("roleDefinitionId") for a in auths)
        if granted != sorted(roles.values()) or any(a.get("principalId") != principal for a in auths):
            problems.append(f"authorizations {auths} (want {sorted(roles.values())} for principalId {principal})")
        if any(a.get("roleDefinitionId") in (OWNER, USER_ACCESS_ADMINISTRATOR) or "delegatedRoleDefinitionIds" in a for a in auths):
            problems.append("Owner or User Access Administrator authorized (Lighthouse refuses Owner; not needed)")
        if p.get("managedByTenantId") != tenant:
            problems.append(f"managedByTenantId {p.get('managedByTenantId')}")
        def_id = armeval.resource_id(armeval.SUBSCRIPTION, None, "Microsoft.ManagedServices/registrationDefinitions", [defs[0]["name"]])
        assigns = [(d, r) for d in deps for r in d["resources"] if r["type"] == "Microsoft.ManagedServices/registrationAssignments"]
        if (len(assigns) != 1 or assigns[0][0]["resource_group"] != rg or not assigns[0][0]["deployed"]
                or assigns[0][1]["properties"].get("registrationDefinitionId") != def_id):
            problems.append(f"registration assignments {[(d['resource_group'], r.get('properties')) for d, r in assigns]} "
                            f"(want one, on resource group {rg}, of {def_id})")
    report.check(not problems, f"{LIGHTHOUSE}: a subscription deployment that delegates the workspace's resource group to the managing "
                 "tenant, authorizing only the app's identity with the two roles the workspace-access template grants", "; ".join(problems))

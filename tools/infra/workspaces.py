"""Check 10 of tools/infra/check.py: several Sentinel workspaces from one deployment.

Both templates take, besides sentinelWorkspaceResourceId (the primary workspace), two arrays:
additionalWorkspaceResourceIds (the deployer can create role assignments there) and
delegatedWorkspaceResourceIds (Azure Lighthouse: the customer's delegation grants the roles). The
ARM template is evaluated (armeval) with one workspace and with a primary, two additional and one
delegated workspace; the Bicep is translated into ARM expressions (bicep_tree.to_arm) and
evaluated the same way, so the two are compared by what they deploy. What must hold:

  - both parameters are arrays that default to [];
  - SENTINEL_WORKSPACE_RESOURCE_ID is the primary, additional and delegated ids joined with ',' in
    that order; SENTINEL_WORKSPACE_ID the primary workspace's customerId (reference()) when there
    is one workspace in all, else empty;
  - a malformed id (not /subscriptions/<sub>/resourceGroups/<rg>/providers/
    Microsoft.OperationalInsights/workspaces/<name>) or a workspace listed twice fails the
    evaluation, with an error that names it;
  - every additional workspace gets one deployment of modules/workspace-access.bicep (a copy loop
    in ARM, a module loop in Bicep) at its own subscription and resource group, with the
    primary's inner template: Microsoft Sentinel Responder and Log Analytics Reader on the
    workspace for the app's identity (system- or user-assigned), named guid(workspace id,
    principal, role); the deployment names are deterministic and distinct;
  - a delegated workspace gets no deployment and no role assignment: no evaluated resource outside
    the function app's settings names it;
  - Bicep and ARM agree: the same two settings for every sample list (and the same errors), and the
    same module deployments (name, condition, subscription, resource group; the workspace module's
    parameters), loop included;
  - infra/lighthouse/delegation.json (the customer's Azure Lighthouse delegation): a subscription
    deployment whose registration definition authorizes exactly the app's identity with the two
    roles workspace-access.bicep grants (no Owner, no User Access Administrator) for the managing
    tenant, assigned on the workspace's resource group only.
"""

import json

import armeval
from bicep_tree import Names, Untranslatable, arm_variables, body, to_arm

ACCESS_MODULE = "modules/workspace-access.bicep"
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


def check(infra, modules, arm, report, workspace):
    main = modules.get("main.bicep", {})
    access = modules.get(ACCESS_MODULE, {})
    roles = {n: v.get("value") for n, v in access.get("variables", {}).items() if n.endswith("RoleId")}
    check_parameters(main, arm, report)
    bicep = BicepSide(main, workspace)
    for name, (params, joined, several) in scenarios(workspace).items():
        check_settings(arm, bicep, report, workspace, name, params, joined, several)
    check_refused(arm, bicep, report, workspace)
    check_loop(arm, report, workspace, set(roles.values()))
    check_delegated(arm, report, workspace)
    check_bicep_loop(main, report)
    check_modules(arm, bicep, report, workspace)
    check_lighthouse(infra, report, roles)


def settings(arm, workspace, params):
    """The function app's app settings, evaluated (raises armeval.EvalError)."""
    resources, _ = armeval.evaluate(arm, {"sentinelWorkspaceResourceId": workspace, **params})
    site = next(r for r in resources if r["type"] == "Microsoft.Web/sites")
    return {s["name"]: s["value"] for s in site["properties"]["siteConfig"]["appSettings"]}


class BicepSide:
    """main.bicep evaluated through its ARM translation: its own parameters (defaults translated),
    its variables, and any expression of it."""

    def __init__(self, tree, workspace):
        self.tree, self.workspace = tree, workspace
        self.names = Names(tree)
        params = {}
        for name, p in tree.get("parameters", {}).items():
            decl = {}
            if p.get("default") is not None:  # pycep: None for a required parameter
                decl["defaultValue"] = "[" + to_arm(p["default"], self.names) + "]"
            params[name] = decl
        self.template = {"parameters": params, "variables": arm_variables(tree)}

    def evaluator(self, params):
        return armeval.Template(self.template, {"sentinelWorkspaceResourceId": self.workspace, **params})

    def value(self, node, params, names=None):
        return self.evaluator(params).value("[" + to_arm(node, names or self.names) + "]")

    def setting(self, name, params):
        items = self.tree.get("variables", {}).get("contractAppSettings", {}).get("value", [])
        node = next((i["value"] for i in items if isinstance(i, dict) and i.get("name") == name), None)
        if node is None:
            raise Untranslatable(f"no {name} in contractAppSettings")
        return self.value(node, params)

    def deployments(self, params):
        """Every module instance: (symbol, path, evaluated name, deployed, subscription, resource
        group, {workspaceName, principalId} for the workspace module)."""
        t = self.evaluator(params)
        out = []
        for symbol, m in self.tree.get("modules", {}).items():
            config = m.get("config", {})
            loop = config.get("loop_type")
            instances = [self.names]
            if loop:
                detail = loop["detail"]
                array = to_arm(detail["array_name"], self.names)
                count = len(t.value("[" + array + "]"))
                instances = [self.names.with_names(**{detail["item_name"]: f"{array}[{i}]",
                                                       **({detail["index_name"]: str(i)} if "index_name" in detail else {})})
                             for i in range(count)]
            for names in instances:
                cfg = body(m)
                cond = config.get("condition")
                deployed = True if cond is None else t.value("[" + to_arm(cond, names) + "]")
                scope = cfg.get("scope")
                sub, rg = armeval.SUBSCRIPTION, armeval.RESOURCE_GROUP
                if scope is not None:
                    sp = scope["function"]["parameters"]
                    sub = t.value("[" + to_arm(sp["subscription_id"], names) + "]")
                    rg = t.value("[" + to_arm(sp["resource_group_name"], names) + "]")
                path = m.get("detail", {}).get("path")
                access = {}
                if path == ACCESS_MODULE:
                    access = {k: t.value("[" + to_arm(v, names) + "]") for k, v in cfg.get("params", {}).items()}
                out.append((symbol, path, t.value("[" + to_arm(cfg.get("name"), names) + "]"), deployed, sub, rg, access))
        return out


def check_parameters(main, arm, report):
    problems = []
    for name in ARRAYS:
        b, a = main.get("parameters", {}).get(name, {}), arm.get("parameters", {}).get(name, {})
        if b.get("type") != "array" or b.get("default") != [] or a.get("type") != "array" or a.get("defaultValue") != []:
            problems.append(f"{name}: Bicep {b.get('type')} = {b.get('default')!r}, ARM {a.get('type')} = {a.get('defaultValue')!r}")
    report.check(not problems, "workspaces: additionalWorkspaceResourceIds and delegatedWorkspaceResourceIds are arrays defaulting to [] "
                 "in both templates", "; ".join(problems))


def check_settings(arm, bicep, report, workspace, scenario, params, joined, several):
    customer_id = armeval.Ref(f"reference({workspace})").get("customerId")
    want_id = "" if several else customer_id
    problems = []
    try:
        a = settings(arm, workspace, params)
        a = (a.get("SENTINEL_WORKSPACE_RESOURCE_ID"), a.get("SENTINEL_WORKSPACE_ID"))
    except armeval.EvalError as e:
        a = None
        problems.append(f"ARM does not evaluate: {e}")
    try:
        b = (bicep.setting("SENTINEL_WORKSPACE_RESOURCE_ID", params), bicep.setting("SENTINEL_WORKSPACE_ID", params))
    except (armeval.EvalError, Untranslatable) as e:
        b = None
        problems.append(f"Bicep does not evaluate: {e}")
    for label, got in (("ARM", a), ("Bicep", b)):
        if got is not None and got != (joined, want_id):
            problems.append(f"{label}: SENTINEL_WORKSPACE_RESOURCE_ID={got[0]!r}, SENTINEL_WORKSPACE_ID={got[1]!r}")
    report.check(not problems, f"workspaces, {scenario}: SENTINEL_WORKSPACE_RESOURCE_ID the ids joined with ',' in order, "
                 f"SENTINEL_WORKSPACE_ID {'empty' if several else 'the primary workspace customerId'}, the same in Bicep and ARM",
                 f"want ({joined!r}, {want_id!r}); " + "; ".join(problems))


def check_refused(arm, bicep, report, workspace):
    problems = []
    for what, (params, named) in BAD.items():
        for label, run in (("ARM", lambda: settings(arm, workspace, params)),
                           ("Bicep", lambda: bicep.setting("SENTINEL_WORKSPACE_RESOURCE_ID", params))):
            try:
                value = run()
                problems.append(f"{label} accepts {what}: {value}")
            except armeval.EvalError as e:
                if named not in str(e):
                    problems.append(f"{label} refuses {what} without naming {named!r}: {e}")
            except Untranslatable as e:
                problems.append(f"Bicep does not translate: {e}")
    report.check(not problems, "workspaces: a malformed workspace resource id (8 segments, another type, an empty segment, a "
                 "trailing slash) or a workspace listed twice fails the deployment, naming it, in both templates", "; ".join(problems))


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


def check_bicep_loop(main, report):
    mods = main.get("modules", {})
    loops = {n: m for n, m in mods.items() if m.get("config", {}).get("loop_type")}
    access = [m for m in loops.values() if m.get("detail", {}).get("path") == ACCESS_MODULE]
    loop = access[0]["config"] if len(access) == 1 else {}
    detail = loop.get("loop_type", {}).get("detail", {})
    report.check(len(access) == 1 and detail.get("array_name") == "additionalWorkspaceResourceIds" and loop.get("condition") is None,
                 f"Bicep workspaces: {ACCESS_MODULE} in a module loop over additionalWorkspaceResourceIds, without a condition",
                 json.dumps({n: {"path": m.get("detail", {}).get("path"), "loop": m["config"].get("loop_type")} for n, m in loops.items()}))
    # The delegated ids are read once: into allWorkspaceResourceIds (and from there into the setting).
    uses = [n for kind in ("variables", "resources", "modules", "outputs") for n, v in main.get(kind, {}).items()
            if mentions(v, '"delegatedWorkspaceResourceIds"')]
    report.check(uses == ["allWorkspaceResourceIds"], "Bicep workspaces: delegatedWorkspaceResourceIds is read only by "
                 "allWorkspaceResourceIds (no role assignment, no module for it)", f"read by {uses}")


def check_modules(arm, bicep, report, workspace):
    problems = []
    for scenario, (params, _, _) in scenarios(workspace).items():
        full = {"sentinelWorkspaceResourceId": workspace, **params}
        for extra in ({}, {"deployWebhookPlaybook": True, "userAssignedIdentityResourceId": SAMPLE_IDENTITY}):
            try:
                b = bicep.deployments({**params, **extra})
            except (armeval.EvalError, Untranslatable) as e:
                problems.append(f"{scenario}: Bicep modules do not evaluate: {e}")
                continue
            try:
                a = armeval.evaluate_nested(arm, {**full, **extra})
            except armeval.EvalError as e:
                problems.append(f"{scenario}: ARM deployments do not evaluate: {e}")
                continue
            b_set = sorted((name, dep, sub, rg) for _, _, name, dep, sub, rg, _ in b)
            a_set = sorted((d["name"], d["deployed"], d["subscription"], d["resource_group"]) for d in a)
            if b_set != a_set:
                problems.append(f"{scenario} {sorted(extra)}: Bicep {b_set} vs ARM {a_set}")
            a_params = {d["name"]: d["parameters"] for d in a}
            for _, _, name, _, _, _, access in b:
                if access and access != a_params.get(name):
                    problems.append(f"{scenario}: {name}: Bicep parameters {access} vs ARM {a_params.get(name)}")
    report.check(not problems, "workspaces: Bicep modules and ARM deployments agree (names, conditions, subscriptions, resource "
                 "groups, the workspace module's parameters), the loop included, for every sample list", "; ".join(problems))


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
                 "tenant, authorizing only the app's identity with the two roles workspace-access.bicep grants", "; ".join(problems))

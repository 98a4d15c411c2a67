"""Check 8 of tools/infra/check.py: the webhook path (deployWebhookPlaybook).

The playbook's workflow definition is one file, infra/playbook/webhook-playbook.definition.json:
the template embeds it, and it is checked once here. The template is evaluated
(armeval.evaluate_nested) with the switch off and on. What it must say:

  - off (the default): no playbook deployment, no automation deployment;
  - on: the playbook deployment (webhook-playbook-*) in the function app's resource group: an
    azuresentinel API connection authenticated by the Logic App's system-assigned identity
    (parameterValueType Alternative, $connections authentication ManagedServiceIdentity), the
    definition file, webhookUrl https://<function app host>/api/SecurityAlertWebhook and
    functionKey = listKeys(<function app>/host/default).functionKeys.default, Microsoft Sentinel
    Automation Contributor on that resource group for sentinelAutomationPrincipalId (none when it
    is empty); the automation deployment (webhook-automation-*) at the workspace's
    subscription and resource group, after the playbook deployment: Microsoft Sentinel Reader on
    the workspace for the playbook's identity, and two enabled automation rules on incidents,
    Created and Updated, for the Defender for Cloud product names of src/domain/mod.rs and incidents
    not Closed, whose one action runs the playbook (its id and tenant);
  - the definition: one trigger, Microsoft Sentinel incident (ApiConnectionWebhook, path
    /incident-creation, on the azuresentinel connection); one action, HTTP POST of @triggerBody()
    to @parameters('webhookUrl') with x-functions-key @parameters('functionKey'); functionKey a
    SecureString without default, the action's inputs secured in run history; no string that ARM
    would read as an expression;
  - SecurityAlertWebhook/function.json is an HTTP POST trigger with authLevel function (the host
    key opens it) and host.json keeps the default route prefix api.
"""

import json
import re

import armeval

AUTOMATION_CONTRIBUTOR = "f4c81013-99ee-4d62-a7ee-b3f1f648599a"
SENTINEL_READER = "8d289c81-5878-46d4-8554-54e1e3d8b5cb"
DEFINITION = "playbook/webhook-playbook.definition.json"
SAMPLE_PRINCIPAL = "44444444-4444-4444-4444-444444444444"
CONNECTION_NAME = "@parameters('$connections')['azuresentinel']['connectionId']"
FUNCTION = "SecurityAlertWebhook"


def product_names(repo):
    text = (repo / "src" / "domain" / "mod.rs").read_text()
    m = re.search(r"DEFENDER_PRODUCT_NAMES:\s*\[&str;\s*\d+\]\s*=\s*\[(.*?)\];", text, re.S)
    return set(re.findall(r'"([^"]+)"', m.group(1))) if m else None


def check(repo, infra, arm, report, workspace):
    definition = check_definition(infra, report)
    check_function(repo, report)
    names = product_names(repo)
    report.check(bool(names), "DEFENDER_PRODUCT_NAMES found in src/domain/mod.rs")
    check_arm(arm, definition, names or set(), report, workspace)


def check_definition(infra, report):
    path = infra / DEFINITION
    try:
        d = json.loads(path.read_text())
    except Exception as e:
        report.check(False, f"{DEFINITION} is valid JSON", str(e))
        return None
    triggers, actions, params = d.get("triggers", {}), d.get("actions", {}), d.get("parameters", {})
    t = next(iter(triggers.values()), {})
    ti = t.get("inputs", {})
    report.check(len(triggers) == 1 and t.get("type") == "ApiConnectionWebhook" and ti.get("path") == "/incident-creation"
                 and ti.get("body", {}).get("callback_url") == "@{listCallbackUrl()}"
                 and ti.get("host", {}).get("connection", {}).get("name") == CONNECTION_NAME,
                 "playbook definition: one trigger, Microsoft Sentinel incident (ApiConnectionWebhook /incident-creation on the azuresentinel connection)",
                 json.dumps(triggers))
    a = next(iter(actions.values()), {})
    ai = a.get("inputs", {})
    headers = {k.lower(): v for k, v in ai.get("headers", {}).items()}
    report.check(len(actions) == 1 and a.get("type") == "Http" and str(ai.get("method", "")).upper() == "POST"
                 and ai.get("uri") == "@parameters('webhookUrl')" and headers.get("x-functions-key") == "@parameters('functionKey')"
                 and ai.get("body") == "@triggerBody()" and a.get("runAfter") == {},
                 "playbook definition: one action, HTTP POST @triggerBody() to @parameters('webhookUrl') with x-functions-key @parameters('functionKey')",
                 json.dumps(actions))
    key = params.get("functionKey", {})
    report.check(str(key.get("type", "")).lower() == "securestring" and "defaultValue" not in key
                 and "inputs" in a.get("runtimeConfiguration", {}).get("secureData", {}).get("properties", [])
                 and str(params.get("webhookUrl", {}).get("type", "")).lower() == "string" and "$connections" in params,
                 "playbook definition: functionKey is a SecureString without default, the HTTP action's inputs are secured in run history (secureData)",
                 json.dumps({"parameters": params, "runtimeConfiguration": a.get("runtimeConfiguration")}))
    bad = armeval.bracket_strings(d)
    report.check(not bad, "playbook definition: no string starts with '[' (ARM would evaluate it)", ", ".join(bad))
    return d


def check_function(repo, report):
    try:
        bindings = json.loads((repo / FUNCTION / "function.json").read_text()).get("bindings", [])
        host = json.loads((repo / "host.json").read_text())
    except Exception as e:
        report.check(False, f"{FUNCTION}/function.json and host.json are readable", str(e))
        return
    http = [b for b in bindings if b.get("type") == "httpTrigger"]
    prefix = host.get("extensions", {}).get("http", {}).get("routePrefix", "api")
    report.check(len(http) == 1 and http[0].get("authLevel") == "function" and "post" in [m.lower() for m in http[0].get("methods", [])]
                 and "route" not in http[0] and prefix == "api",
                 f"{FUNCTION}/function.json: HTTP POST with authLevel function at /api/{FUNCTION} (host.json route prefix api)",
                 json.dumps({"bindings": http, "routePrefix": prefix}))


def nested(arm, report, **params):
    """The evaluated nested deployments by name without their -<hash> suffix, or None."""
    try:
        return {d["name"].rsplit("-", 1)[0]: d for d in armeval.evaluate_nested(arm, params)}
    except armeval.EvalError as e:
        report.check(False, f"ARM nested deployments evaluate with {params}", str(e))
        return None


def by_prefix(deployments, prefix):
    return deployments.get(prefix)


def check_arm(arm, definition, names, report, workspace):
    ws_parts = workspace.split("/")
    off = nested(arm, report, sentinelWorkspaceResourceId=workspace)
    on = nested(arm, report, sentinelWorkspaceResourceId=workspace, deployWebhookPlaybook=True,
                sentinelAutomationPrincipalId=SAMPLE_PRINCIPAL)
    no_role = nested(arm, report, sentinelWorkspaceResourceId=workspace, deployWebhookPlaybook=True)
    if off is None or on is None or no_role is None:
        return
    pb_off, au_off = by_prefix(off, "webhook-playbook"), by_prefix(off, "webhook-automation")
    report.check(pb_off is not None and au_off is not None and not pb_off["deployed"] and not au_off["deployed"],
                 "ARM webhook: without deployWebhookPlaybook no playbook, no automation rule",
                 f"playbook deployment {pb_off and pb_off['deployed']}, automation deployment {au_off and au_off['deployed']}")
    pb, au = by_prefix(on, "webhook-playbook"), by_prefix(on, "webhook-automation")
    if pb is None or au is None:
        report.check(False, "ARM webhook: a webhook-playbook and a webhook-automation deployment", sorted(on))
        return
    report.check(pb["deployed"] and au["deployed"] and pb["subscription"] == armeval.SUBSCRIPTION
                 and pb["resource_group"] == armeval.RESOURCE_GROUP
                 and au["subscription"] == ws_parts[2] and au["resource_group"] == ws_parts[4],
                 "ARM webhook: with deployWebhookPlaybook, the playbook in the app's resource group, the automation rules at the workspace's",
                 f"playbook {pb['subscription']}/{pb['resource_group']}, automation {au['subscription']}/{au['resource_group']}")
    site = armeval.resource_id(armeval.SUBSCRIPTION, armeval.RESOURCE_GROUP, "Microsoft.Web/sites", [on_app_name(arm, workspace)])
    pb_dep = armeval.resource_id(armeval.SUBSCRIPTION, armeval.RESOURCE_GROUP, "Microsoft.Resources/deployments", [pb["name"]])
    report.check(site in pb["dependsOn"] and pb_dep in au["dependsOn"],
                 "ARM webhook: the automation deployment follows the playbook deployment, which follows the function app",
                 f"playbook dependsOn {pb['dependsOn']}, automation dependsOn {au['dependsOn']}")

    res = {r["type"]: r for r in pb["resources"]}
    conn, flow = res.get("Microsoft.Web/connections", {}), res.get("Microsoft.Logic/workflows", {})
    conn_id = armeval.resource_id(armeval.SUBSCRIPTION, armeval.RESOURCE_GROUP, "Microsoft.Web/connections", [conn.get("name")])
    api = conn.get("properties", {}).get("api", {}).get("id", "")
    cp = flow.get("properties", {}).get("parameters", {})
    sentinel = cp.get("$connections", {}).get("value", {}).get("azuresentinel", {})
    report.check(conn.get("deployed") and api.endswith("/managedApis/azuresentinel") and "/providers/Microsoft.Web/locations/" in api
                 and conn.get("properties", {}).get("parameterValueType") == "Alternative"
                 and sentinel.get("connectionId") == conn_id and sentinel.get("id") == api
                 and sentinel.get("connectionProperties", {}).get("authentication", {}).get("type") == "ManagedServiceIdentity"
                 and flow.get("identity", {}).get("type") == "SystemAssigned",
                 "ARM webhook playbook: Microsoft Sentinel connection (azuresentinel) authenticated by the Logic App's managed identity",
                 json.dumps({"connection": conn.get("properties"), "$connections": sentinel, "identity": flow.get("identity")}, default=str))
    report.check(definition is not None and flow.get("properties", {}).get("definition") == definition
                 and flow.get("properties", {}).get("state") == "Enabled",
                 f"ARM webhook playbook: the workflow definition is infra/{DEFINITION}, enabled")
    url = cp.get("webhookUrl", {}).get("value")
    key = cp.get("functionKey", {}).get("value")
    report.check(url == f"https://{armeval.Ref(f'reference({site})').get('defaultHostName')}/api/{FUNCTION}"
                 and key == armeval.Ref(f"listKeys({site}/host/default)").get("functionKeys").get("default"),
                 f"ARM webhook playbook: posts to https://<function app host>/api/{FUNCTION} with the function host key read by listKeys",
                 f"webhookUrl {url!r}, functionKey {key!r}")
    roles = [r for r in pb["resources"] if r["type"] == "Microsoft.Authorization/roleAssignments"]
    roles_off = [r for r in by_prefix(no_role, "webhook-playbook")["resources"] if r["type"] == "Microsoft.Authorization/roleAssignments"]
    report.check(len(roles) == 1 and roles[0]["deployed"] and "scope" not in roles[0]
                 and roles[0]["properties"].get("roleDefinitionId", "").endswith(f"/roleDefinitions/{AUTOMATION_CONTRIBUTOR}")
                 and roles[0]["properties"].get("principalId") == SAMPLE_PRINCIPAL
                 and len(roles_off) == 1 and not roles_off[0]["deployed"],
                 "ARM webhook playbook: Microsoft Sentinel Automation Contributor on the playbook's resource group for "
                 "sentinelAutomationPrincipalId, none when it is empty",
                 json.dumps([{k: r.get(k) for k in ("deployed", "scope", "properties")} for r in roles + roles_off], default=str))
    flow_id = armeval.resource_id(armeval.SUBSCRIPTION, armeval.RESOURCE_GROUP, "Microsoft.Logic/workflows", [flow.get("name")])
    out_id = pb["outputs"].get("playbookResourceId")
    out_principal = str(pb["outputs"].get("playbookPrincipalId"))
    report.check(out_id == flow_id and out_principal == f"<reference({flow_id}).identity.principalId>",
                 "ARM webhook playbook: outputs the workflow's id and its identity's principal id", json.dumps(pb["outputs"], default=str))

    ref = armeval.Ref(f"reference({pb_dep})").get("outputs")
    want_id, want_principal = ref.get("playbookResourceId").get("value"), ref.get("playbookPrincipalId").get("value")
    report.check(au["parameters"].get("playbookResourceId") == want_id and au["parameters"].get("principalId") == want_principal,
                 "ARM webhook automation: gets the playbook's id and principal from the playbook deployment's outputs",
                 json.dumps(au["parameters"], default=str))
    readers = [r for r in au["resources"] if r["type"] == "Microsoft.Authorization/roleAssignments"]
    report.check(len(readers) == 1 and readers[0]["deployed"]
                 and readers[0].get("scope") == f"Microsoft.OperationalInsights/workspaces/{ws_parts[8]}"
                 and readers[0]["properties"].get("roleDefinitionId", "").endswith(f"/roleDefinitions/{SENTINEL_READER}")
                 and readers[0]["properties"].get("principalId") == au["parameters"].get("principalId"),
                 "ARM webhook automation: Microsoft Sentinel Reader on the workspace for the playbook's identity",
                 json.dumps(readers, default=str))
    rules = [r for r in au["resources"] if r["type"] == "Microsoft.SecurityInsights/automationRules"]
    problems = rule_problems(rules, names, au["parameters"].get("playbookResourceId"), armeval.TENANT,
                             f"Microsoft.OperationalInsights/workspaces/{ws_parts[8]}")
    report.check(not problems, "ARM webhook automation: two enabled rules on incidents Created and Updated, for the Defender for Cloud "
                 "product names of src/domain/mod.rs and incidents not Closed, whose one action runs the playbook", "; ".join(problems))


def on_app_name(arm, workspace):
    _, values = armeval.evaluate(arm, {"sentinelWorkspaceResourceId": workspace})
    return values["appName"]


def rule_problems(rules, names, playbook_id, tenant, scope):
    problems = []
    if sorted(r.get("properties", {}).get("triggeringLogic", {}).get("triggersWhen") for r in rules) != ["Created", "Updated"]:
        problems.append(f"triggersWhen {[r.get('properties', {}).get('triggeringLogic', {}).get('triggersWhen') for r in rules]}")
    for r in rules:
        p = r.get("properties", {})
        logic = p.get("triggeringLogic", {})
        when = logic.get("triggersWhen")
        if not r.get("deployed", True) or r.get("scope") != scope:
            problems.append(f"{when}: deployed {r.get('deployed')}, scope {r.get('scope')}")
        if logic.get("isEnabled") is not True or logic.get("triggersOn") != "Incidents":
            problems.append(f"{when}: isEnabled {logic.get('isEnabled')}, triggersOn {logic.get('triggersOn')}")
        conds = {c.get("conditionProperties", {}).get("propertyName"): c for c in logic.get("conditions", [])}
        products = conds.get("AlertProductNames", {})
        cp = products.get("conditionProperties", {})
        if products.get("conditionType") != "Property" or cp.get("operator") != "Contains" or set(cp.get("propertyValues", [])) != names:
            problems.append(f"{when}: AlertProductNames condition {products} (want Contains {sorted(names)})")
        status = conds.get("IncidentStatus", {}).get("conditionProperties", {})
        if status.get("operator") != "NotEquals" or status.get("propertyValues") != ["Closed"]:
            problems.append(f"{when}: IncidentStatus condition {status} (want NotEquals Closed)")
        if set(conds) != {"AlertProductNames", "IncidentStatus"}:
            problems.append(f"{when}: conditions on {sorted(map(str, conds))}")
        actions = p.get("actions", [])
        want = [{"order": 1, "actionType": "RunPlaybook", "actionConfiguration": {"logicAppResourceId": playbook_id, "tenantId": tenant}}]
        if actions != want:
            problems.append(f"{when}: actions {json.dumps(actions, default=str)}")
        if not isinstance(p.get("order"), int) or not 1 <= p["order"] <= 1000:
            problems.append(f"{when}: order {p.get('order')}")
    return problems

#!/usr/bin/env python3
"""Offline checks of infra/: the Bicep files parse, the hand-written ARM template mirrors them, and
the app settings they set are exactly the code's configuration contract.

There is no Bicep CLI offline, so `pycep-parser` (pure Python) is the Bicep parser. It may lag the
newest Bicep syntax; infra/ sticks to syntax it understands.

Usage:
    check.py [--repo DIR] [--infra DIR]      full check (default: the repository this file is in)
    check.py --parse-only FILE.bicep ...     only parse the given Bicep files

Prints one line per check ("ok: ..." / "FAIL: ...") and a final "RESULT: PASS" or "RESULT: FAIL";
exits 0 only when every check passed.

Checks:
  1. every .bicep file under infra/ parses (pycep), and every local module main.bicep uses exists;
  2. azuredeploy.json is JSON with $schema, contentVersion, parameters, resources;
  3. Bicep and ARM declare the same resource types (Bicep `existing` resources are references, not
     declarations, and a Bicep module is a Microsoft.Resources/deployments in ARM), the same
     role-definition GUIDs, the same parameter names (with equal literal defaults and equal
     constraints: allowed values, min/max value and length), the same literal variables, the same
     output names, and the same app-setting names;
  4. those app settings, minus the platform's own (AzureWebJobsStorage__*, APPLICATIONINSIGHTS_*,
     FUNCTIONS_WORKER_RUNTIME/FUNCTIONS_EXTENSION_VERSION, WEBSITE_RUN_FROM_PACKAGE*), equal
     SETTINGS in src/config/mod.rs (all of them, RUST_LOG included: the template sets it);
  5. every role assignment is named guid(scope, principalId, roleDefinitionId), the principal being
     the one it grants (a parameter named principalId or ...PrincipalId); the workspace
     module grants Microsoft Sentinel Responder and Log Analytics Reader; the storage account
     refuses shared keys, requires TLS 1.2 and https;
  6. hosting plans: the ARM template is evaluated (armeval.py) for every allowed `hostingPlan`,
     with a system- and a user-assigned identity: FlexConsumption is FC1 with functionAppConfig
     (runtime custom 1.0, identity-based deployment storage) and none of the settings Flex
     rejects; ElasticPremium (EP1) and Consumption (Y1) are Linux plans without functionAppConfig,
     linuxFxVersion empty, FUNCTIONS_WORKER_RUNTIME=custom, FUNCTIONS_EXTENSION_VERSION=~4, and run
     from the package blob read with the app's identity (no Azure Files content share, which would
     need a key); Flex maximumInstanceCount is at least 40. The Bicep is checked for the same
     structure (plan from planSkus/planKinds by hostingPlan, functionAppConfig only on Flex, the
     EP1/Y1 settings only off Flex);
  7. alerts: with alertActionGroupResourceId empty no scheduledQueryRules is deployed; with it set,
     two (run-failed, no-success) on the Application Insights resource, wired to the action group,
     with the expected query, threshold, evaluation frequency and window, in both templates
     (tools/infra/alerts.py);
  8. the webhook path (deployWebhookPlaybook): playbook, API connection, automation rules and their
     roles, in both templates (tools/infra/webhook.py says what exactly);
  9. the workbook (deployWorkbook): its queries are exactly infra/workbook/queries/*.kql, and both
     templates deploy it to the Sentinel gallery of the workspace (tools/infra/workbook.py);
 10. several workspaces (additionalWorkspaceResourceIds, delegatedWorkspaceResourceIds): the joined
     setting, the role-assignment loop, nothing for delegated workspaces, Bicep and ARM alike, and
     the Azure Lighthouse delegation template (tools/infra/workspaces.py).

Checks 3 and 5 read the nested deployments' inner templates too; checks 6 to 10 evaluate the ARM
template (armeval.py), 8 to 10 with its nested deployments; 10 evaluates the Bicep too, translated.
"""

import argparse
import json
import re
import sys
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ in the repository
import alerts  # noqa: E402  (tools/infra/alerts.py: check 7)
import armeval  # noqa: E402  (tools/infra/armeval.py, next to this file)
import webhook  # noqa: E402  (tools/infra/webhook.py: check 8)
import workbook  # noqa: E402  (tools/infra/workbook.py: check 9)
import workspaces  # noqa: E402  (tools/infra/workspaces.py: check 10)
from bicep_tree import body, op  # noqa: E402

SENTINEL_RESPONDER = "3e150937-b8fe-4cfb-8069-0eaf05ecd056"
LOG_ANALYTICS_READER = "73c42c96-874c-492b-b04d-ab87d138a893"
STORAGE_BLOB_DATA_OWNER = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"
PLATFORM_SETTING = re.compile(
    r"^(AzureWebJobsStorage(__.*)?|APPLICATIONINSIGHTS_[A-Z_]+|FUNCTIONS_WORKER_RUNTIME|FUNCTIONS_EXTENSION_VERSION"
    r"|WEBSITE_RUN_FROM_PACKAGE(_BLOB_MI_RESOURCE_ID)?)$"
)
# hostingPlan value -> the plan's SKU.
PLANS = {
    "FlexConsumption": {"name": "FC1", "tier": "FlexConsumption"},
    "ElasticPremium": {"name": "EP1", "tier": "ElasticPremium"},
    "Consumption": {"name": "Y1", "tier": "Dynamic"},
}
# Settings Flex Consumption rejects (runtime and version live in functionAppConfig) or has no use for.
NOT_ON_FLEX = ("FUNCTIONS_WORKER_RUNTIME", "FUNCTIONS_EXTENSION_VERSION", "WEBSITE_RUN_FROM_PACKAGE",
               "WEBSITE_RUN_FROM_PACKAGE_BLOB_MI_RESOURCE_ID")
# Azure Files content share: needs a storage key, which the storage account refuses.
CONTENT_SHARE = ("WEBSITE_CONTENTAZUREFILECONNECTIONSTRING", "WEBSITE_CONTENTSHARE")
FLEX_MIN_INSTANCES = 40
SAMPLE_WORKSPACE = "/subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/rg-sentinel/providers/Microsoft.OperationalInsights/workspaces/ws-sentinel"
SAMPLE_IDENTITY = "/subscriptions/22222222-2222-2222-2222-222222222222/resourceGroups/rg-id/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-dfc"
# Bicep decorator -> ARM parameter property.
CONSTRAINTS = {"allowed": "allowedValues", "min_value": "minValue", "max_value": "maxValue",
               "min_length": "minLength", "max_length": "maxLength"}
# Settings in SETTINGS that the template deliberately does not set (none today; RUST_LOG is set).
NOT_SET_BY_TEMPLATE: set = set()
GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# A role assignment's principal: a parameter named principalId or <something>PrincipalId.
PRINCIPAL = re.compile(r"principalId|\w+PrincipalId")
LOAD_JSON = re.compile(r"loadJsonContent\('([^']+)'\)")


class Report:
    def __init__(self):
        self.failures = 0

    def check(self, ok, what, detail=""):
        if ok:
            print(f"ok: {what}")
        else:
            self.failures += 1
            print(f"FAIL: {what}" + (f": {detail}" if detail else ""))
        return ok


def parse_bicep(path):
    """Returns (parsed dict, None) or (None, error message)."""
    try:
        from pycep import BicepParser
    except ImportError as e:  # pragma: no cover - environment problem
        return None, f"pycep-parser is not installed ({e}); run scripts/install-test-tools"
    try:
        return BicepParser().parse(file_path=Path(path)), None
    except Exception as e:  # lark.exceptions.UnexpectedInput and friends
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        return None, f"parse error in {path}: {type(e).__name__}: {first}"


def code_settings(config_rs):
    text = Path(config_rs).read_text()
    m = re.search(r"pub const SETTINGS:\s*\[&str;\s*\d+\]\s*=\s*\[(.*?)\];", text, re.S)
    if not m:
        return None
    return re.findall(r'"([^"]+)"', m.group(1))


def bicep_app_settings(text):
    # App settings are the only objects with a `name:` line directly followed by a `value:` line.
    return set(re.findall(r"name:\s*'([^']+)'\s*\n\s*value:", text))


def arm_app_settings(template):
    names = set()

    def walk(node):
        if isinstance(node, dict):
            if set(node) == {"name", "value"} and isinstance(node["name"], str):
                names.add(node["name"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
        elif isinstance(node, str) and node.startswith("["):
            names.update(re.findall(r"createObject\('name',\s*'([^']+)',\s*'value'", node))

    walk(template)
    return names


def arm_resources(template):
    """Every resource, nested deployments' inner templates included."""
    out = []
    for res in template.get("resources", []):
        out.append(res)
        inner = res.get("properties", {}).get("template")
        if res.get("type") == "Microsoft.Resources/deployments" and isinstance(inner, dict):
            out.extend(arm_resources(inner))
    return out


def bicep_declared_types(parsed_files):
    types = set()
    for parsed in parsed_files:
        for res in parsed.get("resources", {}).values():
            if not res.get("existing"):
                types.add(res["type"])
        if parsed.get("modules"):
            types.add("Microsoft.Resources/deployments")
    return types


def literal(value):
    return isinstance(value, (bool, int, float)) or (
        isinstance(value, str) and "${" not in value and not value.startswith("[")
    )


def has_expression(value):
    if isinstance(value, dict):
        return any(has_expression(v) for v in value.values())
    if isinstance(value, list):
        return any(has_expression(v) for v in value)
    return armeval.is_expression(value)


def settings_of(site):
    return {s["name"]: s["value"] for s in site.get("properties", {}).get("siteConfig", {}).get("appSettings", [])}


def full_check(repo, infra, report):
    main = infra / "main.bicep"
    arm_path = infra / "azuredeploy.json"
    bicep_files = sorted(infra.rglob("*.bicep"))
    report.check(main in bicep_files, "infra/main.bicep exists")

    parsed = {}
    for f in bicep_files:
        result, err = parse_bicep(f)
        if report.check(result is not None, f"{f.relative_to(infra)} parses", err or ""):
            parsed[f] = result
    if main not in parsed:
        return

    for name, module in parsed[main].get("modules", {}).items():
        rel = module.get("detail", {}).get("path", "")
        target = (main.parent / rel).resolve()
        report.check(target.is_file(), f"module {name} -> {rel} exists")

    try:
        arm = json.loads(arm_path.read_text())
    except Exception as e:
        report.check(False, "azuredeploy.json is valid JSON", str(e))
        return
    report.check(True, "azuredeploy.json is valid JSON")
    missing = [k for k in ("$schema", "contentVersion", "parameters", "resources") if k not in arm]
    report.check(not missing, "azuredeploy.json has $schema, contentVersion, parameters, resources", f"missing {missing}")
    report.check("deploymentTemplate.json" in str(arm.get("$schema", "")), "azuredeploy.json $schema is a deployment template schema")

    # Resource types.
    b_types = bicep_declared_types(parsed.values())
    resources = arm_resources(arm)
    a_types = {r.get("type") for r in resources}
    report.check(b_types == a_types, f"same resource types ({len(b_types)})",
                 f"only in Bicep: {sorted(b_types - a_types)}; only in ARM: {sorted(a_types - b_types)}")

    # Role-definition GUIDs (and any other GUID: both templates must name the same ones). The JSON
    # files the Bicep loads (loadJsonContent) are part of it, as ARM embeds them.
    loaded = sorted({(f.parent / m).resolve() for f in bicep_files for m in LOAD_JSON.findall(f.read_text())})
    bicep_text = "\n".join(f.read_text() for f in bicep_files + [p for p in loaded if p.is_file()])
    arm_text = arm_path.read_text()
    b_guids = {g.lower() for g in GUID.findall(bicep_text)}
    a_guids = {g.lower() for g in GUID.findall(arm_text)}
    report.check(b_guids == a_guids, f"same role-definition GUIDs ({len(b_guids)})",
                 f"only in Bicep: {sorted(b_guids - a_guids)}; only in ARM: {sorted(a_guids - b_guids)}")
    for guid, role in ((SENTINEL_RESPONDER, "Microsoft Sentinel Responder"),
                       (LOG_ANALYTICS_READER, "Log Analytics Reader"),
                       (STORAGE_BLOB_DATA_OWNER, "Storage Blob Data Owner")):
        report.check(guid in b_guids and guid in a_guids, f"{role} ({guid}) is granted in both")
    ws_module = infra / "modules" / "workspace-access.bicep"
    if ws_module in parsed:
        ws_text = ws_module.read_text()
        report.check(SENTINEL_RESPONDER in ws_text and LOG_ANALYTICS_READER in ws_text,
                     "workspace-access.bicep grants both workspace roles")
        report.check(parsed[ws_module].get("globals", {}).get("scope", {}).get("value", "resourceGroup") == "resourceGroup"
                     or "targetScope = 'resourceGroup'" in ws_text, "workspace-access.bicep targets a resource group")

    # The workspace roles are deployed at the workspace's own scope (maybe another subscription/RG);
    # the loop over the additional workspaces is check 10's (workspaces.py).
    ws_mod = [m for m in parsed[main].get("modules", {}).values()
              if m.get("detail", {}).get("path", "").endswith("workspace-access.bicep") and "loop_type" not in m.get("config", {})]
    report.check(len(ws_mod) == 1 and "scope" in ws_mod[0].get("config", {}),
                 "Bicep deploys workspace-access.bicep with an explicit scope (the workspace's resource group)")
    ws_dep = [r for r in arm.get("resources", []) if r.get("type") == "Microsoft.Resources/deployments"
              and "workspace-access" in r.get("name", "") and "copy" not in r]
    report.check(len(ws_dep) == 1 and "subscriptionId" in ws_dep[0] and "resourceGroup" in ws_dep[0],
                 "ARM deploys workspace-access with subscriptionId and resourceGroup of the workspace")

    # Role-assignment names: guid(scope, principalId, roleDefinitionId), the principal being the
    # one the assignment grants (a parameter named principalId or ...PrincipalId).
    for f, p in parsed.items():
        for name, res in p.get("resources", {}).items():
            if res["type"] == "Microsoft.Authorization/roleAssignments":
                config = body(res)
                fn = config.get("name", {})
                fn = fn.get("function", {}) if isinstance(fn, dict) else {}
                args = list(fn.get("parameters", {}).values())
                principal = config.get("properties", {}).get("principalId")
                ok = (fn.get("type") == "guid" and len(args) == 3 and isinstance(args[1], str)
                      and PRINCIPAL.fullmatch(args[1]) is not None and args[1] == principal)
                report.check(ok, f"Bicep {f.name}:{name} is named guid(scope, principalId, roleDefinitionId)",
                             f"{json.dumps(fn)}; principalId {principal!r}")
    for res in resources:
        if res.get("type") == "Microsoft.Authorization/roleAssignments":
            n = res.get("name", "")
            m = re.fullmatch(r"\[guid\((.+), parameters\('(\w+)'\), variables\('\w+RoleId'\)\)\]", n)
            ok = (m is not None and PRINCIPAL.fullmatch(m.group(2)) is not None
                  and res.get("properties", {}).get("principalId") == f"[parameters('{m.group(2)}')]")
            report.check(ok, "ARM role assignment is named guid(scope, principalId, roleDefinitionId)", n)
            report.check(res.get("properties", {}).get("principalType") == "ServicePrincipal",
                         "ARM role assignment sets principalType ServicePrincipal")

    # Parameters.
    b_params = parsed[main].get("parameters", {})
    a_params = arm.get("parameters", {})
    report.check(set(b_params) == set(a_params), f"same parameter names ({len(b_params)})",
                 f"only in Bicep: {sorted(set(b_params) - set(a_params))}; only in ARM: {sorted(set(a_params) - set(b_params))}")
    for name in sorted(set(b_params) & set(a_params)):
        b_def, a_def = b_params[name].get("default"), a_params[name].get("defaultValue")
        if b_def is not None and literal(b_def):
            report.check(b_def == a_def, f"parameter {name}: same default", f"Bicep {b_def!r} vs ARM {a_def!r}")
        elif b_def is None:
            report.check("defaultValue" not in a_params[name], f"parameter {name}: required in both")
    constraint_diffs = []
    for name in sorted(set(b_params) & set(a_params)):
        b_con = {CONSTRAINTS[d["type"]]: d["argument"] for d in b_params[name].get("decorators", []) if d["type"] in CONSTRAINTS}
        a_con = {k: a_params[name][k] for k in CONSTRAINTS.values() if k in a_params[name]}
        if b_con != a_con:
            constraint_diffs.append(f"{name}: Bicep {b_con} vs ARM {a_con}")
    report.check(not constraint_diffs, "same parameter constraints (allowed values, min/max)", "; ".join(constraint_diffs))

    # Literal variables (no expression inside): equal on both sides.
    b_vars = {n: v.get("value") for n, v in parsed[main].get("variables", {}).items()}
    a_literal = {n: v for n, v in arm.get("variables", {}).items() if not has_expression(v)}
    var_diffs = [f"{n}: ARM {v!r} vs Bicep {b_vars.get(n, '<missing>')!r}" for n, v in sorted(a_literal.items()) if b_vars.get(n) != v]
    report.check(not var_diffs, f"same literal variables ({len(a_literal)})", "; ".join(var_diffs))

    # Outputs.
    b_outputs, a_outputs = set(parsed[main].get("outputs", {})), set(arm.get("outputs", {}))
    report.check(b_outputs == a_outputs, f"same output names ({len(b_outputs)})",
                 f"only in Bicep: {sorted(b_outputs - a_outputs)}; only in ARM: {sorted(a_outputs - b_outputs)}")

    # App settings.
    b_settings = bicep_app_settings(main.read_text())
    a_settings = arm_app_settings(arm)
    report.check(b_settings == a_settings, f"same app-setting names ({len(b_settings)})",
                 f"only in Bicep: {sorted(b_settings - a_settings)}; only in ARM: {sorted(a_settings - b_settings)}")
    settings = code_settings(repo / "src" / "config" / "mod.rs")
    if report.check(settings is not None, "SETTINGS found in src/config/mod.rs"):
        contract = set(settings) - NOT_SET_BY_TEMPLATE
        for label, found in (("Bicep", b_settings), ("ARM", a_settings)):
            operator = {s for s in found if not PLATFORM_SETTING.match(s)}
            report.check(operator == contract, f"{label} app settings equal SETTINGS in src/config/mod.rs ({len(contract)})",
                         f"missing: {sorted(contract - operator)}; not in SETTINGS: {sorted(operator - contract)}")
    # Security properties, both sides.
    b_res = {r["type"]: r for p in parsed.values() for r in p.get("resources", {}).values() if not r.get("existing")}
    a_res = {r["type"]: r for r in resources}
    for label, props in (
        ("Bicep", body(b_res.get("Microsoft.Storage/storageAccounts", {})).get("properties", {})),
        ("ARM", a_res.get("Microsoft.Storage/storageAccounts", {}).get("properties", {})),
    ):
        report.check(props.get("allowSharedKeyAccess") is False and props.get("minimumTlsVersion") == "TLS1_2"
                     and props.get("supportsHttpsTrafficOnly") is True,
                     f"{label} storage: no shared keys, TLS 1.2, https only", json.dumps(props))

    check_arm_scenarios(arm, report)
    check_bicep_hosting(parsed[main], report)
    allowed = arm.get("parameters", {}).get("hostingPlan", {}).get("allowedValues") or []
    alerts.check(parsed[main], arm, report, evaluate, [p for p in PLANS if p in allowed])
    modules = {f.relative_to(infra).as_posix(): p for f, p in parsed.items()}
    webhook.check(repo, infra, modules, arm, report, SAMPLE_WORKSPACE)
    workbook.check(infra, modules, arm, report, SAMPLE_WORKSPACE)
    workspaces.check(infra, modules, arm, report, SAMPLE_WORKSPACE)


def evaluate(arm, report, **params):
    try:
        resources, values = armeval.evaluate(arm, {"sentinelWorkspaceResourceId": SAMPLE_WORKSPACE, **params})
    except armeval.EvalError as e:
        report.check(False, f"ARM evaluates with {params}", str(e))
        return None, None
    return resources, values


def check_arm_scenarios(arm, report):
    """The ARM template evaluated for each hosting plan, identity kind and alert setting."""
    hosting = arm.get("parameters", {}).get("hostingPlan", {})
    report.check(hosting.get("allowedValues") == list(PLANS) and hosting.get("defaultValue") == "FlexConsumption",
                 "ARM hostingPlan allows FlexConsumption, ElasticPremium, Consumption (default FlexConsumption)",
                 json.dumps(hosting.get("allowedValues")))
    max_instances = arm.get("parameters", {}).get("maximumInstanceCount", {})
    report.check(max_instances.get("minValue", 0) >= FLEX_MIN_INSTANCES and max_instances.get("defaultValue", 0) >= FLEX_MIN_INSTANCES,
                 f"ARM Flex maximumInstanceCount is at least {FLEX_MIN_INSTANCES}", json.dumps(max_instances))

    for plan, sku in PLANS.items():
        if plan not in (hosting.get("allowedValues") or []):
            continue
        problems = {"plan": [], "flex": [], "linux": [], "package": [], "deployed": []}
        for identity in ("", SAMPLE_IDENTITY):
            resources, values = evaluate(arm, report, hostingPlan=plan, userAssignedIdentityResourceId=identity)
            if resources is None:
                return
            who = "user-assigned" if identity else "system-assigned"
            deployed = [r for r in resources if r["deployed"]]
            farms = [r for r in deployed if r["type"] == "Microsoft.Web/serverfarms"]
            sites = [r for r in deployed if r["type"] == "Microsoft.Web/sites"]
            if len(farms) != 1 or len(sites) != 1:
                problems["deployed"].append(f"{who}: {len(farms)} plans, {len(sites)} sites")
                continue
            farm, site = farms[0], sites[0]
            props = site.get("properties", {})
            settings = settings_of(site)
            site_config = props.get("siteConfig", {})
            if farm.get("sku") != sku or farm.get("properties", {}).get("reserved") is not True or site.get("kind") != "functionapp,linux":
                problems["plan"].append(f"{who}: sku {farm.get('sku')}, reserved {farm.get('properties', {}).get('reserved')}, site kind {site.get('kind')}")
            if any(s in settings for s in CONTENT_SHARE):
                problems["package"].append(f"{who}: sets {[s for s in CONTENT_SHARE if s in settings]}, which needs a storage key")
            if plan == "FlexConsumption":
                fac = props.get("functionAppConfig") or {}
                storage = fac.get("deployment", {}).get("storage", {})
                auth = storage.get("authentication", {})
                want_auth = "UserAssignedIdentity" if identity else "SystemAssignedIdentity"
                if fac.get("runtime") != {"name": "custom", "version": values["customRuntimeVersion"]} or values["customRuntimeVersion"] != "1.0":
                    problems["flex"].append(f"{who}: runtime {fac.get('runtime')}")
                if storage.get("type") != "blobContainer" or auth.get("type") != want_auth or (identity and auth.get("userAssignedIdentityResourceId") != identity):
                    problems["flex"].append(f"{who}: deployment storage {storage}")
                scale = fac.get("scaleAndConcurrency", {})
                if scale.get("maximumInstanceCount", 0) < FLEX_MIN_INSTANCES:
                    problems["flex"].append(f"{who}: maximumInstanceCount {scale.get('maximumInstanceCount')}")
                rejected = [s for s in NOT_ON_FLEX if s in settings]
                if rejected:
                    problems["flex"].append(f"{who}: sets {rejected}")
                if site_config.get("linuxFxVersion") not in (None,):
                    problems["flex"].append(f"{who}: linuxFxVersion {site_config.get('linuxFxVersion')!r}")
            else:
                if props.get("functionAppConfig") is not None:
                    problems["linux"].append(f"{who}: functionAppConfig {props.get('functionAppConfig')}")
                if site_config.get("linuxFxVersion") != "":
                    problems["linux"].append(f"{who}: linuxFxVersion {site_config.get('linuxFxVersion')!r}")
                if settings.get("FUNCTIONS_WORKER_RUNTIME") != "custom" or settings.get("FUNCTIONS_EXTENSION_VERSION") != "~4":
                    problems["linux"].append(f"{who}: FUNCTIONS_WORKER_RUNTIME={settings.get('FUNCTIONS_WORKER_RUNTIME')!r}, "
                                             f"FUNCTIONS_EXTENSION_VERSION={settings.get('FUNCTIONS_EXTENSION_VERSION')!r}")
                package = str(settings.get("WEBSITE_RUN_FROM_PACKAGE", ""))
                container = arm.get("variables", {}).get("deploymentContainerName")
                if not (package.startswith("<reference(") and ".primaryEndpoints.blob>" in package and f">{container}/" in package and package.endswith(".zip")):
                    problems["package"].append(f"{who}: WEBSITE_RUN_FROM_PACKAGE={package!r}")
                mi = settings.get("WEBSITE_RUN_FROM_PACKAGE_BLOB_MI_RESOURCE_ID")
                if (identity and mi != identity) or (not identity and mi is not None):
                    problems["package"].append(f"{who}: WEBSITE_RUN_FROM_PACKAGE_BLOB_MI_RESOURCE_ID={mi!r}")
        report.check(not problems["deployed"], f"ARM {plan}: one plan and one function app", "; ".join(problems["deployed"]))
        report.check(not problems["plan"], f"ARM {plan}: plan {sku['name']} ({sku['tier']}), Linux (reserved), site functionapp,linux", "; ".join(problems["plan"]))
        if plan == "FlexConsumption":
            report.check(not problems["flex"], "ARM FlexConsumption: functionAppConfig runtime custom 1.0, identity-based deployment storage, "
                         f"maximumInstanceCount >= {FLEX_MIN_INSTANCES}, no FUNCTIONS_*/WEBSITE_RUN_FROM_PACKAGE settings", "; ".join(problems["flex"]))
        else:
            report.check(not problems["linux"], f"ARM {plan}: no functionAppConfig, linuxFxVersion empty, FUNCTIONS_WORKER_RUNTIME=custom, "
                         "FUNCTIONS_EXTENSION_VERSION=~4", "; ".join(problems["linux"]))
        report.check(not problems["package"], f"ARM {plan}: no Azure Files content share" +
                     ("" if plan == "FlexConsumption" else "; runs from the package blob in the deployment container, read with the app's identity"),
                     "; ".join(problems["package"]))


def check_bicep_hosting(main, report):
    """The Bicep's hosting structure, read from the pycep tree (pycep does not evaluate)."""
    variables = {n: v.get("value") for n, v in main.get("variables", {}).items()}
    resources = main.get("resources", {})
    farm = next((body(r) for r in resources.values() if r["type"] == "Microsoft.Web/serverfarms"), {})
    site = next((body(r) for r in resources.values() if r["type"] == "Microsoft.Web/sites"), {})

    is_flex = op(variables.get("isFlex"), "equals")
    report.check(is_flex == {"operand_1": "hostingPlan", "operand_2": "FlexConsumption"}
                 and op(variables.get("runsFromPackage"), "not") == {"bool_value": "isFlex"},
                 "Bicep isFlex = hostingPlan == 'FlexConsumption', runsFromPackage = !isFlex",
                 json.dumps([variables.get("isFlex"), variables.get("runsFromPackage")]))

    sku, kind = op(farm.get("sku"), "index_accessor"), op(farm.get("kind"), "index_accessor")
    report.check(sku == {"operand_1": "planSkus", "operand_2": "hostingPlan"} and kind == {"operand_1": "planKinds", "operand_2": "hostingPlan"}
                 and variables.get("planSkus") == PLANS and farm.get("properties", {}).get("reserved") is True,
                 "Bicep plan: sku planSkus[hostingPlan] (FC1, EP1, Y1), kind planKinds[hostingPlan], Linux (reserved)",
                 json.dumps([farm.get("sku"), farm.get("kind"), variables.get("planSkus")]))

    props = site.get("properties", {})
    fac = op(props.get("functionAppConfig"), "conditional") or {}
    flex_config = variables.get(fac.get("true_value")) if isinstance(fac.get("true_value"), str) else fac.get("true_value")
    runtime = (flex_config or {}).get("runtime") if isinstance(flex_config, dict) else None
    report.check(fac.get("condition") == "isFlex" and fac.get("false_value") is None
                 and runtime == {"name": "custom", "version": "customRuntimeVersion"},
                 "Bicep functionAppConfig only on Flex (isFlex ? ... : null), runtime custom / customRuntimeVersion",
                 json.dumps([props.get("functionAppConfig"), runtime]))
    fx = op(props.get("siteConfig", {}).get("linuxFxVersion"), "conditional") or {}
    report.check(fx == {"condition": "isFlex", "true_value": None, "false_value": ""},
                 "Bicep linuxFxVersion: not set on Flex, empty on EP1/Y1", json.dumps(props.get("siteConfig", {}).get("linuxFxVersion")))

    # The EP1/Y1 settings sit in variables that appSettings takes only off Flex.
    app_settings = props.get("siteConfig", {}).get("appSettings", {})
    args = list(app_settings.get("function", {}).get("parameters", {}).values()) if isinstance(app_settings, dict) else []
    holder = {}
    for name, value in variables.items():
        if isinstance(value, list):
            for item in value:
                if isinstance(item, dict) and item.get("name") in NOT_ON_FLEX:
                    holder[item["name"]] = name
    report.check(set(holder) == set(NOT_ON_FLEX), "Bicep declares " + ", ".join(NOT_ON_FLEX), json.dumps(holder))
    problems = []
    for setting, var in holder.items():
        guards = []
        for arg in args:
            cond = op(arg, "conditional")
            if arg == var:
                guards.append("always")
            elif cond and cond.get("true_value") == var and cond.get("false_value") == []:
                guards.append(cond.get("condition"))
        want_identity = setting == "WEBSITE_RUN_FROM_PACKAGE_BLOB_MI_RESOURCE_ID"
        ok = len(guards) == 1 and (
            guards[0] == {"operator": {"type": "and", "operands": {"operand_1": "runsFromPackage", "operand_2": "useUserAssignedIdentity"}}}
            if want_identity else guards[0] == "runsFromPackage")
        if not ok:
            problems.append(f"{setting} ({var}) included under {guards}")
    report.check(not problems and holder, "Bicep appSettings: FUNCTIONS_*/WEBSITE_RUN_FROM_PACKAGE only off Flex (runsFromPackage), "
                 "the package identity only with a user-assigned identity", "; ".join(problems))
    by_name = {item["name"]: item["value"] for v in variables.values() if isinstance(v, list) for item in v if isinstance(item, dict) and "name" in item}
    report.check(by_name.get("FUNCTIONS_WORKER_RUNTIME") == "custom" and by_name.get("FUNCTIONS_EXTENSION_VERSION") == "~4"
                 and by_name.get("WEBSITE_RUN_FROM_PACKAGE") == "${storageAccount.properties.primaryEndpoints.blob}${deploymentContainerName}/${packageBlobName}"
                 and not any(s in by_name for s in CONTENT_SHARE),
                 "Bicep EP1/Y1 settings: FUNCTIONS_WORKER_RUNTIME=custom, FUNCTIONS_EXTENSION_VERSION=~4, package blob in the deployment container, no content share",
                 json.dumps({k: by_name.get(k) for k in NOT_ON_FLEX + CONTENT_SHARE}))
    max_instances = main.get("parameters", {}).get("maximumInstanceCount", {})
    min_value = next((d["argument"] for d in max_instances.get("decorators", []) if d["type"] == "min_value"), 0)
    report.check(min_value >= FLEX_MIN_INSTANCES and max_instances.get("default", 0) >= FLEX_MIN_INSTANCES
                 and (flex_config or {}).get("scaleAndConcurrency", {}).get("maximumInstanceCount") == "maximumInstanceCount",
                 f"Bicep Flex maximumInstanceCount is at least {FLEX_MIN_INSTANCES}", json.dumps(max_instances))


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repo", type=Path, default=Path(__file__).resolve().parents[2])
    ap.add_argument("--infra", type=Path, default=None, help="infra directory (default: REPO/infra)")
    ap.add_argument("--parse-only", nargs="+", type=Path, metavar="FILE")
    args = ap.parse_args(argv)
    report = Report()
    if args.parse_only:
        for f in args.parse_only:
            result, err = parse_bicep(f)
            report.check(result is not None, f"{f} parses", err or "")
    else:
        full_check(args.repo.resolve(), (args.infra or args.repo / "infra").resolve(), report)
    print("RESULT: " + ("PASS" if report.failures == 0 else f"FAIL ({report.failures} failed)"))
    return 0 if report.failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

#!/usr/bin/env python3
"""Offline checks of infra/azuredeploy.json, the one template (docs/deploy.md, "One template"):
its structure, what it deploys for each parameter set (evaluated by armeval.py), and that the app
settings it sets are exactly the code's configuration contract.

Usage:
    check.py [--repo DIR] [--infra DIR]      full check (default: the repository this file is in)

Prints one line per check ("ok: ..." / "FAIL: ...") and a final "RESULT: PASS" or "RESULT: FAIL";
exits 0 only when every check passed.

Checks:
  1. azuredeploy.json is JSON with $schema, contentVersion, parameters, resources;
  2. it grants Microsoft Sentinel Responder, Log Analytics Reader and Storage Blob Data Owner, the
     workspace roles at the workspace's own subscription and resource group;
  3. its app settings, minus the platform's own (AzureWebJobsStorage__*, APPLICATIONINSIGHTS_*,
     FUNCTIONS_WORKER_RUNTIME/FUNCTIONS_EXTENSION_VERSION, WEBSITE_RUN_FROM_PACKAGE*), equal
     SETTINGS in src/config/mod.rs (all of them, RUST_LOG included: the template sets it);
  4. every role assignment is named guid(scope, principalId, roleDefinitionId), the principal being
     the one it grants (a parameter named principalId or ...PrincipalId); the storage account
     refuses shared keys, requires TLS 1.2 and https;
  5. hosting plans: the template is evaluated for every allowed `hostingPlan`, with a system- and a
     user-assigned identity: FlexConsumption is FC1 with functionAppConfig (runtime custom 1.0,
     identity-based deployment storage) and none of the settings Flex rejects; ElasticPremium (EP1)
     and Consumption (Y1) are Linux plans without functionAppConfig, linuxFxVersion empty,
     FUNCTIONS_WORKER_RUNTIME=custom, FUNCTIONS_EXTENSION_VERSION=~4, and run from the package blob
     read with the app's identity (no Azure Files content share, which would need a key); Flex
     maximumInstanceCount is at least 40;
  6. alerts: with alertActionGroupResourceId empty no scheduledQueryRules is deployed; with it set,
     two (run-failed, no-success) on the Application Insights resource, wired to the action group,
     with the expected query, threshold, evaluation frequency and window (tools/infra/alerts.py);
  7. the webhook path (deployWebhookPlaybook): playbook, API connection, automation rules and their
     roles (tools/infra/webhook.py says what exactly);
  8. the workbook (deployWorkbook): its queries are exactly infra/workbook/queries/*.kql, deployed to
     the Sentinel gallery of the workspace (tools/infra/workbook.py);
  9. several workspaces (additionalWorkspaceResourceIds, delegatedWorkspaceResourceIds): the joined
     setting, the role-assignment loop, nothing for delegated workspaces, and the Azure Lighthouse
     delegation template (tools/infra/workspaces.py).

Checks 2 and 4 read the nested deployments' inner templates too; checks 5 to 9 evaluate the
template, 7 to 9 with its nested deployments.
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
# Settings in SETTINGS that the template deliberately does not set (none today; RUST_LOG is set).
NOT_SET_BY_TEMPLATE: set = set()
GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# A role assignment's principal: a parameter named principalId or <something>PrincipalId.
PRINCIPAL = re.compile(r"principalId|\w+PrincipalId")


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


def code_settings(config_rs):
    text = Path(config_rs).read_text()
    m = re.search(r"pub const SETTINGS:\s*\[&str;\s*\d+\]\s*=\s*\[(.*?)\];", text, re.S)
    if not m:
        return None
    return re.findall(r'"([^"]+)"', m.group(1))


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


def settings_of(site):
    return {s["name"]: s["value"] for s in site.get("properties", {}).get("siteConfig", {}).get("appSettings", [])}


def full_check(repo, infra, report):
    arm_path = infra / "azuredeploy.json"
    try:
        arm = json.loads(arm_path.read_text())
    except Exception as e:
        report.check(False, "azuredeploy.json is valid JSON", str(e))
        return
    report.check(True, "azuredeploy.json is valid JSON")
    missing = [k for k in ("$schema", "contentVersion", "parameters", "resources") if k not in arm]
    report.check(not missing, "azuredeploy.json has $schema, contentVersion, parameters, resources", f"missing {missing}")
    report.check("deploymentTemplate.json" in str(arm.get("$schema", "")), "azuredeploy.json $schema is a deployment template schema")
    resources = arm_resources(arm)

    # Roles granted.
    guids = {g.lower() for g in GUID.findall(arm_path.read_text())}
    for guid, role in ((SENTINEL_RESPONDER, "Microsoft Sentinel Responder"),
                       (LOG_ANALYTICS_READER, "Log Analytics Reader"),
                       (STORAGE_BLOB_DATA_OWNER, "Storage Blob Data Owner")):
        report.check(guid in guids, f"{role} ({guid}) is granted")
    # The workspace roles are deployed at the workspace's own scope (maybe another subscription/RG);
    # the loop over the additional workspaces is check 9's (workspaces.py).
    ws_dep = [r for r in arm.get("resources", []) if r.get("type") == "Microsoft.Resources/deployments"
              and "workspace-access" in r.get("name", "") and "copy" not in r]
    report.check(len(ws_dep) == 1 and "subscriptionId" in ws_dep[0] and "resourceGroup" in ws_dep[0],
                 "workspace-access is deployed with subscriptionId and resourceGroup of the workspace")
    inner = ws_dep[0].get("properties", {}).get("template", {}) if len(ws_dep) == 1 else {}
    inner_text = json.dumps(inner)
    report.check(SENTINEL_RESPONDER in inner_text and LOG_ANALYTICS_READER in inner_text,
                 "workspace-access grants both workspace roles")

    # Role-assignment names: guid(scope, principalId, roleDefinitionId), the principal being the
    # one the assignment grants (a parameter named principalId or ...PrincipalId).
    for res in resources:
        if res.get("type") == "Microsoft.Authorization/roleAssignments":
            n = res.get("name", "")
            m = re.fullmatch(r"\[guid\((.+), parameters\('(\w+)'\), variables\('\w+RoleId'\)\)\]", n)
            ok = (m is not None and PRINCIPAL.fullmatch(m.group(2)) is not None
                  and res.get("properties", {}).get("principalId") == f"[parameters('{m.group(2)}')]")
            report.check(ok, "role assignment is named guid(scope, principalId, roleDefinitionId)", n)
            report.check(res.get("properties", {}).get("principalType") == "ServicePrincipal",
                         "role assignment sets principalType ServicePrincipal")

    # App settings.
    found = arm_app_settings(arm)
    settings = code_settings(repo / "src" / "config" / "mod.rs")
    if report.check(settings is not None, "SETTINGS found in src/config/mod.rs"):
        contract = set(settings) - NOT_SET_BY_TEMPLATE
        operator = {s for s in found if not PLATFORM_SETTING.match(s)}
        report.check(operator == contract, f"app settings equal SETTINGS in src/config/mod.rs ({len(contract)})",
                     f"missing: {sorted(contract - operator)}; not in SETTINGS: {sorted(operator - contract)}")
    # Security properties.
    by_type = {r["type"]: r for r in resources}
    props = by_type.get("Microsoft.Storage/storageAccounts", {}).get("properties", {})
    report.check(props.get("allowSharedKeyAccess") is False and props.get("minimumTlsVersion") == "TLS1_2"
                 and props.get("supportsHttpsTrafficOnly") is True,
                 "storage: no shared keys, TLS 1.2, https only", json.dumps(props))

    check_arm_scenarios(arm, report)
    allowed = arm.get("parameters", {}).get("hostingPlan", {}).get("allowedValues") or []
    alerts.check(arm, report, evaluate, [p for p in PLANS if p in allowed])
    webhook.check(repo, infra, arm, report, SAMPLE_WORKSPACE)
    workbook.check(infra, arm, report, SAMPLE_WORKSPACE)
    workspaces.check(infra, arm, report, SAMPLE_WORKSPACE)


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


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repo", type=Path, default=Path(__file__).resolve().parents[2])
    ap.add_argument("--infra", type=Path, default=None, help="infra directory (default: REPO/infra)")
    args = ap.parse_args(argv)
    report = Report()
    full_check(args.repo.resolve(), (args.infra or args.repo / "infra").resolve(), report)
    print("RESULT: " + ("PASS" if report.failures == 0 else f"FAIL ({report.failures} failed)"))
    return 0 if report.failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

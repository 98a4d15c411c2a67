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
     role-definition GUIDs, the same parameter names (and equal literal defaults), and the same
     app-setting names;
  4. those app settings, minus the platform's own (AzureWebJobsStorage__*, APPLICATIONINSIGHTS_*),
     equal SETTINGS in src/config.rs (all of them, RUST_LOG included: the template sets it);
  5. every role assignment is named guid(scope, principalId, roleDefinitionId); the workspace
     module grants Microsoft Sentinel Responder and Log Analytics Reader; the storage account
     refuses shared keys, requires TLS 1.2 and https; the plan is FC1 and the runtime `custom`.
"""

import argparse
import json
import re
import sys
from pathlib import Path

SENTINEL_RESPONDER = "3e150937-b8fe-4cfb-8069-0eaf05ecd056"
LOG_ANALYTICS_READER = "73c42c96-874c-492b-b04d-ab87d138a893"
STORAGE_BLOB_DATA_OWNER = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"
PLATFORM_SETTING = re.compile(r"^(AzureWebJobsStorage(__.*)?|APPLICATIONINSIGHTS_[A-Z_]+)$")
# Settings in SETTINGS that the template deliberately does not set (none today; RUST_LOG is set).
NOT_SET_BY_TEMPLATE: set = set()
GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


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

    # Role-definition GUIDs.
    bicep_text = "\n".join(f.read_text() for f in bicep_files)
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

    # The workspace roles are deployed at the workspace's own scope (maybe another subscription/RG).
    ws_mod = [m for m in parsed[main].get("modules", {}).values()
              if m.get("detail", {}).get("path", "").endswith("workspace-access.bicep")]
    report.check(len(ws_mod) == 1 and "scope" in ws_mod[0].get("config", {}),
                 "Bicep deploys workspace-access.bicep with an explicit scope (the workspace's resource group)")
    ws_dep = [r for r in arm.get("resources", []) if r.get("type") == "Microsoft.Resources/deployments"
              and "workspace-access" in r.get("name", "")]
    report.check(len(ws_dep) == 1 and "subscriptionId" in ws_dep[0] and "resourceGroup" in ws_dep[0],
                 "ARM deploys workspace-access with subscriptionId and resourceGroup of the workspace")

    # Role-assignment names: guid(scope, principalId, roleDefinitionId).
    for f, p in parsed.items():
        for name, res in p.get("resources", {}).items():
            if res["type"] == "Microsoft.Authorization/roleAssignments":
                fn = res["config"].get("name", {})
                fn = fn.get("function", {}) if isinstance(fn, dict) else {}
                args = list(fn.get("parameters", {}).values())
                ok = fn.get("type") == "guid" and len(args) == 3 and "principalId" in json.dumps(args[1])
                report.check(ok, f"Bicep {f.name}:{name} is named guid(scope, principalId, roleDefinitionId)", json.dumps(fn))
    for res in resources:
        if res.get("type") == "Microsoft.Authorization/roleAssignments":
            n = res.get("name", "")
            ok = n.startswith("[guid(") and "parameters('principalId')" in n and "RoleId')" in n
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

    # App settings.
    b_settings = bicep_app_settings(main.read_text())
    a_settings = arm_app_settings(arm)
    report.check(b_settings == a_settings, f"same app-setting names ({len(b_settings)})",
                 f"only in Bicep: {sorted(b_settings - a_settings)}; only in ARM: {sorted(a_settings - b_settings)}")
    settings = code_settings(repo / "src" / "config.rs")
    if report.check(settings is not None, "SETTINGS found in src/config.rs"):
        contract = set(settings) - NOT_SET_BY_TEMPLATE
        for label, found in (("Bicep", b_settings), ("ARM", a_settings)):
            operator = {s for s in found if not PLATFORM_SETTING.match(s)}
            report.check(operator == contract, f"{label} app settings equal SETTINGS in src/config.rs ({len(contract)})",
                         f"missing: {sorted(contract - operator)}; not in SETTINGS: {sorted(operator - contract)}")
    for label, found in (("Bicep", b_settings), ("ARM", a_settings)):
        report.check("FUNCTIONS_WORKER_RUNTIME" not in found and "FUNCTIONS_EXTENSION_VERSION" not in found,
                     f"{label} sets no FUNCTIONS_WORKER_RUNTIME/FUNCTIONS_EXTENSION_VERSION (Flex rejects them)")

    # Security and hosting properties, both sides.
    b_res = {r["type"]: r for p in parsed.values() for r in p.get("resources", {}).values() if not r.get("existing")}
    a_res = {r["type"]: r for r in resources}
    for label, props in (
        ("Bicep", b_res.get("Microsoft.Storage/storageAccounts", {}).get("config", {}).get("properties", {})),
        ("ARM", a_res.get("Microsoft.Storage/storageAccounts", {}).get("properties", {})),
    ):
        report.check(props.get("allowSharedKeyAccess") is False and props.get("minimumTlsVersion") == "TLS1_2"
                     and props.get("supportsHttpsTrafficOnly") is True,
                     f"{label} storage: no shared keys, TLS 1.2, https only", json.dumps(props))
    for label, sku in (
        ("Bicep", b_res.get("Microsoft.Web/serverfarms", {}).get("config", {}).get("sku", {})),
        ("ARM", a_res.get("Microsoft.Web/serverfarms", {}).get("sku", {})),
    ):
        report.check(sku.get("name") == "FC1" and sku.get("tier") == "FlexConsumption", f"{label} plan is FC1 FlexConsumption", json.dumps(sku))
    for label, runtime in (
        ("Bicep", b_res.get("Microsoft.Web/sites", {}).get("config", {}).get("properties", {}).get("functionAppConfig", {}).get("runtime", {})),
        ("ARM", a_res.get("Microsoft.Web/sites", {}).get("properties", {}).get("functionAppConfig", {}).get("runtime", {})),
    ):
        report.check(runtime.get("name") == "custom", f"{label} function app runtime is custom", json.dumps(runtime))


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

"""Checks what infra/azuredeploy.json deploys against Microsoft's own type definitions.

The definitions are excerpts of Azure/bicep-types-az (the Bicep compiler's type data, generated from
the Azure REST API specs), one file per resource type and API version, in
tests/fixtures/azure-types/ (its SOURCES.md names each file's origin).

The templates: infra/azuredeploy.json and infra/lighthouse/delegation.json (TEMPLATES).

1. Every resource type and API version a template (and every nested template) declares, and
   every `listKeys` call, has its definition file: a new one without its excerpt is an error.
2. For each parameter set (SCENARIOS for azuredeploy.json), the template is evaluated (tools/infra/armeval.py: the
   values a deployment with those parameters sends) and every resource body is walked against its
   type: unknown or mis-cased properties, value types, enums and literals, string lengths and
   patterns (names included), integer bounds, read-only properties set, required properties
   missing. A value only Azure knows (`reference()`, `listKeys()`) is left unchecked.

Exceptions are listed in ALLOWED, each with the reason; an exception that no longer applies is an
error too, so the list cannot go stale.

Usage: arm_types.py [--infra DIR] [--types DIR]   (exit 1 and one line per problem on failure)
"""

import argparse
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import armeval  # noqa: E402

REQUIRED, READ_ONLY = 1, 2

# Keys of a template's resource that are the deployment engine's, not the resource body's.
TEMPLATE_KEYS = {"condition", "copy", "dependsOn", "comments", "scope", "deployed",
                 "resourceGroup", "subscriptionId", "metadata"}
# Body keys the template must give although the type marks them read-only (they name the request).
REQUEST_KEYS = {"type", "apiVersion", "name"}

SAMPLE_WORKSPACE = ("/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-sentinel/"
                    "providers/Microsoft.OperationalInsights/workspaces/sentinel-ws")
SAMPLE_OTHER_WORKSPACE = ("/subscriptions/00000000-0000-0000-0000-000000000002/resourceGroups/rg-customer/"
                          "providers/Microsoft.OperationalInsights/workspaces/customer-ws")
SAMPLE_DELEGATED_WORKSPACE = ("/subscriptions/00000000-0000-0000-0000-000000000003/resourceGroups/rg-tenant-b/"
                              "providers/Microsoft.OperationalInsights/workspaces/tenant-b-ws")
SAMPLE_IDENTITY = ("/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-offline/providers/"
                   "Microsoft.ManagedIdentity/userAssignedIdentities/id-dfcsync")
SAMPLE_ACTION_GROUP = ("/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-offline/providers/"
                       "microsoft.insights/actionGroups/ag-soc")
# The longest app name the template accepts (its maxLength) is filled in at run time.
LONGEST_APP_NAME = None

# Parameter sets: every hosting plan and identity kind, every optional part on and off, several
# workspaces, and the longest names the parameters allow.
SCENARIOS = [
    {},
    {"hostingPlan": "ElasticPremium", "userAssignedIdentityResourceId": SAMPLE_IDENTITY},
    {"hostingPlan": "Consumption"},
    {"deployWebhookPlaybook": True, "sentinelAutomationPrincipalId": "00000000-0000-0000-0000-0000000000bb",
     "alertActionGroupResourceId": SAMPLE_ACTION_GROUP, "deployWorkbook": False,
     "additionalWorkspaceResourceIds": [SAMPLE_OTHER_WORKSPACE],
     "delegatedWorkspaceResourceIds": [SAMPLE_DELEGATED_WORKSPACE]},
    {"appName": "LONGEST", "deployWebhookPlaybook": True,
     "sentinelAutomationPrincipalId": "00000000-0000-0000-0000-0000000000bb",
     "alertActionGroupResourceId": SAMPLE_ACTION_GROUP},
]

# (type@version, property path) the type does not declare but Azure accepts, with the reason.
ALLOWED = {
    ("Microsoft.Web/connections@2016-06-01", "properties.parameterValueType"):
        "in neither the type nor the REST spec, but what Microsoft's own Sentinel playbook templates "
        "set for a connection that uses the Logic App's managed identity "
        "(tests/fixtures/azure-types/references/Azure-Sentinel_playbook_incident_trigger_excerpts.json)",
}


class Types:
    """The definition files: `(type, apiVersion)` to its body type, and the listKeys functions."""

    def __init__(self, folder):
        self.bodies, self.functions = {}, set()
        for name in sorted(os.listdir(folder)):
            if not name.endswith(".json"):
                continue
            with open(os.path.join(folder, name), encoding="utf-8") as f:
                doc = json.load(f)
            types = doc["types"]
            entry = types[doc["source"]["entry"]]
            if entry["$type"] == "ResourceType":
                rtype, version = entry["name"].split("@")
                self.bodies[(rtype.lower(), version)] = (types, entry["body"]["$ref"])
            elif entry["$type"] == "ResourceFunctionType":
                self.functions.add((entry["name"].lower(), entry["resourceType"].lower(), entry["apiVersion"]))

    def body(self, rtype, version):
        return self.bodies.get((rtype.lower(), version))


def unknown(value):
    """A value only Azure knows at deployment time (what reference() or listKeys() return)."""
    if isinstance(value, armeval.Ref):
        return True
    return isinstance(value, str) and re.search(r"<(reference|list\w*)\(", value) is not None


class Walker:
    def __init__(self, types, resource_id, problems, allowed_used):
        self.types = types
        self.rid = resource_id
        self.problems = problems
        self.allowed_used = allowed_used

    def problem(self, path, text):
        self.problems.append(f"{self.rid}: {path}: {text}")

    def ref(self, ref):
        return self.types[ref]

    def check(self, value, ref, path):
        t = self.ref(ref)
        kind = t["$type"]
        if unknown(value):
            return
        if kind == "AnyType":
            return
        if kind == "StringType":
            if not isinstance(value, str):
                return self.problem(path, f"{json.dumps(value)} is not a string")
            if "minLength" in t and len(value) < t["minLength"]:
                self.problem(path, f"{value!r} is shorter than {t['minLength']}")
            if "maxLength" in t and len(value) > t["maxLength"]:
                self.problem(path, f"{value!r} is {len(value)} characters, longer than {t['maxLength']}")
            if "pattern" in t and not re.search(t["pattern"], value):
                self.problem(path, f"{value!r} does not match {t['pattern']}")
            return
        if kind == "StringLiteralType":
            if value != t["value"]:
                self.problem(path, f"{json.dumps(value)} is not {json.dumps(t['value'])}")
            return
        if kind == "BooleanType":
            if not isinstance(value, bool):
                self.problem(path, f"{json.dumps(value)} is not a boolean")
            return
        if kind == "IntegerType":
            if isinstance(value, bool) or not isinstance(value, int):
                return self.problem(path, f"{json.dumps(value)} is not an integer")
            if "minValue" in t and value < t["minValue"]:
                self.problem(path, f"{value} is below {t['minValue']}")
            if "maxValue" in t and value > t["maxValue"]:
                self.problem(path, f"{value} is above {t['maxValue']}")
            return
        if kind == "ArrayType":
            if not isinstance(value, list):
                return self.problem(path, f"{json.dumps(value)[:80]} is not an array")
            for i, item in enumerate(value):
                self.check(item, t["itemType"]["$ref"], f"{path}[{i}]")
            return
        if kind == "UnionType":
            for element in t["elements"]:
                trial = []
                Walker(self.types, self.rid, trial, set()).check(value, element["$ref"], path)
                if not trial:
                    return
            literals = [self.ref(e["$ref"]).get("value") for e in t["elements"]]
            return self.problem(path, f"{json.dumps(value)[:80]} is none of {literals}")
        if kind == "ObjectType":
            return self.object(value, t.get("properties", {}), t.get("additionalProperties"), path)
        if kind == "DiscriminatedObjectType":
            if not isinstance(value, dict):
                return self.problem(path, f"{json.dumps(value)[:80]} is not an object")
            tag = value.get(t["discriminator"])
            element = t["elements"].get(tag)
            if element is None:
                return self.problem(path, f"{t['discriminator']}={json.dumps(tag)} is none of {sorted(t['elements'])}")
            props = dict(t.get("baseProperties", {}))
            props.update(self.ref(element["$ref"]).get("properties", {}))
            return self.object(value, props, None, path, skip={t["discriminator"]})
        self.problem(path, f"type {kind} is not known to this checker")

    def object(self, value, props, additional, path, skip=(), top=False):
        if not isinstance(value, dict):
            return self.problem(path, f"{json.dumps(value)[:80]} is not an object")
        # A property whose value is null is left out of the request: `null()` is how a template
        # makes a property conditional (Microsoft Learn, "Object functions for ARM templates", null).
        value = {k: v for k, v in value.items() if v is not None}
        lower = {k.lower(): k for k in props}
        for key, item in value.items():
            where = f"{path}.{key}" if path else key
            if key in skip or (top and key in TEMPLATE_KEYS):
                continue
            if key not in props:
                if key.lower() in lower:
                    self.problem(where, f"mis-cased: the type spells it {lower[key.lower()]!r}")
                elif additional is not None:
                    self.check(item, additional["$ref"], where)
                elif (self.rid.split(" ")[0], where) in ALLOWED:
                    self.allowed_used.add((self.rid.split(" ")[0], where))
                else:
                    self.problem(where, "not a property of this type")
                continue
            flags = props[key].get("flags", 0)
            if flags & READ_ONLY and not (top and key in REQUEST_KEYS):
                self.problem(where, "read-only: Azure sets it, a template may not")
                continue
            self.check(item, props[key]["type"]["$ref"], where)
        for key, prop in props.items():
            if prop.get("flags", 0) & REQUIRED and key not in value:
                self.problem(f"{path}.{key}" if path else key, "required, and missing")


def declared(template, where="azuredeploy.json"):
    """(type, apiVersion, where) of every resource in the template and its nested templates."""
    out = []
    for res in template.get("resources", []):
        out.append((res.get("type"), res.get("apiVersion"), where))
        inner = res.get("properties", {}).get("template") if res.get("type") == "Microsoft.Resources/deployments" else None
        if isinstance(inner, dict):
            out.extend(declared(inner, f"{where} > {res.get('name')}"))
    return out


def list_calls(template):
    """(resource type, apiVersion) of every listKeys(...) call on a resource id the template builds."""
    text = json.dumps(template)
    calls = []
    for m in re.finditer(r"listKeys\((.*?), '(\d{4}-\d{2}-\d{2}(?:-preview)?)'\)", text):
        target = m.group(1)
        kinds = re.findall(r"resourceId\('([^']+)'", target)
        if "/host/default" in target and kinds == ["Microsoft.Web/sites"]:
            calls.append(("Microsoft.Web/sites/host", m.group(2)))
        else:
            calls.append((kinds[-1] if kinds else "?", m.group(2)))
    return calls


def longest_app_name(template):
    decl = template["parameters"]["appName"]
    return ("a" + "b" * (decl["maxLength"] - 2) + "c")[: decl["maxLength"]]


# The templates the project ships, each with the parameter sets it is evaluated for.
TEMPLATES = {
    "azuredeploy.json": None,  # SCENARIOS
    "lighthouse/delegation.json": [{"managedByTenantId": "00000000-0000-0000-0000-0000000000cc",
                                    "principalId": "00000000-0000-0000-0000-0000000000dd",
                                    "workspaceResourceGroupName": "rg-customer-sentinel"}],
}


def check(infra, types_dir):
    problems, allowed_used = [], set()
    types = Types(types_dir)
    for name, parameter_sets in TEMPLATES.items():
        with open(os.path.join(infra, name), encoding="utf-8") as f:
            template = json.load(f)
        check_template(name, template, parameter_sets, types, types_dir, problems, allowed_used)
    for stale in sorted(set(ALLOWED) - allowed_used):
        problems.append(f"ALLOWED lists {stale}, which the template no longer sets: remove it")
    return sorted(set(problems))


def check_template(file, template, parameter_sets, types, types_dir, problems, allowed_used):
    for rtype, version, where in declared(template, file):
        if types.body(rtype, version) is None:
            problems.append(f"{where}: {rtype}@{version} has no type definition in {types_dir} "
                            "(copy its excerpt from Azure/bicep-types-az, and say where from in SOURCES.md)")
    for rtype, version in list_calls(template):
        if ("listkeys", rtype.lower(), version) not in types.functions:
            problems.append(f"{file}: listKeys on {rtype}@{version} has no function definition in {types_dir}")
    if parameter_sets is None:
        parameter_sets = []
        for scenario in SCENARIOS:
            params = {"sentinelWorkspaceResourceId": SAMPLE_WORKSPACE, **scenario}
            if params.get("appName") == "LONGEST":
                params["appName"] = longest_app_name(template)
            parameter_sets.append(params)
    for params in parameter_sets:
        scenario = {k: v for k, v in params.items() if k != "sentinelWorkspaceResourceId"}
        label = f"{file} " + json.dumps(scenario, sort_keys=True)
        try:
            resources, _ = armeval.evaluate(template, params)
            nested = armeval.evaluate_nested(template, params)
        except armeval.EvalError as e:
            problems.append(f"parameters {label}: the template does not evaluate: {e}")
            continue
        bodies = [(r, "") for r in resources]
        bodies += [(r, f" in {d['name']}") for d in nested if d["deployed"] for r in d["resources"]]
        for res, where in bodies:
            if not res.get("deployed", True):
                continue
            found = types.body(res.get("type", ""), res.get("apiVersion", ""))
            if found is None:
                continue  # reported above
            table, body = found
            rid = f"{res['type']}@{res['apiVersion']} {res.get('name')!r}{where} (parameters {label})"
            walker = Walker(table, rid, problems, allowed_used)
            value = dict(res)
            if isinstance(value.get("name"), str) and "/" in value["name"]:
                value["name"] = value["name"].rsplit("/", 1)[1]  # a child's own name segment
            body_type = table[body]
            if body_type["$type"] == "DiscriminatedObjectType":
                # One body per value of the discriminator (basicPublishingCredentialsPolicies: its name).
                tag = value.get(body_type["discriminator"])
                element = body_type["elements"].get(tag)
                if element is None:
                    problems.append(f"{rid}: {body_type['discriminator']}={json.dumps(tag)} is none of "
                                    f"{sorted(body_type['elements'])}")
                    continue
                body_type = {"properties": {**body_type.get("baseProperties", {}),
                                            **table[element["$ref"]].get("properties", {})}}
            walker.object(value, body_type["properties"], body_type.get("additionalProperties"), "", top=True)


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    here = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.dirname(os.path.dirname(here))
    parser.add_argument("--infra", default=os.path.join(repo, "infra"))
    parser.add_argument("--types", default=os.path.join(repo, "tests", "fixtures", "azure-types"))
    args = parser.parse_args(argv)
    problems = check(args.infra, args.types)
    for p in problems:
        print(f"FAIL {p}")
    if problems:
        print(f"{len(problems)} problems against Microsoft's type definitions")
        return 1
    print(f"ok: every resource of {', '.join(TEMPLATES)} ({len(SCENARIOS)} parameter sets of the first) "
          "matches Microsoft's type definitions")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

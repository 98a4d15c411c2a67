"""Check 9 of tools/infra/check.py: the workbook (deployWorkbook).

Sources: infra/workbook/queries/*.kql are the query texts; infra/workbook/dfc-sync.workbook.json is
the workbook (Azure Monitor workbook JSON, "Notebook/1.0") that embeds them; the template embeds
it (tools/infra/embed.py writes the embedded copy from the sources). What must hold:

  - the workbook is JSON, version Notebook/1.0, with a TimeRange parameter; no string in it starts
    with '[' (ARM would evaluate it); every query item is named "query - <stem>" and its query is
    exactly queries/<stem>.kql (without the file's final newline), every .kql file is used once;
    each query item runs against the Sentinel workspace (resourceType workspaces, the workspace
    placeholder) or against Application Insights (resourceType components, the Application
    Insights placeholder), with the workbook's time range or a fixed one; the shared block of
    changes-per-day.kql and change-delay.kql is the same text in both;
  - ARM, evaluated: the workbook deployment exists only with deployWorkbook (default true), in the
    workspace's subscription and resource group; its workbook is kind shared, category sentinel,
    sourceId the workspace, named by a guid of the workspace and the Application Insights resource,
    and its serializedData is the workbook file with the two placeholders replaced by the
    workspace's and the Application Insights resource's ids.

Kusto.Language checks every query (tests/deploy/infra_workbook.rs, with tools/kql/check.js and only
the tables of the item's resource: SecurityIncident and SecurityAlert, or traces and requests).
"""

import json
import re

import armeval

WORKBOOK = "workbook/dfc-sync.workbook.json"
QUERIES = "workbook/queries"
WORKSPACE_PLACEHOLDER = "__SENTINEL_WORKSPACE_RESOURCE_ID__"
APP_INSIGHTS_PLACEHOLDER = "__APP_INSIGHTS_RESOURCE_ID__"
# resourceType of a query item -> the placeholder its crossComponentResources must name.
RESOURCES = {
    "microsoft.operationalinsights/workspaces": WORKSPACE_PLACEHOLDER,
    "microsoft.insights/components": APP_INSIGHTS_PLACEHOLDER,
}
SHARED = ("changes-per-day", "change-delay")
SHARED_BLOCK = re.compile(r"^// -- tool changes.*?^// -- end of tool changes --$", re.S | re.M)


def query_items(workbook):
    return [i for i in workbook.get("items", []) if i.get("type") == 3]


def kql_files(infra):
    return {p.stem: p.read_text() for p in sorted((infra / QUERIES).glob("*.kql"))}


def embedded_text(text):
    """The query text a workbook item carries for a .kql file: the file without its final newline."""
    return text[:-1] if text.endswith("\n") else text


def check(infra, arm, report, workspace):
    workbook = check_file(infra, report)
    check_arm(arm, workbook, report, workspace)


def check_file(infra, report):
    try:
        wb = json.loads((infra / WORKBOOK).read_text())
    except Exception as e:
        report.check(False, f"{WORKBOOK} is valid JSON", str(e))
        return None
    params = [p for i in wb.get("items", []) if i.get("type") == 9 for p in i.get("content", {}).get("parameters", [])]
    report.check(wb.get("version") == "Notebook/1.0" and any(p.get("name") == "TimeRange" and p.get("type") == 4 for p in params),
                 "workbook: Notebook/1.0 with a TimeRange parameter", json.dumps(params))
    bad = armeval.bracket_strings(wb)
    report.check(not bad, "workbook: no string starts with '[' (ARM would evaluate it)", ", ".join(bad))
    files = kql_files(infra)
    items = query_items(wb)
    problems, used = [], []
    for item in items:
        name = item.get("name", "")
        stem = name[len("query - "):] if name.startswith("query - ") else None
        c = item.get("content", {})
        if stem not in files:
            problems.append(f"item {name!r}: no {QUERIES}/{stem}.kql")
            continue
        used.append(stem)
        if c.get("query") != embedded_text(files[stem]):
            problems.append(f"item {name!r}: its query is not the text of {QUERIES}/{stem}.kql (run tools/infra/embed.py)")
    unused = sorted(set(files) - set(used))
    twice = sorted({s for s in used if used.count(s) > 1})
    report.check(items and not problems and not unused and not twice,
                 f"workbook: its {len(items)} queries are exactly the texts of infra/{QUERIES}/*.kql, each file used once",
                 "; ".join(problems + [f"unused: {unused}"] * bool(unused) + [f"used twice: {twice}"] * bool(twice)))
    problems = []
    for item in items:
        c = item.get("content", {})
        want = RESOURCES.get(c.get("resourceType"))
        if want is None or c.get("crossComponentResources") != [want] or c.get("queryType") != 0:
            problems.append(f"{item.get('name')}: resourceType {c.get('resourceType')}, crossComponentResources "
                            f"{c.get('crossComponentResources')}, queryType {c.get('queryType')}")
        fixed = c.get("timeContext", {}).get("durationMs")
        if c.get("timeContextFromParameter", "TimeRange") != "TimeRange" or not isinstance(fixed, int) or fixed <= 0:
            problems.append(f"{item.get('name')}: time {c.get('timeContextFromParameter')} / {c.get('timeContext')}")
    report.check(not problems and APP_INSIGHTS_PLACEHOLDER in json.dumps(wb) and wb.get("fallbackResourceIds") == [WORKSPACE_PLACEHOLDER],
                 "workbook: each query runs against the Sentinel workspace or Application Insights (placeholders), with the "
                 "workbook's time range or a fixed one", "; ".join(problems))
    blocks = [SHARED_BLOCK.findall(files.get(s, "")) for s in SHARED]
    report.check(all(len(b) == 1 for b in blocks) and blocks[0] == blocks[1],
                 f"workbook: the tool-changes block of {SHARED[0]}.kql and {SHARED[1]}.kql is the same text",
                 f"blocks found: {[len(b) for b in blocks]}")
    return wb


def check_arm(arm, wb, report, workspace):
    ws_parts = workspace.split("/")
    try:
        on = {d["name"].rsplit("-", 1)[0]: d for d in armeval.evaluate_nested(arm, {"sentinelWorkspaceResourceId": workspace})}
        off = {d["name"].rsplit("-", 1)[0]: d for d in armeval.evaluate_nested(arm, {"sentinelWorkspaceResourceId": workspace,
                                                                                     "deployWorkbook": False})}
        _, values = armeval.evaluate(arm, {"sentinelWorkspaceResourceId": workspace})
    except armeval.EvalError as e:
        report.check(False, "ARM workbook deployment evaluates", str(e))
        return
    dep, dep_off = on.get("workbook"), off.get("workbook")
    report.check(dep is not None and dep_off is not None and dep["deployed"] and not dep_off["deployed"]
                 and arm.get("parameters", {}).get("deployWorkbook", {}).get("defaultValue") is True
                 and dep["subscription"] == ws_parts[2] and dep["resource_group"] == ws_parts[4],
                 "ARM workbook: deployed by default, not with deployWorkbook=false, in the workspace's subscription and resource group",
                 f"{dep and {k: dep[k] for k in ('deployed', 'subscription', 'resource_group')}}, off: {dep_off and dep_off['deployed']}")
    if dep is None:
        return
    books = [r for r in dep["resources"] if r["type"] == "Microsoft.Insights/workbooks"]
    appi = armeval.resource_id(armeval.SUBSCRIPTION, armeval.RESOURCE_GROUP, "Microsoft.Insights/components", [f"appi-{values['appName']}"])
    raw = next((r for d in arm.get("resources", []) if d.get("type") == "Microsoft.Resources/deployments"
                for r in d.get("properties", {}).get("template", {}).get("resources", []) if r.get("type") == "Microsoft.Insights/workbooks"), {})
    problems = []
    if len(books) != 1:
        problems.append(f"{len(books)} workbooks")
    else:
        b = books[0]
        p = b.get("properties", {})
        if b.get("kind") != "shared" or p.get("category") != "sentinel" or p.get("sourceId") != workspace or p.get("version") != "Notebook/1.0":
            problems.append(f"kind {b.get('kind')}, category {p.get('category')}, sourceId {p.get('sourceId')}, version {p.get('version')}")
        if not str(raw.get("name", "")).startswith("[guid(") or "parameters('appInsightsResourceId')" not in str(raw.get("name")):
            problems.append(f"name {raw.get('name')}")
        if dep["parameters"].get("appInsightsResourceId") != appi:
            problems.append(f"appInsightsResourceId {dep['parameters'].get('appInsightsResourceId')} (want {appi})")
        try:
            data = json.loads(p.get("serializedData", ""))
        except ValueError as e:
            problems.append(f"serializedData is not JSON: {e}")
            data = None
        want = json.loads(json.dumps(wb).replace(WORKSPACE_PLACEHOLDER, workspace).replace(APP_INSIGHTS_PLACEHOLDER, appi)) if wb else None
        if data is not None and data != want:
            problems.append("serializedData is not the workbook file with the workspace's and Application Insights' ids "
                            "(the embedded copy differs: run tools/infra/embed.py)")
    report.check(not problems, "ARM workbook: kind shared, category sentinel, sourceId the workspace, guid name, serializedData the "
                 "workbook file with the workspace's and Application Insights' ids", "; ".join(problems))

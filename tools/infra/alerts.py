"""Check 7 of tools/infra/check.py: the two log alerts (alertActionGroupResourceId).

With alertActionGroupResourceId empty no scheduledQueryRules is deployed, for every hosting plan;
with it set, two (run-failed, no-success), kind LogAlert, on the Application Insights resource,
wired to the action group, with the expected query, threshold, evaluation frequency and window.
The template is evaluated (armeval).
"""

import re

import armeval

SAMPLE_ACTION_GROUP = "/subscriptions/33333333-3333-3333-3333-333333333333/resourceGroups/rg-ops/providers/Microsoft.Insights/actionGroups/ag-oncall"
# The two alert rules, by name suffix (alert-<app>-<suffix>): what each must say.
ALERTS = {
    "run-failed": {"success": "false", "operator": "GreaterThan", "threshold": 0,
                   "evaluationFrequency": "PT5M", "windowSize": "PT15M"},
    "no-success": {"success": "true", "operator": "LessThan", "threshold": 1,
                   "evaluationFrequency": "PT15M", "windowSize": "PT1H"},
}


def check(arm, report, evaluate, plans):
    """evaluate(arm, report, **params) -> (resources, values) or (None, None): check.py's."""
    check_arm(arm, report, evaluate, plans)


def check_arm(arm, report, evaluate, plans):
    for plan in plans:
        resources, _ = evaluate(arm, report, hostingPlan=plan)
        if resources is None:
            return
        rules = [r for r in resources if r["type"] == "Microsoft.Insights/scheduledQueryRules"]
        report.check(rules and not any(r["deployed"] for r in rules),
                     f"ARM {plan}: no alert rule without alertActionGroupResourceId",
                     f"{len(rules)} rules, deployed: {[r['name'] for r in rules if r['deployed']]}")
    resources, values = evaluate(arm, report, alertActionGroupResourceId=SAMPLE_ACTION_GROUP)
    if resources is None:
        return
    appi = [r for r in resources if r["type"] == "Microsoft.Insights/components" and r["deployed"]]
    appi_id = armeval.resource_id(armeval.SUBSCRIPTION, armeval.RESOURCE_GROUP, "Microsoft.Insights/components", [appi[0]["name"]]) if len(appi) == 1 else None
    rules = {r["name"]: r for r in resources if r["type"] == "Microsoft.Insights/scheduledQueryRules" and r["deployed"]}
    expected_names = {f"alert-{values['appName']}-{suffix}" for suffix in ALERTS}
    report.check(set(rules) == expected_names, "ARM alerts: with alertActionGroupResourceId, exactly the run-failed and no-success rules",
                 f"deployed {sorted(rules)}, expected {sorted(expected_names)}")
    for suffix, want in ALERTS.items():
        rule = rules.get(f"alert-{values['appName']}-{suffix}")
        if rule is None:
            continue
        problems = alert_problems(rule.get("properties", {}), want, appi_id, SAMPLE_ACTION_GROUP)
        if rule.get("kind") != "LogAlert":
            problems.append(f"kind {rule.get('kind')}")
        report.check(not problems, f"ARM alert {suffix}: on Application Insights, {want['operator']} {want['threshold']} "
                     f"every {want['evaluationFrequency']} over {want['windowSize']}, to the action group", "; ".join(problems))


def alert_problems(props, want, scope, action_group):
    problems = []
    if props.get("scopes") != [scope]:
        problems.append(f"scopes {props.get('scopes')} (want [{scope}])")
    if props.get("actions", {}).get("actionGroups") != [action_group]:
        problems.append(f"actionGroups {props.get('actions', {}).get('actionGroups')} (want [{action_group}])")
    if props.get("enabled") is not True:
        problems.append(f"enabled {props.get('enabled')}")
    for key in ("evaluationFrequency", "windowSize"):
        if props.get(key) != want[key]:
            problems.append(f"{key} {props.get(key)} (want {want[key]})")
    criteria = props.get("criteria", {}).get("allOf", [])
    if len(criteria) != 1:
        problems.append(f"{len(criteria)} criteria")
        return problems
    c = criteria[0]
    query = str(c.get("query", ""))
    if not (re.search(r'\brequests\b', query) and 'name == "SyncTimer"' in query and f"success == {want['success']}" in query):
        problems.append(f"query {query!r}")
    if c.get("timeAggregation") != "Count" or c.get("operator") != want["operator"] or c.get("threshold") != want["threshold"]:
        problems.append(f"{c.get('timeAggregation')} {c.get('operator')} {c.get('threshold')}")
    return problems

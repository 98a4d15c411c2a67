#!/usr/bin/env node
// Semantic KQL check with Microsoft's Kusto.Language (npm @kusto/language-service-next, pinned in
// tools/package.json and installed into .oracles/node by scripts/install-test-tools).
//
// Usage: node tools/kql/check.js [--tables T1,T2,...] [query-file]   (reads the query from stdin without a file)
// Env:   KUSTO_LANGUAGE_DIR  overrides the package directory (default: <repo>/.oracles/node/node_modules/@kusto/language-service-next)
//
// Declares one database holding the tables of tools/kql/tables.json (all of them, or only those
// named by --tables: a query of the workbook that runs against Application Insights sees only
// traces and requests, one that runs against the Sentinel workspace only SecurityIncident and
// SecurityAlert), parses and semantically analyses the query against it, and
// prints one JSON object on stdout:
//   {"diagnostics":[{"code","message","severity","start","length"}], "resultColumns":[{"name","type"}]}
// `resultColumns` is empty when the query's result is not a table. Exit status 0 whenever the
// analysis ran (the caller judges the diagnostics); 2 when the tool itself could not run.
"use strict";

const fs = require("fs");
const path = require("path");

// Column lists of the SecurityIncident and SecurityAlert table reference (MicrosoftDocs
// azure-reference-other, azure-monitor-ref/tables/includes/securityincident-include.md and
// securityalert-include.md, plus the TenantId / SourceSystem columns), kept in tables.json next to
// this script, which oracle.py reads too, so both engines see the same schema.
// `traces` and `requests` are Application Insights' own tables as a query against the Application
// Insights resource sees them (the workbook's failed-runs part; the alert rules): the "legacy"
// column lists of MicrosoftDocs azure-docs articles/azure-monitor/app/apm-tables.md (AppTraces,
// AppRequests sections). `requests.success` is bool as in azure-reference-other
// azure-monitor-ref/tables/requests.md (apm-tables.md lists the legacy column as string, its
// workspace column as bool; the alert rules' `success == false` needs bool).
const TABLES = JSON.parse(fs.readFileSync(path.join(__dirname, "tables.json"), "utf8"));

function fail(message) {
  process.stderr.write(`check.js: ${message}\n`);
  process.exit(2);
}

function loadKusto() {
  const dir =
    process.env.KUSTO_LANGUAGE_DIR ||
    path.join(__dirname, "..", "..", ".oracles", "node", "node_modules", "@kusto", "language-service-next");
  if (!fs.existsSync(path.join(dir, "Kusto.Language.Bridge.js"))) {
    fail(`Kusto.Language not found in ${dir}: run ./scripts/install-test-tools`);
  }
  require(path.join(dir, "bridge.js"));
  require(path.join(dir, "Kusto.Language.Bridge.js"));
  if (!globalThis.Kusto || !globalThis.Kusto.Language) fail("Kusto.Language did not load");
  return globalThis.Kusto.Language;
}

function schema(columns) {
  return "(" + columns.map(([n, t]) => `${n}:${t}`).join(", ") + ")";
}

function list(items) {
  const out = [];
  if (!items) return out;
  for (let i = 0; i < items.Count; i++) out.push(items.getItem(i));
  return out;
}

function main() {
  const args = process.argv.slice(2);
  let only = null;
  const t = args.indexOf("--tables");
  if (t >= 0) {
    if (!args[t + 1]) fail("--tables needs a comma-separated list of table names");
    only = args[t + 1].split(",").filter((n) => n);
    const unknown = only.filter((n) => !(n in TABLES));
    if (unknown.length) fail(`--tables: not in tables.json: ${unknown.join(", ")}`);
    args.splice(t, 2);
  }
  const file = args[0];
  let text;
  try {
    text = file && file !== "-" ? fs.readFileSync(file, "utf8") : fs.readFileSync(0, "utf8");
  } catch (e) {
    fail(`cannot read the query: ${e.message}`);
  }
  const K = loadKusto();
  const S = K.Symbols;
  const tables = Object.entries(TABLES)
    .filter(([name]) => only === null || only.includes(name))
    .map(([name, columns]) => new S.TableSymbol.$ctor7(name, schema(columns), null));
  const db = new S.DatabaseSymbol.ctor("SentinelWorkspace", tables);
  const globals = K.GlobalState.Default.WithDatabase(db);
  const code = K.KustoCode.ParseAndAnalyze(text, globals);
  const diagnostics = list(code.GetDiagnostics()).map((d) => ({
    code: d.Code,
    message: d.Message,
    severity: d.Severity,
    start: d.Start,
    length: d.Length,
  }));
  const rt = code.ResultType;
  const resultColumns =
    rt && rt.Columns ? list(rt.Columns).map((c) => ({ name: c.Name, type: c.Type ? c.Type.Name : null })) : [];
  process.stdout.write(JSON.stringify({ diagnostics, resultColumns }) + "\n");
}

main();

#!/usr/bin/env python3
"""Writes the embedded copies of infra/'s single-source files, so that only the sources are edited:

  - every query of infra/workbook/dfc-sync.workbook.json from infra/workbook/queries/<stem>.kql
    (the item named "query - <stem>");
  - in infra/azuredeploy.json, the workbook deployment's `workbookContent` variable from the
    workbook file, and the playbook deployment's workflow `definition` from
    infra/playbook/webhook-playbook.definition.json.

tools/infra/check.py fails when a copy
differs; run this, then the checks. Usage: embed.py [--infra DIR] [--check] (--check: only say
whether anything would change; exit 1 if so).
"""

import argparse
import json
import re
import sys
from pathlib import Path

sys.dont_write_bytecode = True
import workbook  # noqa: E402

DEFINITION = "playbook/webhook-playbook.definition.json"


def replace_block(text, key, value):
    """Replaces the JSON object that follows the one line `<indent>"key": {` in text, up to the
    line `<indent>}` (with or without a comma), by value, indented the same way."""
    lines = text.split("\n")
    starts = [i for i, line in enumerate(lines) if re.fullmatch(rf'\s*"{re.escape(key)}": \{{', line)]
    if len(starts) != 1:
        raise SystemExit(f"embed.py: expected one line '\"{key}\": {{' in azuredeploy.json, found {len(starts)}")
    start = starts[0]
    indent = lines[start][: len(lines[start]) - len(lines[start].lstrip())]
    end = next(i for i in range(start + 1, len(lines)) if lines[i] in (indent + "}", indent + "},"))
    comma = "," if lines[end].endswith(",") else ""
    block = json.dumps(value, indent=2, ensure_ascii=False).replace("\n", "\n" + indent)
    return "\n".join(lines[:start] + [f'{indent}"{key}": {block}{comma}'] + lines[end + 1:])


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--infra", type=Path, default=Path(__file__).resolve().parents[2] / "infra")
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args(argv)
    infra = args.infra
    changed = []

    wb_path = infra / workbook.WORKBOOK
    wb = json.loads(wb_path.read_text())
    files = workbook.kql_files(infra)
    for item in workbook.query_items(wb):
        stem = item.get("name", "")[len("query - "):]
        if stem in files:
            item["content"]["query"] = workbook.embedded_text(files[stem])
    wb_text = json.dumps(wb, indent=2, ensure_ascii=False) + "\n"
    if wb_text != wb_path.read_text():
        changed.append(wb_path)

    arm_path = infra / "azuredeploy.json"
    arm_text = arm_path.read_text()
    new = replace_block(arm_text, "workbookContent", wb)
    new = replace_block(new, "definition", json.loads((infra / DEFINITION).read_text()))
    if new != arm_text:
        changed.append(arm_path)

    if args.check:
        print("would change: " + ", ".join(map(str, changed)) if changed else "up to date")
        return 1 if changed else 0
    if wb_path in changed:
        wb_path.write_text(wb_text)
    if arm_path in changed:
        arm_path.write_text(new)
    print("wrote: " + ", ".join(map(str, changed)) if changed else "up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

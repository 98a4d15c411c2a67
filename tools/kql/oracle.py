#!/usr/bin/env python3
"""Executes KQL with duckdb-kql (PyPI duckdb-kql, pinned in tools/requirements.txt and installed
into .oracles/venv by scripts/install-test-tools): an engine independent of the Azure simulator.

Run with .oracles/venv/bin/python. One long-running process answers many requests:

  stdin : one JSON object per line
          {"incidents": [row, ...], "alerts": [row, ...], "query": "<KQL>", "now": "<ISO-8601>"}
          rows are objects keyed by column name (AzureSim::table_rows): datetimes as ISO-8601
          strings, dynamic columns as JSON values; missing columns are null.
  stdout: one JSON object per line, in request order
          {"ok": true,  "columns": [{"name", "type"}], "rows": [[value, ...], ...]}
          {"ok": false, "error": "<kind>: <message>"}
          datetimes come back as "YYYY-MM-DD HH:MM:SS[.fffffffff]" (UTC, DuckDB's text form),
          dynamic values (JSON, and lists such as make_list's JSON[]) as JSON text, other values
          as JSON scalars.

The tables are created once, and their rows replaced for every request, with every column and type of tools/kql/tables.json
(the same schema check.js declares): string -> VARCHAR, int -> INTEGER, long -> BIGINT,
real -> DOUBLE, bool -> BOOLEAN, datetime -> TIMESTAMP_NS (Kusto keeps 100 ns ticks; TIMESTAMP
would cut to microseconds and could tie rows arg_max must tell apart), dynamic -> JSON.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))

DUCK_TYPES = {
    "string": "VARCHAR",
    "int": "INTEGER",
    "long": "BIGINT",
    "real": "DOUBLE",
    "bool": "BOOLEAN",
    "datetime": "TIMESTAMP_NS",
    "dynamic": "JSON",
    "guid": "UUID",
    "timespan": "INTERVAL",
}


def parse_instant(text: str) -> dt.datetime:
    """ISO-8601 (with Z or an offset, up to 9 fractional digits) -> aware UTC datetime (µs)."""
    s = text.strip().replace("Z", "+00:00")
    if "." in s:
        head, rest = s.split(".", 1)
        digits = ""
        while rest and rest[0].isdigit():
            digits, rest = digits + rest[0], rest[1:]
        s = f"{head}.{(digits + '000000')[:6]}{rest}"
    t = dt.datetime.fromisoformat(s)
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.timezone.utc)
    return t.astimezone(dt.timezone.utc)


def to_naive_text(text: str) -> str:
    """ISO-8601 UTC text -> the naive text DuckDB casts to TIMESTAMP_NS, keeping every digit."""
    s = text.strip()
    if s.endswith("Z") or s.endswith("z"):
        return s[:-1]
    if s.endswith("+00:00"):
        return s[:-6]
    # Other offsets: convert (microsecond precision is enough for them; the simulator never
    # produces them).
    return parse_instant(s).replace(tzinfo=None).isoformat()


def create_tables(con, tables: dict) -> None:
    for name, columns in tables.items():
        decl = ", ".join(f'"{c}" {DUCK_TYPES[t]}' for c, t in columns)
        con.execute(f'CREATE TABLE "{name}" ({decl})')


def load_table(con, name: str, columns: list[list[str]], rows: list[dict]) -> None:
    con.execute(f'DELETE FROM "{name}"')
    if not rows:
        return
    known = {c for c, _ in columns}
    for row in rows:
        extra = set(row) - known
        if extra:
            raise ValueError(f"{name}: row has columns the schema does not declare: {sorted(extra)}")
    placeholders = ", ".join(f"CAST(? AS {DUCK_TYPES[t]})" for _, t in columns)
    values = []
    for row in rows:
        out = []
        for c, t in columns:
            v = row.get(c)
            if v is None:
                out.append(None)
            elif t == "dynamic":
                out.append(json.dumps(v))
            elif t == "datetime":
                out.append(to_naive_text(v))
            else:
                out.append(v)
        values.append(out)
    con.executemany(f'INSERT INTO "{name}" VALUES ({placeholders})', values)


class Translations:
    """Each distinct query text translated to SQL once (parsing and lowering are most of a
    request's time, and a test run sends a few dozen distinct texts hundreds of times).

    The translation depends on the text and the schema only: duckdb-kql binds `now()` as the
    parameter `CLOCK_SLOT`, so each request rebinds it to its own `now`, as `duckdb_kql.kql`
    does (duckdb_kql/__init__.py, `to_sql`)."""

    def __init__(self, duckdb_kql, con):
        from duckdb_kql.engine import schema
        from duckdb_kql.translate import CLOCK_SLOT

        self._to_sql = duckdb_kql.to_sql
        self._schema = schema(con)
        self._clock = CLOCK_SLOT
        self._cache: dict[str, object] = {}

    def sql(self, query: str, now) -> tuple[str, dict]:
        translated = self._cache.get(query)
        if translated is None:
            # allow_write=False: a request can only read the tables it brought. The clock is
            # pinned so that a query calling now() gets its slot.
            translated = self._to_sql(query, schema=self._schema, allow_write=False, query_now=now or FIXED_NOW)
            if translated.unbound:
                raise ValueError(f"unbound query parameters: {', '.join(translated.unbound)}")
            self._cache[query] = translated
        params = dict(translated.parameters)
        if self._clock in params:
            if now is None:
                raise ValueError("the query calls now(): the request needs a `now`")
            params[self._clock] = now
        return str(translated), params


# Only pins the clock while translating; every execution binds the request's own `now`.
FIXED_NOW = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)


def answer(con, translations: Translations, kusto_type, tables: dict, request: dict) -> dict:
    load_table(con, "SecurityIncident", tables["SecurityIncident"], request.get("incidents") or [])
    load_table(con, "SecurityAlert", tables["SecurityAlert"], request.get("alerts") or [])
    now = parse_instant(request["now"]) if request.get("now") else None
    sql, params = translations.sql(request["query"], now)
    rel = con.sql(sql, params=params) if params else con.sql(sql)
    names = list(rel.columns)
    types = [str(t) for t in rel.types]
    # Datetimes and JSON as text in SQL, so no precision is lost on the way to Python.
    select = ", ".join(
        f'CAST("{n}" AS VARCHAR) AS "{n}"' if (t.startswith("TIMESTAMP") or t.startswith("JSON")) else f'"{n}"'
        for n, t in zip(names, types)
    )
    rows = [list(r) for r in rel.query("oracle_result", f"SELECT {select} FROM oracle_result").fetchall()]
    columns = [{"name": n, "type": kusto_type(t), "duckdb_type": t} for n, t in zip(names, types)]
    return {"ok": True, "columns": columns, "rows": rows}


def main() -> int:
    try:
        import duckdb_kql
        from duckdb_kql.types import kusto_type
    except ImportError as e:
        sys.stderr.write(f"oracle.py: duckdb-kql is not importable ({e}): run ./scripts/install-test-tools\n")
        return 2
    with open(os.path.join(HERE, "tables.json"), encoding="utf-8") as f:
        tables = json.load(f)
    # One connection for the whole run; every request replaces the rows of both tables.
    con = duckdb_kql.connect()
    create_tables(con, tables)
    # The translated SQL assumes UTC (duckdb_kql.kql sets it before every query).
    con.execute("SET TimeZone='UTC'")
    translations = Translations(duckdb_kql, con)
    # Ready line: the caller waits for it so start-up time (about 1.5 s) is not charged to a query.
    sys.stdout.write(json.dumps({"ready": True, "duckdb_kql": duckdb_kql.__version__}) + "\n")
    sys.stdout.flush()
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            reply = answer(con, translations, kusto_type, tables, json.loads(line))
        except Exception as e:  # every failure is an answer, never a dead process
            reply = {
                "ok": False,
                "error": f"{type(e).__name__}: {e}",
                "trace": traceback.format_exc(limit=3),
            }
        sys.stdout.write(json.dumps(reply, default=str) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Workload queries (checks/queries/*.sql): what they read, and what each migration does to their plans.

sqlglot says which tables and columns each query reads, with the target's real columns to resolve
unqualified names and ``*``.  That is how a migration that drops or renames a column the running
(blue) version still reads is refused before it runs, and how a slower plan is linked to the migration
that touched its tables.  Costs come from ``EXPLAIN (FORMAT JSON)`` inside the migration's transaction,
before COMMIT: the planner already sees the new indexes, columns and constraints, nobody else does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg
from pglast import ast

from dbtool.catalog import Snapshot, guarded
from dbtool.invariants import Query
from dbtool.touches import Name, Touches, walk


@dataclass
class Reads:
    tables: set[Name] = field(default_factory=set)
    columns: set[tuple[Name, str]] = field(default_factory=set)
    note: str | None = None  # why the column list may be incomplete


def columns_of(conn: psycopg.Connection, snap: Snapshot, names: set[Name]) -> dict:
    """sqlglot's schema mapping for the named tables that exist: {schema: {table: {column: type}}}."""
    oids = {r.oid: r for n in names if (r := snap.resolve(n)) is not None}
    if not oids:
        return {}
    out: dict = {}
    for oid, col, typ in conn.execute(
            "SELECT attrelid::int8, attname, format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = ANY(%s) AND attnum > 0 AND NOT attisdropped", [list(oids)]):
        r = oids[oid]
        out.setdefault(r.schema, {}).setdefault(r.name, {})[col] = typ
    return out


def reads(sql_text: str, schema: dict) -> Reads:
    """Tables and columns a query reads (sqlglot, postgres dialect)."""
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import SqlglotError
    from sqlglot.optimizer.qualify import qualify
    from sqlglot.optimizer.scope import traverse_scope

    out = Reads()
    try:
        tree = sqlglot.parse_one(sql_text, read="postgres")
    except SqlglotError as exc:
        out.note = f"sqlglot could not parse it ({str(exc).splitlines()[0]}); columns not known"
        return out
    try:
        tree = qualify(tree, schema=schema, dialect="postgres", validate_qualify_columns=False, identify=False)
    except SqlglotError as exc:
        out.note = f"columns resolved without the schema ({str(exc).splitlines()[0]})"
    for scope in traverse_scope(tree):
        for src in scope.sources.values():
            if isinstance(src, exp.Table):
                out.tables.add(Name(src.db or None, src.name))
        for col in scope.columns:
            s = scope
            while s is not None and col.table not in s.sources:
                s = s.parent
            src = s.sources.get(col.table) if s is not None else None
            if isinstance(src, exp.Table):
                out.columns.add((Name(src.db or None, src.name), col.name))
    return out


def breaking_changes(step_touches: Touches, queries: dict[str, Reads], snap: Snapshot) -> list[str]:
    """Sentences naming each column or table a workload query reads and the step drops or renames."""
    def same(a: Name, b: Name) -> bool:
        ra, rb = snap.resolve(a), snap.resolve(b)
        return ra is not None and ra is rb

    out = []
    for rel, r in queries.items():
        for table, col in sorted(step_touches.dropped_columns):
            if any(c == col and same(t, table) for t, c in r.columns):
                out.append(f"drops column {table}.{col}, which {rel} reads")
        for (table, col), new in sorted(step_touches.renamed_columns.items()):
            if any(c == col and same(t, table) for t, c in r.columns):
                out.append(f"renames column {table}.{col} to {new}, which {rel} reads")
        for table in sorted(step_touches.dropped):
            if any(same(t, table) for t in r.tables):
                out.append(f"drops {table}, which {rel} reads")
        for table, new in sorted(step_touches.renamed.items()):
            if any(same(t, table) for t in r.tables):
                out.append(f"renames {table} to {new}, which {rel} reads")
    return out


@dataclass
class Plan:
    cost: float
    scans: list[str]
    relations: set[str]

    def as_json(self) -> dict:
        return {"cost": round(self.cost, 2), "scans": self.scans}


def _walk_plan(node: dict, scans: list[str], rels: set[str]) -> None:
    kind = node.get("Node Type", "?")
    rel, idx = node.get("Relation Name"), node.get("Index Name")
    if rel:
        rels.add(rel)
    if rel or idx:
        scans.append(f"{kind}{' using ' + idx if idx else ''}{' on ' + rel if rel else ''}")
    for child in node.get("Plans", ()):
        _walk_plan(child, scans, rels)


def parse_plan(doc) -> Plan:
    root = doc[0]["Plan"] if isinstance(doc, list) else doc["Plan"]
    scans: list[str] = []
    rels: set[str] = set()
    _walk_plan(root, scans, rels)
    return Plan(float(root.get("Total Cost", 0.0)), scans, rels)


def has_params(query: Query) -> bool:
    return any(isinstance(n, ast.ParamRef) for n in walk(query.file.script.statements[0].node))


def explain(conn: psycopg.Connection, queries: list[Query], server_version: int, *,
            savepoint: bool) -> dict[str, Plan | str]:
    """EXPLAIN (FORMAT JSON) each query, all in one round trip; a query that fails gets its error text."""
    if not queries:
        return {}

    def stmt(q: Query) -> str:
        opts = "FORMAT JSON, GENERIC_PLAN" if server_version >= 160000 and has_params(q) else "FORMAT JSON"
        return f"EXPLAIN ({opts})\n{q.sql}\n"

    try:
        sets = guarded(conn, ";\n".join(stmt(q) for q in queries), savepoint)
        return {q.rel: parse_plan(rows[0][0]) for q, rows in zip(queries, sets)}
    except psycopg.Error:
        if conn.closed or conn.broken:
            raise
    out: dict[str, Plan | str] = {}
    for q in queries:
        try:
            out[q.rel] = parse_plan(guarded(conn, stmt(q), True)[0][0][0])
        except psycopg.Error as exc:
            if conn.closed or conn.broken:
                raise
            diag = getattr(exc, "diag", None)
            text = diag.message_primary if diag is not None and diag.message_primary else str(exc).splitlines()[0]
            if getattr(diag, "sqlstate", None) in WAITED:
                text = WAITED_PREFIX + text  # another session's lock, not the migration's doing
            out[q.rel] = text
    return out


WAITED = {"55P03", "57014"}  # lock_not_available (lock_timeout), query_canceled (statement_timeout)
WAITED_PREFIX = "not planned (waited too long for a lock): "


def plan_change(before: Plan, after: Plan) -> str:
    """The scans that changed, briefly: ``Index Scan using i on t → Seq Scan on t``."""
    gone = [s for s in before.scans if s not in after.scans]
    new = [s for s in after.scans if s not in before.scans]
    if not gone and not new:
        return "same plan shape, estimates changed"
    return f"{', '.join(gone) or '(nothing)'} → {', '.join(new) or '(nothing)'}"


def compare(rel: str, before: Plan | str | None, after: Plan | str, threshold: float) -> dict:
    """A workload entry for the report: ok, slower, faster, new, broken."""
    if isinstance(after, str):
        if after.startswith(WAITED_PREFIX):
            return {"query": rel, "status": "skipped", "message": after}
        if isinstance(before, Plan):
            return {"query": rel, "status": "broken", "message": f"no longer plans: {after}", "before": before.as_json()}
        return {"query": rel, "status": "skipped", "message": f"does not plan: {after}"}
    entry = {"query": rel, "after": after.as_json()}
    if not isinstance(before, Plan):
        entry.update(status="new", message="first plan (it could not be planned before)")
        return entry
    entry["before"] = before.as_json()
    change = (after.cost - before.cost) / before.cost if before.cost > 0 else (0.0 if after.cost == 0 else float("inf"))
    entry["change"] = round(change, 4) if change != float("inf") else None
    if change > threshold:
        entry["status"] = "slower"
        entry["message"] = (f"cost {before.cost:,.0f} → {after.cost:,.0f} "
                            f"({'+%.0f%%' % (change * 100) if change != float('inf') else 'from zero'}): {plan_change(before, after)}")
    elif change < -threshold:
        entry["status"] = "faster"
        entry["message"] = f"cost {before.cost:,.0f} → {after.cost:,.0f} ({change * 100:.0f}%): {plan_change(before, after)}"
    else:
        entry["status"] = "ok"
    return entry

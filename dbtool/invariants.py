"""The project's own integrity checks: checks/integrity/*.sql, each a SELECT whose rows are violations.

All checks that need to run go to the server as one statement (one round trip): each check becomes a
subquery that returns its number of violating rows and the first few of them as JSON.  Only when that
statement fails are the checks run one by one, each under a savepoint, to name the one that broke.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import psycopg
from pglast import ast

from dbtool.catalog import Snapshot, batch
from dbtool.errors import ProjectError
from dbtool.files import SqlFile
from dbtool.touches import Name, functions_called, relations_read

SAMPLE = 5  # violating rows kept per check (the log row must stay small)
SPLIT_RE = re.compile(r"[\s,]+")


def requires(script) -> list[Name]:
    """Tables named by ``-- dbtool: requires a, b`` (commas or spaces)."""
    out = []
    for value in script.directive_values("requires"):
        out += [Name.parse(p) for p in SPLIT_RE.split(value) if p]
    return out


@dataclass
class Query:
    """One SELECT of checks/integrity or checks/queries, with what it reads."""

    file: SqlFile
    sql: str
    requires: list[Name]
    reads: set[Name]
    functions: set[str]

    @property
    def rel(self) -> str:
        return self.file.rel

    def missing(self, snap: Snapshot) -> list[str]:
        """Required tables that do not exist (yet): such a check is skipped, not failed."""
        return sorted({str(n) for n in [*self.requires, *self.reads] if snap.resolve(n) is None})

    def oids(self, snap: Snapshot) -> set[int] | None:
        """The relations it reads, or None when that cannot be known (a view, a user function)."""
        if self.functions & snap.user_functions:
            return None
        out = set()
        for n in {*self.requires, *self.reads}:
            rel = snap.resolve(n)
            if rel is None or rel.kind == "v":
                return None
            out.add(rel.oid)
        return out


def load(files: list[SqlFile], what: str) -> list[Query]:
    """Parse each file: exactly one SELECT, or a ProjectError naming the file."""
    out = []
    for f in files:
        script = f.script
        stmts = script.statements
        if len(stmts) != 1 or not isinstance(stmts[0].node, ast.SelectStmt) or stmts[0].node.intoClause is not None:
            line = stmts[1].line if len(stmts) > 1 else (stmts[0].line if stmts else 1)
            raise ProjectError(f"{f.rel}:{line}: a {what} must be exactly one SELECT (found "
                               f"{len(stmts)} statement(s){'' if not stmts else ', first ' + stmts[0].kind})", path=f.rel)
        node = stmts[0].node
        out.append(Query(f, stmts[0].text.rstrip().rstrip(";"), requires(script), relations_read(node),
                         functions_called(node)))
    return out


@dataclass
class Result:
    check: str
    status: str  # pass, fail, skipped, error
    violations: int = 0
    rows: list = field(default_factory=list)
    message: str = ""

    def as_json(self) -> dict:
        d = {"check": self.check, "status": self.status, "violations": self.violations}
        if self.rows:
            d["rows"] = self.rows
        if self.message:
            d["message"] = self.message
        return d


def probes(queries: list[Query], snap: Snapshot) -> tuple[dict[str, str], dict[str, Result]]:
    """SQL expressions for the checks that can run, and ``skipped`` results for those whose tables are missing."""
    exprs: dict[str, str] = {}
    skipped: dict[str, Result] = {}
    for q in queries:
        missing = q.missing(snap)
        if missing:
            skipped[q.rel] = Result(q.rel, "skipped", message=f"requires {', '.join(missing)}, which does not exist yet")
        else:
            exprs[q.rel] = (f"(SELECT json_build_array(max(n), json_agg(r)) FROM (SELECT to_json(q) AS r, "
                            f"count(*) OVER () AS n FROM (\n{q.sql}\n) AS q LIMIT {SAMPLE}) AS s)")
    return exprs, skipped


def result(check: str, value) -> Result:
    """A check's Result from its probe's value (or the error it raised)."""
    if isinstance(value, Exception):
        return Result(check, "error", message=_first_line(value))
    n, rows = (value or [None, None])
    n = int(n or 0)
    return Result(check, "fail" if n else "pass", n, rows or [])


def run(conn: psycopg.Connection, queries: list[Query], snap: Snapshot, *, savepoint: bool) -> dict[str, Result]:
    """Run ``queries`` in one round trip (skipping those whose tables are missing)."""
    exprs, out = probes(queries, snap)
    for key, value in batch(conn, exprs, savepoint).items():
        out[key] = result(key, value)
    return out


def _first_line(exc: Exception) -> str:
    diag = getattr(exc, "diag", None)
    if diag is not None and diag.message_primary:
        return diag.message_primary
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def compare(before: Result | None, after: Result) -> Result:
    """A check fails a migration only for violations the migration added.

    Violations that already existed before it are reported, not blamed on it: the count must not grow.
    """
    if after.status != "fail" or before is None or before.status != "fail":
        return after
    if after.violations <= before.violations:
        return Result(after.check, "pass", after.violations, after.rows,
                      f"{after.violations} violating row(s), as before the migration ({before.violations}): not caused by it")
    return after


def describe_rows(rows: list, limit: int = 3, width: int = 300) -> str:
    """The first violating rows, as compact text for an error message."""
    parts = []
    for r in rows[:limit]:
        if isinstance(r, dict):
            parts.append("(" + ", ".join(f"{k}={v}" for k, v in r.items()) + ")")
        else:
            parts.append(str(r))
    text = ", ".join(parts)
    return text if len(text) <= width else text[: width - 1] + "…"

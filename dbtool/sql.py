"""The pglast adapter: split a script into statements with exact positions.

pglast wraps libpg_query, PostgreSQL's own parser, so a script that parses here
parses on the server (design.md, "Parsing").  Every statement keeps the author's
original text: dbtool executes that text, never SQL regenerated from the tree.
Offsets reported by pglast are character offsets into the Python string.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from pglast import parser as _pg
from pglast import ast as _ast

from dbtool.errors import SqlSyntaxError

DIRECTIVE_RE = re.compile(r"--\s*dbtool:\s*(?P<body>.*?)\s*$")


@dataclass(frozen=True)
class Directive:
    """A ``-- dbtool: ...`` comment: its body and where it stands."""

    body: str
    offset: int
    line: int
    column: int


@dataclass
class Statement:
    """One statement of a script, as written, with its parse tree."""

    text: str
    node: object
    start: int
    end: int
    line: int
    column: int
    end_line: int
    index: int = 0
    directives: list[Directive] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return type(self.node).__name__

    @property
    def transactional(self) -> bool:
        return not requires_autocommit(self.node)


class LineIndex:
    """Maps character offsets of a text to 1-based (line, column)."""

    def __init__(self, text: str):
        self._starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def position(self, offset: int) -> tuple[int, int]:
        i = bisect_right(self._starts, offset) - 1
        return i + 1, offset - self._starts[i] + 1


@dataclass
class Script:
    """A parsed SQL file: its statements and its ``-- dbtool:`` directives."""

    path: Path | None
    text: str
    statements: list[Statement]
    directives: list[Directive]

    @cached_property
    def transactional(self) -> bool:
        """True unless a statement must run outside a transaction block."""
        return all(s.transactional for s in self.statements)

    def directive_values(self, keyword: str) -> list[str]:
        """Arguments of every directive starting with ``keyword`` (e.g. ``deletes``)."""
        out = []
        for d in self.directives:
            head, _, rest = d.body.partition(" ")
            if head.lower() == keyword:
                out.append(rest.strip())
        return out


def parse(text: str, path: Path | str | None = None) -> Script:
    """Parse ``text`` into a Script; a syntax error raises SqlSyntaxError with file:line:col."""
    lines = LineIndex(text)
    try:
        raw = _pg.parse_sql(text)
    except _pg.ParseError as exc:
        message = exc.args[0]
        # At end of input libpg_query may give no location at all.
        offset = exc.args[1] if len(exc.args) > 1 and exc.args[1] is not None else len(text)
        # libpg_query reports the offset of the offending token; at end of input it
        # points one past the text.
        offset = min(max(offset, 0), max(len(text) - 1, 0))
        line, col = lines.position(offset)
        where = f"{path}:{line}:{col}" if path else f"line {line}, column {col}"
        raise SqlSyntaxError(
            f"{where}: {message}", path=str(path) if path else None, line=line, column=col,
            detail=message,
        ) from None
    directives = _directives(text, lines)
    statements: list[Statement] = []
    for i, rs in enumerate(raw or ()):
        start = rs.stmt_location or 0
        length = rs.stmt_len or (len(text) - start)
        stmt_text = text[start:start + length].strip()
        line, col = lines.position(start)
        end_line, _ = lines.position(start + max(length - 1, 0))
        statements.append(Statement(stmt_text, rs.stmt, start, start + length, line, col, end_line, i))
    _attach(statements, directives)
    return Script(Path(path) if path else None, text, statements, directives)


def _directives(text: str, lines: LineIndex) -> list[Directive]:
    if "dbtool:" not in text:
        return []
    out = []
    for tok in _pg.scan(text):
        if tok.name != "SQL_COMMENT":
            continue
        m = DIRECTIVE_RE.match(text[tok.start:tok.end + 1])
        if m:
            line, col = lines.position(tok.start)
            out.append(Directive(m.group("body"), tok.start, line, col))
    return out


def _attach(statements: list[Statement], directives: list[Directive]) -> None:
    """A directive belongs to the statement it precedes, the one it stands inside, or the one it trails on the
    same line."""
    for d in directives:
        target = None
        for s in statements:
            if s.start <= d.offset and (d.offset < s.end or s.end_line == d.line):
                target = s
                break
            if s.start > d.offset:
                target = s
                break
        if target is not None:
            target.directives.append(d)


def requires_autocommit(node) -> bool:
    """True for statements PostgreSQL refuses inside a transaction block."""
    if isinstance(node, _ast.IndexStmt):
        return bool(node.concurrent)
    if isinstance(node, _ast.DropStmt):
        return bool(node.concurrent)
    if isinstance(node, _ast.ReindexStmt):
        return any(getattr(p, "defname", None) == "concurrently" for p in (node.params or ()))
    if isinstance(node, _ast.VacuumStmt):
        return bool(node.is_vacuumcmd)
    if isinstance(node, (_ast.CreatedbStmt, _ast.DropdbStmt, _ast.AlterSystemStmt,
                         _ast.CreateTableSpaceStmt, _ast.DropTableSpaceStmt)):
        return True
    if isinstance(node, _ast.AlterTableStmt):
        for cmd in node.cmds or ():
            d = getattr(cmd, "def_", None)
            if isinstance(d, _ast.PartitionCmd) and d.concurrent:
                return True
    if isinstance(node, _ast.ClusterStmt):
        return node.relation is None
    return False


def line_of(text: str, offset: int) -> tuple[int, int]:
    """1-based (line, column) of a character offset in ``text``."""
    return LineIndex(text).position(offset)

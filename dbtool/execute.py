"""Running a script's statements on a connection, mapping errors back to file:line.

The author's original statement text is what runs, one statement at a time, so
that each statement can be timed and measured and a server error points at the
line in the file, not at an offset in a blob.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Callable, Protocol

import psycopg
from psycopg import sql

from dbtool.errors import ConnectError
from dbtool.sql import LineIndex, Script, Statement

LOCK_NOT_AVAILABLE = "55P03"
_PLPGSQL_LINE = re.compile(r"inline_code_block line (\d+)")
_DOLLAR_QUOTE = re.compile(r"\$[A-Za-z_0-9]*\$")


class StatementObserver(Protocol):
    def before_statement(self, conn: psycopg.Connection, stmt: Statement) -> None: ...

    def after_statement(self, conn: psycopg.Connection, stmt: Statement, duration_ms: float) -> None: ...


@dataclass
class StatementFailure(Exception):
    """A statement failed; carries where and why (converted to MigrationError by the runner)."""

    path: str
    line: int
    column: int
    sqlstate: str | None
    message: str
    statement: Statement

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"

    @property
    def lock_timeout(self) -> bool:
        return self.sqlstate == LOCK_NOT_AVAILABLE


def guards_sql(lock_timeout: str, statement_timeout: str, local: bool = True) -> sql.Composed:
    """``SET [LOCAL] lock_timeout = …; SET [LOCAL] statement_timeout = …`` from the configuration, one message."""
    scope = sql.SQL("SET LOCAL" if local else "SET")
    return sql.SQL("{} lock_timeout = {}; {} statement_timeout = {}").format(
        scope, sql.Literal(str(lock_timeout)), scope, sql.Literal(str(statement_timeout)))


def run_statements(conn: psycopg.Connection, script: Script, *, path: str,
                   observer: StatementObserver | None = None,
                   on_statement: Callable[[Statement, float], None] | None = None) -> list[tuple[Statement, float]]:
    """Execute every statement of ``script`` in order; return (statement, ms) pairs.

    Raises StatementFailure for an SQL error (the caller owns the transaction)
    and ConnectError when the connection is lost.
    """
    timings = []
    for stmt in script.statements:
        if observer:
            observer.before_statement(conn, stmt)
        t0 = time.perf_counter()
        try:
            conn.execute(stmt.text, prepare=False)
        except psycopg.OperationalError as exc:
            if conn.closed or conn.broken:
                raise ConnectError(f"{path}:{stmt.line}: the connection to the database was lost while this statement ran ({_message(exc)})") from None
            raise _failure(exc, script, stmt, path) from None
        except psycopg.Error as exc:
            raise _failure(exc, script, stmt, path) from None
        ms = (time.perf_counter() - t0) * 1000.0
        timings.append((stmt, ms))
        if observer:
            observer.after_statement(conn, stmt, ms)
        if on_statement:
            on_statement(stmt, ms)
    return timings


def _message(exc: psycopg.Error) -> str:
    diag = getattr(exc, "diag", None)
    primary = diag.message_primary if diag and diag.message_primary else str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return primary


def _failure(exc: psycopg.Error, script: Script, stmt: Statement, path: str) -> StatementFailure:
    diag = exc.diag
    message = _message(exc)
    if diag.message_detail:
        message += f" ({diag.message_detail})"
    line, column = stmt.line, stmt.column
    pos = diag.statement_position
    if pos:
        # statement_position is 1-based, in characters of the statement text we sent.
        offset = script.text.find(stmt.text, stmt.start)
        offset = (offset if offset >= 0 else stmt.start) + int(pos) - 1
        line, column = LineIndex(script.text).position(offset)
    elif diag.context and stmt.kind == "DoStmt":
        # PL/pgSQL counts lines from the start of the DO body: "... inline_code_block line 4 at RAISE".
        m = _PLPGSQL_LINE.search(diag.context)
        body = _DOLLAR_QUOTE.search(stmt.text)
        if m and body:
            start = script.text.find(stmt.text, stmt.start)
            body_line, _ = LineIndex(script.text).position((start if start >= 0 else stmt.start) + body.end())
            line, column = body_line + int(m.group(1)) - 1, 1
    return StatementFailure(path, line, column, diag.sqlstate, message, stmt)

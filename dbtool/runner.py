"""Plans and runs migrations: one transaction per migration, its log row inside it.

The plan is pure data (what would run, in which order), so a dry run prints the
same plan the real run executes.  Execution owns the transactions, the
lock_timeout retries and the log rows; checks plug in through an observer.
"""

from __future__ import annotations

import contextlib
import time
from datetime import datetime, timezone
from dataclasses import dataclass, field
from typing import Callable

import psycopg
from psycopg import sql
from psycopg.pq import TransactionStatus

from dbtool.db import applied_by
from dbtool.errors import ConnectError, LockError, MigrationError, StateError
from dbtool.execute import StatementFailure, guards_sql, run_statements
from dbtool.files import Migration, Project, SqlFile, version_key
from dbtool.history import History, VersionState
from dbtool.sql import Statement

Progress = Callable[..., None]
LOCK_CLASS = 0x64627400  # "dbt\0": advisory-lock namespace of dbtool


def _noop(*_a, **_k) -> None:
    return None


def _utcnow():
    return datetime.now(timezone.utc)


@dataclass
class Step:
    migration: Migration
    direction: str  # "up" or "down"

    @property
    def file(self) -> SqlFile:
        f = self.migration.up if self.direction == "up" else self.migration.down
        if f is None:
            raise StateError(f"rollback of {self.migration.version} is impossible: rollbacks/{self.migration.label}.sql does not exist",
                             version=self.migration.version)
        return f

    @property
    def transactional(self) -> bool:
        return self.file.script.transactional

    @property
    def version(self) -> str:
        return self.migration.version

    def as_json(self) -> dict:
        return {"version": self.version, "name": self.migration.name, "direction": self.direction,
                "file": self.file.rel, "transactional": self.transactional}


@dataclass
class Plan:
    direction: str
    steps: list[Step]
    target: str | None = None

    def __bool__(self) -> bool:
        return bool(self.steps)


@dataclass
class StepResult:
    version: str
    name: str
    direction: str
    file: str
    status: str
    duration_ms: float
    attempts: int = 1
    statements: list[dict] = field(default_factory=list)
    details: dict = field(default_factory=dict)
    log_id: int | None = None

    def as_json(self) -> dict:
        return {"version": self.version, "name": self.name, "direction": self.direction, "file": self.file,
                "status": self.status, "duration_ms": round(self.duration_ms, 1), "attempts": self.attempts,
                "details": self.details}


class Observer:
    """Hooks for checks and measurements; the default does nothing."""

    def before_migration(self, conn: psycopg.Connection, step: Step) -> None: ...

    def before_statement(self, conn: psycopg.Connection, stmt: Statement) -> None: ...

    def after_statement(self, conn: psycopg.Connection, stmt: Statement, duration_ms: float) -> None: ...

    def before_commit(self, conn: psycopg.Connection, step: Step) -> dict:
        """Return details for the log row; raise MigrationError to roll the migration back."""
        return {}

    def after_failure(self, step: Step) -> dict:
        return {}


# ---------------------------------------------------------------- planning

def check_history(project: Project, states: dict[str, VersionState], *, allow_out_of_order: bool = False,
                  retry_interrupted: bool = False) -> None:
    """Refuse drift, applied-but-missing files, interrupted runs and out-of-order pending versions."""
    for v, st in sorted(states.items(), key=lambda kv: _safe_key(kv[0])):
        m = project.get(v)
        if st.applied and m is None:
            raise StateError(f"version {v} ({st.name}) is applied but migrations/{v}__{st.name}.sql is missing; "
                             "restore the file from version control", version=v)
        # A row without a checksum was adopted from a hand-made log: nothing to compare against.
        if st.applied and m is not None and st.applied_row.checksum and st.applied_row.checksum != m.checksum:
            raise StateError(f"{m.up.rel} changed since version {v} was applied (checksum {st.applied_row.checksum[:12]} → "
                             f"{m.checksum[:12]}); revert the edit and put the change in a new migration", version=v)
        if st.interrupted and not retry_interrupted:
            raise StateError(f"version {v} was interrupted (started {st.latest.started_at:%Y-%m-%d %H:%M:%S} by {st.latest.applied_by}, "
                             "never completed): inspect the database, then run again with --retry-interrupted", version=v)
    applied = [v for v, st in states.items() if st.applied]
    if applied and not allow_out_of_order:
        newest = max(applied, key=_safe_key)
        for m in project.migrations:
            st = states.get(m.version)
            if (st is None or not st.applied) and m.key < _safe_key(newest):
                raise StateError(f"{m.up.rel} is pending but older than the newest applied version {newest}; "
                                 "renumber it after the newest, or pass --allow-out-of-order", version=m.version)


def _safe_key(v: str):
    try:
        return version_key(v)
    except ValueError:
        return (0, 0, 0)


def plan_migrate(project: Project, states: dict[str, VersionState], to: str | None = None) -> Plan:
    if to is not None and project.get(to) is None:
        raise StateError(f"--to {to}: no migration has that version", version=to)
    steps = []
    for m in project.migrations:
        st = states.get(m.version)
        if st is not None and st.applied:
            continue
        if to is not None and m.key > version_key(to):
            break
        steps.append(Step(m, "up"))
    return Plan("up", steps, to)


def plan_rollback(project: Project, states: dict[str, VersionState], version: str) -> Plan:
    """``version`` and every applied version after it, newest first in applied order."""
    st = states.get(version)
    if st is None or not st.applied:
        raise StateError(f"version {version} is not applied, so there is nothing to roll back", version=version)
    key = version_key(version)
    targets = [s for s in states.values() if s.applied and _safe_key(s.version) >= key]
    targets.sort(key=lambda s: s.applied_row.id, reverse=True)
    steps = []
    for s in targets:
        m = project.get(s.version)
        if m is None:
            raise StateError(f"cannot roll back {s.version}: migrations/{s.version}__{s.name}.sql is missing", version=s.version)
        if m.down is None:
            raise StateError(f"cannot roll back {s.version}: rollbacks/{m.label}.sql does not exist", version=s.version)
        recorded = (s.applied_row.details or {}).get("down_checksum")
        if recorded and recorded != m.down.checksum:
            raise StateError(f"{m.down.rel} changed since {s.version} was applied; the down-script on disk is not the one "
                             "that was shipped with it. Restore it from version control", version=s.version)
        steps.append(Step(m, "down"))
    return Plan("down", steps, version)


# ---------------------------------------------------------------- locking

@contextlib.contextmanager
def migration_lock(conn: psycopg.Connection, name: str, wait_s: float, progress: Progress = _noop):
    """Session-level advisory lock: one runner per database and log table at a time."""
    objid = conn.execute("SELECT hashtext(%s)", [name]).fetchone()[0]
    deadline = time.monotonic() + wait_s
    told = False
    while True:
        if conn.execute("SELECT pg_try_advisory_lock(%s, %s)", [LOCK_CLASS, objid]).fetchone()[0]:
            break
        holder = conn.execute(
            "SELECT a.pid, a.usename, a.application_name, a.client_addr::text, a.backend_start"
            " FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE l.locktype = 'advisory' AND l.classid::bigint = (%s::bigint & 4294967295)"
            " AND l.objid::bigint = (%s::bigint & 4294967295) AND l.granted LIMIT 1",
            [LOCK_CLASS, objid]).fetchone()
        who = (f"pid {holder[0]} ({holder[2] or 'unknown application'}, user {holder[1]}"
               f"{', from ' + holder[3] if holder[3] else ''}, connected since {holder[4]:%H:%M:%S})") if holder else "another session"
        if time.monotonic() >= deadline:
            raise LockError(f"another migration runner holds the lock on {name}: {who}; waited {wait_s:.0f}s "
                            "(setting dbtool.advisory_lock_wait)")
        if not told:
            progress("lock_wait", holder=who, wait_s=wait_s)
            told = True
        time.sleep(0.2)
    try:
        yield
    finally:
        if not conn.closed:
            with contextlib.suppress(psycopg.Error):
                conn.execute("SELECT pg_advisory_unlock(%s, %s)", [LOCK_CLASS, objid])


# ---------------------------------------------------------------- execution

class Runner:
    def __init__(self, conn: psycopg.Connection, history: History, *, lock_timeout: str = "5s",
                 statement_timeout: str = "0", retries: int = 3, backoff_s: float = 2.0,
                 observer: Observer | None = None, progress: Progress = _noop):
        self.conn = conn
        self.history = history
        self.lock_timeout = lock_timeout
        self.statement_timeout = statement_timeout
        self.retries = retries
        self.backoff_s = backoff_s
        self.observer = observer or Observer()
        self.progress = progress
        self.who = applied_by(conn)

    def run_step(self, step: Step) -> StepResult:
        if step.transactional:
            return self._run_transactional(step)
        return self._run_autocommit(step)

    def _checksum(self, step: Step) -> str:
        return step.file.checksum

    def _base_details(self, step: Step) -> dict:
        d = {"file": step.file.rel, "transactional": step.transactional}
        if step.direction == "up" and step.migration.down is not None:
            d["down_checksum"] = step.migration.down.checksum
        return d

    def _verify(self, step: Step) -> None:
        v = step.migration.verify
        if step.direction != "up" or v is None:
            return
        try:
            run_statements(self.conn, v.script, path=v.rel)
        except StatementFailure as f:
            raise MigrationError(f"{f.path}:{f.line}: verify script of {step.version} failed: {f.message}",
                                 path=f.path, line=f.line, version=step.version) from None

    def _begin(self) -> None:
        # One round trip: BEGIN and the session guards, local to this transaction.
        self.conn.execute(sql.SQL("BEGIN; ") + guards_sql(self.lock_timeout, self.statement_timeout))

    def _rollback(self) -> None:
        if not self.conn.closed and not self.conn.broken and self.conn.info.transaction_status != TransactionStatus.IDLE:
            with contextlib.suppress(psycopg.Error):
                self.conn.execute("ROLLBACK")

    def _commit_with_log(self, **row) -> int:
        # The log row and COMMIT travel together: the row exists exactly when the migration does.
        cur = self.conn.execute(self.history.insert_sql(**row) + sql.SQL("; COMMIT"))
        return cur.fetchone()[0]

    def _run_transactional(self, step: Step) -> StepResult:
        script = step.file.script
        attempt = 0
        while True:
            attempt += 1
            t0 = time.perf_counter()
            started = _utcnow()
            stmts: list[dict] = []
            try:
                self._begin()
                self.observer.before_migration(self.conn, step)
                for stmt, ms in run_statements(self.conn, script, path=step.file.rel, observer=self.observer):
                    stmts.append({"line": stmt.line, "kind": stmt.kind, "duration_ms": round(ms, 2)})
                self._verify(step)
                details = self._base_details(step)
                details["statements"] = stmts
                details["attempts"] = attempt
                details.update(self.observer.before_commit(self.conn, step) or {})
                ms_total = (time.perf_counter() - t0) * 1000.0
                log_id = self._commit_with_log(version=step.version, name=step.migration.name, direction=step.direction,
                                               status="completed", checksum=self._checksum(step), applied_by=self.who,
                                               duration_ms=round(ms_total), details=details)
                return StepResult(step.version, step.migration.name, step.direction, step.file.rel, "completed",
                                  ms_total, attempt, stmts, details, log_id)
            except StatementFailure as f:
                self._rollback()
                if f.lock_timeout and attempt <= self.retries:
                    wait = self.backoff_s * (2 ** (attempt - 1))
                    self.progress("lock_retry", step=step, attempt=attempt, wait_s=wait, message=f.message)
                    time.sleep(wait)
                    continue
                what = "migration" if step.direction == "up" else "rollback"
                tail = f" (after {attempt} attempts; lock_timeout is {self.lock_timeout})" if f.lock_timeout else ""
                err = MigrationError(f"{f.path}:{f.line}: {what} {step.version} failed: {f.message}{tail}; "
                                     "it was rolled back, nothing of it remains",
                                     path=f.path, line=f.line, version=step.version, sqlstate=f.sqlstate)
                self._log_failure(step, t0, started, err, {"line": f.line, "sqlstate": f.sqlstate, "attempts": attempt})
                raise err from None
            except MigrationError as err:
                self._rollback()
                if not err.message.rstrip().endswith("remains"):
                    err.message += "; the migration was rolled back, nothing of it remains"
                self._log_failure(step, t0, started, err, {"attempts": attempt})
                raise
            except psycopg.OperationalError as exc:
                self._rollback()
                raise ConnectError(f"{step.file.rel}: the connection to the database was lost during {step.version} "
                                   f"({str(exc).strip().splitlines()[0] if str(exc).strip() else 'no reason given'}); "
                                   "the server rolls back the open transaction, so nothing of it remains") from None
            except ConnectError as err:
                # Lost mid-statement: the server discards the open transaction with the connection.
                err.message += f"; the server rolls back the open transaction, so nothing of {step.version} remains"
                raise
            except BaseException:
                self._rollback()
                raise

    def _run_autocommit(self, step: Step) -> StepResult:
        """Statements PostgreSQL refuses in a transaction run one by one, after a committed 'started' row."""
        script = step.file.script
        t0 = time.perf_counter()
        _, started = self.history.append(version=step.version, name=step.migration.name, direction=step.direction,
                                         status="started", checksum=self._checksum(step), applied_by=self.who,
                                         details=self._base_details(step))
        stmts: list[dict] = []
        self.conn.execute(guards_sql(self.lock_timeout, self.statement_timeout, local=False))
        try:
            self.observer.before_migration(self.conn, step)
            for stmt in script.statements:
                one = type(script)(script.path, script.text, [stmt], [])
                attempt = 0
                while True:
                    attempt += 1
                    try:
                        (_, ms), = run_statements(self.conn, one, path=step.file.rel, observer=self.observer)
                        stmts.append({"line": stmt.line, "kind": stmt.kind, "duration_ms": round(ms, 2), "attempts": attempt})
                        break
                    except StatementFailure as f:
                        if f.lock_timeout and attempt <= self.retries:
                            wait = self.backoff_s * (2 ** (attempt - 1))
                            self.progress("lock_retry", step=step, attempt=attempt, wait_s=wait, message=f.message)
                            time.sleep(wait)
                            continue
                        raise
            self.conn.execute("BEGIN")
            try:
                self._verify(step)
                details = self._base_details(step)
                details["statements"] = stmts
                details.update(self.observer.before_commit(self.conn, step) or {})
                ms_total = (time.perf_counter() - t0) * 1000.0
                log_id = self._commit_with_log(version=step.version, name=step.migration.name, direction=step.direction,
                                               status="completed", checksum=self._checksum(step), applied_by=self.who,
                                               duration_ms=round(ms_total), details=details, started_at=started)
            except BaseException:
                self._rollback()
                raise
            return StepResult(step.version, step.migration.name, step.direction, step.file.rel, "completed", ms_total, 1,
                              stmts, details, log_id)
        except StatementFailure as f:
            done = len(stmts)
            err = MigrationError(f"{f.path}:{f.line}: non-transactional {'migration' if step.direction == 'up' else 'rollback'} "
                                 f"{step.version} failed: {f.message}; {done} statement(s) before it stay applied, "
                                 "fix the cause and run again (its statements should be idempotent)",
                                 path=f.path, line=f.line, version=step.version, sqlstate=f.sqlstate)
            self._log_failure(step, t0, started, err, {"line": f.line, "sqlstate": f.sqlstate, "statements_applied": done})
            raise err from None
        except MigrationError as err:
            self._log_failure(step, t0, started, err, {"statements_applied": len(stmts)})
            raise
        finally:
            if not self.conn.closed and not self.conn.broken:
                with contextlib.suppress(psycopg.Error):
                    self.conn.execute("RESET lock_timeout")
                    self.conn.execute("RESET statement_timeout")

    def _log_failure(self, step: Step, t0: float, started, err: Exception, extra: dict) -> None:
        if self.conn.closed or self.conn.broken:
            return
        details = self._base_details(step)
        details.update(extra)
        details.update(self.observer.after_failure(step) or {})
        try:
            self.history.append(version=step.version, name=step.migration.name, direction=step.direction,
                                status="failed", checksum=self._checksum(step), applied_by=self.who,
                                duration_ms=round((time.perf_counter() - t0) * 1000.0), error=str(err),
                                details=details, started_at=started)
        except psycopg.OperationalError as exc:
            raise ConnectError(f"{step.file.rel}: the connection was lost while recording the failure of {step.version}: {exc}") from None

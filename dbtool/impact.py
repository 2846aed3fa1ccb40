"""Performance impact of a migration: predicted from its statements, measured while it runs.

Prediction: the lock knowledge of the validate rules (``dbtool.locks.effects``) applied to each statement,
with the target's real table sizes, in plain words.

Measurement, per statement: its duration; the relation locks the migration's backend holds after it
(pg_locks of pg_backend_pid(), one cheap query; locks are kept until COMMIT, so what a statement added is
the difference from the previous one); whether it rewrote a table (the table's relfilenode changed); and
time spent waiting for locks, sampled from a second connection (pg_stat_activity.wait_event_type = 'Lock'
of the migration's backend, every 50 ms once a statement has run for 200 ms: shorter waits are not seen).
"""

from __future__ import annotations

import contextlib
import threading
import time

import psycopg

from dbtool.catalog import LOCK_ORDER, Snapshot, Touched, lock_name, strongest

BLOCKS = {
    "AccessExclusiveLock": "reads and writes blocked",
    "ExclusiveLock": "writes blocked, reads continue",
    "ShareRowExclusiveLock": "writes blocked, reads continue",
    "ShareLock": "writes blocked, reads continue",
    "ShareUpdateExclusiveLock": "reads and writes continue (other DDL, VACUUM and ANALYZE wait)",
}
NOT_BLOCKING = "reads and writes continue"
WAIT_METHOD = ("sampled: pg_stat_activity.wait_event_type of the migration's backend, every 50 ms from a second "
               "connection once a statement has run for 200 ms (shorter waits are not seen)")


def size_text(n: float | None) -> str:
    if n is None:
        return "size unknown"
    for unit in ("bytes", "kB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return ""


class StepMeasure:
    """Locks and rewrites of one migration's statements, from pg_locks after each of them."""

    def __init__(self, snap: Snapshot):
        self.snap = snap
        self.held: set[tuple[int, str]] = set()
        self.top: dict[int, tuple[str, int | None]] = {}  # relation -> (strongest mode held, line that took it)
        self.filenodes: dict[int, int] = {}
        self.names: dict[int, tuple[str, str]] = {}
        self.statements: list[dict] = []

    def baseline(self, rows) -> None:
        """Locks held before the first statement (taken by the before-checks themselves)."""
        self._diff(rows, None)

    def record(self, stmt, ms: float, rows, wait: dict | None) -> dict:
        entry = {"line": stmt.line, "kind": stmt.kind, "text": _short(stmt.text), "duration_ms": round(ms, 2)}
        if rows is None:
            entry["locks"] = None
            entry["locks_note"] = "not measured: the statement ran outside a transaction, its locks ended with it"
        else:
            new, rewrote = self._diff(rows, stmt.line)
            entry["locks"] = new
            entry["rewrote"] = rewrote
        if wait is not None:
            entry["lock_wait_ms"] = wait.get("ms")
            if wait.get("blocked_by"):
                entry["blocked_by"] = wait["blocked_by"]
        self.statements.append(entry)
        return entry

    def _diff(self, rows, line: int | None) -> tuple[list[dict], list[str]]:
        """The table locks a statement took: for each, the strongest mode now held and, when an earlier
        statement took that mode (a lock is never released before COMMIT), the line of that statement."""
        per_rel: dict[int, list[str]] = {}
        rewrote = []
        for oid, mode, schema, name, kind, filenode in rows:
            if name is not None:
                self.names[oid] = (f"{schema}.{name}", kind)
            elif oid in self.snap.rels:
                r = self.snap.rels[oid]
                self.names[oid] = (r.qname, r.kind)
            if (oid, mode) not in self.held:
                self.held.add((oid, mode))
                per_rel.setdefault(oid, []).append(mode)
            if filenode is not None and kind in ("r", "m"):
                known = self.filenodes.get(oid, self.snap.rels[oid].filenode if oid in self.snap.rels else None)
                if known is not None and known != filenode and known != 0:
                    rewrote.append(self.names[oid][0])
                self.filenodes[oid] = filenode
        locks = []
        for oid, modes in per_rel.items():
            name, kind = self.names.get(oid, (None, None))
            if kind not in _TABLE_LIKE:
                continue  # index, sequence and TOAST locks follow the table's; the table's is what the application feels
            prev = self.top.get(oid)
            mode = strongest([*modes, *([prev[0]] if prev else [])])
            since = prev[1] if prev and prev[0] == mode else line
            self.top[oid] = (mode, since)
            if line is None:
                continue
            d = {"relation": name, "kind": _KIND.get(kind, kind), "mode": lock_name(mode),
                 "new": oid not in self.snap.rels, "_order": LOCK_ORDER.index(mode)}
            if since != line:
                d["held_since_line"] = since
            locks.append(d)
        locks.sort(key=lambda d: (-d["_order"], d["relation"]))
        for d in locks:
            del d["_order"]
        return locks, sorted(set(rewrote))


def touched_rows(touched: dict[int, Touched]) -> list[tuple]:
    """The after-state relations in the shape of catalog.locks_now rows."""
    out = []
    for t in touched.values():
        r = t.rel
        for m in t.modes:
            out.append((t.oid, m, r.schema if r else None, r.name if r else None, r.kind if r else None,
                        r.filenode if r else None))
    return out


_TABLE_LIKE = {"r", "p", "m", "v", "f"}
_KIND = {"r": "table", "p": "partitioned table", "m": "materialized view", "i": "index", "I": "partitioned index",
         "S": "sequence", "v": "view", "f": "foreign table"}


def _short(text: str, width: int = 60) -> str:
    one = " ".join(line.split("--")[0].strip() for line in text.splitlines() if line.split("--")[0].strip())
    return one if len(one) <= width else one[: width - 1] + "…"


class LockWaitSampler:
    """Watches the migration's backend from a second connection while a long statement runs.

    The thread polls a timestamp every ``interval_s`` instead of being woken for every statement: a
    migration of short statements pays nothing but two attribute writes per statement, and the second
    connection is only opened when a statement first runs longer than ``threshold_s``.
    """

    def __init__(self, conn: psycopg.Connection, threshold_s: float = 0.2, interval_s: float = 0.05):
        self.pid = conn.info.backend_pid
        self._dsn, self._password = conn.info.dsn, conn.info.password
        self.threshold_s, self.interval_s = threshold_s, interval_s
        self._lock = threading.Lock()
        self._since: float | None = None
        self._waited = 0.0
        self._blockers: set[int] = set()
        self._sampled = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: psycopg.Connection | None = None
        self.error: str | None = None

    def start(self) -> None:
        self._waited, self._blockers, self._sampled = 0.0, set(), False
        self._since = time.monotonic()
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="dbtool-lock-sampler", daemon=True)
            self._thread.start()

    def stop(self) -> dict:
        with self._lock:
            self._since = None
            out = {"ms": round(self._waited * 1000.0, 1) if self._sampled else None}
            if self._blockers:
                out["blocked_by"] = sorted(self._blockers)
            return out

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()

    def _loop(self) -> None:
        last = None
        while not self._stop.wait(self.interval_s):
            since = self._since
            if since is None or time.monotonic() - since < self.threshold_s or self.error:
                last = None
                continue
            try:
                if self._conn is None:
                    self._conn = psycopg.connect(self._dsn, password=self._password, autocommit=True,
                                                 application_name="dbtool lock monitor")
                row = self._conn.execute("SELECT wait_event_type, pg_blocking_pids(pid) FROM pg_stat_activity "
                                         "WHERE pid = %s", [self.pid]).fetchone()
            except psycopg.Error as exc:
                self.error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                continue
            now = time.monotonic()
            with self._lock:
                if self._since is since:  # still the same statement
                    self._sampled = True
                    if row and row[0] == "Lock":
                        self._waited += (now - last) if last else self.interval_s
                        self._blockers.update(row[1] or ())
            last = now


# ---------------------------------------------------------------- prediction

def target_context(conn: psycopg.Connection, snap: Snapshot, steps):
    """The validate rules' LockContext, answered from the target's catalog instead of from earlier migrations:
    column types (does this ALTER TYPE rewrite?), function volatility (does this DEFAULT rewrite?), validated
    CHECKs (can SET NOT NULL skip its scan?).  One query for every table the plan's statements name."""
    try:
        from dbtool import locks
    except ImportError:
        return None
    from dbtool.touches import of_script

    static = [of_script(step.file.script) for step in steps]
    oids = {r.oid for t in static for n in t.tables if (r := snap.resolve(n)) is not None}
    indexes = sorted({n.name for t in static for n in t.dropped_indexes})
    from dbtool.touches import functions_called

    # Only the functions the statements call matter (a DEFAULT's volatility decides a rewrite).
    functions = sorted({f for step in steps for st in step.file.script.statements for f in functions_called(st.node)})
    row = conn.execute("""
        SELECT (SELECT json_agg(json_build_array(attrelid::int8, attname, format_type(atttypid, atttypmod)))
                  FROM pg_attribute WHERE attrelid = ANY(%(oids)s) AND attnum > 0 AND NOT attisdropped),
               (SELECT json_agg(json_build_array(conrelid::int8, pg_get_constraintdef(oid)))
                  FROM pg_constraint WHERE conrelid = ANY(%(oids)s) AND contype = 'c' AND convalidated),
               (SELECT json_object_agg(proname, CASE provolatile WHEN 'i' THEN 'immutable' WHEN 's' THEN 'stable'
                                                 ELSE 'volatile' END)
                  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                 WHERE p.proname = ANY(%(functions)s) AND n.nspname NOT IN ('pg_catalog', 'information_schema')),
               (SELECT json_object_agg(c.relname, i.indrelid::regclass::text) FROM pg_index i
                  JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = ANY(%(idx)s))""",
                       {"oids": list(oids), "idx": indexes, "functions": functions}).fetchone()
    types: dict[int, dict[str, str]] = {}
    for oid, col, typ in row[0] or ():
        types.setdefault(oid, {})[col] = typ
    checks: dict[int, list[str]] = {}
    for oid, definition in row[1] or ():
        checks.setdefault(oid, []).append(definition)
    base = getattr(locks, "LockContext", None) or getattr(locks, "Context")

    class TargetContext(base):
        def column_type(self, table, column):
            rel = snap.resolve_text(table) if table else None
            typ = types.get(rel.oid, {}).get(column) if rel else None
            return _type_ref(typ) if typ else None

        def function_volatility(self):
            return dict(row[2] or {})

        def proves_not_null(self, table, column):
            rel = snap.resolve_text(table) if table else None
            return rel is not None and any(d.replace('"', "").lower() == f"check (({column.lower()} is not null))"
                                           for d in checks.get(rel.oid, ()))

        def has_validated_check(self, table):
            rel = snap.resolve_text(table) if table else None
            return rel is not None and bool(checks.get(rel.oid))

    try:
        ctx = TargetContext(snap.server_version // 10000)
    except TypeError:
        ctx = TargetContext()
    ctx.index_tables = dict(row[3] or {})  # DROP INDEX names the index; the prediction speaks of its table
    return ctx


def _type_ref(formatted: str):
    """ddl.TypeRef of a format_type() string, through PostgreSQL's own grammar."""
    from pglast import parse_sql

    from dbtool import ddl

    try:
        return ddl.type_ref(parse_sql(f"SELECT NULL::{formatted}")[0].stmt.targetList[0].val.typeName)
    except Exception:  # noqa: BLE001 - an exotic type: "unknown", the prediction says "may rewrite"
        return None


def predict_step(step, snap: Snapshot, created_before: set[str] | None = None, ctx=None) -> list[dict]:
    """Per statement: lock, rewrite or scan, size involved, and a plain-words estimate."""
    try:
        from dbtool import locks
    except ImportError:
        locks = None
    out = []
    for stmt in step.file.script.statements:
        entry = {"line": stmt.line, "kind": stmt.kind, "text": _short(stmt.text), "effects": []}
        if locks is None:
            entry["estimate"] = "no prediction: the lock knowledge of the validate rules (dbtool.locks) is not available"
            out.append(entry)
            continue
        analysis = locks.analyse(stmt.node, ctx) if hasattr(locks, "analyse") else None
        effects = analysis.effects if analysis is not None else locks.effects(stmt.node, ctx)
        for eff in effects:
            entry["effects"].append(_describe(eff, snap, created_before or set(), getattr(ctx, "index_tables", {})))
        if analysis is not None and not analysis.understood:
            entry["estimate"] = f"not analysed ({analysis.note or stmt.kind}): its locks are measured, not predicted"
        else:
            entry["estimate"] = ("; ".join(e["estimate"] for e in entry["effects"] if not e.get("new_table"))
                                 or "no lock on an existing table")
        out.append(entry)
    return out


def _describe(eff, snap: Snapshot, created: set[str], index_tables: dict) -> dict:
    from dbtool.touches import Name

    table = getattr(eff, "table", None) or index_tables.get((getattr(eff, "index", None) or "").rpartition(".")[2])
    lock = getattr(eff, "lock", None) or ""
    mode = lock if lock.endswith("Lock") else "".join(w.title() for w in lock.split()) + "Lock"
    rel = snap.resolve(Name.parse(table)) if table else None
    rewrites, scans = bool(getattr(eff, "rewrites", False)), bool(getattr(eff, "scans", False))
    what = rel.qname if rel else (table or (getattr(eff, "target", None) or "the table"))
    d = {"table": what, "lock": lock_name(mode) if mode in LOCK_ORDER else lock,
         "rewrites": rewrites, "scans": scans, "reason": getattr(eff, "reason", None) or None}
    blocks = BLOCKS.get(mode, NOT_BLOCKING)
    if rel is not None and rel.size is not None:
        d["size_bytes"], d["total_bytes"] = rel.size, rel.total
        d["rows_estimate"], _ = rel.estimate()
        size = size_text(rel.total if rewrites else rel.size) + (f" on {rel.source}" if rel.source else "")
        if rel.source:
            d["sizes_of"] = rel.source
    elif table and (table in created or rel is None):
        d["new_table"] = True
        d["estimate"] = f"{what}: a table this plan creates, nobody else sees it before COMMIT"
        return d
    else:
        size = "size unknown"
    verb = "rewrites" if rewrites else "scans" if scans else "locks"
    tail = ("while it runs" if (rewrites or scans)
            else "briefly (no scan), but it waits behind running queries" if mode in BLOCKS and mode != "ShareUpdateExclusiveLock"
            else "")
    d["estimate"] = f"{verb} {what}, {size}, under {d['lock']}: {blocks} {tail}".rstrip()
    return d

"""The round trip: every up-script is paired with a tested down-script.

On a scratch database, for every migration in order::

    S0 = snapshot; seed a row into each table the pair touches; up + verify; S1 = snapshot
    down; S2 = snapshot (must equal S0); seeded rows must have survived; up + verify; S3 (must equal S1)

The migrations run through the real Runner, so a non-transactional file runs
statement by statement exactly as in production and every step writes its
migration_log row (which the snapshots leave out).  S0 of a version is S3 of
the one before: nothing but seeded rows changes in between.

A version whose up, verify or down fails, or whose second up does not give
the first up's schema, stops the round trip: later versions build on it.  A
rollback that merely leaves the schema different does not, when the second up
restores exactly the first up's schema (S3 = S1): later versions then start
from the state they would have had, and the other broken rollbacks of the
same run are reported too.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

import psycopg

from dbtool import db, seed, snapshot
from dbtool.config import Config
from dbtool.errors import DbtoolError, MigrationError
from dbtool.files import Migration, Project, SqlFile
from dbtool.history import History
from dbtool.rules import Finding
from dbtool.runner import Runner, Step

Progress = Callable[..., None]


# rule id -> (severity, the safer way); docs/validate.md documents each.
RULES = {
    "roundtrip-up-failed": ("error", "fix the up-script at that line; it must apply to the schema the earlier migrations build"),
    "roundtrip-verify-failed": ("error", "the migration did not do what its verify script expects: fix the up-script or the check"),
    "roundtrip-down-failed": ("error", "fix the down-script at that line; it runs on the schema its up-script left"),
    "roundtrip-down-differs": ("error", "make the down-script undo exactly what the up-script did, no more and no less"),
    "roundtrip-reapply-failed": ("error", "the rollback must remove everything the up-script creates, so that it can run again"),
    "roundtrip-reapply-differs": ("error", "an up-script must give the same schema each time it runs on the same schema"),
    "roundtrip-destroys-data": ("warning", "keep existing rows and values in the rollback: undo the change in place "
                                           "instead of dropping and recreating, or copy the data aside first"),
    "roundtrip-seed-skipped": ("info", ""),
    "roundtrip-stopped": ("info", "fix the finding that stopped it; later versions are tested in the next run"),
}


def _noop(*_a, **_k) -> None:
    return None


@dataclass
class VersionTiming:
    version: str
    up_ms: float = 0.0
    down_ms: float = 0.0
    reapply_ms: float = 0.0
    snapshot_ms: float = 0.0
    seed_ms: float = 0.0
    total_ms: float = 0.0
    round_trip: bool = True  # False: only applied, to reach a later selected version

    def as_json(self) -> dict:
        return {k: (round(v, 1) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


@dataclass
class RoundTripResult:
    findings: list[Finding] = field(default_factory=list)
    timings: list[VersionTiming] = field(default_factory=list)
    tested: list[str] = field(default_factory=list)
    stopped_at: str | None = None
    untested: list[str] = field(default_factory=list)
    duration_ms: float = 0.0

    @property
    def ok(self) -> bool:
        return not any(f.severity == "error" for f in self.findings)

    def as_json(self) -> dict:
        return {"tested": self.tested, "stopped_at": self.stopped_at, "untested": self.untested,
                "duration_ms": round(self.duration_ms, 1), "timings": [t.as_json() for t in self.timings]}


def finding(rule: str, file: str, message: str, *, line: int = 1, column: int = 1, version: str | None = None) -> Finding:
    severity, help_ = RULES[rule]
    return Finding(rule=rule, severity=severity, file=file, line=line, column=column, version=version, message=message,
                   help=help_)


class _Stop(Exception):
    """The round trip cannot go on past this version."""


class _RoundTrip:
    def __init__(self, project: Project, config: Config, conn: psycopg.Connection, progress: Progress):
        self.project = project
        self.config = config
        self.conn = conn
        self.progress = progress
        schema, table = config.log_table_parts
        self.log_table = f"{schema}.{table}"
        self.history = History(conn, schema, table)
        self.history.ensure()
        self.log_qualified = conn.execute("SELECT quote_ident(%s) || '.' || quote_ident(%s)", [schema, table]).fetchone()[0]
        self.runner = Runner(conn, self.history, lock_timeout=str(config.settings["lock_timeout"]),
                             statement_timeout=str(config.settings["statement_timeout"]), retries=0, backoff_s=0.0,
                             progress=_runner_progress(progress))
        self.result = RoundTripResult()
        self.current: snapshot.Snapshot | None = None
        self.counter = 0

    # ------------------------------------------------------------ helpers

    def snap(self, timing: VersionTiming) -> snapshot.Snapshot:
        t0 = time.perf_counter()
        s = snapshot.take(self.conn, log_table=self.log_table)
        timing.snapshot_ms += (time.perf_counter() - t0) * 1000.0
        return s

    def add(self, f: Finding) -> None:
        self.result.findings.append(f)

    def step(self, m: Migration, direction: str) -> float:
        t0 = time.perf_counter()
        self.runner.run_step(Step(m, direction))
        return (time.perf_counter() - t0) * 1000.0

    # ------------------------------------------------------------ one version

    def apply_only(self, m: Migration) -> None:
        timing = VersionTiming(m.version, round_trip=False)
        t0 = time.perf_counter()
        try:
            timing.up_ms = self.step(m, "up")
        except MigrationError as err:
            self.add(_failure(m, err, "up"))
            raise _Stop from None
        finally:
            timing.total_ms = (time.perf_counter() - t0) * 1000.0
            self.result.timings.append(timing)
        self.current = None

    def round_trip(self, m: Migration) -> None:
        timing = VersionTiming(m.version)
        t0 = time.perf_counter()
        try:
            self._round_trip(m, timing)
        finally:
            timing.total_ms = (time.perf_counter() - t0) * 1000.0
            self.result.timings.append(timing)

    def _round_trip(self, m: Migration, timing: VersionTiming) -> None:
        s0 = self.current or self.snap(timing)
        seeds = self._plant(m, timing)

        # up + verify (the Runner runs the verify script inside the up's transaction)
        try:
            timing.up_ms = self.step(m, "up")
        except MigrationError as err:
            if not (seeds and m.up.script.transactional):
                self.add(_failure(m, err, "up"))
                raise _Stop from None
            # Perhaps it only fails because of the made-up rows: try again without them.
            seed.remove(self.conn, seeds)
            try:
                timing.up_ms = self.step(m, "up")
            except MigrationError as err2:
                self.add(_failure(m, err2, "up"))
                raise _Stop from None
            self.add(finding("roundtrip-seed-skipped", m.up.rel, version=m.version,
                             message=f"{m.up.rel} fails when the tables it touches hold a row ({_reason(err)}); "
                                     "it passed on empty tables, so whether its rollback keeps existing data was not checked"))
            seeds = seed.Seeds()
        s1 = self.snap(timing)

        # down: the schema must be S0 again and the seeded rows still there
        try:
            timing.down_ms = self.step(m, "down")
        except MigrationError as err:
            self.add(_failure(m, err, "down"))
            raise _Stop from None
        s2 = self.snap(timing)
        down_differs = snapshot.diff(s0, s2)
        for d in down_differs:
            self.add(_down_differs(m, d))
        if seeds:
            ts = time.perf_counter()
            for loss in seed.check(self.conn, seeds):
                self.add(_destroys(m, loss))
            seed.remove(self.conn, seeds)
            timing.seed_ms += (time.perf_counter() - ts) * 1000.0

        # up again: the same schema as the first time
        try:
            timing.reapply_ms = self.step(m, "up")
        except MigrationError as err:
            cause = f"; the cause is likely {m.down.rel}, which did not restore the schema as it was" if down_differs else ""
            self.add(_failure(m, err, "reapply", cause))
            raise _Stop from None
        s3 = self.snap(timing)
        reapply_differs = snapshot.diff(s1, s3)
        caused = {d.key for d in down_differs}
        for d in reapply_differs:
            self.add(_reapply_differs(m, d, d.key in caused))
        self.current = s3
        if reapply_differs:
            raise _Stop

    def _plant(self, m: Migration, timing: VersionTiming) -> seed.Seeds:
        ts = time.perf_counter()
        names = seed.touched_tables([m.up.script, m.down.script])
        seeds = seed.plant(self.conn, names, exclude={self.log_qualified}, counter=self.counter)
        self.counter += 100
        for s in seeds.skipped:
            self.add(finding("roundtrip-seed-skipped", m.down.rel, version=m.version,
                             message=f"no row could be seeded into {s.table} ({s.reason}), so whether {m.down.rel} "
                                     "keeps its existing data was not checked"))
        timing.seed_ms += (time.perf_counter() - ts) * 1000.0
        return seeds


# ---------------------------------------------------------------- findings

def _tail(err: DbtoolError) -> str:
    """The error's message without its leading ``file:line: ``."""
    text = str(err)
    path, line = getattr(err, "path", None), getattr(err, "line", None)
    prefix = f"{path}:{line}: "
    return text[len(prefix):] if path and text.startswith(prefix) else text


_ROLLED_BACK = re.compile(r";\s*(it|the migration) was rolled back, nothing of it remains\s*$")


def _reason(err: DbtoolError) -> str:
    """The error without ``file:line: `` and without the runner's reassurance (a scratch database needs none)."""
    return _ROLLED_BACK.sub("", _tail(err))


def _failure(m: Migration, err: MigrationError, phase: str, cause: str = "") -> Finding:
    path = getattr(err, "path", None) or (m.down.rel if phase == "down" else m.up.rel)
    line = getattr(err, "line", None) or 1
    if m.verify is not None and path == m.verify.rel:
        what = "after its rollback and a second up" if phase == "reapply" else "after the up-script"
        return finding("roundtrip-verify-failed", path, f"verify script of {m.version} failed {what}: "
                       f"{_reason(err).split(': ', 1)[-1]}", line=line, version=m.version)
    rule = {"up": "roundtrip-up-failed", "down": "roundtrip-down-failed", "reapply": "roundtrip-reapply-failed"}[phase]
    message = _reason(err)
    if phase == "reapply":
        message = f"applying {m.up.rel} again after its rollback failed: {message}{cause}"
    return finding(rule, path, message, line=line, version=m.version)


def _leaf(d: snapshot.Difference) -> str:
    """The object's own name (``t``, ``c``, ``idx``, ``f``) from a qualified snapshot name."""
    name = d.name.split("(", 1)[0]
    return name.rsplit(".", 1)[-1].strip('"')


# Which statement kinds can change an attribute; a statement that merely names the object
# (a COMMENT ON TABLE when the grants differ) is not the one responsible.
_KINDS_FOR = {"acl": ("GrantStmt",), "comment": ("CommentStmt",), "owner": ("AlterOwnerStmt", "AlterTableStmt")}


def _line_mentioning(f: SqlFile | None, word: str, kinds: tuple[str, ...] | None = None) -> int | None:
    if f is None or not word:
        return None
    pattern = re.compile(r"(?<![\w$])" + re.escape(word) + r"(?![\w$])", re.IGNORECASE)
    for stmt in f.script.statements:
        if kinds is not None and stmt.kind not in kinds:
            continue
        if pattern.search(stmt.text):
            return stmt.line
    return None


def _down_differs(m: Migration, d: snapshot.Difference) -> Finding:
    message = d.describe(m.down.rel)
    kinds = None
    if d.change == "changed":
        kinds = _KINDS_FOR.get(d.attribute or "") or ("AlterTableStmt", "AlterSeqStmt", "AlterDomainStmt",
                                                       "AlterEnumStmt", "CreateFunctionStmt", "AlterFunctionStmt",
                                                       "ViewStmt", "IndexStmt", "CreateTrigStmt", "DropStmt")
    line = _line_mentioning(m.down, _leaf(d), kinds)
    if d.change == "extra":
        made = _line_mentioning(m.up, _leaf(d))
        if made:
            message += f" (created by {m.up.rel}:{made})"
    elif d.change == "missing" and line is None:
        gone = _line_mentioning(m.up, _leaf(d))
        if gone:
            message += f" ({m.up.rel}:{gone} removes it; the rollback must recreate it)"
    elif d.change == "changed":
        message += " (before the migration → after its rollback)"
    return finding("roundtrip-down-differs", m.down.rel, message, line=line or 1, version=m.version)


def _reapply_differs(m: Migration, d: snapshot.Difference, follows_down: bool) -> Finding:
    what = {"extra": f"{d.kind} {d.name} exists only after the second up",
            "missing": f"{d.kind} {d.name} exists only after the first up"}.get(d.change)
    if what is None:
        what = d.describe() + " (first up → second up)"
    if follows_down:
        what += f", because {m.down.rel} did not restore it"
    line = _line_mentioning(m.up, _leaf(d)) or 1
    return finding("roundtrip-reapply-differs", m.up.rel,
                   f"applying {m.up.rel} again after its rollback does not give the same schema: {what}",
                   line=line, version=m.version)


def _destroys(m: Migration, loss: seed.Loss) -> Finding:
    line = _line_mentioning(m.down, loss.column or loss.table.rsplit(".", 1)[-1].strip('"')) or 1
    return finding("roundtrip-destroys-data", m.down.rel,
                   f"{m.down.rel} would destroy data that existed before {m.version}: {loss.describe()}",
                   line=line, version=m.version)


# ---------------------------------------------------------------- entry point

def _runner_progress(progress: Progress) -> Progress:
    def relay(event, **data):
        if event in ("lock_wait", "lock_retry"):
            progress(event, **data)
    return relay


def _testable(m: Migration) -> str | None:
    """Why ``m`` cannot be round-tripped, or None."""
    if m.down is None:
        return f"{m.up.rel} has no rollback (rollbacks/{m.label}.sql)"
    for f in (m.up, m.down, m.verify):
        if f is None:
            continue
        try:
            f.script
        except DbtoolError as err:
            return f"{f.rel} does not parse ({_tail(err)})"
    return None


def roundtrip(project: Project, config: Config, url: str, *, progress: Progress | None = None,
              versions: Iterable[str] | None = None) -> RoundTripResult:
    """Round-trip every migration of ``project`` (or only ``versions``) on the empty database at ``url``.

    Versions before a selected one are applied (up only) to reach its starting state.
    Raises ConnectError when the scratch database cannot be reached; everything a
    migration does wrong is a finding.
    """
    progress = progress or _noop
    started = time.perf_counter()
    selected = set(versions) if versions is not None else None
    migrations = project.migrations
    if selected is not None:
        keep = [i for i, m in enumerate(migrations) if m.version in selected]
        migrations = migrations[:keep[-1] + 1] if keep else []
    conn = db.connect(url, label="scratch database")
    try:
        rt = _RoundTrip(project, config, conn, progress)
        total = len(migrations)
        progress("roundtrip_start", total=total)
        for i, m in enumerate(migrations):
            why = _testable(m)
            if why is not None:
                _stopped(rt.result, migrations[i:], f"the round trip stopped at {m.version}: {why}", m)
                break
            progress("roundtrip_version", version=m.version, name=m.name, index=i, total=total)
            try:
                if selected is not None and m.version not in selected:
                    rt.apply_only(m)
                else:
                    rt.result.tested.append(m.version)
                    rt.round_trip(m)
            except _Stop:
                # The stopping finding is the last error of the version (a differing rollback alone does not stop).
                errors = [f for f in rt.result.findings if f.version == m.version and f.severity == "error"]
                cause = f" because of {errors[-1].rule} in {errors[-1].file}:{errors[-1].line}" if errors else ""
                _stopped(rt.result, migrations[i + 1:], f"the round trip stopped at {m.version}{cause}", m)
                break
        rt.result.duration_ms = (time.perf_counter() - started) * 1000.0
        progress("roundtrip_done", result=rt.result)
        return rt.result
    finally:
        conn.close()


def _stopped(result: RoundTripResult, rest: list[Migration], reason: str, at: Migration) -> None:
    result.stopped_at = at.version
    result.untested = [m.version for m in rest]
    later = [m.version for m in rest if m is not at]
    tail = f"; {len(later)} later version(s) were not tested: {', '.join(later)}" if later else ""
    result.findings.append(finding("roundtrip-stopped", at.up.rel, reason + tail, version=at.version))

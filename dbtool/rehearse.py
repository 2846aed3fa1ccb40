"""dbtool rehearse: what will happen when the pending migrations run on production, without touching production.

1. Clone the source (read-only) into a scratch database: on the embedded
   server by default, or a fresh database on the server of a named
   environment that is not protected (or ``--scratch-url``).  The clone carries
   the log, so the scratch has exactly the source's pending set, and the
   source's sizes, so impact predictions speak of production's tables.
2. A second scratch database is copied from the first (``CREATE DATABASE ...
   TEMPLATE``) for the round trip, before anything runs.
3. ``migrate`` runs the pending migrations on the first, with every check and
   measurement (checks_runner) that a real migrate has.
4. The round trip (roundtrip.py) of each pending migration runs on the
   second: up, down, schema back to before, up again.
5. Both scratch databases are dropped, whatever happened.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable, Iterator

import psycopg
from psycopg import sql

from dbtool import api, clone, db, scratch
from dbtool.config import Config
from dbtool.errors import ConfigError, ConnectError, DbtoolError

Progress = Callable[..., None]


def _noop(*_a, **_k) -> None:
    return None


@dataclass
class RehearsalResult:
    source_env: str
    source: str
    scratch: str = ""
    pending: list[str] = field(default_factory=list)
    current: str | None = None
    clone: clone.CloneResult | None = None
    run: api.RunResult | None = None
    error: str | None = None
    roundtrip: object | None = None
    notes: list[str] = field(default_factory=list)
    timings_ms: dict = field(default_factory=dict)

    @property
    def applied(self) -> list[str]:
        return self.run.applied if self.run else []

    @property
    def roundtrip_findings(self) -> list:
        return list(getattr(self.roundtrip, "findings", []) or [])

    @property
    def ok(self) -> bool:
        rt_ok = getattr(self.roundtrip, "ok", True)
        return self.error is None and (self.clone is None or self.clone.ok) and rt_ok

    def as_json(self) -> dict:
        return {
            "ok": self.ok, "source": {"env": self.source_env, "database": self.source}, "scratch": self.scratch,
            "current": self.current, "pending": self.pending, "applied": self.applied, "error": self.error,
            "clone": self.clone.as_json() if self.clone else None,
            "migrate": self.run.as_json() if self.run else None,
            "roundtrip": _roundtrip_json(self.roundtrip),
            "notes": self.notes, "timings_ms": {k: round(v) for k, v in self.timings_ms.items()},
        }


def _roundtrip_json(rt) -> dict | None:
    if rt is None:
        return None
    out = rt.as_json() if hasattr(rt, "as_json") else {}
    out["ok"] = bool(getattr(rt, "ok", True))
    out["findings"] = [dataclasses.asdict(f) if dataclasses.is_dataclass(f) else dict(f) for f in rt.findings]
    return out


def rehearse(config: Config, source_env: str, *, scratch_env: str | None = None, scratch_url: str | None = None,
             to: str | None = None, options: clone.Options | None = None, checks: bool = True, strict: bool = False,
             roundtrip: bool = True, progress: Progress = _noop) -> RehearsalResult:
    """Clone ``source_env`` into a scratch database, run its pending migrations there, measured, and discard it."""
    source = api.resolve(config, source_env)
    res = RehearsalResult(source.env.name, source.display)
    if scratch_env is not None:
        if scratch_url:
            raise ConfigError("--scratch and --scratch-url name two different scratch servers; pass one of them")
        env = config.env(scratch_env)
        if env.protected:
            raise ConfigError(f"environment {scratch_env} is protected: rehearse never writes there; "
                              "name an unprotected environment or leave --scratch out for the embedded server")
        if env.name == source.env.name:
            raise ConfigError(f"--scratch {scratch_env} is the source itself; rehearse never writes into the source")
        scratch_url = None if env.embedded else env.url
    project = api.load_project(config)
    t0 = time.perf_counter()
    with scratch.database(config, scratch_url=scratch_url) as space:
        res.scratch = space.label
        target = api.url_target(space.url, "rehearsal")
        opts = options or clone.Options.from_config(config)
        if space.server == "embedded":
            opts.create_roles = True  # dbtool's private server: stand-ins for production's roles cost nothing
        progress("message", text=f"cloning {source.env.name} into {space.label}")
        try:
            res.clone = clone.copy(config, source, target, options=opts, progress=progress)
        except ConfigError as err:
            if getattr(err, "missing_extensions", None) and space.server == "embedded":
                err.message += (" (the embedded server has few extensions: rehearse on a server that has them, with "
                                "--scratch ENV or --scratch-url URL)")
            raise
        res.timings_ms["clone"] = (time.perf_counter() - t0) * 1000.0
        status = api.status(config, target=target)
        res.current = status.current
        res.pending = [m.version for m in status.migrations if m.state == "pending" and (to is None or _le(m.version, to))]
        if not res.clone.ok:
            res.notes.append("the clone differs from the source (see clone.differences): the rehearsal may not "
                             "reflect production exactly")
        with _template_copy(space.url, enabled=roundtrip and bool(res.pending)) as copy_url:
            t1 = time.perf_counter()
            res.run = _migrate(config, target, to, checks, strict, progress, res)
            res.timings_ms["migrate"] = (time.perf_counter() - t1) * 1000.0
            if copy_url is not None:
                t2 = time.perf_counter()
                res.roundtrip = _roundtrip(config, project, copy_url, res.pending, progress, res)
                res.timings_ms["roundtrip"] = (time.perf_counter() - t2) * 1000.0
    res.timings_ms["total"] = (time.perf_counter() - t0) * 1000.0
    return res


def _le(version: str, to: str) -> bool:
    from dbtool.files import version_key

    return version_key(version) <= version_key(to)


def checks_factory(config: Config, enabled: bool, strict: bool):
    """The checks of the checks feature, when this dbtool has them and they are on."""
    if not enabled or not config.settings.get("checks", True):
        return None
    try:
        from dbtool import checks_runner
    except ImportError:
        return None
    return checks_runner.factory(config, strict=strict)


def _migrate(config, target, to, checks, strict, progress, res: RehearsalResult):
    factory = checks_factory(config, checks, strict)
    if factory is None:
        res.notes.append("checks were not run (--no-checks, checks = false, or this dbtool has no checks module)")
    try:
        return api.migrate(config, target=target, to=to, yes=True, checks=factory, progress=progress)
    except DbtoolError as err:
        res.error = str(err)
        return getattr(err, "result", None)


def _roundtrip(config, project, url: str, pending: list[str], progress, res: RehearsalResult):
    try:
        from dbtool import roundtrip as rt
    except ImportError:
        res.notes.append("the round trip was not run: this dbtool has no roundtrip module")
        return None
    # Only the pending versions: the earlier ones are already applied on the copy, as on the source.
    wanted = set(pending)
    sub = dataclasses.replace(project, migrations=[m for m in project.migrations if m.version in wanted])
    try:
        return rt.roundtrip(sub, config, url, progress=progress)
    except DbtoolError as err:
        res.notes.append(f"the round trip could not run: {err}")
        return None


@contextlib.contextmanager
def _template_copy(url: str, *, enabled: bool) -> Iterator[str | None]:
    """A copy of the scratch database (same server, CREATE DATABASE ... TEMPLATE), dropped afterwards."""
    if not enabled:
        yield None
        return
    source_db = db.dbname_of(url)
    name = f"{scratch.PREFIX}_{uuid.uuid4().hex[:12]}"
    admin_url = None
    for maintenance in ("postgres", "template1"):
        candidate = db.with_dbname(url, maintenance)
        try:
            with db.connect(candidate, label="scratch server") as admin:
                admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(source_db)))
            admin_url = candidate
            break
        except ConnectError:
            continue
        except psycopg.Error as exc:
            raise ConnectError(f"cannot copy the scratch database for the round trip: {exc.diag.message_primary or exc}") from None
    if admin_url is None:
        raise ConnectError("cannot reach the scratch server's postgres or template1 database to copy the scratch database")
    try:
        yield db.with_dbname(url, name)
    finally:
        scratch.drop(admin_url, name)


def describe(res: RehearsalResult) -> str:
    from dbtool import render

    lines = [f"rehearsal of {res.source_env} ({res.source}) on {res.scratch}"]
    if res.clone is not None:
        c = res.clone
        check = "schema equal" if c.ok else f"{len(c.differences)} schema difference(s)"
        lines.append(f"  clone: {c.objects.get('TABLE', 0)} tables, {c.log_rows} log rows, {check} "
                     f"({res.timings_ms.get('clone', 0) / 1000:.1f}s)")
    lines.append(f"  {res.source_env} is at {res.current or '(nothing applied)'}; pending: "
                 f"{', '.join(res.pending) if res.pending else 'none'}")
    if res.run is not None:
        lines += ["  " + ln for ln in render.run_text(res.run).splitlines() if ln]
    if res.error:
        lines.append(f"  migrate failed: {res.error}")
    rt = res.roundtrip
    if rt is not None:
        tested = ", ".join(getattr(rt, "tested", []) or []) or "none"
        lines.append(f"  round trip (up, down, up) of {tested}: {'ok' if rt.ok else 'FAILED'}")
        for f in res.roundtrip_findings:
            lines.append(f"    {f.severity}: {f.file}:{f.line}: {f.message}")
    lines += [f"  note: {n}" for n in res.notes]
    if res.ok:
        verdict = (f"{res.source_env} would go from {res.current or '(nothing)'} to {res.applied[-1]}"
                   if res.applied else f"nothing to apply on {res.source_env}")
        lines.append(f"result: OK, {verdict}")
    else:
        lines.append("result: FAILED, see above; nothing was changed on " + res.source_env)
    lines.append(f"scratch databases dropped ({res.timings_ms.get('total', 0) / 1000:.1f}s in all)")
    return "\n".join(lines)

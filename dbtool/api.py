"""One plain function per verb.  Each takes a Config, returns a result, never prints.

The CLI (cli.py) parses flags, calls these, renders the results and maps
DbtoolError to exit codes.  Tests and other tools call these directly.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import psycopg
from psycopg import sql

from dbtool import db, files
from dbtool.config import Config, Env
from dbtool.errors import Aborted, ConfigError, DbtoolError, ProjectError
from dbtool.history import History, LogRow
from dbtool.runner import Observer, Plan, Runner, StepResult, check_history, migration_lock, plan_migrate, plan_rollback

Progress = Callable[..., None]
Confirm = Callable[[str], bool]

EMBEDDED_DB = "dbtool_dev"


def _noop(*_a, **_k) -> None:
    return None


# ---------------------------------------------------------------- connections

@dataclass
class Target:
    """An environment, resolved: its connection string (never print it) and a safe label."""

    env: Env
    url: str

    @property
    def display(self) -> str:
        return db.redact(self.url)


def resolve(config: Config, env_name: str | None = None) -> Target:
    env = config.env(env_name)
    if env.embedded:
        from dbtool import embedded

        server = embedded.ensure(config.resolve(config.settings["embedded_dir"]))
        url = db.with_dbname(server, EMBEDDED_DB)
        _ensure_database(server, EMBEDDED_DB)
        return Target(env, url)
    return Target(env, env.url)


def url_target(url: str, label: str = "url") -> Target:
    """A Target for an explicit connection string (a scratch or test database), not an environment of dbtool.toml.

    It is never protected and never backed up: callers use it for databases they created themselves.
    """
    return Target(Env(label, url), url)


def _ensure_database(server_url: str, name: str) -> None:
    with db.connect(server_url, label="embedded server") as c:
        if not c.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


@contextlib.contextmanager
def connect(config: Config, env_name: str | None = None, *,
            target: Target | None = None) -> Iterator[tuple[Target, psycopg.Connection]]:
    """Connect to the named environment, or to an explicit ``target`` (see :func:`url_target`)."""
    target = target or resolve(config, env_name)
    conn = db.connect(target.url, label=f"env {target.env.name}")
    try:
        yield target, conn
    finally:
        with contextlib.suppress(Exception):
            conn.close()


def history_for(config: Config, conn: psycopg.Connection) -> History:
    schema, table = config.log_table_parts
    return History(conn, schema, table)


def load_project(config: Config, *, strict: bool = True) -> files.Project:
    project = files.discover(config.root)
    if strict:
        project.require_consistent()
        for m in project.migrations:
            for f in (m.up, m.down, m.verify):
                if f is not None:
                    f.script  # parse now: a syntax error stops the run before anything is applied
    return project


# ---------------------------------------------------------------- init / new

INIT_TOML = '''# dbtool settings and environments. Reference: README.md, "Configuration".
[dbtool]
lock_timeout = "5s"          # SET LOCAL in each migration's transaction
statement_timeout = "0"      # 0 = no limit

[env.dev]
url = "embedded"             # a private local PostgreSQL that dbtool starts

[env.staging]
url = "${STAGING_DATABASE_URL}"

[env.production]
url = "${DATABASE_URL}"
protected = true             # asks for confirmation (or --yes); backup before migrate
'''


@dataclass
class InitResult:
    root: Path
    created: list[str]


def init(root: Path) -> InitResult:
    """Write dbtool.toml and the project folders; leaves existing files alone."""
    root = Path(root)
    created = []
    for sub in ("migrations", "rollbacks", "checks", "checks/integrity", "checks/queries"):
        p = root / sub
        if not p.exists():
            p.mkdir(parents=True)
            created.append(sub + "/")
    toml = root / "dbtool.toml"
    if not toml.exists():
        toml.write_text(INIT_TOML, encoding="utf-8")
        created.append("dbtool.toml")
    gi = root / ".gitignore"
    line = ".dbtool/"
    if not gi.exists() or line not in gi.read_text(encoding="utf-8").splitlines():
        with gi.open("a", encoding="utf-8") as f:
            f.write(("" if not gi.exists() or gi.read_text(encoding="utf-8").endswith("\n") or gi.stat().st_size == 0 else "\n") + line + "\n")
        created.append(".gitignore (.dbtool/)")
    return InitResult(root, created)


@dataclass
class NewResult:
    version: str
    paths: list[Path]


def next_version(project: files.Project, today=None) -> str:
    import datetime as _dt

    today = today or _dt.date.today()
    prefix = f"{today.year:04d}.{today.month:02d}"
    latest = max((m.key for m in project.migrations), default=(0, 0, 0))
    if latest[:2] >= (today.year, today.month):
        y, mo, n = latest
        if n >= 999:
            raise ProjectError(f"version {y:04d}.{mo:02d}.999 is the last of its month; dbtool cannot number past it")
        return f"{y:04d}.{mo:02d}.{n + 1:03d}"
    return f"{prefix}.001"


def new(config: Config, name: str) -> NewResult:
    """Create the up, down and verify stubs of the next version."""
    slug = re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")
    if not slug:
        raise ConfigError(f"migration name {name!r} has no letters or digits; use e.g. add_subscription_status")
    project = files.discover(config.root)
    version = next_version(project)
    fname = f"{version}__{slug}.sql"
    stubs = {
        "migrations": f"-- {version} {slug}: what this migration does and why.\n-- Runs in one transaction with lock_timeout set by dbtool.\n\n",
        "rollbacks": f"-- Rollback of {version} {slug}: restore the schema exactly as it was before.\n\n",
        "checks": f"-- Verify {version} {slug}: raise when the migration did not do what it meant.\n"
                  "DO $$\nBEGIN\n  -- IF NOT EXISTS (...) THEN RAISE EXCEPTION '...'; END IF;\nEND $$;\n",
    }
    paths = []
    for folder, body in stubs.items():
        p = config.root / folder / fname
        p.parent.mkdir(parents=True, exist_ok=True)
        if p.exists():
            raise ProjectError(f"{p.relative_to(config.root)} already exists")
        p.write_text(body, encoding="utf-8")
        paths.append(p)
    return NewResult(version, paths)


# ---------------------------------------------------------------- status / log

STATES = ("applied", "pending", "failed", "interrupted", "drifted", "missing")


@dataclass
class VersionStatus:
    version: str
    name: str
    state: str
    applied_at: str | None = None
    file: str | None = None
    note: str | None = None

    def as_json(self) -> dict:
        return dict(self.__dict__)


@dataclass
class StatusResult:
    env: str
    database: str
    migrations: list[VersionStatus]
    log_table: str

    @property
    def counts(self) -> dict[str, int]:
        c = {s: 0 for s in STATES}
        for m in self.migrations:
            c[m.state] += 1
        return c

    @property
    def current(self) -> str | None:
        applied = [m.version for m in self.migrations if m.state in ("applied", "drifted")]
        return applied[-1] if applied else None

    def as_json(self) -> dict:
        return {"env": self.env, "database": self.database, "current": self.current,
                "migrations": [m.as_json() for m in self.migrations], "summary": self.counts}


def status(config: Config, env_name: str | None = None, *, target: Target | None = None) -> StatusResult:
    project = load_project(config, strict=False)
    with connect(config, env_name, target=target) as (target, conn):
        hist = history_for(config, conn)
        states = hist.states()
    return _status_from(project, states, target, hist.qualified)


def _status_from(project: files.Project, states, target: Target, log_table: str) -> StatusResult:
    out: list[VersionStatus] = []
    for m in project.migrations:
        st = states.get(m.version)
        if st is None:
            out.append(VersionStatus(m.version, m.name, "pending", file=m.up.rel))
            continue
        applied_at = st.applied_row.completed_at.isoformat() if st.applied and st.applied_row.completed_at else None
        if st.interrupted:
            out.append(VersionStatus(m.version, m.name, "interrupted", applied_at, m.up.rel,
                                     f"{st.latest.direction} started {st.latest.started_at:%Y-%m-%d %H:%M:%S}, never completed"))
        elif st.applied and st.applied_row.checksum and st.applied_row.checksum != m.checksum:
            out.append(VersionStatus(m.version, m.name, "drifted", applied_at, m.up.rel, "file changed since it was applied"))
        elif st.failed:
            note = (st.latest.error or "").splitlines()[0][:200] if st.latest.error else None
            out.append(VersionStatus(m.version, m.name, "failed", applied_at, m.up.rel, f"last {st.latest.direction}: {note}"))
        elif st.applied:
            out.append(VersionStatus(m.version, m.name, "applied", applied_at, m.up.rel))
        else:
            out.append(VersionStatus(m.version, m.name, "pending", file=m.up.rel, note="rolled back"))
    for v, st in states.items():
        if project.get(v) is None and (st.applied or st.interrupted):
            at = st.applied_row.completed_at.isoformat() if st.applied_row and st.applied_row.completed_at else None
            out.append(VersionStatus(v, st.name, "missing", at, None, "applied, but its file is gone"))
    out.sort(key=lambda s: files.version_key(s.version) if files.is_version(s.version) else (0, 0, 0))
    return StatusResult(target.env.name, target.display, out, log_table)


@dataclass
class LogResult:
    env: str
    database: str
    rows: list[LogRow]

    def as_json(self) -> dict:
        return {"env": self.env, "database": self.database, "entries": [r.as_json() for r in self.rows]}


def log(config: Config, env_name: str | None = None, *, limit: int | None = None, version: str | None = None) -> LogResult:
    with connect(config, env_name) as (target, conn):
        rows = history_for(config, conn).rows(limit=limit, version=version)
    return LogResult(target.env.name, target.display, rows)


# ---------------------------------------------------------------- migrate / rollback

@dataclass
class RunResult:
    env: str
    database: str
    direction: str
    dry_run: bool
    plan: Plan
    results: list[StepResult] = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    @property
    def applied(self) -> list[str]:
        return [r.version for r in self.results]

    def as_json(self) -> dict:
        out = {"env": self.env, "database": self.database, "direction": self.direction, "dry_run": self.dry_run,
               "plan": [s.as_json() for s in self.plan.steps], "applied": self.applied,
               "report": [r.as_json() for r in self.results]}
        out.update(self.extra)
        return out


def _confirm_protected(target: Target, what: str, yes: bool, confirm: Confirm | None) -> None:
    if not target.env.protected or yes:
        return
    if confirm is None:
        raise ConfigError(f"environment {target.env.name} is protected: pass --yes to {what} (there is no terminal to ask)")
    if not confirm(f"{target.env.name} ({target.display}) is protected. {what[0].upper() + what[1:]}?"):
        raise Aborted(f"{what} on {target.env.name} cancelled; nothing was changed")


def _runner(config: Config, conn, hist: History, observer: Observer | None, progress: Progress) -> Runner:
    return Runner(conn, hist, lock_timeout=str(config.settings["lock_timeout"]),
                  statement_timeout=str(config.settings["statement_timeout"]),
                  retries=int(config.settings["lock_retries"]), backoff_s=config.retry_backoff_s,
                  observer=observer, progress=progress)


def _run(config: Config, env_name: str | None, direction: str, planner, *, dry_run: bool, yes: bool,
         confirm: Confirm | None, progress: Progress, allow_out_of_order: bool = False,
         retry_interrupted: bool = False, observer_factory=None, target: Target | None = None) -> RunResult:
    project = load_project(config)

    def plan_from(states) -> Plan:
        if direction == "up":
            check_history(project, states, allow_out_of_order=allow_out_of_order or config.settings["allow_out_of_order"],
                          retry_interrupted=retry_interrupted)
        return planner(project, states)

    with connect(config, env_name, target=target) as (target, conn):
        hist = history_for(config, conn)
        if dry_run:
            plan = plan_from(hist.states())
            res = RunResult(target.env.name, target.display, direction, True, plan)
            if observer_factory is not None:
                res.extra.update(observer_factory.predict(config, conn, plan) or {})
            return res
        with migration_lock(conn, f"{target.env.name}:{hist.qualified}", config.advisory_wait_s, progress):
            hist.ensure()
            plan = plan_from(hist.states())
            res = RunResult(target.env.name, target.display, direction, False, plan)
            if not plan:
                return res
            _confirm_protected(target, f"{'apply' if direction == 'up' else 'roll back'} {len(plan.steps)} migration(s)",
                               yes, confirm)
            if target.env.backup:
                res.extra["backup"] = _backup_before(config, target, progress)
            observer = observer_factory.observer(config, conn, plan, project) if observer_factory else None
            runner = _runner(config, conn, hist, observer, progress)
            try:
                for step in plan.steps:
                    res.results.append(runner.run_step(step))
                    progress("step_done", step=step, result=res.results[-1])
            except DbtoolError as err:
                # The caller shows what did complete before the failure, then the error.
                err.result = res
                res.extra["error"] = str(err)
                raise
            finally:
                if observer is not None and hasattr(observer, "finish"):
                    res.extra.update(observer.finish(conn) or {})
            return res


def _backup_before(config: Config, target: Target, progress: Progress) -> dict:
    """Environments with ``backup = true`` get a pg_dump archive before they change."""
    try:
        from dbtool import backup as _backup
    except ImportError:
        raise ConfigError(f"environment {target.env.name} has backup = true but this dbtool has no backup support") from None
    result = _backup.backup(config, target.env.name, progress=progress, target=target)
    return result.as_json()


def migrate(config: Config, env_name: str | None = None, *, to: str | None = None, dry_run: bool = False,
            yes: bool = False, confirm: Confirm | None = None, progress: Progress = _noop,
            allow_out_of_order: bool = False, retry_interrupted: bool = False, checks=None,
            target: Target | None = None) -> RunResult:
    """Apply pending migrations in order, each in its own transaction with its log row.

    ``target`` (from :func:`url_target`) runs against an explicit database instead of ``env_name``.
    """
    return _run(config, env_name, "up", lambda p, s: plan_migrate(p, s, to), dry_run=dry_run, yes=yes,
                confirm=confirm, progress=progress, allow_out_of_order=allow_out_of_order,
                retry_interrupted=retry_interrupted, observer_factory=checks, target=target)


def rollback(config: Config, version: str, env_name: str | None = None, *, dry_run: bool = False, yes: bool = False,
             confirm: Confirm | None = None, progress: Progress = _noop, checks=None,
             target: Target | None = None) -> RunResult:
    """Revert ``version`` and every applied version after it, newest first (``target``: as in :func:`migrate`)."""
    if not files.is_version(version):
        raise ConfigError(f"{version!r} is not a version of the form YYYY.MM.NNN (e.g. 2025.01.001)")
    return _run(config, env_name, "down", lambda p, s: plan_rollback(p, s, version), dry_run=dry_run, yes=yes,
                confirm=confirm, progress=progress, observer_factory=checks, target=target)


# ---------------------------------------------------------------- validate

def validate(config: Config, *, static: bool = False, scratch_url: str | None = None, scratch: str | None = None,
             target_version: int | None = None, env_name: str | None = None, versions=None,
             progress: Progress = _noop):
    """Static rules over every script, then (unless ``static``) the round trip of every pair on a scratch database.

    ``target_version``: the PostgreSQL major version the rules judge for; else ``env_name``'s
    ``target_version``, or its server's version when ``env_name`` is given; else dbtool.target_version.
    Returns a validation.ValidateResult; findings are never raised.
    """
    from dbtool import lint, roundtrip, validation
    from dbtool import scratch as scratch_mod

    scratch_mod.parse_spec(scratch)  # a bad --scratch is a usage error before any work
    if scratch and scratch_url:
        raise ConfigError("--scratch-url and --scratch name two different scratch servers; pass one of them")
    project = files.discover(config.root)
    if target_version is None and env_name is not None:
        target_version = _env_target_version(config, env_name)
    static_result = lint.lint(project, config, target_version=target_version)
    res = validation.ValidateResult(static_result, migrations=len(project.migrations), static_only=static)
    res.add(static_result.findings)
    if static:
        return res
    with scratch_mod.database(config, scratch_url=scratch_url, scratch=scratch) as s:
        res.scratch = s.label
        progress("roundtrip_scratch", label=s.label)
        res.roundtrip = roundtrip.roundtrip(project, config, s.url, progress=progress, versions=versions)
    res.add(res.roundtrip.findings)
    return res


def _env_target_version(config: Config, env_name: str) -> int:
    env = config.env(env_name)
    if env.target_version is not None:
        return int(env.target_version)
    with connect(config, env_name) as (_target, conn):
        return db.server_version(conn)


# ---------------------------------------------------------------- embedded

def embedded_status(config: Config) -> dict:
    from dbtool import embedded

    return embedded.status(config.resolve(config.settings["embedded_dir"]))


def embedded_stop(config: Config) -> bool:
    from dbtool import embedded

    return embedded.stop(config.resolve(config.settings["embedded_dir"]))

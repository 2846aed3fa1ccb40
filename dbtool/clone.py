"""dbtool clone: the source's complete schema and migration_log, copied into a target that is not protected.

How (design.md, "Clone and rehearsal"):

1. One READ ONLY, REPEATABLE READ transaction on the source exports its
   snapshot.  pg_dump --schema-only reads in that same snapshot, and so do the
   log rows, the table sizes, the sampled rows and the catalog snapshot: all
   that the clone carries describes one instant of the source.
2. pg_dump's output, its roles adapted to the target (:mod:`dbtool.dumpstream`),
   is loaded by psql, stopping at the first error.
3. The log rows are copied, the source's sizes go to ``dbtool_source_stats``,
   materialized views populated on the source are refreshed.
4. The target's catalog snapshot must equal the source's (:func:`snapshot.diff`).

Every connection to the source has ``default_transaction_read_only=on``, and
pg_dump only reads: nothing on the source is ever written.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import re
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from typing import Callable

import psycopg
from psycopg import sql

from dbtool import db, dumpstream, pgtools, sample, snapshot, targetdb
from dbtool.api import Confirm, Target
from dbtool.config import Config
from dbtool.errors import Aborted, ConfigError, TransferError

Progress = Callable[..., None]
STATS_TABLE = "dbtool_source_stats"
BATCH = 200  # pg_dump entries per transaction on the target (see dumpstream.Adapter)
OPTION_KEYS = {"data", "sample_rows", "owners", "grants", "create_roles"}


def _noop(*_a, **_k) -> None:
    return None


@dataclass
class Options:
    """What the clone carries; ``[clone]`` in dbtool.toml, then flags."""

    data: str = "none"  # "none" or "sample"
    sample_rows: int = 100
    owners: str | dict = "keep"  # "keep", "drop" or {"source_role": "target_role"}
    grants: bool = True
    create_roles: bool = False  # create roles the target lacks (NOLOGIN): scratch servers only

    @classmethod
    def from_config(cls, config: Config, **flags) -> Options:
        where = f"{config.path.name if config.path else 'dbtool.toml'}: [clone]"
        section = config.raw.get("clone", {})
        if not isinstance(section, dict):
            raise ConfigError(f"{where} must be a table")
        unknown = set(section) - OPTION_KEYS
        if unknown:
            raise ConfigError(f"{where} has unknown setting {sorted(unknown)[0]}; known: {', '.join(sorted(OPTION_KEYS))}")
        opts = cls(**section)
        for key, value in flags.items():
            if value is not None:
                setattr(opts, key, value)
        opts.check(where)
        return opts

    def check(self, where: str = "clone") -> None:
        if self.data not in ("none", "sample"):
            raise ConfigError(f"{where} data = {self.data!r}: write \"none\" or \"sample\"")
        if not isinstance(self.sample_rows, int) or isinstance(self.sample_rows, bool) or self.sample_rows < 1:
            raise ConfigError(f"{where} sample_rows = {self.sample_rows!r} must be a whole number of at least 1")
        if isinstance(self.owners, dict):
            if not all(isinstance(k, str) and isinstance(v, str) and v for k, v in self.owners.items()):
                raise ConfigError(f"{where} owners must map role names to role names, e.g. {{ app_owner = \"staging_owner\" }}")
        elif self.owners not in ("keep", "drop"):
            raise ConfigError(f"{where} owners = {self.owners!r}: write \"keep\", \"drop\" or a table mapping roles")
        for flag in ("grants", "create_roles"):
            if not isinstance(getattr(self, flag), bool):
                raise ConfigError(f"{where} {flag} must be true or false")


@dataclass
class CloneResult:
    source_env: str
    target_env: str
    source: str
    target: str
    options: Options
    server_versions: dict = field(default_factory=dict)
    tools: dict = field(default_factory=dict)
    objects: dict = field(default_factory=dict)
    emptied: dict = field(default_factory=dict)
    roles_created: list[str] = field(default_factory=list)
    log_rows: int = 0
    stats_rows: int = 0
    sample: dict = field(default_factory=dict)
    matviews_refreshed: int = 0
    adjustments: dumpstream.Adjustments = field(default_factory=dumpstream.Adjustments)
    compared: bool = False
    ignored: list[str] = field(default_factory=list)
    differences: list[snapshot.Difference] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    timings_ms: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.differences

    def as_json(self) -> dict:
        return {"ok": self.ok, "source": {"env": self.source_env, "database": self.source},
                "target": {"env": self.target_env, "database": self.target},
                "data": self.options.data, "sample_rows": self.options.sample_rows if self.options.data == "sample" else None,
                "owners": self.options.owners, "grants": self.options.grants,
                "server_versions": self.server_versions, "tools": self.tools, "objects": self.objects,
                "emptied": self.emptied, "roles_created": self.roles_created, "log_rows": self.log_rows,
                "stats_table": STATS_TABLE, "stats_rows": self.stats_rows, "sample": self.sample,
                "matviews_refreshed": self.matviews_refreshed, "roles": self.adjustments.as_json(),
                "schema_equal": self.compared and self.ok, "compared": self.compared, "not_compared": self.ignored,
                "differences": [d.to_dict() for d in self.differences], "notes": self.notes,
                "timings_ms": {k: round(v) for k, v in self.timings_ms.items()}}


# ---------------------------------------------------------------- entry points

def clone(config: Config, source_env: str, target_env: str, *, options: Options | None = None, yes: bool = False,
          confirm: Confirm | None = None, progress: Progress = _noop) -> CloneResult:
    """Copy ``source_env``'s schema and migration_log into ``target_env`` (not protected), then compare them."""
    from dbtool import api

    if source_env == target_env:
        raise ConfigError(f"--from and --to both name environment {source_env}; clone copies one database into another")
    target_cfg = config.env(target_env)
    if target_cfg.protected:
        raise ConfigError(f"environment {target_env} is protected: dbtool clone never writes into a protected environment")
    source = api.resolve(config, source_env)
    target = api.resolve(config, target_env)
    return copy(config, source, target, options=options or Options.from_config(config), yes=yes, confirm=confirm,
                progress=progress)


def copy(config: Config, source: Target, target: Target, *, options: Options, yes: bool = False,
         confirm: Confirm | None = None, progress: Progress = _noop) -> CloneResult:
    """The clone itself, between two resolved targets (rehearse passes a scratch database as ``target``)."""
    if target.env.protected:
        raise ConfigError(f"environment {target.env.name} is protected: dbtool clone never writes into a protected environment")
    res = CloneResult(source.env.name, target.env.name, source.display, target.display, options)
    clock = _Clock(res.timings_ms)
    log_table = str(config.settings["log_table"])
    with contextlib.ExitStack() as stack:
        src = stack.enter_context(SourceReader(source, config))
        dst = db.connect(target.url, label=f"env {target.env.name}")
        stack.callback(dst.close)
        if targetdb.same_database(src.conn, dst):
            raise ConfigError(f"{source.env.name} and {target.env.name} are the same database ({target.display}); "
                              "clone needs two different databases")
        with clock("prepare"):
            res.server_versions = {"source": db.server_version(src.conn), "target": db.server_version(dst)}
            tools = pgtools.toolset(res.server_versions["source"], purpose=f"to clone {source.env.name}")
            res.tools = tools.as_json()
            if res.server_versions["target"] < res.server_versions["source"]:
                res.notes.append(f"the target runs PostgreSQL {res.server_versions['target']}, older than the source's "
                                 f"{res.server_versions['source']}: objects that need the newer server will fail to load")
            _require_extensions(src, dst, target)
            _make_room(dst, target, yes, confirm, res, progress)
            policy = _role_policy(src, dst, options, res)
        tables = src.table_count()
        progress("task", key="clone", description=f"clone {source.env.name} → {target.env.name}", total=tables)
        pool = stack.enter_context(concurrent.futures.ThreadPoolExecutor(max_workers=1))
        # The source's own reading (catalog snapshot, log, sizes) overlaps pg_dump and psql.
        reading = pool.submit(src.read_all, log_table, options.data == "sample")
        counter = _TableCounter(progress, tables)
        dumper = _Dumper(tools, source, src.snapshot_id, options, int(config.advisory_wait_s * 1000))
        if options.data == "none":
            with clock("schema"):
                dumper.dump_and_load(target, policy, res, counter)
        else:
            with clock("schema"), tempfile.TemporaryFile() as post:
                post_dump = dumper.start("post-data", stdout=post)
                try:
                    dumper.dump_and_load(target, policy, res, counter, section="pre-data")
                    dumper.wait(post_dump)
                finally:
                    dumper.stop(post_dump)
                with clock("sample"):
                    progress("message", text=f"copying up to {options.sample_rows} rows per table")
                    res.sample = sample.copy(source.url, src.snapshot_id, dst, options.sample_rows,
                                             exclude=(log_table,), progress=progress)
                post.seek(0)
                _load(tools, target, iter(post.readline, b""), policy, res, counter)
        progress("done", key="clone")
        with clock("source reading (overlapped)"):
            try:
                facts = reading.result()
            except psycopg.Error as exc:
                raise TransferError(f"reading {source.env.name} failed: {exc.diag.message_primary or exc}") from None
        with clock("log and stats"):
            res.log_rows = targetdb.copy_log(dst, log_table, facts.log_copy, facts.log_columns)
            res.stats_rows = targetdb.write_stats(dst, _stats_table(log_table), facts.stats, source.env.name,
                                                  source.display, facts.taken_at)
            if options.data == "sample":
                targetdb.set_sequences(dst, facts.sequences)
        with clock("materialized views"):
            res.matviews_refreshed, failed = targetdb.refresh_matviews(dst, facts.populated_matviews)
            res.notes += [f"materialized view {m} could not be refreshed on the target: {why}" for m, why in failed]
        with clock("compare"):
            res.ignored = _not_comparable(options, res.adjustments)
            after = snapshot.take(dst, log_table=log_table)
            expected = _mapped(facts.snapshot, options.owners) if isinstance(options.owners, dict) else facts.snapshot
            res.differences = snapshot.diff(expected, after, ignore=res.ignored)
            res.compared = True
            res.objects = {k: v for k, v in sorted(res.adjustments.entries.items())}
        res.notes += res.adjustments.notes()
    return res


# ---------------------------------------------------------------- the source, read-only

@dataclass
class SourceFacts:
    snapshot: snapshot.Snapshot
    log_copy: bytes | None
    log_columns: list[str]
    stats: list[tuple]
    taken_at: object
    populated_matviews: list[str]
    sequences: list[tuple]


_REL = f"""pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE {targetdb.USER_NS} AND {targetdb.not_member('pg_class', 'c.oid')}"""
USER_TABLES_COUNT = f"SELECT count(*) FROM {_REL} AND c.relkind IN ('r', 'p')"
# Roles the source's objects depend on: owners ('o'), privileges ('a', 'i') and policies ('r').  The bootstrap
# superuser (oid 10) is pinned, so its ownerships are not recorded: it is added as an owner.
SOURCE_ROLES = """
SELECT DISTINCT r.rolname, d.deptype::text FROM pg_catalog.pg_shdepend d JOIN pg_catalog.pg_roles r ON r.oid = d.refobjid
WHERE d.refclassid = 'pg_catalog.pg_authid'::regclass
  AND d.dbid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())
UNION SELECT rolname, 'o' FROM pg_catalog.pg_roles WHERE oid = 10"""
SOURCE_STATS = f"""
SELECT n.nspname, c.relname,
  CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'partitioned table' ELSE 'materialized view' END,
  CASE WHEN c.relkind = 'p' THEN (SELECT coalesce(sum(pg_catalog.pg_table_size(t.relid)), 0) FROM pg_catalog.pg_partition_tree(c.oid) t)
       ELSE coalesce(pg_catalog.pg_table_size(c.oid), 0) END::bigint,
  CASE WHEN c.relkind = 'p' THEN (SELECT coalesce(sum(pg_catalog.pg_indexes_size(t.relid)), 0) FROM pg_catalog.pg_partition_tree(c.oid) t)
       ELSE coalesce(pg_catalog.pg_indexes_size(c.oid), 0) END::bigint,
  CASE WHEN c.relkind = 'p' THEN (SELECT coalesce(sum(pg_catalog.pg_total_relation_size(t.relid)), 0) FROM pg_catalog.pg_partition_tree(c.oid) t)
       ELSE coalesce(pg_catalog.pg_total_relation_size(c.oid), 0) END::bigint,
  CASE WHEN c.relkind = 'p' THEN (SELECT coalesce(sum(greatest(pc.reltuples, 0)), 0) FROM pg_catalog.pg_partition_tree(c.oid) t
                                  JOIN pg_catalog.pg_class pc ON pc.oid = t.relid WHERE t.isleaf)
       ELSE c.reltuples END::float8,
  CASE WHEN c.relkind = 'p' THEN (SELECT coalesce(sum(pc.relpages), 0) FROM pg_catalog.pg_partition_tree(c.oid) t
                                  JOIN pg_catalog.pg_class pc ON pc.oid = t.relid WHERE t.isleaf)
       ELSE c.relpages END::bigint
FROM {_REL} AND c.relkind IN ('r', 'p', 'm') AND c.relname <> %s
ORDER BY 1, 2"""
POPULATED_MATVIEWS = f"SELECT format('%I.%I', n.nspname, c.relname) FROM {_REL} AND c.relkind = 'm' AND c.relispopulated ORDER BY c.oid"
SEQUENCE_VALUES = f"""
SELECT format('%I.%I', s.schemaname, s.sequencename), s.last_value FROM pg_catalog.pg_sequences s
JOIN pg_catalog.pg_namespace n ON n.nspname = s.schemaname
JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = s.sequencename
WHERE s.last_value IS NOT NULL AND {targetdb.USER_NS} AND {targetdb.not_member('pg_class', 'c.oid')}"""


class SourceReader:
    """One READ ONLY REPEATABLE READ transaction on the source, its snapshot exported for pg_dump."""

    def __init__(self, source: Target, config: Config):
        self.source = source
        self.config = config
        self.conn = db.connect(db.read_only(source.url), autocommit=False, label=f"env {source.env.name} (read-only)")
        self.conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        self.conn.read_only = True
        try:
            # Reading sizes opens each table: behind a migration's exclusive lock, fail as pg_dump does, not hang.
            self.conn.execute(sql.SQL("SET lock_timeout = {}").format(sql.Literal(f"{int(config.advisory_wait_s * 1000)}ms")))
            self.snapshot_id = self.conn.execute("SELECT pg_export_snapshot()").fetchone()[0]
        except psycopg.Error as exc:
            self.conn.close()
            raise TransferError(f"cannot open a read-only snapshot on {source.display}: {exc.diag.message_primary or exc}") from None

    def __enter__(self) -> SourceReader:
        return self

    def __exit__(self, *exc) -> None:
        with contextlib.suppress(psycopg.Error):
            self.conn.rollback()  # nothing was written: ending it either way is the same
        self.conn.close()

    def table_count(self) -> int:
        return self.conn.execute(USER_TABLES_COUNT).fetchone()[0]

    def roles(self) -> dict[str, set[str]]:
        """Roles the source's objects name: {"owner": ..., "acl": ..., "policy": ...}."""
        out: dict[str, set[str]] = {"owner": set(), "acl": set(), "policy": set()}
        kinds = {"o": "owner", "a": "acl", "r": "policy", "i": "acl"}
        for role, deptype in self.conn.execute(SOURCE_ROLES):
            if deptype in kinds:
                out[kinds[deptype]].add(role)
        return out

    def read_all(self, log_table: str, with_sequences: bool) -> SourceFacts:
        c = self.conn
        snap = snapshot.take(c, log_table=log_table)
        schema, table = _split(log_table)
        log_copy, columns = None, []
        if c.execute("SELECT to_regclass(%s)", [sql.Identifier(schema, table).as_string(c)]).fetchone()[0]:
            columns = [r[0] for r in c.execute(
                "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped"
                " AND attgenerated = '' ORDER BY attnum", [sql.Identifier(schema, table).as_string(c)])]
            q = sql.SQL("COPY (SELECT {} FROM {} ORDER BY 1) TO STDOUT (FORMAT binary)").format(
                sql.SQL(", ").join(map(sql.Identifier, columns)), sql.Identifier(schema, table))
            with c.cursor().copy(q) as cp:
                log_copy = b"".join(bytes(block) for block in cp)
        stats = c.execute(SOURCE_STATS, [STATS_TABLE]).fetchall()
        taken_at = c.execute("SELECT now()").fetchone()[0]
        matviews = [r[0] for r in c.execute(POPULATED_MATVIEWS)]
        sequences = c.execute(SEQUENCE_VALUES).fetchall() if with_sequences else []
        return SourceFacts(snap, log_copy, columns, stats, taken_at, matviews, sequences)


def _split(qualified: str) -> tuple[str, str]:
    schema, _, table = qualified.rpartition(".")
    return schema or "public", table


def _stats_table(log_table: str) -> tuple[str, str]:
    return _split(log_table)[0], STATS_TABLE


# ---------------------------------------------------------------- the target

def _require_extensions(src: SourceReader, dst: psycopg.Connection, target: Target) -> None:
    """Every extension the source uses must be installable on the target's server, checked before anything changes."""
    used = [r[0] for r in src.conn.execute("SELECT extname FROM pg_catalog.pg_extension ORDER BY 1")]
    offered = {r[0] for r in dst.execute("SELECT name FROM pg_catalog.pg_available_extensions")}
    missing = [e for e in used if e not in offered]
    if missing:
        raise ConfigError(f"the source uses extension(s) {', '.join(missing)}, which the server of {target.env.name} "
                          f"({target.display}) does not offer; install them there first", missing_extensions=missing)


def _make_room(dst: psycopg.Connection, target: Target, yes: bool, confirm: Confirm | None, res: CloneResult,
               progress: Progress) -> None:
    """A target with objects is emptied only after confirmation (or --yes)."""
    found = targetdb.inventory(dst)
    if not found:
        return
    what = ", ".join(f"{n} {k}" for k, n in found.items())
    if not yes:
        if confirm is None:
            raise ConfigError(f"{target.env.name} ({target.display}) is not empty ({what}): pass --yes to empty it and "
                              "clone into it (there is no terminal to ask)")
        if not confirm(f"{target.env.name} ({target.display}) holds {what}. Drop all of it and clone into it?"):
            raise Aborted(f"clone into {target.env.name} cancelled; nothing was changed")
    progress("message", text=f"emptying {target.env.name}: {what}")
    targetdb.empty(dst)
    res.emptied = found


def _role_policy(src: SourceReader, dst: psycopg.Connection, options: Options, res: CloneResult) -> dumpstream.RolePolicy:
    named = src.roles()
    mapping = options.owners if isinstance(options.owners, dict) else {}
    on_target = targetdb.roles(dst)
    wanted = {mapping.get(r, r) for r in named["owner"]} | {mapping.get(r, r) for r in named["acl"]} | named["policy"]
    missing = sorted(r for r in wanted if r not in on_target.existing)
    if missing and options.create_roles:
        targetdb.create_roles(dst, missing)
        res.roles_created = missing
        on_target = targetdb.roles(dst)
    lacking = sorted(r for r in named["policy"] if r not in on_target.existing)
    if lacking:
        raise ConfigError(f"row-level security policies of {src.source.env.name} apply to role(s) {', '.join(lacking)}, "
                          f"which the target server does not have; create them there (CREATE ROLE ... NOLOGIN) first")
    return dumpstream.RolePolicy(on_target.existing, options.owners, options.grants,
                                 assignable=on_target.assignable, superuser=on_target.superuser)


DEFACL_KEY = re.compile(r'^default privileges for role (?P<role>"(?:[^"]|"")+"|\S+)(?P<rest> .*)$')


def _mapped(snap: snapshot.Snapshot, owners: dict[str, str]) -> snapshot.Snapshot:
    """The source's snapshot as the mapping makes it: default privileges are keyed by their (mapped) role."""
    objects = {}
    for key, value in snap.objects.items():
        m = DEFACL_KEY.match(key)
        if m:
            role = m.group("role")
            name = role[1:-1].replace('""', '"') if role.startswith('"') else role
            new = owners.get(name, name)
            shown = new if re.fullmatch(r"[a-z_][a-z0-9_$]*", new) else '"' + new.replace('"', '""') + '"'
            key = f"default privileges for role {shown}{m.group('rest')}"
        objects[key] = value
    return snapshot.Snapshot(objects=objects, server_version=snap.server_version)


def _not_comparable(options: Options, adj: dumpstream.Adjustments) -> list[str]:
    """Attributes the options made differ on purpose: owners dropped or mapped, grants left out."""
    out = []
    if options.owners != "keep" or adj.owners_skipped or adj.owners_mapped:
        out.append("owner")
    if not options.grants or adj.grants_skipped:
        out += ["acl", "default privileges"]
    return out


# ---------------------------------------------------------------- pg_dump | psql

class _TableCounter:
    def __init__(self, progress: Progress, total: int):
        self.progress, self.total, self.done = progress, total, 0

    def __call__(self, kind: str, label: str) -> None:
        if kind == "TABLE":
            self.done += 1
            self.progress("advance", key="clone", completed=min(self.done, self.total))


@dataclass
class _Dumper:
    """pg_dump --schema-only of the source, in the source's exported snapshot."""

    tools: pgtools.Toolset
    source: Target
    snapshot_id: str
    options: Options
    lock_wait_ms: int

    def start(self, section: str | None = None, stdout=subprocess.PIPE) -> subprocess.Popen:
        dbname, env = pgtools.libpq_args(self.source.url, read_only=True)
        args = [str(self.tools.pg_dump.path), f"--section={section}" if section else "--schema-only", "--encoding=UTF8",
                f"--snapshot={self.snapshot_id}",
                # A running migration holding a table lock makes pg_dump fail clearly rather than wait for ever.
                f"--lock-wait-timeout={self.lock_wait_ms}",
                # A staging copy must never start consuming the production publisher's changes.
                "--no-subscriptions"]
        if self.options.owners == "drop":
            args.append("--no-owner")
        if not self.options.grants:
            args.append("--no-acl")
        proc = subprocess.Popen(args + [f"--dbname={dbname}"], stdout=stdout, stderr=subprocess.PIPE, env=env)
        proc.drain = dumpstream.Drain(proc.stderr)
        return proc

    def wait(self, proc: subprocess.Popen) -> None:
        code = proc.wait()
        err = proc.drain.text()
        if code != 0:
            raise TransferError(f"pg_dump failed reading the source: {pgtools.dump_failure(err, self.lock_wait_ms)}")

    @staticmethod
    def stop(proc: subprocess.Popen) -> None:
        if proc.poll() is None:
            proc.kill()
        proc.wait()

    def dump_and_load(self, target: Target, policy, res: CloneResult, counter, section: str | None = None) -> None:
        dump = self.start(section)
        try:
            _load(self.tools, target, dump.stdout, policy, res, counter)
        except BaseException:
            self.stop(dump)
            raise
        self.wait(dump)


def _load(tools, target: Target, lines, policy, res: CloneResult, counter) -> None:
    adapter = dumpstream.Adapter(policy, on_entry=counter, batch=BATCH)
    # The target is being rebuilt from scratch: a crash mid-way is redone anyway, so no fsync per statement.
    psql = dumpstream.Psql(tools.psql, target.url, label=f"{target.env.name} ({target.display})",
                           options="-c synchronous_commit=off")
    try:
        fed = psql.feed(adapter.lines(lines))
    except BaseException:
        psql.kill()
        raise
    try:
        psql.finish(adapter)
    finally:
        res.adjustments.merge(adapter.adj)
    if not fed:  # pragma: no cover - finish() raises when psql stopped early
        raise TransferError(f"psql stopped reading before the end of the schema of {target.env.name}")


class _Clock:
    def __init__(self, into: dict):
        self.into = into

    @contextlib.contextmanager
    def __call__(self, phase: str):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.into[phase] = self.into.get(phase, 0.0) + (time.perf_counter() - t0) * 1000.0


def describe(res: CloneResult) -> str:
    """The clone report as text."""
    lines = [f"cloned {res.source_env} ({res.source}) → {res.target_env} ({res.target})"]
    tables = res.objects.get("TABLE", 0)
    lines.append(f"  schema: {tables} tables, {sum(res.objects.values())} objects (pg_dump {res.tools.get('pg_dump', {}).get('version', '?')})")
    if res.emptied:
        lines.append("  emptied first: " + ", ".join(f"{n} {k}" for k, n in res.emptied.items()))
    if res.roles_created:
        lines.append(f"  roles created on the target (NOLOGIN): {', '.join(res.roles_created)}")
    lines.append(f"  migration_log: {res.log_rows} rows")
    lines.append(f"  source sizes: {res.stats_rows} tables in {STATS_TABLE}")
    if res.sample:
        lines.append(f"  sample data: {res.sample.get('rows', 0)} rows in {res.sample.get('tables', 0)} tables"
                     f" (at most {res.options.sample_rows} per table; {res.sample.get('orphans_removed', 0)} rows removed to keep foreign keys consistent)")
    for note in res.notes:
        lines.append(f"  note: {note}")
    if res.ok:
        skipped = f" (not compared: {', '.join(res.ignored)})" if res.ignored else ""
        lines.append(f"schema check: the target equals the source{skipped}")
    else:
        lines.append(f"schema check: {len(res.differences)} difference(s) between source and target:")
        lines += [f"  {d.describe()}" for d in res.differences[:50]]
        if len(res.differences) > 50:
            lines.append(f"  ... and {len(res.differences) - 50} more (--format json lists all)")
    total = sum(v for k, v in res.timings_ms.items() if "overlapped" not in k)
    lines.append(f"done in {total / 1000:.1f}s")
    return "\n".join(lines)

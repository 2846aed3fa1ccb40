"""dbtool backup and restore: pg_dump custom-format archives with a manifest, and the way back.

A backup is three files in ``backup_dir`` (dbtool.toml), each mode 0600 in a
0700 folder: ``<env>-<db>-<UTC time>-<version>.dump`` (``pg_dump -Fc``),
``.json``, its manifest (time, database, server version, the version applied
at that moment, sha256 and size of the archive), and ``.schema.json``, the
schema snapshot the archive holds (its sha256 in the manifest).  The archive
and everything in the manifest are read in one exported snapshot, so "applied
version" and "schema" describe exactly the archive's instant.  The database
is only read.

A restore checks the archive against its manifest first (a changed or
truncated file is refused), empties the target after confirmation, loads the
archive (``pg_restore -f - | psql``, roles adapted as for a clone), ANALYZEs,
and compares the restored schema with the manifest's snapshot.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import psycopg

from dbtool import __version__, db, dumpstream, files, pgtools, snapshot, targetdb
from dbtool.api import Confirm, Target
from dbtool.config import Config
from dbtool.errors import Aborted, ConfigError, TransferError
from dbtool.history import History

Progress = Callable[..., None]
MANIFEST_FORMAT = "dbtool backup manifest v1"
CHUNK = 1 << 20
TABLE_LINE = re.compile(rb'dumping contents of table "(?P<name>[^"]+)"')


def _noop(*_a, **_k) -> None:
    return None


@dataclass
class BackupResult:
    path: Path
    manifest_path: Path
    manifest: dict

    def as_json(self) -> dict:
        return {"path": str(self.path), "manifest_path": str(self.manifest_path), **self.manifest}


def backup(config: Config, env_name: str | None = None, *, progress: Progress = _noop,
           target: Target | None = None) -> BackupResult:
    """Archive the environment's database with pg_dump (custom format) and write its manifest."""
    from dbtool import api

    target = target or api.resolve(config, env_name)
    folder = config.resolve(config.settings["backup_dir"])
    _private_folder(folder)
    conn = db.connect(db.read_only(target.url), autocommit=False, label=f"env {target.env.name} (read-only)")
    try:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        snapshot_id = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]
        facts = _facts(config, conn)
        tools = pgtools.toolset(facts["server_major"], purpose=f"to back up {target.env.name}")
        stamp = dt.datetime.now(dt.timezone.utc)
        name = _file_name(target.env.name, facts["dbname"], stamp, facts["applied_version"])
        path = folder / f"{name}.dump"
        progress("task", key="backup", description=f"backup of {target.env.name}", total=facts["tables"] or None)
        sha, size = _dump(tools.pg_dump, target.url, snapshot_id, path, progress, int(config.advisory_wait_s * 1000))
        progress("done", key="backup")
        schema = snapshot.take(conn, log_table=str(config.settings["log_table"]))
    finally:
        with contextlib.suppress(psycopg.Error):
            conn.rollback()
        conn.close()
    manifest = {
        "format": MANIFEST_FORMAT,
        "file": path.name,
        "created_at": stamp.isoformat(timespec="seconds"),
        "env": target.env.name,
        "database": target.display,
        "dbname": facts["dbname"],
        "server_version": facts["server_version"],
        "server_version_num": facts["server_version_num"],
        "applied_version": facts["applied_version"],
        "log_table": str(config.settings["log_table"]),
        "tables": facts["tables"],
        "archive_format": "custom",
        "sha256": sha,
        "size": size,
        "pg_dump": {"version": tools.pg_dump.version, "path": str(tools.pg_dump.path)},
        "dbtool_version": __version__,
    }
    # The schema snapshot is big (one entry per column): it lives beside the manifest, which names its hash.
    schema_bytes = schema.to_json(indent=1).encode()
    schema_path = folder / f"{name}.schema.json"
    _write_private(schema_path, schema_bytes)
    manifest["schema_file"] = schema_path.name
    manifest["schema_sha256"] = hashlib.sha256(schema_bytes).hexdigest()
    manifest_path = folder / f"{name}.json"
    _write_private(manifest_path, json.dumps(manifest, indent=2, sort_keys=False).encode() + b"\n")
    return BackupResult(path, manifest_path, manifest)


def _facts(config: Config, conn: psycopg.Connection) -> dict:
    schema, table = config.log_table_parts
    hist = History(conn, schema, table)
    applied = [v for v, st in hist.states().items() if st.applied] if hist.exists() else []
    row = conn.execute("SELECT current_database(), current_setting('server_version'), current_setting('server_version_num')::int,"
                       " (SELECT count(*) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
                       f"  WHERE c.relkind = 'r' AND {targetdb.USER_NS})").fetchone()
    return {"dbname": row[0], "server_version": row[1], "server_version_num": row[2], "server_major": row[2] // 10000,
            "tables": row[3], "applied_version": max(applied, key=_version_key, default=None)}


def _version_key(v: str):
    return files.version_key(v) if files.is_version(v) else (0, 0, 0)


def _file_name(env: str, dbname: str, stamp: dt.datetime, version: str | None) -> str:
    safe = lambda s: re.sub(r"[^A-Za-z0-9_.-]+", "_", s)  # noqa: E731
    return f"{safe(env)}-{safe(dbname)}-{stamp:%Y%m%dT%H%M%SZ}-{version or 'none'}"


def _private_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise ConfigError(f"backup_dir {folder} cannot be created: {exc.strerror}") from None
    if not os.access(folder, os.W_OK):
        raise ConfigError(f"backup_dir {folder} is not writable")


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _dump(tool: pgtools.Tool, url: str, snapshot_id: str, path: Path, progress: Progress,
          lock_wait_ms: int) -> tuple[str, int]:
    """pg_dump -Fc into ``path`` (created 0600, never readable by others even for a moment); (sha256, size)."""
    dbname, env = pgtools.libpq_args(url, read_only=True)
    args = [str(tool.path), "--format=custom", "--verbose", f"--snapshot={snapshot_id}",
            f"--lock-wait-timeout={lock_wait_ms}", f"--dbname={dbname}"]
    done = {"tables": 0}

    def on_line(line: bytes) -> None:
        if TABLE_LINE.search(line):
            done["tables"] += 1
            progress("advance", key="backup", completed=done["tables"])

    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise TransferError(f"{path} already exists; a backup never overwrites another") from None
    sha, size = hashlib.sha256(), 0
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    err = dumpstream.Drain(proc.stderr, on_line=on_line)
    ok = False
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := proc.stdout.read(CHUNK):
                sha.update(chunk)
                out.write(chunk)
                size += len(chunk)
            out.flush()
            os.fsync(out.fileno())
        code = proc.wait()
        if code != 0:
            text = err.text()
            reason = (pgtools.dump_failure(text, lock_wait_ms) if pgtools.LOCK_QUERY_RE.search(text)
                      else pgtools.tail(_errors_only(text)))
            raise TransferError(f"pg_dump failed; no backup was written: {reason}")
        ok = True
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if not ok:
            with contextlib.suppress(OSError):
                path.unlink()
    return sha.hexdigest(), size


def _errors_only(stderr: str) -> str:
    """pg_dump --verbose chatter left out: the lines that say what went wrong."""
    lines = [ln for ln in stderr.splitlines() if "error" in ln.lower() or "fatal" in ln.lower()]
    return "\n".join(lines) or stderr


# ---------------------------------------------------------------- restore

@dataclass
class RestoreResult:
    file: Path
    env: str
    database: str
    manifest: dict | None
    verified: bool
    emptied: dict = field(default_factory=dict)
    entries: int = 0
    adjustments: dumpstream.Adjustments = field(default_factory=dumpstream.Adjustments)
    compared: bool = False
    ignored: list[str] = field(default_factory=list)
    differences: list[snapshot.Difference] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences

    def as_json(self) -> dict:
        m = self.manifest or {}
        return {"ok": self.ok, "file": str(self.file), "env": self.env, "database": self.database,
                "verified": self.verified, "sha256": m.get("sha256"), "backup_of": m.get("database"),
                "created_at": m.get("created_at"), "applied_version": m.get("applied_version"),
                "emptied": self.emptied, "entries": self.entries, "roles": self.adjustments.as_json(),
                "compared": self.compared, "not_compared": self.ignored,
                "differences": [d.to_dict() for d in self.differences], "notes": self.notes}


def read_manifest(file: Path) -> dict | None:
    path = file.with_suffix(".json")
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: not a readable manifest ({exc})") from None
    if manifest.get("format") != MANIFEST_FORMAT:
        raise ConfigError(f"{path}: not a dbtool backup manifest (format {MANIFEST_FORMAT!r} expected)")
    return manifest


def verify(file: Path, manifest: dict) -> None:
    """The archive is the one the manifest describes (sha256 and size), or TransferError."""
    sha, size = hashlib.sha256(), 0
    with open(file, "rb") as f:
        while chunk := f.read(CHUNK):
            sha.update(chunk)
            size += len(chunk)
    if size != manifest.get("size") or sha.hexdigest() != manifest.get("sha256"):
        raise TransferError(f"{file} does not match its manifest (size {size} vs {manifest.get('size')}, sha256 "
                            f"{sha.hexdigest()[:12]}… vs {str(manifest.get('sha256'))[:12]}…); refusing to restore a "
                            "damaged or altered archive")


def restore(config: Config, file: str | Path, env_name: str | None = None, *, yes: bool = False,
            confirm: Confirm | None = None, progress: Progress = _noop, owners: str | dict = "keep",
            grants: bool = True, target: Target | None = None) -> RestoreResult:
    """Load a backup into an environment: verified, confirmed, emptied, loaded, analysed, compared."""
    from dbtool import api

    file = Path(file)
    if not file.is_file():
        raise ConfigError(f"{file} does not exist")
    manifest = read_manifest(file)
    if manifest is not None:
        verify(file, manifest)
    target = target or api.resolve(config, env_name)
    res = RestoreResult(file, target.env.name, target.display, manifest, manifest is not None)
    if manifest is None:
        res.notes.append(f"no manifest ({file.with_suffix('.json').name}) beside the archive: its integrity was not checked")
    dst = db.connect(target.url, label=f"env {target.env.name}")
    try:
        found = targetdb.inventory(dst)
        _confirm_restore(target, found, file, yes, confirm)
        dump_major = int(str((manifest or {}).get("pg_dump", {}).get("version", "0")).split(".")[0] or 0)
        tools = pgtools.toolset(max(db.server_version(dst), dump_major), purpose=f"to restore {file.name}")
        if found:
            progress("message", text=f"emptying {target.env.name}: " + ", ".join(f"{n} {k}" for k, n in found.items()))
            targetdb.empty(dst)
            res.emptied = found
        on_target = targetdb.roles(dst)
        policy = dumpstream.RolePolicy(on_target.existing, owners, grants, assignable=on_target.assignable,
                                       superuser=on_target.superuser)
        total = _toc_entries(tools.pg_restore, file)
        progress("task", key="restore", description=f"restore into {target.env.name}", total=total)
        res.entries = _load(tools, file, target, policy, res, progress, owners, grants)
        progress("done", key="restore")
        dst.execute("ANALYZE")
        expected = _backed_up_schema(file, manifest)
        if expected is not None:
            res.ignored = _not_comparable(owners, grants, res.adjustments)
            res.differences = snapshot.diff(expected, snapshot.take(dst, log_table=manifest.get("log_table") or
                                                                    str(config.settings["log_table"])), ignore=res.ignored)
            res.compared = True
        res.notes += res.adjustments.notes()
    finally:
        dst.close()
    return res


def _backed_up_schema(file: Path, manifest: dict | None) -> snapshot.Snapshot | None:
    if not manifest or not manifest.get("schema_file"):
        return None
    path = file.parent / manifest["schema_file"]
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if hashlib.sha256(data).hexdigest() != manifest.get("schema_sha256"):
        raise TransferError(f"{path} does not match the sha256 in its manifest; refusing to compare against an altered file")
    return snapshot.Snapshot.from_json(data)


def _confirm_restore(target: Target, found: dict, file: Path, yes: bool, confirm: Confirm | None) -> None:
    if not (target.env.protected or found) or yes:
        return
    why = []
    if target.env.protected:
        why.append("is protected")
    if found:
        why.append("holds " + ", ".join(f"{n} {k}" for k, n in found.items()))
    facts = " and ".join(why)
    if confirm is None:
        raise ConfigError(f"{target.env.name} ({target.display}) {facts}: pass --yes to replace its contents with "
                          f"{file.name} (there is no terminal to ask)")
    if not confirm(f"{target.env.name} ({target.display}) {facts}. Drop all of it and restore {file.name}?"):
        raise Aborted(f"restore into {target.env.name} cancelled; nothing was changed")


def _toc_entries(tool: pgtools.Tool, file: Path) -> int | None:
    out = subprocess.run([str(tool.path), "--list", str(file)], capture_output=True)
    if out.returncode != 0:
        raise TransferError(f"{file} is not a pg_dump archive that {tool} can read: "
                            f"{pgtools.tail(out.stderr.decode('utf-8', 'replace'))}")
    return sum(1 for line in out.stdout.splitlines() if line and not line.startswith(b";"))


def _load(tools: pgtools.Toolset, file: Path, target: Target, policy, res: RestoreResult, progress: Progress,
          owners, grants) -> int:
    args = [str(tools.pg_restore.path), "--file=-"]  # no --dbname: the SQL script, on stdout
    if owners == "drop":
        args.append("--no-owner")
    if not grants:
        args.append("--no-acl")
    args.append(str(file))
    done = {"n": 0}

    def on_entry(_kind: str, _label: str) -> None:
        done["n"] += 1
        progress("advance", key="restore", completed=done["n"])

    from dbtool.clone import BATCH

    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    err = dumpstream.Drain(proc.stderr)
    adapter = dumpstream.Adapter(policy, on_entry=on_entry, batch=BATCH)
    psql = dumpstream.Psql(tools.psql, target.url, label=f"{target.env.name} ({target.display})",
                           options="-c synchronous_commit=off")
    try:
        psql.feed(adapter.lines(proc.stdout))
    except BaseException:
        psql.kill()
        raise
    finally:
        if proc.poll() is None and psql.proc.poll() is not None:
            proc.kill()
        code = proc.wait()
    try:
        psql.finish(adapter)
    finally:
        res.adjustments.merge(adapter.adj)
    if code != 0:
        raise TransferError(f"pg_restore failed reading {file.name}: {pgtools.tail(err.text())}")
    return done["n"]


def _not_comparable(owners, grants: bool, adj: dumpstream.Adjustments) -> list[str]:
    out = []
    if owners != "keep" or adj.owners_skipped or adj.owners_mapped:
        out.append("owner")
    if not grants or adj.grants_skipped:
        out += ["acl", "default privileges"]
    return out


def describe_backup(res: BackupResult) -> str:
    m = res.manifest
    return (f"backup of {m['env']} ({m['database']}), PostgreSQL {m['server_version']}, applied version "
            f"{m['applied_version'] or '(none)'}:\n  {res.path}  ({_size(m['size'])}, sha256 {m['sha256'][:16]}…)\n"
            f"  manifest: {res.manifest_path}")


def describe_restore(res: RestoreResult) -> str:
    m = res.manifest or {}
    lines = [f"restored {res.file.name} into {res.env} ({res.database}): {res.entries} entries"]
    if m:
        lines.append(f"  backup of {m.get('database')} taken {m.get('created_at')}, applied version "
                     f"{m.get('applied_version') or '(none)'}; archive verified against its manifest (sha256)")
    if res.emptied:
        lines.append("  emptied first: " + ", ".join(f"{n} {k}" for k, n in res.emptied.items()))
    lines += [f"  note: {n}" for n in res.notes]
    if res.compared:
        if res.ok:
            skipped = f" (not compared: {', '.join(res.ignored)})" if res.ignored else ""
            lines.append(f"schema check: the restored schema equals the backed-up one{skipped}")
        else:
            lines.append(f"schema check: {len(res.differences)} difference(s) from the backed-up schema:")
            lines += [f"  {d.describe()}" for d in res.differences[:50]]
    return "\n".join(lines)


def _size(n: int) -> str:
    for unit in ("bytes", "kB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)

"""PostgreSQL's client programs (pg_dump, pg_restore, psql): found, version-checked, run without showing a password.

pg_dump refuses (or silently mis-dumps) a server newer than itself, so the
program is chosen per server: among every copy found, the oldest major
version that is at least the server's.  The closest version keeps the output
loadable by the same or a newer server.  psql and pg_restore come from the
same folder as the chosen pg_dump: a pg_dump with the ``\\restrict`` safeguard
needs a psql that understands it.

Where they are looked for, in order: ``$DBTOOL_PG_BIN`` (a folder), ``PATH``,
the distribution folders (``/usr/lib/postgresql/*/bin``, ``/usr/pgsql-*/bin``,
Homebrew, Postgres.app) and the binaries of dbtool[embedded] (pgserver).
"""

from __future__ import annotations

import concurrent.futures
import functools
import glob
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from psycopg import conninfo as _conninfo

from dbtool import db
from dbtool.errors import ConfigError

VERSION_RE = re.compile(r"\(PostgreSQL\)\s+(?P<major>\d+)(?:\.(?P<minor>\d+))?")
SEARCH_GLOBS = (
    "/usr/lib/postgresql/*/bin",
    "/usr/pgsql-*/bin",
    "/opt/homebrew/opt/postgresql@*/bin",
    "/usr/local/opt/postgresql@*/bin",
    "/opt/homebrew/opt/libpq/bin",
    "/usr/local/opt/libpq/bin",
    "/Applications/Postgres.app/Contents/Versions/*/bin",
)


@dataclass(frozen=True)
class Tool:
    """One client program: where it is and which PostgreSQL it belongs to."""

    name: str
    path: Path
    major: int
    version: str

    def sibling(self, name: str) -> Tool | None:
        """The program ``name`` from the same installation, if it is there."""
        p = self.path.parent / name
        if not p.is_file() or not os.access(p, os.X_OK):
            return None
        v = _version(str(p))
        return Tool(name, p, v[0], v[1]) if v else None

    def __str__(self) -> str:
        return f"{self.name} {self.version} at {self.path}"


@functools.lru_cache(maxsize=None)
def _version(path: str) -> tuple[int, str] | None:
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = VERSION_RE.search(out)
    if not m:
        return None
    major = int(m.group("major"))
    return major, f"{major}.{m.group('minor')}" if m.group("minor") else str(major)


def _embedded_bin() -> Path | None:
    try:
        from dbtool import embedded
    except ImportError:
        return None
    try:
        folder = embedded.binaries_dir()
    except Exception:  # noqa: BLE001 - pgserver absent or broken: simply not a candidate
        return None
    return Path(folder) if folder else None


def search_dirs() -> list[Path]:
    """Every folder that may hold PostgreSQL client programs, in order of preference."""
    dirs: list[Path] = []
    if os.environ.get("DBTOOL_PG_BIN"):
        dirs.append(Path(os.environ["DBTOOL_PG_BIN"]))
    dirs += [Path(p) for p in os.environ.get("PATH", "").split(os.pathsep) if p]
    for pattern in SEARCH_GLOBS:
        dirs += [Path(p) for p in sorted(glob.glob(pattern), reverse=True)]
    emb = _embedded_bin()
    if emb is not None:
        dirs.append(emb)
    seen, out = set(), []
    for d in dirs:
        key = os.path.realpath(d)
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out


def candidates(name: str) -> list[Tool]:
    """Every copy of ``name`` found, in search order (the same file reached twice counts once)."""
    paths, seen = [], set()
    for d in search_dirs():
        p = d / name
        if not p.is_file() or not os.access(p, os.X_OK):
            continue
        real = os.path.realpath(p)
        # Debian's /usr/bin/pg_dump is pg_wrapper, a Perl script in front of /usr/lib/postgresql/*/bin (searched
        # anyway): calling the real program directly saves a Perl start per call and says which version runs.
        if real in seen or os.path.basename(real) == "pg_wrapper":
            continue
        seen.add(real)
        paths.append(p)
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, len(paths))) as pool:
        versions = list(pool.map(lambda p: _version(str(p)), paths))
    return [Tool(name, p, v[0], v[1]) for p, v in zip(paths, versions) if v]


def find(name: str, server_major: int, *, purpose: str = "") -> Tool:
    """The copy of ``name`` to use against a PostgreSQL ``server_major`` server, or a ConfigError saying what to install."""
    tools = candidates(name)
    fit = [t for t in tools if t.major >= server_major]
    if fit:
        return min(fit, key=lambda t: t.major)  # min() keeps search order among equals
    raise ConfigError(missing_message(name, server_major, tools, purpose))


def missing_message(name: str, server_major: int, found: list[Tool], purpose: str = "") -> str:
    why = f" {purpose}" if purpose else ""
    embedded_hint = " or dbtool[embedded] (pip install 'dbtool[embedded]', which ships pg_dump 16)" if server_major <= 16 else ""
    install = f"install postgresql-client-{server_major} (apt.postgresql.org / yum.postgresql.org / brew install postgresql@{server_major}){embedded_hint}, or point DBTOOL_PG_BIN at its bin folder"
    if found:
        best = max(found, key=lambda t: t.major)
        others = f" (and {len(found) - 1} older)" if len(found) > 1 else ""
        return (f"{name} {server_major} or newer is needed{why} for a PostgreSQL {server_major} server; "
                f"found {name} {best.version} at {best.path}{others}; {install}")
    return (f"{name} {server_major} or newer is needed{why} for a PostgreSQL {server_major} server and none was found "
            f"on PATH, in /usr/lib/postgresql/*/bin or in dbtool[embedded]; {install}")


@dataclass(frozen=True)
class Toolset:
    """pg_dump with the psql and pg_restore of the same installation."""

    pg_dump: Tool
    psql: Tool
    pg_restore: Tool

    def as_json(self) -> dict:
        return {t.name: {"version": t.version, "path": str(t.path)} for t in (self.pg_dump, self.psql, self.pg_restore)}


def toolset(server_major: int, *, purpose: str = "") -> Toolset:
    """pg_dump fit for ``server_major``, and psql / pg_restore from its folder (else the closest fit found)."""
    dump = find("pg_dump", server_major, purpose=purpose)
    psql = dump.sibling("psql") or find("psql", dump.major, purpose=purpose)
    restore = dump.sibling("pg_restore") or find("pg_restore", dump.major, purpose=purpose)
    return Toolset(dump, psql, restore)


# ---------------------------------------------------------------- running them

def libpq_args(url: str, *, read_only: bool = False, options: str = "") -> tuple[str, dict[str, str]]:
    """(``--dbname`` value without the password, environment for the child with PGPASSWORD).

    The password travels in the child's environment, never on its command line
    (which ``ps`` shows to every user of the machine) and never in anything printed.
    """
    try:
        parts = _conninfo.conninfo_to_dict(url)
    except Exception:  # noqa: BLE001 - psycopg raises ProgrammingError; the message would show the string
        raise ConfigError("the connection string is not a valid libpq URL or key=value string") from None
    env = dict(os.environ)
    password = parts.pop("password", None)
    if password is not None:
        env["PGPASSWORD"] = str(password)
    extra = []
    if read_only:
        extra.append("-c default_transaction_read_only=on")
    if options:
        extra.append(options)
    if extra:
        parts["options"] = " ".join([parts["options"], *extra] if parts.get("options") else extra)
    parts.setdefault("application_name", db.APPLICATION_NAME)
    parts.setdefault("connect_timeout", "10")
    return _conninfo.make_conninfo(**parts), env


def shown(args: list[str]) -> str:
    """A command line fit to print: connection strings redacted."""
    out = []
    for a in args:
        if a.startswith("--dbname="):
            a = "--dbname=" + db.redact(a.split("=", 1)[1])
        out.append(a)
    return " ".join(out)


def tail(text: str, lines: int = 3) -> str:
    """The last meaningful lines of a program's stderr, as one line."""
    kept = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return " / ".join(kept[-lines:]) or "no message"


LOCK_QUERY_RE = re.compile(r"Query was: LOCK TABLE (?P<table>\S+) IN ACCESS SHARE MODE")


def dump_failure(stderr: str, lock_wait_ms: int) -> str:
    """pg_dump's failure as one sentence; a lock it could not get within ``lock_wait_ms`` said plainly."""
    m = LOCK_QUERY_RE.search(stderr)
    if m and "timeout" in stderr:
        return (f"pg_dump could not lock table {m.group('table')} within {lock_wait_ms / 1000:g}s (setting "
                "dbtool.advisory_lock_wait): another session holds a conflicting lock, a migration in progress perhaps; "
                "try again when it is done")
    return tail(stderr)

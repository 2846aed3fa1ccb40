"""The private PostgreSQL server behind ``url = "embedded"`` (design.md, "Real parts").

One folder, one server: ``<folder>/pgserver`` is the data directory of the pgserver
wheel (PostgreSQL 16), ``<folder>/binaries`` that of the initdb/pg_ctl/postgres found
on the machine.  Either listens on a unix socket only (no TCP), trusts local
connections and outlives the process that started it.  ``<folder>/.lock`` (flock)
makes concurrent ``ensure`` calls start one server.  postgres refuses to run as root,
so under root it runs as another OS user: pgserver makes its own ``pgserver`` user;
the binaries use ``postgres`` if it exists, else a system user ``dbtool``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import logging
import os
import pwd
import signal
import stat
import subprocess
import tempfile
import time
import warnings
from pathlib import Path
from typing import NamedTuple, Sequence
from urllib.parse import quote

from dbtool.errors import ConfigError, ConnectError

BACKENDS = ("pgserver", "binaries")
NOT_AVAILABLE = ("no embedded PostgreSQL: install dbtool[embedded] (pgserver) "
                 "or PostgreSQL server binaries (initdb, pg_ctl)")
SERVICE_USER = "dbtool"
_PORT = 5432  # names the socket file only: the server listens on no TCP address
_SOCKET_MAX = 107  # sun_path holds 108 bytes with the terminating NUL
_STOP_WAIT = 60.0
_SHORT_SOCKETS = Path("/tmp")  # socket folders for data paths too long for a socket

# pgserver logs its failures at ERROR; with no handler, Python's last resort would print them.
logging.getLogger("pgserver").addHandler(logging.NullHandler())


class _Failed(Exception):
    """A start went wrong; ensure() adds the server log to the reason."""


class _Postmaster(NamedTuple):
    backend: str
    data: Path
    pid: int
    socket_dir: str
    port: int
    status: str

    @property
    def url(self) -> str:
        return f"postgresql://postgres@/postgres?host={quote(self.socket_dir, safe='/')}&port={self.port}"


def ensure(folder: Path, backend: str | None = None, *, search_path: Sequence[Path] | None = None) -> str:
    """Start the folder's server unless it runs; return a URL to its ``postgres`` database.

    ``backend``: ``"pgserver"``, ``"binaries"`` or None (the running one, else the one whose
    data exists, else pgserver when importable, else binaries).  ``search_path`` replaces
    PATH and /usr/lib/postgresql/*/bin as the places to find binaries.
    Raises ConnectError when no backend is available or the server does not start.
    """
    if backend not in (None, *BACKENDS):
        raise ConfigError(f"unknown embedded backend {backend!r}; use one of {', '.join(BACKENDS)}")
    folder = Path(folder).expanduser().resolve()
    if running := _running(folder, backend):
        return running.url
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with _locked(folder):
            if running := _running(folder, backend):
                return running.url
            chosen = backend or next((b for b in _order() if (folder / b / "PG_VERSION").exists()), None) \
                or ("pgserver" if _import_pgserver() else "binaries")
            return _start(folder, chosen, search_path).url
    except OSError as exc:  # an unwritable folder, a file in the way, ...
        raise ConnectError(f"the embedded PostgreSQL folder {folder} is not usable: {exc}") from None


def _start(folder: Path, backend: str, search_path: Sequence[Path] | None) -> _Postmaster:
    data = folder / backend
    log = _log_of(backend, data)
    offset = log.stat().st_size if log.exists() else 0  # report this start's lines, not older ones
    try:
        _start_pgserver(data) if backend == "pgserver" else _start_binaries(data, search_path)
        if running := _running(folder, backend):
            return running
        raise _Failed("the server is not ready after starting")
    except _Failed as exc:
        reason = str(exc)
        with contextlib.suppress(OSError), open(log, "rb") as fh:
            fh.seek(offset)
            if tail := [s.strip() for s in fh.read().decode(errors="replace").splitlines() if s.strip()][-4:]:
                reason += f"; last lines of {log}: " + " | ".join(tail)
        raise ConnectError(f"the embedded PostgreSQL server ({backend}) in {data} did not start: {reason}") from None


def stop(folder: Path) -> bool:
    """Stop the folder's server (fast shutdown); True if one was running."""
    folder = Path(folder).expanduser().resolve()
    if not folder.is_dir():
        return False
    stopped = False
    with _locked(folder):
        for backend in BACKENDS:
            pm = _postmaster(backend, folder / backend)
            if not pm or not _alive(pm.pid, pm.data):
                continue
            # SIGINT is PostgreSQL's "fast" shutdown: open transactions roll back, clients are cut.
            with contextlib.suppress(ProcessLookupError):
                os.kill(pm.pid, signal.SIGINT)
            deadline = time.monotonic() + _STOP_WAIT
            while _alive(pm.pid, pm.data):
                if time.monotonic() > deadline:
                    raise ConnectError(f"the embedded PostgreSQL server (pid {pm.pid}) in {pm.data} did not stop "
                                       f"within {_STOP_WAIT:.0f} s; see {_log_of(backend, pm.data)}")
                time.sleep(0.05)
            if Path(pm.socket_dir).parent == _SHORT_SOCKETS:
                with contextlib.suppress(OSError):
                    Path(pm.socket_dir).rmdir()
            stopped = True
    return stopped


def status(folder: Path) -> dict:
    """running, backend, version, url, pid, data_dir, log and bin_dir of the folder's server."""
    folder = Path(folder).expanduser().resolve()
    running = next((pm for b in _order() if (pm := _postmaster(b, folder / b)) and _ready(pm)), None)
    backend = running.backend if running else (
        next((b for b in _order() if (folder / b / "PG_VERSION").exists()), None)
        or ("pgserver" if _pgserver_installed() else "binaries" if _find_binaries(None) else None))
    data = folder / backend if backend else None
    version = (data / "PG_VERSION").read_text().strip() if data and (data / "PG_VERSION").exists() else None
    bin_dir = binaries_dir(backend, version=version) if backend else None
    return {
        "running": bool(running),
        "backend": backend,
        "version": version,
        "url": running.url if running else None,
        "pid": running.pid if running else None,
        "data_dir": str(data) if data else None,
        "log": str(_log_of(backend, data)) if data else None,
        "bin_dir": str(bin_dir) if bin_dir else None,
    }


def binaries_dir(backend: str | None = None, *, search_path: Sequence[Path] | None = None,
                 version: str | None = None) -> Path | None:
    """The bin folder (pg_dump, psql, ...) of the backend's PostgreSQL; None if there is none.

    With no backend: pgserver's when it is installed, else the machine's binaries
    (of major ``version`` when several are found).
    """
    if backend in (None, "pgserver"):
        spec = importlib.util.find_spec("pgserver")
        if spec and spec.origin and (bin_dir := Path(spec.origin).parent / "pginstall" / "bin").is_dir():
            return bin_dir
        if backend == "pgserver":
            return None
    return _find_binaries(search_path, version)


# ---------------------------------------------------------------- running servers

def _postmaster(backend: str, data: Path) -> _Postmaster | None:
    """What postmaster.pid says, if it is there and complete enough."""
    try:
        lines = [s.strip() for s in (data / "postmaster.pid").read_text().splitlines()]
    except OSError:
        return None
    if len(lines) < 5 or not lines[0].isdigit():
        return None
    port = int(lines[3]) if lines[3].isdigit() else _PORT
    return _Postmaster(backend, data, int(lines[0]), lines[4], port, lines[7] if len(lines) > 7 else "")


def _alive(pid: int, data: Path) -> bool:
    """The postmaster of ``data`` runs with this pid (not a zombie, not a pid reused since)."""
    proc = Path(f"/proc/{pid}")
    if Path("/proc/self").exists():
        try:
            comm, _, rest = (proc / "stat").read_text().partition("(")[2].rpartition(")")
        except OSError:
            return False
        if comm != "postgres" or rest.split()[0] in ("Z", "X"):
            return False
        with contextlib.suppress(OSError):  # the postmaster works in its data folder
            return os.readlink(proc / "cwd") == str(data)
        return True
    try:  # no /proc (macOS): signal 0 only tells that the pid exists
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def _ready(pm: _Postmaster) -> bool:
    return (pm.status == "ready" and bool(pm.socket_dir) and _alive(pm.pid, pm.data)
            and os.path.exists(os.path.join(pm.socket_dir, f".s.PGSQL.{pm.port}")))


def _running(folder: Path, backend: str | None) -> _Postmaster | None:
    for name in BACKENDS:
        if (pm := _postmaster(name, folder / name)) and _ready(pm):
            if backend and backend != name:
                raise ConnectError(f"the embedded PostgreSQL server in {folder} runs on backend {name}, "
                                   f"not {backend}; stop it first (dbtool embedded stop)")
            return pm
    return None


@contextlib.contextmanager
def _locked(folder: Path):
    with open(folder / ".lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)  # released when the file closes, also if the process dies
        yield


def _log_of(backend: str | None, data: Path) -> Path:
    return data / ("log" if backend == "pgserver" else "server.log")


def _pgserver_installed() -> bool:
    return importlib.util.find_spec("pgserver") is not None


def _order() -> tuple[str, ...]:
    return BACKENDS if _pgserver_installed() else BACKENDS[::-1]


# ---------------------------------------------------------------- pgserver

def _import_pgserver():
    try:
        with warnings.catch_warnings():
            # platformdirs warns at import when XDG_RUNTIME_DIR is unset; the library never prints.
            warnings.simplefilter("ignore")
            from pgserver.postgres_server import PostgresServer
    except ImportError:
        return None
    return PostgresServer


def _start_pgserver(data: Path) -> None:
    if (server_class := _import_pgserver()) is None:
        raise ConnectError(NOT_AVAILABLE)
    data.mkdir(exist_ok=True)
    seen = _Collect()  # pgserver logs the output of a failed initdb/pg_ctl; keep it for the reason
    logging.getLogger("pgserver").addHandler(seen)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # Not get_server(): it caches one handle per process and would hand back a stale
            # one after stop(); the constructor checks postmaster.pid and starts when needed.
            server_class(data, cleanup_mode=None)
    except Exception as exc:  # noqa: BLE001 - pgserver raises bare errors (timeouts, useradd, asserts)
        fallback = (f"{Path(exc.cmd[0]).name} exited with status {exc.returncode}"
                    if isinstance(exc, subprocess.CalledProcessError) else f"{type(exc).__name__}: {exc}")
        raise _Failed(_reason(seen.lines, ("initdb", "pg_ctl", "useradd"), last=False) or fallback) from None
    finally:
        logging.getLogger("pgserver").removeHandler(seen)


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.ERROR)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines += record.getMessage().splitlines()


def _reason(lines: Sequence[str], tools: Sequence[str], last: bool = True) -> str:
    """The tool's own complaint among its output lines (``initdb: error: ...``), else the last line."""
    own = [s.strip() for s in lines if s.startswith(tuple(f"{t}: " for t in tools))]
    other = [s.strip() for s in lines if s.strip()][-1:] if last else []
    return next((s for s in own if "error" in s or "could not" in s), (own or other or [""])[0])


# ---------------------------------------------------------------- binaries on the machine

def _find_binaries(search_path: Sequence[Path] | None, version: str | None = None) -> Path | None:
    """The first folder with initdb, pg_ctl and postgres; one of major ``version`` if any."""
    if search_path is None:
        dirs = [Path(p) for p in os.environ.get("PATH", "").split(os.pathsep) if p]
        debian = Path("/usr/lib/postgresql")
        if debian.is_dir():
            majors = sorted((p for p in debian.iterdir() if p.name.isdigit()), key=lambda p: -int(p.name))
            dirs += [p / "bin" for p in majors]
    else:
        dirs = [Path(p) for p in search_path]
    found: list[Path] = []
    for d in dirs:
        if os.access(d / "initdb", os.X_OK):
            real = (d / "initdb").resolve().parent  # /usr/local/bin/initdb -> /usr/lib/postgresql/15/bin
            if all(os.access(real / t, os.X_OK) for t in ("pg_ctl", "postgres")) and real not in found:
                found.append(real)
    if version and len(found) > 1:
        for real in found:
            out = subprocess.run([str(real / "postgres"), "--version"], capture_output=True, text=True).stdout
            if out.split()[2:3] and out.split()[2].split(".")[0] == version:
                return real
    return found[0] if found else None


def _service_user() -> pwd.struct_passwd | None:
    """The OS user that runs postgres when we are root; None when we are not."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", SERVICE_USER):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    done = subprocess.run(["useradd", "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent",
                           "--shell", "/usr/sbin/nologin", SERVICE_USER], capture_output=True, text=True)
    try:
        return pwd.getpwnam(SERVICE_USER)  # also when a concurrent useradd won the race
    except KeyError:
        raise ConnectError(f"postgres refuses to run as root and the OS user {SERVICE_USER} could not be created: "
                           f"{_reason(done.stderr.splitlines(), ['useradd']) or 'useradd failed'}") from None


def _run(cmd: list, user: pwd.struct_passwd | None, cwd: Path) -> None:
    # Output to a file, not a pipe: the postmaster pg_ctl leaves behind must not hold our pipe open.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    ids = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []} if user else {}
    with tempfile.TemporaryFile("w+") as out:
        try:
            code = subprocess.run([str(c) for c in cmd], stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                  env=env, cwd=cwd, timeout=180, **ids).returncode
        except subprocess.TimeoutExpired:
            raise _Failed(f"{Path(cmd[0]).name} timed out") from None
        out.seek(0)
        if code:
            tool = Path(cmd[0]).name
            raise _Failed(_reason(out.read().splitlines(), [tool]) or f"{tool} exited with status {code}")


def _start_binaries(data: Path, search_path: Sequence[Path] | None) -> None:
    inited = (data / "PG_VERSION").exists()
    bin_dir = _find_binaries(search_path, (data / "PG_VERSION").read_text().strip() if inited else None)
    if bin_dir is None:
        raise ConnectError(NOT_AVAILABLE)
    user = _service_user()
    data.mkdir(mode=0o700, exist_ok=True)
    if user:
        os.chown(data, user.pw_uid, user.pw_gid)
        for p in data.parents:  # let the server's user traverse down to its data (search only, no listing)
            st = p.stat()
            bit = 0o100 if st.st_uid == user.pw_uid else 0o010 if st.st_gid == user.pw_gid else 0o001
            if not st.st_mode & bit:
                p.chmod(stat.S_IMODE(st.st_mode) | stat.S_IXOTH)
    data.chmod(0o700)
    if not inited:
        _run([bin_dir / "initdb", "-D", data, "-U", "postgres", "--auth-local=trust", "--auth-host=reject",
              "--encoding=UTF8", "--locale=C"], user, data)
        with open(data / "postgresql.conf", "a") as conf:
            conf.write("\n# dbtool: socket and listen settings, rewritten at every start\n"
                       "include_if_exists = 'dbtool.conf'\n")
    sock = data if len(str(data / f".s.PGSQL.{_PORT}")) <= _SOCKET_MAX else _short_socket_dir(data, user)
    quoted = str(sock).replace("\\", "\\\\").replace("'", "''")
    (data / "dbtool.conf").write_text(f"listen_addresses = ''\nport = {_PORT}\nunix_socket_directories = '{quoted}'\n")
    if user:
        os.chown(data / "dbtool.conf", user.pw_uid, user.pw_gid)
    _run([bin_dir / "pg_ctl", "-D", data, "-l", _log_of("binaries", data), "-w", "-t", "120", "start"], user, data)


def _short_socket_dir(data: Path, user: pwd.struct_passwd | None) -> Path:
    """A private /tmp folder for the socket when the data folder's path is too long for one."""
    path = _SHORT_SOCKETS / f"dbtool-{hashlib.sha256(str(data).encode()).hexdigest()[:12]}"
    uid = user.pw_uid if user else os.geteuid()
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700)
        if user:
            os.chown(path, user.pw_uid, user.pw_gid)
    st = path.lstat()
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != uid or stat.S_IMODE(st.st_mode) & 0o077:
        raise ConnectError(f"the socket folder {path} of the embedded PostgreSQL server exists but is not a "
                           f"private folder of uid {uid}; remove it or use a shorter embedded_dir")
    return path


"""The embedded server: real PostgreSQL started in a tmp folder by each backend, always stopped."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg
import pytest

from dbtool import embedded
from dbtool.errors import ConnectError

ROOT = Path(__file__).resolve().parent.parent
HAS_PGSERVER = embedded._import_pgserver() is not None
HAS_BINARIES = embedded.binaries_dir("binaries") is not None
BACKENDS = [
    pytest.param("pgserver", marks=pytest.mark.skipif(not HAS_PGSERVER, reason="pgserver is not installed")),
    pytest.param("binaries", marks=pytest.mark.skipif(not HAS_BINARIES, reason="no initdb/pg_ctl/postgres here")),
]


def _binaries_major() -> int:
    out = subprocess.run([str(embedded.binaries_dir("binaries") / "postgres"), "--version"],
                         capture_output=True, text=True, check=True).stdout
    return int(out.split()[2].split(".")[0])


EXPECTED_MAJOR = {"pgserver": 16, "binaries": _binaries_major() if HAS_BINARIES else None}


@pytest.fixture
def base():
    """A scratch folder outside pytest's tmp_path: as root, every pytest session that starts
    resets /tmp/pytest-of-root to 0700, which would cut the server's OS user off its data."""
    path = Path(tempfile.mkdtemp(prefix="dbtool-embedded-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def folder(base):
    """An embedded folder whose server is stopped after the test, whatever happened."""
    path = base / "embedded"
    yield path
    embedded.stop(path)


def _query(url: str, query: str):
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as c:
        return c.execute(query).fetchone()


def _ready_lines(folder: Path) -> int:
    log = Path(embedded.status(folder)["log"])
    return log.read_text().count("database system is ready to accept connections")


@pytest.mark.parametrize("backend", BACKENDS)
def test_start_connect_reuse_stop(folder, backend):
    url = embedded.ensure(folder, backend)
    version, num, listen = _query(url, "select version(), current_setting('server_version_num')::int, "
                                       "current_setting('listen_addresses')")
    major = EXPECTED_MAJOR[backend]
    assert version.startswith(f"PostgreSQL {major}.") and num // 10000 == major
    assert listen == ""  # a unix socket only: nothing on TCP, so never 5432 nor a public address

    st = embedded.status(folder)
    assert st["running"] and st["backend"] == backend and st["version"] == str(major)
    assert st["url"] == url and st["data_dir"] == str(folder.resolve() / backend)
    if Path("/proc/self/stat").exists():  # the postmaster is the parent of every backend
        with psycopg.connect(url) as c:
            stat = Path(f"/proc/{c.info.backend_pid}/stat").read_text()
        assert int(stat.rpartition(")")[2].split()[1]) == st["pid"]
    assert (Path(st["bin_dir"]) / "pg_dump").exists()
    assert embedded.binaries_dir(backend) == Path(st["bin_dir"])

    # A second ensure finds the same server: no restart, same URL.
    assert embedded.ensure(folder, backend) == url
    assert embedded.ensure(folder) == url  # no backend given: the running one
    assert embedded.status(folder)["pid"] == st["pid"]
    assert _ready_lines(folder) == 1

    other = "binaries" if backend == "pgserver" else "pgserver"
    with pytest.raises(ConnectError, match=f"runs on backend {backend}, not {other}"):
        embedded.ensure(folder, other)

    assert embedded.stop(folder) is True
    st = embedded.status(folder)
    assert st["running"] is False and st["url"] is None and st["pid"] is None and st["backend"] == backend
    with pytest.raises(psycopg.OperationalError):
        _query(url, "select 1")
    assert embedded.stop(folder) is False


@pytest.mark.skipif(not HAS_BINARIES, reason="no initdb/pg_ctl/postgres here")
def test_binaries_restart_keeps_data_and_long_path_uses_short_socket(base):
    # 120 characters of folder name: too long for a socket path (107 bytes), so the socket moves to /tmp.
    folder = base / ("x" * 60) / ("y" * 60)
    try:
        url = embedded.ensure(folder, "binaries")
        socket_dir = psycopg.conninfo.conninfo_to_dict(url)["host"]
        assert not socket_dir.startswith(str(folder)) and len(socket_dir) + len("/.s.PGSQL.5432") <= 107
        with psycopg.connect(url, autocommit=True) as c:
            c.execute("create table kept (id int)")
        assert embedded.stop(folder)
        url = embedded.ensure(folder)  # no backend: the data the binaries made is reused
        assert embedded.status(folder)["backend"] == "binaries"
        assert _query(url, "select count(*) from kept") == (0,)
        assert _ready_lines(folder) == 2
    finally:
        embedded.stop(folder)
    assert not Path(socket_dir).exists()  # stop removes the short socket folder it made


@pytest.mark.skipif(not Path("/proc/self").exists(), reason="needs /proc to tell a postmaster's data folder")
@pytest.mark.skipif(not HAS_BINARIES, reason="no initdb/pg_ctl/postgres here")
def test_stale_pid_file_naming_another_server_is_not_ours(folder, base):
    url = embedded.ensure(folder, "binaries")
    # A folder left with a postmaster.pid whose pid now belongs to another live postgres.
    other = base / "other"
    (other / "binaries").mkdir(parents=True)
    (other / "binaries" / "postmaster.pid").write_text((folder / "binaries" / "postmaster.pid").read_text())
    assert embedded.status(other)["running"] is False
    assert embedded.stop(other) is False  # and it signalled nobody
    assert _query(url, "select 1") == (1,)


CONCURRENT = """
import sys
from pathlib import Path
from dbtool import embedded
url = embedded.ensure(Path(sys.argv[1]), sys.argv[2])
print(url, embedded.status(Path(sys.argv[1]))["pid"])
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_processes_start_one_server(folder, backend):
    procs = [subprocess.Popen([sys.executable, "-c", CONCURRENT, str(folder), backend], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [p.communicate(timeout=180) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], "\n".join(err for _, err in results)
    assert all(err == "" for _, err in results)  # the library never prints
    (url1, pid1), (url2, pid2) = (out.split() for out, _ in results)
    assert url1 == url2 and pid1 == pid2 == str(embedded.status(folder)["pid"])
    assert _query(url1, "select 1") == (1,)
    assert _ready_lines(folder) == 1  # one initdb and one start between them


def test_nothing_available_is_a_clear_error(tmp_path):
    empty = tmp_path / "no-binaries"
    empty.mkdir()
    (empty / "initdb").write_text("not executable")
    folder = tmp_path / "embedded"
    with pytest.raises(ConnectError) as info:
        embedded.ensure(folder, "binaries", search_path=[empty])
    assert str(info.value) == embedded.NOT_AVAILABLE and info.value.exit_code == 2
    assert embedded.binaries_dir("binaries", search_path=[empty]) is None
    assert embedded.status(folder)["running"] is False and not (folder / "binaries" / "PG_VERSION").exists()


def test_unknown_backend_is_a_config_error(tmp_path):
    from dbtool.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown embedded backend 'docker'"):
        embedded.ensure(tmp_path, "docker")


@pytest.mark.skipif(not HAS_BINARIES, reason="no initdb/pg_ctl/postgres here")
def test_start_failure_names_the_log(folder):
    embedded.ensure(folder, "binaries")
    embedded.stop(folder)
    # A setting postgres rejects: the start fails and the error carries the log's last lines.
    with open(folder / "binaries" / "postgresql.conf", "a") as conf:
        conf.write("shared_buffers = 'lots'\n")
    with pytest.raises(ConnectError) as info:
        embedded.ensure(folder, "binaries")
    message = str(info.value)
    assert "did not start" in message and "server.log" in message and "shared_buffers" in message
    assert "shut down" not in message  # this start's lines only, not the earlier stop's
    assert info.value.exit_code == 2

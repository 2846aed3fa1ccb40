"""Real PostgreSQL for every database test (design.md, "Real parts").

The server is found in this order: ``DBTOOL_TEST_URL``, a server on
127.0.0.1:5432 (user postgres), the embedded server.  Each test that asks for
``db_url`` gets a freshly created, randomly named database, dropped afterwards.

``DBTOOL_TEST_SERVER`` picks one server explicitly, for the version matrix:
``local`` (127.0.0.1:5432), ``embedded`` (PostgreSQL 16 from pgserver), ``url``
(``DBTOOL_TEST_URL``) or ``docker:IMAGE`` (e.g. ``docker:postgres:13``, started
through testcontainers; the database tests are skipped with the reason where
Docker is absent).  Tests of version-specific behaviour carry the ``pgversion``
marker, so a second pass can run only them: ``-m pgversion``.
"""

from __future__ import annotations

import contextlib
import fnmatch
import functools
import os
import shutil
import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent


def _reachable(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=3, autocommit=True) as c:
            c.execute("select 1")
        return True
    except psycopg.Error:
        return False


LOCAL_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
SERVER_CHOICES = "local, embedded, url or docker:IMAGE (e.g. docker:postgres:16)"
# Modules whose behaviour depends on the server's major version: catalog queries (snapshots) and
# the rules that read the server. A module can also mark itself: pytestmark = pytest.mark.pgversion.
VERSION_SPECIFIC = ("test_snapshot*.py", "test_rule*.py", "test_roundtrip*.py", "test_server_matrix.py", "test_pytest_plugin.py",
                    "test_migrate.py", "test_integrity.py", "test_impact.py", "test_workload.py")
_containers: list = []
_used: dict[str, str] = {}


def find_server() -> tuple[str, str]:
    """(admin url, how it was found)."""
    choice = os.environ.get("DBTOOL_TEST_SERVER", "").strip()
    if choice:
        return chosen_server(choice)
    url = os.environ.get("DBTOOL_TEST_URL")
    if url:
        if not _reachable(url):
            pytest.exit(f"DBTOOL_TEST_URL is set but the server does not answer", returncode=2)
        return url, "DBTOOL_TEST_URL"
    if _reachable(LOCAL_URL):
        return LOCAL_URL, "local server 127.0.0.1:5432"
    return _embedded(), "embedded server"


def chosen_server(choice: str) -> tuple[str, str]:
    """The server DBTOOL_TEST_SERVER names; exits (or skips, for Docker) when it cannot be had."""
    if choice == "url":
        url = os.environ.get("DBTOOL_TEST_URL")
        if not url or not _reachable(url):
            pytest.exit("DBTOOL_TEST_SERVER=url: DBTOOL_TEST_URL is " + ("not set" if not url else "set but the server does not answer"),
                        returncode=2)
        return url, "DBTOOL_TEST_URL"
    if choice == "local":
        if not _reachable(LOCAL_URL):
            pytest.exit("DBTOOL_TEST_SERVER=local: no server answers on 127.0.0.1:5432", returncode=2)
        return LOCAL_URL, "local server 127.0.0.1:5432"
    if choice == "embedded":
        return _embedded(), "embedded server"
    kind, _, image = choice.partition(":")
    if kind == "docker" and image:
        return _container(image), f"container {image}"
    pytest.exit(f"DBTOOL_TEST_SERVER={choice!r}: expected {SERVER_CHOICES}", returncode=2)


def _embedded() -> str:
    from dbtool import embedded

    folder = Path(os.environ.get("DBTOOL_TEST_EMBEDDED_DIR", ROOT / ".dbtool" / "test-embedded"))
    return embedded.ensure(folder)


@functools.cache
def docker_unavailable() -> str | None:
    """Why testcontainers cannot run here, or None when Docker answers."""
    try:
        import docker
        import testcontainers.core  # noqa: F401
    except ImportError as exc:
        return f"testcontainers is not installed ({exc.name})"
    try:
        docker.from_env(timeout=5).ping()
    except Exception as exc:  # noqa: BLE001 - docker raises many kinds; all mean "no engine"
        text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return f"Docker is not available here ({text[:160]})"
    return None


def _container(image: str) -> str:
    reason = docker_unavailable()
    if reason:
        pytest.skip(f"DBTOOL_TEST_SERVER=docker:{image}: {reason}")
    try:
        from testcontainers.community.postgres import PostgresContainer
    except ImportError:  # testcontainers before 4.9
        from testcontainers.postgres import PostgresContainer

    container = PostgresContainer(image, driver=None)
    container.start()
    _containers.append(container)
    return container.get_connection_url()


@pytest.fixture(scope="session")
def pg_admin_url():
    url, how = find_server()
    with psycopg.connect(url, autocommit=True) as c:
        _used[how] = c.execute("SHOW server_version").fetchone()[0]
    yield url
    while _containers:
        with contextlib.suppress(Exception):
            _containers.pop().stop()


def pytest_collection_modifyitems(config, items):
    for item in items:
        if any(fnmatch.fnmatch(item.path.name, pattern) for pattern in VERSION_SPECIFIC):
            item.add_marker(pytest.mark.pgversion)


def pytest_terminal_summary(terminalreporter):
    for how, version in _used.items():
        terminalreporter.write_line(f"database tests ran on PostgreSQL {version} ({how})")


def _with_db(url: str, name: str) -> str:
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    parts = conninfo_to_dict(url)
    parts["dbname"] = name
    return make_conninfo(**parts)


class DatabaseFactory:
    """Creates throwaway databases on the test server and drops them at the end."""

    def __init__(self, admin_url: str):
        self.admin_url = admin_url
        self.names: list[str] = []

    def create(self, prefix: str = "dbtool_test") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(self.admin_url, autocommit=True) as c:
            c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        self.names.append(name)
        return _with_db(self.admin_url, name)

    def drop_all(self) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as c:
            for name in self.names:
                c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        self.names.clear()


@pytest.fixture
def make_db(pg_admin_url):
    factory = DatabaseFactory(pg_admin_url)
    yield factory.create
    factory.drop_all()


@pytest.fixture
def db_url(make_db) -> str:
    return make_db()


@pytest.fixture
def conn(db_url):
    with psycopg.connect(db_url, autocommit=True) as c:
        yield c


@pytest.fixture
def example_project(tmp_path) -> Path:
    """A copy of the repository's Digital Manager project (migrations, rollbacks, checks)."""
    dest = tmp_path / "project"
    dest.mkdir()
    for sub in ("migrations", "rollbacks", "checks"):
        if (ROOT / sub).is_dir():
            shutil.copytree(ROOT / sub, dest / sub)
    return dest


def write_project(root: Path, migrations: dict[str, tuple[str, str | None]], *, url: str | None = None,
                  toml_extra: str = "", verify: dict[str, str] | None = None) -> Path:
    """A project on disk: {"2025.01.001__name": (up_sql, down_sql or None)} and a dbtool.toml for ``url``."""
    root.mkdir(parents=True, exist_ok=True)
    for sub in ("migrations", "rollbacks", "checks"):
        (root / sub).mkdir(exist_ok=True)
    for label, (up, down) in migrations.items():
        (root / "migrations" / f"{label}.sql").write_text(up, encoding="utf-8")
        if down is not None:
            (root / "rollbacks" / f"{label}.sql").write_text(down, encoding="utf-8")
    for label, body in (verify or {}).items():
        (root / "checks" / f"{label}.sql").write_text(body, encoding="utf-8")
    if url is not None:
        (root / "dbtool.toml").write_text(
            f'[dbtool]\nlock_timeout = "2s"\nlock_retry_backoff = "100ms"\n{toml_extra}\n[env.dev]\nurl = "{url}"\n',
            encoding="utf-8")
    return root


@pytest.fixture
def project_factory(tmp_path):
    counter = {"n": 0}

    def make(migrations, url=None, **kw):
        counter["n"] += 1
        return write_project(tmp_path / f"p{counter['n']}", migrations, url=url, **kw)

    return make

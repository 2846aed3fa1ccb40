"""dbtool's pytest plugin: test databases migrated by dbtool, and each migration's round trip as a test.

Fixtures (README, "Testing with dbtool"):

- ``dbtool_db``: a psycopg connection to a fresh database at the newest version of the
  project's migrations.  The migrations run once per session into a template database;
  each test gets ``CREATE DATABASE ... TEMPLATE`` of it, dropped after the test.
- ``dbtool_url``: the connection string of that same database, for code that connects itself.
- ``dbtool_migrate``: a :class:`Migrator` over an empty database of the test's own, to move it
  to a version and back (for data migrations).
- ``dbtool_server``, ``dbtool_config``: the session's server and dbtool.toml.

``pytest --dbtool-roundtrip`` adds one test per migration: up, down, up with schema comparison.

Installed with dbtool, this module loads in every pytest run, so it stays inert until a dbtool
fixture is requested or ``--dbtool-roundtrip`` is given: it imports nothing heavy and connects
to nothing before then.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import pytest

if TYPE_CHECKING:
    import psycopg

    from dbtool.config import Config
    from dbtool.pytest_roundtrip import RoundtripRun
    from dbtool.testdb import Migrator, Server

SERVER_MODES = ("auto", "url", "env", "postgresql-proc", "postgresql-noproc")
TEST_URL_VAR = "DBTOOL_TEST_URL"


# ---------------------------------------------------------------- options

def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("dbtool", "dbtool: databases migrated by dbtool")
    group.addoption("--dbtool-config", dest="dbtool_config", metavar="PATH",
                    help="dbtool.toml of the project under test (default: ini dbtool_config, "
                         "else found from the rootdir upward)")
    group.addoption("--dbtool-env", dest="dbtool_env", metavar="NAME",
                    help="environment whose server hosts the test databases (default: ini dbtool_env, "
                         "else DBTOOL_ENV, else dev); its own database is never touched")
    group.addoption("--dbtool-server", dest="dbtool_server", choices=SERVER_MODES,
                    help="where test databases are created: auto (DBTOOL_TEST_URL when set, else env), url "
                         "(DBTOOL_TEST_URL), env (the environment's server), postgresql-proc (a throwaway server "
                         "started by pytest-postgresql), postgresql-noproc (pytest-postgresql's configured server)")
    group.addoption("--dbtool-roundtrip", dest="dbtool_roundtrip", action="store_true", default=False,
                    help="add one test per migration: up, down, up, with the schema compared after each step")
    parser.addini("dbtool_config", "dbtool.toml of the project under test, relative to the ini file", default="")
    parser.addini("dbtool_env", "environment whose server hosts the test databases", default="")
    parser.addini("dbtool_server", "auto, url, env, postgresql-proc or postgresql-noproc", default="auto")


@dataclass(frozen=True)
class Settings:
    config_path: Path | None
    env_name: str | None
    server: str
    roundtrip: bool


def settings(pytestconfig: pytest.Config) -> Settings:
    """Command line over ini file over defaults."""
    path = pytestconfig.getoption("dbtool_config")
    if path:
        path = Path(path)
        path = path if path.is_absolute() else Path(pytestconfig.invocation_params.dir) / path
    elif pytestconfig.getini("dbtool_config"):
        base = pytestconfig.inipath.parent if pytestconfig.inipath else pytestconfig.rootpath
        path = base / pytestconfig.getini("dbtool_config")
    else:
        path = None
    env = pytestconfig.getoption("dbtool_env") or pytestconfig.getini("dbtool_env") or None
    server = pytestconfig.getoption("dbtool_server") or pytestconfig.getini("dbtool_server") or "auto"
    if server not in SERVER_MODES:
        raise pytest.UsageError(f"ini option dbtool_server = {server!r}: expected one of {', '.join(SERVER_MODES)}")
    return Settings(path, env, server, bool(pytestconfig.getoption("dbtool_roundtrip")))


def pytest_configure(config: pytest.Config) -> None:
    settings(config)  # a wrong ini value is a usage error now, not one per test later; reads no file


def _failure(message: str) -> BaseException:
    """One readable line in the report instead of a traceback through the plugin: ``raise _failure(...) from None``."""
    return pytest.fail.Exception(f"dbtool: {message}", pytrace=False)


def load_config(pytestconfig: pytest.Config) -> Config:
    from dbtool import config as _config
    from dbtool.errors import DbtoolError

    s = settings(pytestconfig)
    try:
        return _config.load(s.config_path, cwd=pytestconfig.rootpath)
    except DbtoolError as err:
        raise _failure(str(err)) from None


# ---------------------------------------------------------------- the server

def _executor_url(executor, dbname: str) -> str:
    """pytest-postgresql's executors describe a server by parts; dbtool speaks libpq URLs."""
    from psycopg.conninfo import make_conninfo

    parts = {"host": executor.host, "port": executor.port, "user": executor.user, "dbname": dbname}
    if getattr(executor, "password", None):
        parts["password"] = executor.password
    if getattr(executor, "options", None):
        parts["options"] = executor.options
    return make_conninfo(**parts)


def choose_server(request: pytest.FixtureRequest, cfg: Config) -> Server:
    """The server named by --dbtool-server (default: DBTOOL_TEST_URL when set, else the environment's server)."""
    from dbtool.errors import DbtoolError
    from dbtool.testdb import Server

    mode = settings(request.config).server
    if mode == "auto":
        mode = "url" if os.environ.get(TEST_URL_VAR) else "env"
    if mode == "url":
        url = os.environ.get(TEST_URL_VAR)
        if not url:
            raise _failure(f"--dbtool-server url needs {TEST_URL_VAR}, the libpq URL of a server where tests may create databases")
        server = Server(url, TEST_URL_VAR)
        hint = f"start that server, or unset {TEST_URL_VAR} to use the server of the project's environment"
    elif mode == "env":
        try:
            server = _env_server(cfg, settings(request.config).env_name)
        except DbtoolError as err:
            raise _failure(str(err)) from None
        hint = (f"start it, set {TEST_URL_VAR}, pick another environment with --dbtool-env, "
                "or pass --dbtool-server postgresql-proc")
    else:
        fixture = mode.replace("-", "_")
        try:
            import pytest_postgresql  # noqa: F401
        except ImportError:
            raise _failure(f"--dbtool-server {mode} needs pytest-postgresql: pip install pytest-postgresql") from None
        try:
            executor = request.getfixturevalue(fixture)
        except Exception as exc:  # noqa: BLE001 - pytest-postgresql raises many kinds; all mean "no server"
            raise _failure(f"--dbtool-server {mode}: pytest-postgresql's {fixture} fixture gave no server: "
                           f"{type(exc).__name__}: {_first_line(exc)}") from None
        maintenance = getattr(executor, "maintenance_dbname", None) or "postgres"
        server = Server(_executor_url(executor, maintenance), f"pytest-postgresql {fixture}")
        hint = "check pytest-postgresql's postgresql_* options"
    try:
        server.admin
    except DbtoolError as err:
        raise _failure(f"no test server: {err}; {hint}") from None
    return server


def _env_server(cfg: Config, env_name: str | None) -> Server:
    from dbtool.errors import ConfigError
    from dbtool.testdb import Server

    env = cfg.env(env_name)
    if env.protected:
        raise ConfigError(f"environment {env.name} is protected, so the plugin creates no test databases on its "
                          f"server; set {TEST_URL_VAR}, or pick another environment with --dbtool-env or DBTOOL_ENV")
    if env.embedded:
        from dbtool import embedded

        # The server only: the environment's own database (dbtool_dev) is neither created nor touched.
        return Server(embedded.ensure(cfg.resolve(cfg.settings["embedded_dir"])), f"embedded server of env {env.name}")
    return Server(env.url, f"server of env {env.name}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="session")
def dbtool_config(pytestconfig: pytest.Config) -> Config:
    """The project's dbtool.toml (``--dbtool-config`` / ini ``dbtool_config``, else found from the rootdir)."""
    return load_config(pytestconfig)


@pytest.fixture(scope="session")
def dbtool_server(request: pytest.FixtureRequest, dbtool_config: Config) -> Iterator[Server]:
    """The server on which the test databases are created (see :func:`choose_server`)."""
    server = choose_server(request, dbtool_config)
    yield server
    server.close()


@pytest.fixture(scope="session")
def dbtool_template(dbtool_server: Server, dbtool_config: Config) -> Iterator[str]:
    """Name of a database migrated to the newest version once per session; each test gets a copy."""
    from dbtool.errors import DbtoolError
    from dbtool.testdb import migrate_template

    try:
        name = migrate_template(dbtool_server, dbtool_config)
    except DbtoolError as err:
        raise _failure(f"migrating the template database failed: {err}") from None
    yield name
    dbtool_server.drop(name)


@pytest.fixture
def dbtool_url(dbtool_server: Server, dbtool_template: str) -> Iterator[str]:
    """Connection string of a fresh database at the newest version, dropped after the test."""
    from dbtool.errors import DbtoolError

    try:
        name = dbtool_server.create(template=dbtool_template)
    except DbtoolError as err:
        raise _failure(str(err)) from None
    try:
        yield dbtool_server.url(name)
    finally:
        dbtool_server.drop(name)


@pytest.fixture
def dbtool_db(dbtool_url: str) -> Iterator[psycopg.Connection]:
    """A psycopg connection to a fresh database at the newest version (not autocommit, as psycopg's default)."""
    import psycopg

    with psycopg.connect(dbtool_url) as conn:
        yield conn


@pytest.fixture
def dbtool_migrate(dbtool_server: Server, dbtool_config: Config) -> Iterator[Migrator]:
    """Move an empty database of the test's own to a version and back: ``dbtool_migrate(to="2025.01.003")``."""
    from dbtool.testdb import Migrator

    m = Migrator(dbtool_server, dbtool_config)
    try:
        yield m
    finally:
        m.close()


# ---------------------------------------------------------------- --dbtool-roundtrip

@pytest.hookimpl(tryfirst=True)  # before -k / -m / --deselect, so they select among these items too
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.getoption("dbtool_roundtrip"):
        return
    from dbtool.pytest_roundtrip import make_items

    try:
        cfg = load_config(config)
    except pytest.fail.Exception as exc:
        raise pytest.UsageError(str(exc.msg)) from None
    items.extend(make_items(session, cfg))


@pytest.fixture(scope="session")
def dbtool_roundtrip_run(request: pytest.FixtureRequest, dbtool_server: Server, dbtool_config: Config) -> RoundtripRun:
    """The round trips of the selected ``dbtool::roundtrip[...]`` items, run once and shared."""
    from dbtool.pytest_roundtrip import RoundtripItem, RoundtripRun

    selected = [item.migration.version for item in request.session.items if isinstance(item, RoundtripItem)]
    return RoundtripRun(dbtool_server, dbtool_config, selected)

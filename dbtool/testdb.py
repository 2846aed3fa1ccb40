"""Test databases for the pytest plugin: a server to create them on, and migrations moved back and forth.

Nothing here knows pytest; dbtool/pytest_plugin.py turns these into fixtures.
"""

from __future__ import annotations

import contextlib
import uuid

import psycopg
from psycopg import sql
from psycopg.pq import TransactionStatus

from dbtool import api, db
from dbtool.config import Config
from dbtool.errors import ConnectError, StateError
from dbtool.files import Project, version_key

DB_PREFIX = "dbtool_test"
TEMPLATE_PREFIX = "dbtool_tmpl"


class Server:
    """A PostgreSQL server on which test databases are created and dropped.

    ``admin_url`` may hold a password: never print it; ``label`` says where it came from and is safe to show.
    Only databases this object created are ever dropped.
    """

    def __init__(self, admin_url: str, label: str):
        self.admin_url = admin_url
        self.label = label
        self._admin: psycopg.Connection | None = None

    @property
    def admin(self) -> psycopg.Connection:
        """One autocommit connection for the whole session: a new one per test would cost more than the copy."""
        if self._admin is None or self._admin.closed or self._admin.broken:
            self._admin = db.connect(self.admin_url, label=self.label)
        return self._admin

    @property
    def display(self) -> str:
        return f"{db.redact(self.admin_url)} ({self.label})"

    @property
    def version(self) -> int:
        """Major version, e.g. 16."""
        return self.admin.info.server_version // 10000

    def url(self, dbname: str) -> str:
        return db.with_dbname(self.admin_url, dbname)

    def create(self, prefix: str = DB_PREFIX, *, template: str | None = None) -> str:
        """A new randomly named database (a copy of ``template`` when given); returns its name."""
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        stmt = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            stmt = sql.SQL("{} TEMPLATE {}").format(stmt, sql.Identifier(template))
        try:
            self.admin.execute(stmt)
        except psycopg.Error as exc:
            hint = "" if template else "; the user needs CREATEDB there"
            raise ConnectError(f"cannot create a test database on {self.display}: "
                               f"{exc.diag.message_primary or exc}{hint}") from None
        return name

    def seal(self, name: str) -> None:
        """No connections to ``name`` from now on: CREATE DATABASE ... TEMPLATE refuses a source in use."""
        with contextlib.suppress(psycopg.Error):
            self.admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(sql.Identifier(name)))

    def drop(self, name: str) -> None:
        ident = sql.Identifier(name)
        try:
            if self.version >= 13:
                self.admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
            else:
                self.admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                                   " WHERE datname = %s AND pid <> pg_backend_pid()", [name])
                self.admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(ident))
        except (psycopg.OperationalError, ConnectError):
            pass  # the server is gone (a stopped process fixture): nothing is left to drop

    def close(self) -> None:
        if self._admin is not None:
            with contextlib.suppress(Exception):
                self._admin.close()
            self._admin = None


def migrate_template(server: Server, config: Config) -> str:
    """A database at the newest version, sealed for copying; returns its name (the caller drops it)."""
    name = server.create(TEMPLATE_PREFIX)
    try:
        api.migrate(config, target=api.url_target(server.url(name), "pytest template database"))
    except BaseException:
        server.drop(name)
        raise
    server.seal(name)
    return name


class Migrator:
    """Migrations on one test database, which starts empty and is dropped after the test.

    ``migrator(to=V)`` brings the database to V: it applies the pending migrations up to V, or
    rolls back the applied ones after V.  Without arguments it applies everything;
    ``migrator(before=V)`` goes to the version just before V (the empty schema when V is the first).
    ``migrator.rollback(V)`` reverts V and every applied version after it, as ``dbtool rollback V``.
    Each returns :attr:`conn`, an autocommit connection to the database, so rows inserted through
    it are committed and seen by the next migration.
    """

    def __init__(self, server: Server, config: Config):
        self.server = server
        self.config = config
        self._name: str | None = None
        self._conn: psycopg.Connection | None = None
        self._project: Project | None = None

    @property
    def project(self) -> Project:
        if self._project is None:
            self._project = api.load_project(self.config)
        return self._project

    @property
    def versions(self) -> list[str]:
        """Every version of the project, oldest first."""
        return [m.version for m in self.project.migrations]

    @property
    def url(self) -> str:
        if self._name is None:
            self._name = self.server.create()
        return self.server.url(self._name)

    @property
    def conn(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.url, autocommit=True)
        return self._conn

    @property
    def applied(self) -> list[str]:
        """Applied versions, oldest first."""
        return [m.version for m in api.status(self.config, target=self._target()).migrations
                if m.state in ("applied", "drifted")]

    @property
    def current(self) -> str | None:
        """The newest applied version; None when nothing is applied."""
        applied = self.applied
        return applied[-1] if applied else None

    def __call__(self, to: str | None = None, *, before: str | None = None) -> psycopg.Connection:
        if to is not None and before is not None:
            raise TypeError("dbtool_migrate: pass to= or before=, not both")
        self._ready()
        if before is not None:
            self._known(before)
            earlier = [v for v in self.versions if version_key(v) < version_key(before)]
            to = earlier[-1] if earlier else None
        elif to is None:
            api.migrate(self.config, target=self._target())
            return self.conn
        else:
            self._known(to)
        # Backwards: reverting the oldest applied version past the goal reverts everything after it too.
        past = [v for v in self.applied if to is None or version_key(v) > version_key(to)]
        if past:
            api.rollback(self.config, past[0], target=self._target())
        if to is not None:
            api.migrate(self.config, to=to, target=self._target())
        return self.conn

    def rollback(self, version: str) -> psycopg.Connection:
        """Revert ``version`` and every applied version after it, newest first."""
        self._ready()
        api.rollback(self.config, version, target=self._target())
        return self.conn

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
        if self._name is not None:
            self.server.drop(self._name)
            self._name = None

    def _target(self) -> api.Target:
        return api.url_target(self.url, "test database")

    def _ready(self) -> None:
        if self._conn is not None and not self._conn.closed and self._conn.info.transaction_status != TransactionStatus.IDLE:
            raise StateError("dbtool_migrate: the test's connection is inside a transaction; leave the "
                             "`with conn.transaction()` block first (the migration runs on its own connection "
                             "and would wait for the locks of the open transaction)")

    def _known(self, version: str) -> None:
        if version not in self.versions:
            raise StateError(f"dbtool_migrate: no migration has version {version}; the project has "
                             f"{', '.join(self.versions) or 'no migrations'}", version=version)

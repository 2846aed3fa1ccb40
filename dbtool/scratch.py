"""Throwaway databases for the round trip: created fresh, always dropped.

Three places to put one: the embedded server (the default), a server the user
names with ``--scratch-url`` (a fresh random database is created there; the
URL's own database is never touched), or a container started through
testcontainers (``--scratch docker[:IMAGE]``).  Whatever happens (a failed
migration, an exception, Ctrl-C), the database is dropped on the way out and
the container stopped.
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from typing import Iterator

import psycopg
from psycopg import sql

from dbtool import db
from dbtool.config import Config
from dbtool.errors import ConfigError, ConnectError

PREFIX = "dbtool_scratch"
DEFAULT_IMAGE = "postgres:16-alpine"


@dataclass
class Scratch:
    """Where the scratch database lives: its URL (may hold a password: never print it) and a safe label."""

    url: str
    server: str  # "embedded", "url" or "docker"
    label: str


def parse_spec(spec: str | None) -> str | None:
    """``docker`` or ``docker:IMAGE`` → the image; anything else is a usage error."""
    if spec is None:
        return None
    kind, _, image = spec.partition(":")
    if kind != "docker":
        raise ConfigError(f"--scratch {spec!r}: the only kind is docker or docker:IMAGE (e.g. docker:postgres:15); "
                          "use --scratch-url for a server you run yourself")
    return image or DEFAULT_IMAGE


@contextlib.contextmanager
def database(config: Config, *, scratch_url: str | None = None, scratch: str | None = None) -> Iterator[Scratch]:
    """A fresh, empty, randomly named database; dropped when the block ends, however it ends."""
    if scratch_url and scratch:
        raise ConfigError("--scratch-url and --scratch name two different scratch servers; pass one of them")
    image = parse_spec(scratch)
    if image is not None:
        with _container(image) as server_url:
            with _fresh(server_url, "docker", f"container {image}", f"container {image}") as s:
                yield s
        return
    if scratch_url:
        with _fresh(scratch_url, "url", db.redact(scratch_url), "--scratch-url") as s:
            yield s
        return
    from dbtool import embedded

    server_url = embedded.ensure(config.resolve(config.settings["embedded_dir"]))
    with _fresh(server_url, "embedded", "embedded server", "embedded server") as s:
        yield s


@contextlib.contextmanager
def _fresh(server_url: str, kind: str, label: str, origin: str) -> Iterator[Scratch]:
    name = f"{PREFIX}_{uuid.uuid4().hex[:12]}"
    with db.connect(server_url, label=f"scratch server, {origin}") as admin:
        try:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except psycopg.Error as exc:
            raise ConnectError(f"cannot create a scratch database on {db.redact(server_url)}: "
                               f"{exc.diag.message_primary or exc}; the user needs CREATEDB there") from None
    try:
        yield Scratch(db.with_dbname(server_url, name), kind, f"{label}, database {name}")
    finally:
        drop(server_url, name)


def drop(server_url: str, name: str) -> None:
    """Drop ``name``, disconnecting whoever still uses it; a second Ctrl-C does not stop it."""
    for _ in range(3):
        try:
            with db.connect(server_url, label="scratch server") as admin:
                if db.server_version(admin) >= 13:
                    admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
                else:
                    admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", [name])
                    admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
            return
        except KeyboardInterrupt:
            continue
        except (psycopg.Error, ConnectError):
            return  # the server is gone (container stopped, network down): nothing left to drop


@contextlib.contextmanager
def _container(image: str) -> Iterator[str]:
    try:
        try:
            from testcontainers.community.postgres import PostgresContainer
        except ImportError:
            from testcontainers.postgres import PostgresContainer
        import docker
    except ImportError:
        raise ConfigError("--scratch docker needs testcontainers: pip install 'dbtool[docker]'") from None
    try:
        docker.from_env().ping()
    except Exception as exc:  # noqa: BLE001 - docker raises many kinds; all mean the same to the user
        raise ConfigError(f"--scratch docker: Docker is not usable here (no Docker daemon answered: {_reason(exc)}); "
                          "use the embedded server (the default) or --scratch-url") from None
    container = PostgresContainer(image, driver=None)
    try:
        container.start()
    except Exception as exc:  # noqa: BLE001
        with contextlib.suppress(Exception):
            container.stop()
        raise ConfigError(f"--scratch docker:{image}: the container did not start ({_first_line(exc)})") from None
    try:
        yield container.get_connection_url()
    finally:
        with contextlib.suppress(Exception):
            container.stop()


def _reason(exc: BaseException) -> str:
    """The innermost cause, which is the readable one (docker wraps a FileNotFoundError in two layers)."""
    while exc.__cause__ or exc.__context__:
        exc = exc.__cause__ or exc.__context__
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return _first_line(exc)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__

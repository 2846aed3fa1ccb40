"""Connections: open, guard, translate errors, never show a password."""

from __future__ import annotations

import getpass
import os
import socket

import psycopg
from psycopg import conninfo as _conninfo
from psycopg import sql

from dbtool import __version__
from dbtool.errors import ConnectError

APPLICATION_NAME = f"dbtool {__version__}"


def redact(url: str) -> str:
    """A connection string fit to print: ``user@host:port/dbname``, never the password."""
    try:
        parts = _conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "<unparseable connection string>"
    user = parts.get("user") or ""
    host = parts.get("host") or "localhost"
    if host.startswith("/"):
        host = f"[socket {host}]"
    port = parts.get("port") or ""
    dbname = parts.get("dbname") or user or ""
    who = f"{user}@" if user else ""
    return f"{who}{host}{':' + str(port) if port else ''}/{dbname}"


def with_dbname(url: str, dbname: str) -> str:
    """The same server, another database."""
    parts = _conninfo.conninfo_to_dict(url)
    parts["dbname"] = dbname
    return _conninfo.make_conninfo(**parts)


def dbname_of(url: str) -> str:
    parts = _conninfo.conninfo_to_dict(url)
    return parts.get("dbname") or parts.get("user") or os.environ.get("PGDATABASE") or getpass.getuser()


def connect(url: str, *, autocommit: bool = True, label: str | None = None, connect_timeout: int = 10) -> psycopg.Connection:
    """Open a connection, turning every failure into one sentence without the password."""
    try:
        _conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        raise ConnectError(f"{label + ': ' if label else ''}the connection string is not a valid libpq URL or key=value string ({_first_line(exc)})") from None
    kwargs = {"autocommit": autocommit, "application_name": APPLICATION_NAME}
    if "connect_timeout" not in url:
        kwargs["connect_timeout"] = connect_timeout
    try:
        return psycopg.connect(url, **kwargs)
    except psycopg.OperationalError as exc:
        reason = _first_line(exc)
        raise ConnectError(f"cannot connect to {redact(url)}{' (' + label + ')' if label else ''}: {reason}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    for line in text.splitlines():
        line = line.strip()
        if line:
            # libpq prefixes the server address; keep the reason.
            if "failed: " in line:
                line = line.rsplit("failed: ", 1)[1]
            return line.removeprefix("FATAL:  ").removeprefix("ERROR:  ")
    return exc.__class__.__name__


def applied_by(conn: psycopg.Connection) -> str:
    """``dbuser (osuser@host)`` for the log."""
    try:
        os_user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no passwd entry in some containers
        os_user = str(os.getuid())
    return f"{conn.info.user} ({os_user}@{socket.gethostname()})"


def server_version(conn: psycopg.Connection) -> int:
    """Major version of the server (e.g. 15)."""
    return conn.info.server_version // 10000


def quote_ident(*parts: str) -> sql.Identifier:
    return sql.Identifier(*parts)


def read_only(url: str) -> str:
    """The same connection string with every transaction read-only by default (a source that must not be written)."""
    parts = _conninfo.conninfo_to_dict(url)
    guard = "-c default_transaction_read_only=on"
    parts["options"] = f"{parts['options']} {guard}" if parts.get("options") else guard
    return _conninfo.make_conninfo(**parts)

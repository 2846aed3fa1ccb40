"""The one exception family of dbtool.

Every error a user can cause is a ``DbtoolError`` with a fixed exit code
(design.md): 1 when the work ran and failed, 2 for usage, configuration and
connection problems.  The CLI prints ``Error: <message>`` and exits with
``exit_code``; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class DbtoolError(Exception):
    """Base of every error a user can cause."""

    exit_code = 1

    def __init__(self, message: str, **fields):
        super().__init__(message)
        self.message = message
        for key, value in fields.items():
            setattr(self, key, value)

    def __str__(self) -> str:
        return self.message


class ConfigError(DbtoolError):
    """dbtool.toml, an environment or a flag is wrong."""

    exit_code = 2


class ProjectError(DbtoolError):
    """The migration files themselves are inconsistent (pairing, naming, encoding)."""

    exit_code = 2


class ConnectError(DbtoolError):
    """The database cannot be reached."""

    exit_code = 2


class SqlSyntaxError(DbtoolError):
    """A script does not parse; carries ``path``, ``line``, ``column``."""

    exit_code = 1


class StateError(DbtoolError):
    """The database's history disagrees with the files (drift, missing, out of order)."""

    exit_code = 1


class MigrationError(DbtoolError):
    """A migration, rollback, verify script or check failed and was rolled back."""

    exit_code = 1


class LockError(DbtoolError):
    """Another runner holds the advisory lock for longer than we may wait."""

    exit_code = 1


class Aborted(DbtoolError):
    """The user declined a confirmation."""

    exit_code = 1


class TransferError(DbtoolError):
    """A clone, backup or restore ran and failed: pg_dump, psql or pg_restore reported an error, or a copy differs."""

    exit_code = 1

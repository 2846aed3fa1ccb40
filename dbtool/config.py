"""dbtool.toml: settings and environments.

Precedence: command-line flags > environment variables (``DBTOOL_ENV``) >
dbtool.toml > defaults.  With no dbtool.toml at all, ``dev`` is the embedded
server, so a fresh checkout works with zero setup.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from dbtool.errors import ConfigError

CONFIG_NAME = "dbtool.toml"
EMBEDDED = "embedded"
VAR_RE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")
DURATION_RE = re.compile(r"^\s*(?P<n>\d+(?:\.\d+)?)\s*(?P<unit>ms|s|min|h)?\s*$")
UNITS = {"ms": 0.001, "s": 1.0, "min": 60.0, "h": 3600.0, None: 0.001}

# Settings of the [dbtool] table with their defaults and types; unknown keys are refused
# so that a typo does not silently fall back to a default.
DEFAULTS: dict[str, object] = {
    "lock_timeout": "5s",
    "statement_timeout": "0",
    "log_table": "public.migration_log",
    "target_version": 13,
    "lock_retries": 3,
    "lock_retry_backoff": "2s",
    "advisory_lock_wait": "60s",
    "embedded_dir": ".dbtool/embedded",
    "backup_dir": ".dbtool/backups",
    "cost_threshold": 0.10,
    "checks": True,
    "exact_count_limit": 100_000,
    "allow_out_of_order": False,
}


def parse_duration(value: object, setting: str) -> float:
    """Seconds in a PostgreSQL-style duration (``"5s"``, ``"500ms"``, ``"1min"``, ``0``)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value) / 1000.0
    m = DURATION_RE.match(str(value))
    if not m:
        raise ConfigError(f"{setting} = {value!r} is not a duration; write e.g. \"5s\", \"500ms\" or \"1min\"")
    return float(m.group("n")) * UNITS[m.group("unit")]


def expand(value: str, where: str) -> str:
    """Replace ``${VAR}`` (or ``${VAR:-default}``) from the process environment."""

    def sub(m: re.Match) -> str:
        name = m.group("name")
        if name in os.environ:
            return os.environ[name]
        if m.group("default") is not None:
            return m.group("default")
        raise ConfigError(f"environment variable {name} is not set (used by {where})")

    return VAR_RE.sub(sub, value)


@dataclass(frozen=True)
class Env:
    """One environment of dbtool.toml."""

    name: str
    url_template: str
    protected: bool = False
    backup: bool = False
    target_version: int | None = None

    @property
    def embedded(self) -> bool:
        return self.url_template.strip() == EMBEDDED

    @property
    def url(self) -> str:
        """The resolved connection string (may contain a password: never print it)."""
        return expand(self.url_template, f"env.{self.name}.url in {CONFIG_NAME}")


@dataclass
class Config:
    """Everything a command needs to know about the project and its environments."""

    root: Path
    path: Path | None
    settings: dict = field(default_factory=lambda: dict(DEFAULTS))
    envs: dict[str, Env] = field(default_factory=dict)
    raw: dict = field(default_factory=dict)

    def env(self, name: str | None = None) -> Env:
        """The named environment, defaulting to ``DBTOOL_ENV`` then ``dev``."""
        name = name or os.environ.get("DBTOOL_ENV") or "dev"
        if name in self.envs:
            return self.envs[name]
        if name == "dev" and "dev" not in self.envs and not self.envs:
            return Env("dev", EMBEDDED)
        known = ", ".join(sorted(self.envs)) or "none"
        where = self.path.name if self.path else "dbtool.toml (no file found)"
        raise ConfigError(f"unknown environment {name!r}: {where} defines {known}")

    def __getattr__(self, key):
        settings = self.__dict__.get("settings", {})
        if key in settings:
            return settings[key]
        raise AttributeError(key)

    @property
    def lock_timeout_s(self) -> float:
        return parse_duration(self.settings["lock_timeout"], "lock_timeout")

    @property
    def retry_backoff_s(self) -> float:
        return parse_duration(self.settings["lock_retry_backoff"], "lock_retry_backoff")

    @property
    def advisory_wait_s(self) -> float:
        return parse_duration(self.settings["advisory_lock_wait"], "advisory_lock_wait")

    @property
    def log_table_parts(self) -> tuple[str, str]:
        schema, _, table = str(self.settings["log_table"]).rpartition(".")
        return (schema or "public"), table

    def resolve(self, relative: str | Path) -> Path:
        p = Path(relative)
        return p if p.is_absolute() else self.root / p


def find_config(start: Path) -> Path | None:
    """dbtool.toml in ``start`` or its parents, as git finds its repository."""
    start = start.resolve()
    for folder in (start, *start.parents):
        candidate = folder / CONFIG_NAME
        if candidate.is_file():
            return candidate
    return None


def load(path: Path | str | None = None, cwd: Path | None = None) -> Config:
    """Load dbtool.toml (``path``, or found from ``cwd`` upward); none at all means embedded dev."""
    cwd = Path(cwd or os.getcwd())
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
    else:
        path = find_config(cwd)
    if path is None:
        return Config(root=cwd.resolve(), path=None)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read: {exc}") from None
    return _build(raw, path)


def _build(raw: dict, path: Path) -> Config:
    cfg = Config(root=path.parent.resolve(), path=path, raw=raw)
    known_tables = {"dbtool", "env", "rules", "clone"}
    for key in raw:
        if key not in known_tables:
            raise ConfigError(f"{path.name}: unknown table [{key}]; expected one of " + ", ".join(f"[{k}]" for k in sorted(known_tables)))
    section = raw.get("dbtool", {})
    if not isinstance(section, dict):
        raise ConfigError(f"{path.name}: [dbtool] must be a table")
    for key, value in section.items():
        if key not in DEFAULTS:
            raise ConfigError(f"{path.name}: unknown setting dbtool.{key}; known settings: {', '.join(sorted(DEFAULTS))}")
        default = DEFAULTS[key]
        if isinstance(default, bool) and not isinstance(value, bool):
            raise ConfigError(f"{path.name}: dbtool.{key} must be true or false, not {value!r}")
        if isinstance(default, int) and not isinstance(default, bool) and (not isinstance(value, int) or isinstance(value, bool)):
            raise ConfigError(f"{path.name}: dbtool.{key} must be a whole number, not {value!r}")
        cfg.settings[key] = value
    for key in ("lock_timeout", "statement_timeout", "lock_retry_backoff", "advisory_lock_wait"):
        parse_duration(cfg.settings[key], f"{path.name}: dbtool.{key}")
    if not re.match(r"^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?$", str(cfg.settings["log_table"])):
        raise ConfigError(f"{path.name}: dbtool.log_table = {cfg.settings['log_table']!r} must be table or schema.table")
    envs = raw.get("env", {})
    if not isinstance(envs, dict):
        raise ConfigError(f"{path.name}: [env] must hold tables like [env.dev]")
    for name, body in envs.items():
        if not isinstance(body, dict):
            raise ConfigError(f"{path.name}: env.{name} must be a table like [env.{name}]")
        unknown = set(body) - {"url", "protected", "backup", "target_version"}
        if unknown:
            raise ConfigError(f"{path.name}: unknown setting env.{name}.{sorted(unknown)[0]}; known: url, protected, backup, target_version")
        url = body.get("url")
        if not isinstance(url, str) or not url.strip():
            raise ConfigError(f"{path.name}: env.{name}.url is missing; write url = \"embedded\" or a libpq URL such as \"${{DATABASE_URL}}\"")
        for flag in ("protected", "backup"):
            if flag in body and not isinstance(body[flag], bool):
                raise ConfigError(f"{path.name}: env.{name}.{flag} must be true or false")
        cfg.envs[name] = Env(name, url, bool(body.get("protected", False)), bool(body.get("backup", body.get("protected", False))), body.get("target_version"))
    return cfg

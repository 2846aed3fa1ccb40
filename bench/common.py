"""Shared helpers of the benchmarks: a server to run on, throwaway databases, timing."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def server_url() -> str:
    return os.environ.get("DBTOOL_BENCH_URL", DEFAULT_URL)


def with_db(url: str, name: str) -> str:
    return make_conninfo(**{**conninfo_to_dict(url), "dbname": name})


@contextmanager
def scratch_db(prefix: str = "bench"):
    admin = server_url()
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield with_db(admin, name)
    finally:
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def timed(cmd: list[str], **kw) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, **kw)
    return time.perf_counter() - t0


def dbtool_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "dbtool", *args]


def machine() -> str:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    with psycopg.connect(server_url()) as c:
        ver = c.execute("SHOW server_version").fetchone()[0]
    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, {cpu or 'unknown CPU'}, Python {platform.python_version()}, PostgreSQL {ver}"


def generate(root: Path, n: int) -> None:
    """N small migrations with rollbacks: tables, columns, indexes, constraints, in rotation."""
    for sub in ("migrations", "rollbacks"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for i in range(1, n + 1):
        month, num = divmod(i - 1, 999)
        version = f"2030.{month + 1:02d}.{num + 1:03d}"
        t = f"t{(i - 1) // 4 * 4 + 1}"
        kind = (i - 1) % 4
        if kind == 0:
            up = f"CREATE TABLE {t} (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text, amount numeric);\n"
            down = f"DROP TABLE {t};\n"
            name = f"create_{t}"
        elif kind == 1:
            up = f"ALTER TABLE {t} ADD COLUMN note text;\nCOMMENT ON COLUMN {t}.note IS 'free text';\n"
            down = f"ALTER TABLE {t} DROP COLUMN note;\n"
            name = f"add_{t}_note"
        elif kind == 2:
            up = f"CREATE INDEX {t}_name_idx ON {t} (name);\n"
            down = f"DROP INDEX {t}_name_idx;\n"
            name = f"index_{t}_name"
        else:
            up = f"ALTER TABLE {t} ADD CONSTRAINT {t}_amount_check CHECK (amount >= 0) NOT VALID;\n"
            down = f"ALTER TABLE {t} DROP CONSTRAINT {t}_amount_check;\n"
            name = f"check_{t}_amount"
        (root / "migrations" / f"{version}__{name}.sql").write_text(up)
        (root / "rollbacks" / f"{version}__{name}.sql").write_text(down)


def write_config(root: Path, url: str, extra: str = "") -> None:
    (root / "dbtool.toml").write_text(f'[dbtool]\n{extra}\n[env.dev]\nurl = "{url}"\n')

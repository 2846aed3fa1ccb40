"""The production-like source of the clone, rehearse and backup tests, built once per test module.

Import the fixtures into a test module (``from staging_fixture import production, staging_project``).
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

import staging_schema
from conftest import DatabaseFactory, write_project

from dbtool import api, config

# A tiny project whose first two versions are applied on the source and the third is pending.
MIGRATIONS = {
    "2025.01.001__create_widgets": (
        "CREATE TABLE public.widgets (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text NOT NULL);\n",
        "DROP TABLE public.widgets;\n"),
    "2025.01.002__add_widget_color": (
        "ALTER TABLE public.widgets ADD COLUMN color text;\nCOMMENT ON COLUMN public.widgets.color IS 'css colour';\n",
        "ALTER TABLE public.widgets DROP COLUMN color;\n"),
    "2025.01.003__index_widget_name": (
        "CREATE INDEX widgets_name_idx ON public.widgets (name);\nALTER TABLE app.accounts ADD COLUMN nickname text;\n",
        "ALTER TABLE app.accounts DROP COLUMN nickname;\nDROP INDEX public.widgets_name_idx;\n"),
}
APPLIED = ["2025.01.001", "2025.01.002"]
PENDING = ["2025.01.003"]


@dataclass
class Production:
    url: str
    role: str
    factory: DatabaseFactory


@pytest.fixture(scope="module")
def production(pg_admin_url, tmp_path_factory):
    """A source database: a few hundred tables of every usual kind, data, and a migration_log made by dbtool."""
    role = f"dbtool_reader_{uuid.uuid4().hex[:8]}"
    factory = DatabaseFactory(pg_admin_url)
    with psycopg.connect(pg_admin_url, autocommit=True) as c:
        c.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(role)))
    try:
        url = factory.create("dbtool_prod")
        staging_schema.build(url, role=role, tables=300)
        root = write_project(tmp_path_factory.mktemp("prod_project"), MIGRATIONS, url=url)
        api.migrate(config.load(root / "dbtool.toml"), "dev", to=APPLIED[-1])
        yield Production(url, role, factory)
    finally:
        factory.drop_all()
        with psycopg.connect(pg_admin_url, autocommit=True) as c:
            c.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def project(root: Path, envs: dict[str, dict], extra: str = "") -> Path:
    """The tiny project with a dbtool.toml naming ``envs``: {"production": {"url": ..., "protected": True}, ...}."""
    write_project(root, MIGRATIONS)
    lines = ['[dbtool]', 'lock_timeout = "2s"', f'backup_dir = "{root / "backups"}"', extra]
    for name, body in envs.items():
        lines.append(f"[env.{name}]")
        lines += [f"{k} = {_toml(v)}" for k, v in body.items()]
    (root / "dbtool.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(str(value))  # a JSON string is a TOML basic string


def write_counters(url: str) -> tuple:
    """Rows inserted, updated and deleted in the database so far (cumulative statistics), once they settle."""
    # Shared catalogs (pg_database, pg_shdepend, ...) count what other databases' sessions do: left out.
    q = ("SELECT tup_inserted, tup_updated, tup_deleted, (SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0)"
         " FROM pg_stat_all_tables s JOIN pg_class c ON c.oid = s.relid WHERE NOT c.relisshared)"
         " FROM pg_stat_database WHERE datname = current_database()")
    last = None
    for _ in range(20):
        with psycopg.connect(url, autocommit=True) as c:
            now = c.execute(q).fetchone()
        if now == last:
            return now
        last = now
        time.sleep(0.25)
    return last


def rows(url: str, query: str) -> list[tuple]:
    with psycopg.connect(url) as c:
        return c.execute(query).fetchall()

"""pgtools: the right pg_dump for a server, a clear sentence when there is none, passwords kept off command lines."""

from __future__ import annotations

import pytest

from dbtool import backup, config, pgtools
from dbtool.errors import ConfigError


def fake_bin(folder, version: str, names=("pg_dump", "psql", "pg_restore")):
    folder.mkdir(parents=True)
    for name in names:
        p = folder / name
        p.write_text(f'#!/bin/sh\necho "{name} (PostgreSQL) {version}"\n')
        p.chmod(0o755)
    return folder


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """Three client installations (14, 17, 16, in search order) and nothing else."""
    dirs = [fake_bin(tmp_path / "pg14", "14.12"), fake_bin(tmp_path / "pg17", "17.2"),
            fake_bin(tmp_path / "pg16", "16.4", names=("pg_dump",))]
    monkeypatch.setattr(pgtools, "search_dirs", lambda: dirs)
    return dirs


def test_the_oldest_fit_is_chosen_with_its_own_psql(installed):
    assert pgtools.find("pg_dump", 15).path == installed[2] / "pg_dump"  # 16: closest to the server's 15
    assert pgtools.find("pg_dump", 17).version == "17.2"
    assert pgtools.find("pg_dump", 13).version == "14.12"
    tools = pgtools.toolset(15)
    # the 16 folder has no psql: the closest fit of at least 16 is taken, never an older one
    assert (tools.pg_dump.version, tools.psql.version, tools.pg_restore.version) == ("16.4", "17.2", "17.2")
    tools = pgtools.toolset(17)
    assert {tools.pg_dump.path.parent, tools.psql.path.parent, tools.pg_restore.path.parent} == {installed[1]}


def test_too_old_or_missing_is_one_sentence_naming_what_to_install(installed, monkeypatch):
    with pytest.raises(ConfigError) as err:
        pgtools.find("pg_dump", 18, purpose="to clone production")
    assert str(err.value) == (
        f"pg_dump 18 or newer is needed to clone production for a PostgreSQL 18 server; found pg_dump 17.2 at "
        f"{installed[1] / 'pg_dump'} (and 2 older); install postgresql-client-18 (apt.postgresql.org / "
        "yum.postgresql.org / brew install postgresql@18), or point DBTOOL_PG_BIN at its bin folder")
    monkeypatch.setattr(pgtools, "search_dirs", lambda: [installed[0]])
    with pytest.raises(ConfigError, match=r"pg_dump 16 or newer is needed for a PostgreSQL 16 server; found pg_dump 14\.12 "
                                          r".*install postgresql-client-16 .*or dbtool\[embedded\]"):
        pgtools.find("pg_dump", 16)
    monkeypatch.setattr(pgtools, "search_dirs", lambda: [])
    with pytest.raises(ConfigError, match=r"^pg_dump 15 or newer is needed for a PostgreSQL 15 server and none was found"):
        pgtools.find("pg_dump", 15)


def test_backup_without_a_fitting_pg_dump_explains(installed, monkeypatch, db_url, tmp_path):
    monkeypatch.setattr(pgtools, "search_dirs", lambda: [installed[0]])  # only 14, the server is newer
    (tmp_path / "dbtool.toml").write_text(f'[env.dev]\nurl = "{db_url}"\n')
    with pytest.raises(ConfigError, match=r"pg_dump 1\d or newer is needed to back up dev for a PostgreSQL 1\d server"):
        backup.backup(config.load(tmp_path / "dbtool.toml"), "dev")
    assert not (tmp_path / ".dbtool" / "backups").exists() or list((tmp_path / ".dbtool" / "backups").iterdir()) == []


def test_the_password_travels_in_the_environment_only():
    dbname, env = pgtools.libpq_args("postgresql://app:s3cr%40t@db.example.com:6543/prod?sslmode=require", read_only=True)
    assert "s3cr" not in dbname and env["PGPASSWORD"] == "s3cr@t"
    assert "sslmode=require" in dbname and "default_transaction_read_only=on" in dbname
    shown = pgtools.shown(["pg_dump", "--schema-only", f"--dbname={dbname}"])
    assert shown == "pg_dump --schema-only --dbname=app@db.example.com:6543/prod"


def test_the_real_programs_fit_the_test_server(conn):
    major = conn.info.server_version // 10000
    tools = pgtools.toolset(major)
    assert tools.pg_dump.major >= major and tools.psql.path.parent == tools.pg_dump.path.parent

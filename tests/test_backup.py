"""dbtool backup and restore: archive + manifest, restore to an equal schema and the same rows, backup before migrate."""

from __future__ import annotations

import hashlib
import json
import os
import stat

import psycopg
import pytest

from cli_util import dbtool
from conftest import write_project
from staging_fixture import APPLIED, production, project, rows, write_counters  # noqa: F401

from dbtool import api, backup, config, snapshot, targetdb
from dbtool.errors import ConfigError, TransferError

COUNTS = """
SELECT n.nspname || '.' || c.relname,
       (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM ONLY %I.%I', n.nspname, c.relname), false, true, '')))[1]::text::int
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'
ORDER BY 1"""


def snap(url):
    with psycopg.connect(url, autocommit=True) as c:
        return snapshot.take(c)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture(scope="module")
def archive(production, tmp_path_factory):
    """One backup of production, made through the CLI, shared by the tests below."""
    root = project(tmp_path_factory.mktemp("backup_project"), {"production": {"url": production.url, "protected": True}})
    counters = write_counters(production.url)
    r = dbtool("backup", "--env", "production", "--format", "json", cwd=root)
    assert r.code == 0, r.err
    assert write_counters(production.url) == counters  # a backup only reads
    return root, json.loads(r.out)


def test_backup_writes_a_private_archive_and_a_true_manifest(archive, production):
    root, out = archive
    path = out["path"]
    assert path.endswith(f"-{APPLIED[-1]}.dump") and os.path.dirname(path) == str(root / "backups")
    assert mode(path) == 0o600 and mode(out["manifest_path"]) == 0o600 and mode(root / "backups") == 0o700
    manifest = json.loads(open(out["manifest_path"], encoding="utf-8").read())
    data = open(path, "rb").read()
    assert manifest["sha256"] == hashlib.sha256(data).hexdigest() and manifest["size"] == len(data)
    assert data[:5] == b"PGDMP"  # pg_dump's custom format
    assert manifest["applied_version"] == APPLIED[-1] and manifest["env"] == "production"
    assert manifest["server_version"].split(".")[0] == rows(production.url, "SHOW server_version")[0][0].split(".")[0]
    assert manifest["dbname"] in production.url and "password" not in json.dumps(manifest)
    assert manifest["created_at"].endswith("+00:00") and manifest["tables"] >= 300
    schema_file = root / "backups" / manifest["schema_file"]
    assert mode(schema_file) == 0o600
    assert hashlib.sha256(schema_file.read_bytes()).hexdigest() == manifest["schema_sha256"]


def test_restore_gives_an_equal_schema_and_the_same_rows(archive, production, make_db):
    root, out = archive
    staging = make_db("dbtool_restored")
    (root / "dbtool.toml").write_text((root / "dbtool.toml").read_text() + f'[env.staging]\nurl = "{staging}"\n')
    r = dbtool("restore", out["path"], "--env", "staging", "--format", "json", cwd=root)
    assert r.code == 0, r.err
    res = json.loads(r.out)
    assert res["ok"] and res["verified"] and res["compared"] and res["differences"] == []
    assert snapshot.diff(snap(production.url), snap(staging)) == []
    assert rows(staging, COUNTS) == rows(production.url, COUNTS)
    assert rows(staging, "SELECT count(*) FROM app.accounts") == [(300,)]
    # the log came back too: status on the restored copy is production's
    cfg = config.load(root / "dbtool.toml")
    assert [m.state for m in api.status(cfg, "staging").migrations] == [m.state for m in api.status(cfg, "production").migrations]
    # restoring again over it needs a confirmation: the target is no longer empty
    r = dbtool("restore", out["path"], "--env", "staging", cwd=root)
    assert r.code == 2 and "pass --yes to replace its contents" in r.err


def test_restore_refuses_an_altered_archive_and_a_protected_target(archive, tmp_path, make_db):
    root, out = archive
    bad = tmp_path / "copy.dump"
    data = bytearray(open(out["path"], "rb").read())
    data[len(data) // 2] ^= 0xFF
    bad.write_bytes(bytes(data))
    (tmp_path / "copy.json").write_text(open(out["manifest_path"], encoding="utf-8").read())
    target = make_db("dbtool_restored")
    cfg = config.load(root / "dbtool.toml")
    cfg.envs["scratch"] = config.Env("scratch", target)
    with pytest.raises(TransferError, match="does not match its manifest"):
        backup.restore(cfg, bad, "scratch")
    with psycopg.connect(target, autocommit=True) as c:
        assert targetdb.inventory(c) == {}  # nothing was loaded
    r = dbtool("restore", out["path"], "--env", "production", cwd=root)
    assert r.code == 2 and "production" in r.err and "is protected" in r.err


MIGRATIONS = {
    "2025.02.001__create_things": ("CREATE TABLE things (id int PRIMARY KEY);\n", "DROP TABLE things;\n"),
}


def test_migrate_on_a_backup_env_takes_one_first(tmp_path, db_url):
    root = write_project(tmp_path / "p", MIGRATIONS)
    (root / "dbtool.toml").write_text(f'[dbtool]\nbackup_dir = "bk"\n[env.dev]\nurl = "{db_url}"\nbackup = true\n')
    r = dbtool("migrate", "--format", "json", "--no-checks", cwd=root)
    assert r.code == 0, r.err
    out = json.loads(r.out)
    assert out["applied"] == ["2025.02.001"]
    taken = out["backup"]
    assert os.path.exists(taken["path"]) and taken["applied_version"] is None  # taken before the migration
    assert mode(taken["path"]) == 0o600 and taken["sha256"] == hashlib.sha256(open(taken["path"], "rb").read()).hexdigest()


def test_migrate_stops_when_the_backup_fails(tmp_path, db_url, monkeypatch):
    root = write_project(tmp_path / "p", MIGRATIONS)
    (root / "dbtool.toml").write_text(f'[dbtool]\nbackup_dir = "bk"\n[env.dev]\nurl = "{db_url}"\nbackup = true\n')
    # a pg_dump that says it fits the server and then fails
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "pg_dump").write_text('#!/bin/sh\nif [ "$1" = --version ]; then echo "pg_dump (PostgreSQL) 15.0"; exit 0; fi\n'
                                  'echo "pg_dump: error: simulated disk failure" >&2\nexit 1\n')
    (fake / "pg_dump").chmod(0o755)
    r = dbtool("migrate", "--no-checks", cwd=root, env={"DBTOOL_PG_BIN": str(fake)})
    assert r.code == 1
    assert r.err.strip() == "Error: pg_dump failed; no backup was written: pg_dump: error: simulated disk failure"
    with psycopg.connect(db_url) as c:
        assert c.execute("SELECT to_regclass('things')").fetchone()[0] is None  # nothing applied
    assert list((root / "bk").iterdir()) == []  # and no partial archive left behind
    # an unusable backup_dir stops it too, as a configuration error
    (root / "dbtool.toml").write_text(f'[dbtool]\nbackup_dir = "dbtool.toml/bk"\n[env.dev]\nurl = "{db_url}"\nbackup = true\n')
    with pytest.raises(ConfigError, match="backup_dir .* cannot be created"):
        api.migrate(config.load(root / "dbtool.toml"), "dev")

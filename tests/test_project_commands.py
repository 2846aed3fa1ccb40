"""init, new, and adopting a log table that predates dbtool."""

from __future__ import annotations

import json

import psycopg

from dbtool import files

from cli_util import dbtool


def test_init_is_idempotent(tmp_path):
    r = dbtool("init", cwd=tmp_path)
    assert r.code == 0
    assert "created dbtool.toml" in r.out
    for sub in ("migrations", "rollbacks", "checks/integrity", "checks/queries"):
        assert (tmp_path / sub).is_dir()
    toml = (tmp_path / "dbtool.toml").read_text()
    assert 'url = "embedded"' in toml and "protected = true" in toml
    before = toml
    r2 = dbtool("init", cwd=tmp_path)
    assert r2.code == 0 and "nothing to do" in r2.out
    assert (tmp_path / "dbtool.toml").read_text() == before
    assert (tmp_path / ".gitignore").read_text().count(".dbtool/") == 1


def test_new_creates_the_next_version_in_three_folders(tmp_path):
    dbtool("init", cwd=tmp_path)
    r = dbtool("new", "Add subscription status", "--format", "json", cwd=tmp_path)
    assert r.code == 0, r.err
    data = json.loads(r.out)
    v = data["version"]
    assert files.is_version(v)
    assert data["files"] == [f"migrations/{v}__add_subscription_status.sql",
                             f"rollbacks/{v}__add_subscription_status.sql",
                             f"checks/{v}__add_subscription_status.sql"]
    r2 = dbtool("new", "second", "--format", "json", cwd=tmp_path)
    v2 = json.loads(r2.out)["version"]
    assert files.version_key(v2) == (files.version_key(v)[0], files.version_key(v)[1], files.version_key(v)[2] + 1)
    project = files.discover(tmp_path)
    assert [m.version for m in project.migrations] == [v, v2]
    assert all(m.down is not None and m.verify is not None for m in project.migrations)


def test_new_rejects_a_name_without_letters(tmp_path):
    r = dbtool("new", "!!!", cwd=tmp_path)
    assert r.code == 2 and "has no letters or digits" in r.err


def test_a_hand_made_log_table_is_upgraded_and_adopted(project_factory, db_url):
    # The deployment plan's own migration_log: version, started_at, status.
    with psycopg.connect(db_url, autocommit=True) as c:
        c.execute("CREATE TABLE migration_log (version text, started_at timestamptz, status text)")
        c.execute("CREATE TABLE platforms (id int)")
        c.execute("INSERT INTO migration_log VALUES ('2025.01.001', now(), 'completed')")
    root = project_factory({"2025.01.001__create_platforms": ("CREATE TABLE platforms (id int);\n", "DROP TABLE platforms;\n"),
                            "2025.01.002__create_users": ("CREATE TABLE users (id int);\n", "DROP TABLE users;\n")}, url=db_url)
    r = dbtool("migrate", cwd=root)
    assert r.code == 0, r.err
    assert "2025.01.002" in r.out and "2025.01.001" not in r.out
    with psycopg.connect(db_url) as c:
        cols = {x[0] for x in c.execute("SELECT column_name FROM information_schema.columns WHERE table_name = 'migration_log'")}
    assert {"id", "name", "direction", "checksum", "details", "applied_by", "tool_version", "duration_ms"} <= cols
    st = json.loads(dbtool("status", "--format", "json", cwd=root).out)
    assert [m["state"] for m in st["migrations"]] == ["applied", "applied"]

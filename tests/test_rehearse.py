"""dbtool rehearse: production's pending migrations run on a scratch clone, measured, round-tripped, discarded."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from cli_util import dbtool
from conftest import write_project
from staging_fixture import MIGRATIONS, PENDING, production, project, write_counters  # noqa: F401

from dbtool import api, config, rehearse, snapshot


def snap(url):
    with psycopg.connect(url, autocommit=True) as c:
        return snapshot.take(c)


def scratch_dbs(admin_url) -> set[str]:
    with psycopg.connect(admin_url) as c:
        return {r[0] for r in c.execute("SELECT datname FROM pg_database WHERE datname LIKE 'dbtool_scratch%'")}


def test_rehearse_reports_production_pending_set_and_leaves_nothing_behind(production, pg_admin_url, tmp_path):
    root = project(tmp_path, {"production": {"url": production.url, "protected": True}})
    cfg = config.load(root / "dbtool.toml")
    before, counters, scratches = snap(production.url), write_counters(production.url), scratch_dbs(pg_admin_url)
    res = rehearse.rehearse(cfg, "production", scratch_url=pg_admin_url)
    assert res.ok, (res.error, res.notes, res.roundtrip_findings)
    prod_pending = [m.version for m in api.status(cfg, "production").migrations if m.state == "pending"]
    assert res.pending == prod_pending == PENDING
    assert res.applied == PENDING and res.current == "2025.01.002"
    assert res.clone.ok and res.clone.log_rows == 2
    assert res.roundtrip is not None and res.roundtrip.tested == PENDING and res.roundtrip.ok
    # production untouched, and both scratch databases (the clone and its round-trip copy) dropped
    assert snapshot.diff(before, snap(production.url)) == []
    assert write_counters(production.url) == counters
    assert scratch_dbs(pg_admin_url) == scratches
    assert [m.state for m in api.status(cfg, "production").migrations] == ["applied", "applied", "pending"]
    text = rehearse.describe(res)
    assert "pending: 2025.01.003" in text and "result: OK, production would go from 2025.01.002 to 2025.01.003" in text


def test_rehearse_with_sample_data_finds_what_an_empty_clone_cannot(production, pg_admin_url, tmp_path):
    # Adding a NOT NULL column without a default works on empty tables and fails on production's rows.
    migrations = dict(MIGRATIONS)
    migrations["2025.01.003__index_widget_name"] = ("ALTER TABLE app.accounts ADD COLUMN region text NOT NULL;\n",
                                                    "ALTER TABLE app.accounts DROP COLUMN region;\n")
    root = project(tmp_path, {"production": {"url": production.url, "protected": True}})
    for label, (up, down) in migrations.items():
        (root / "migrations" / f"{label}.sql").write_text(up)
        (root / "rollbacks" / f"{label}.sql").write_text(down)
    scratches = scratch_dbs(pg_admin_url)
    r = dbtool("rehearse", "--from", "production", "--scratch-url", pg_admin_url, "--no-checks", "--format", "json", cwd=root)
    assert r.code == 0, r.err
    assert json.loads(r.out)["applied"] == PENDING
    r = dbtool("rehearse", "--from", "production", "--scratch-url", pg_admin_url, "--data", "sample", "--sample-rows", "5",
               "--no-checks", cwd=root)
    assert r.code == 1
    assert "migrations/2025.01.003__index_widget_name.sql:1: migration 2025.01.003 failed" in r.out
    assert 'column "region" of relation "accounts" contains null values' in r.out
    assert "result: FAILED" in r.out and "nothing was changed on production" in r.out
    assert scratch_dbs(pg_admin_url) == scratches


def test_rehearse_refuses_a_protected_scratch_environment(production, tmp_path):
    root = project(tmp_path, {"production": {"url": production.url, "protected": True},
                              "backup_site": {"url": production.url, "protected": True}})
    r = dbtool("rehearse", "--from", "production", "--scratch", "backup_site", cwd=root)
    assert r.code == 2
    assert r.err.startswith("Error: environment backup_site is protected: rehearse never writes there")


@pytest.fixture
def embedded_dir():
    """A private embedded server's folder, stopped and removed after the test.

    Not under tmp_path: pgserver runs postgres as its own OS user, and each new pytest run
    resets /tmp/pytest-of-root to 0700, which would lock that user out of a running server.
    """
    import shutil
    import tempfile

    from dbtool import embedded as _embedded

    folder = Path(tempfile.mkdtemp(prefix="dbtool-rehearse-"))
    yield folder
    _embedded.stop(folder)
    shutil.rmtree(folder, ignore_errors=True)


def test_rehearse_on_the_embedded_server_by_default(production, make_db, tmp_path, embedded_dir):
    pytest.importorskip("pgserver")
    embedded = f'embedded_dir = "{embedded_dir}"'
    # production's extensions are not all on the embedded server: said before anything is created
    root = project(tmp_path / "a", {"production": {"url": production.url, "protected": True}}, extra=embedded)
    r = dbtool("rehearse", "--from", "production", cwd=root)
    assert r.code == 2
    assert "the source uses extension(s) btree_gist, citext, pgcrypto, which the server of rehearsal" in r.err
    assert "rehearse on a server that has them, with --scratch ENV or --scratch-url URL" in r.err
    # a source that needs nothing special rehearses there, with its roles stood in for
    source = make_db("dbtool_prod_small")
    small = {"2025.03.001__create_notes": ("CREATE TABLE notes (id int PRIMARY KEY, body text);\n", "DROP TABLE notes;\n"),
             "2025.03.002__add_note_title": ("ALTER TABLE notes ADD COLUMN title text;\n", "ALTER TABLE notes DROP COLUMN title;\n")}
    root = write_project(tmp_path / "b", small)
    (root / "dbtool.toml").write_text(f'[dbtool]\n{embedded}\n[env.production]\nurl = "{source}"\nprotected = true\n')
    cfg = config.load(root / "dbtool.toml")
    api.migrate(cfg, "production", to="2025.03.001", yes=True)
    with psycopg.connect(source, autocommit=True) as c:
        c.execute(f'GRANT SELECT ON notes TO "{production.role}"')
    r = dbtool("rehearse", "--from", "production", "--format", "json", cwd=root)
    assert r.code == 0, r.err + r.out[-2000:]
    out = json.loads(r.out)
    assert out["scratch"].startswith("embedded server") and out["pending"] == out["applied"] == ["2025.03.002"]
    assert out["clone"]["schema_equal"] and out["clone"]["not_compared"] == []
    assert out["clone"]["roles_created"] == [production.role]  # a fresh embedded server lacked it
    assert out["roundtrip"]["ok"] and out["roundtrip"]["tested"] == ["2025.03.002"]


def test_rehearse_reports_a_rollback_that_does_not_restore_production(production, pg_admin_url, tmp_path):
    root = project(tmp_path, {"production": {"url": production.url, "protected": True}})
    (root / "rollbacks" / "2025.01.003__index_widget_name.sql").write_text("DROP INDEX public.widgets_name_idx;\n")
    r = dbtool("rehearse", "--from", "production", "--scratch-url", pg_admin_url, "--no-checks", "--format", "json", cwd=root)
    assert r.code == 1
    out = json.loads(r.out)
    assert out["applied"] == PENDING and out["error"] is None  # the migration itself applies
    assert not out["roundtrip"]["ok"]
    assert any(f["rule"] == "roundtrip-down-differs" and "nickname" in f["message"] for f in out["roundtrip"]["findings"])

"""The core: migrate, status, rollback, log, failures, drift, concurrency, crashes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import psycopg
import pytest

from dbtool import api, config
from dbtool.errors import MigrationError, StateError

from cli_util import dbtool, dbtool_proc

BASIC = {
    "2025.01.001__create_platforms": (
        "CREATE TABLE platforms (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text NOT NULL);\n",
        "DROP TABLE platforms;\n"),
    "2025.01.002__create_users": (
        "CREATE TABLE users (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, email text NOT NULL);\n"
        "CREATE UNIQUE INDEX users_email_key ON users (lower(email));\n",
        "DROP TABLE users;\n"),
    "2025.01.003__index_platform_name": (
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS platforms_name_idx ON platforms (name);\n",
        "DROP INDEX CONCURRENTLY IF EXISTS platforms_name_idx;\n"),
    "2025.01.004__add_platform_site": (
        "ALTER TABLE platforms ADD COLUMN website text;\nCOMMENT ON COLUMN platforms.website IS 'home page';\n",
        "ALTER TABLE platforms DROP COLUMN website;\n"),
}


def states(url):
    with psycopg.connect(url) as c:
        return c.execute("SELECT version, direction, status FROM migration_log ORDER BY id").fetchall()


def tables(url):
    with psycopg.connect(url) as c:
        return {r[0] for r in c.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}


def test_apply_all_status_and_log(project_factory, db_url):
    root = project_factory(BASIC, url=db_url)
    r = dbtool("migrate", cwd=root)
    assert r.code == 0, r.err
    assert "applied 4 migration(s)" in r.out
    assert tables(db_url) == {"platforms", "users", "migration_log"}
    st = dbtool("status", "--format", "json", "--exit-code", cwd=root)
    assert st.code == 0
    data = json.loads(st.out)
    assert [m["state"] for m in data["migrations"]] == ["applied"] * 4
    assert data["env"] == "dev" and data["current"] == "2025.01.004"
    # the non-transactional migration committed a 'started' row first, then 'completed'
    assert ("2025.01.003", "up", "started") in states(db_url)
    lg = dbtool("log", "--format", "json", cwd=root)
    entries = json.loads(lg.out)["entries"]
    assert {e["status"] for e in entries} == {"started", "completed"}
    assert all(e["checksum"] and e["applied_by"] and e["tool_version"] for e in entries)
    again = dbtool("migrate", cwd=root)
    assert again.code == 0 and "already up to date" in again.out


def test_migrate_to_and_status_exit_code_for_pipelines(project_factory, db_url):
    root = project_factory(BASIC, url=db_url)
    assert dbtool("migrate", "--to", "2025.01.002", cwd=root).code == 0
    st = dbtool("status", "--exit-code", cwd=root)
    assert st.code == 1
    assert "2025.01.003" in st.out and "pending" in st.out


def _dump(url):
    from dbtool import pgtools

    with psycopg.connect(url) as c:
        pg_dump = pgtools.find("pg_dump", c.info.server_version // 10000).path
    out = subprocess.run([str(pg_dump), "-s", "--no-owner", "-d", url, "-T", "migration_log", "-T", "migration_log_id_seq"],
                         capture_output=True, text=True, check=True).stdout
    return "\n".join(l for l in out.splitlines() if not l.startswith("--") and "restrict" not in l.lower())


def test_rollback_then_migrate_again_gives_the_same_schema(project_factory, db_url):
    root = project_factory(BASIC, url=db_url)
    assert dbtool("migrate", cwd=root).code == 0
    first = _dump(db_url)
    plan = dbtool("rollback", "2025.01.002", "--dry-run", cwd=root)
    assert plan.code == 0
    assert plan.out.index("2025.01.004") < plan.out.index("2025.01.003") < plan.out.index("2025.01.002")
    assert tables(db_url) == {"platforms", "users", "migration_log"}, "dry run changed nothing"
    r = dbtool("rollback", "2025.01.002", "--yes", cwd=root)
    assert r.code == 0, r.err
    assert tables(db_url) == {"platforms", "migration_log"}
    downs = [v for v, d, s in states(db_url) if d == "down" and s == "completed"]
    assert downs == ["2025.01.004", "2025.01.003", "2025.01.002"]
    assert dbtool("migrate", cwd=root).code == 0
    assert _dump(db_url) == first


def test_failing_migration_in_the_middle(project_factory, db_url):
    bad = dict(BASIC)
    bad["2025.01.003__index_platform_name"] = (
        "ALTER TABLE platforms ADD COLUMN tier int;\n\nUPDATE platforms SET tier = 1 / 0;\n", "ALTER TABLE platforms DROP COLUMN tier;\n")
    root = project_factory(bad, url=db_url)
    r = dbtool("migrate", cwd=root)
    assert r.code == 1
    assert r.err.startswith("Error: migrations/2025.01.003__index_platform_name.sql:3: migration 2025.01.003 failed: division by zero")
    assert "Traceback" not in r.err
    with psycopg.connect(db_url) as c:
        cols = {x[0] for x in c.execute("SELECT column_name FROM information_schema.columns WHERE table_name = 'platforms'")}
        assert "tier" not in cols, "nothing of the failed migration remains"
        row = c.execute("SELECT status, error FROM migration_log WHERE version = '2025.01.003'").fetchone()
    assert row[0] == "failed" and "division by zero" in row[1]
    assert [v for v, d, s in states(db_url) if s == "completed"] == ["2025.01.001", "2025.01.002"]
    st = json.loads(dbtool("status", "--format", "json", cwd=root).out)
    assert [m["state"] for m in st["migrations"]] == ["applied", "applied", "failed", "pending"]
    # fix the file and rerun: it continues where it stopped
    (root / "migrations" / "2025.01.003__index_platform_name.sql").write_text(
        "ALTER TABLE platforms ADD COLUMN tier int;\nUPDATE platforms SET tier = 1;\n")
    r2 = dbtool("migrate", cwd=root)
    assert r2.code == 0, r2.err
    assert "2025.01.003" in r2.out and "2025.01.001" not in r2.out


def test_syntax_error_stops_before_anything_runs(project_factory, db_url):
    bad = dict(BASIC)
    bad["2025.01.004__add_platform_site"] = ("ALTER TABLE platforms\n  ADD COLUMN website tex t;\n", "SELECT 1;\n")
    root = project_factory(bad, url=db_url)
    r = dbtool("migrate", cwd=root)
    assert r.code == 1
    assert r.err.startswith("Error: migrations/2025.01.004__add_platform_site.sql:2:")
    assert "syntax error" in r.err
    assert tables(db_url) == set(), "a parse error is found before any migration runs"


def test_drift_missing_and_out_of_order_are_refused(project_factory, db_url):
    root = project_factory(BASIC, url=db_url)
    assert dbtool("migrate", "--to", "2025.01.002", cwd=root).code == 0
    f = root / "migrations" / "2025.01.001__create_platforms.sql"
    original = f.read_text()
    f.write_text(original + "-- edited after it was applied\n")
    r = dbtool("migrate", cwd=root)
    assert r.code == 1 and "changed since version 2025.01.001 was applied" in r.err
    st = json.loads(dbtool("status", "--format", "json", cwd=root).out)
    assert st["migrations"][0]["state"] == "drifted"
    f.write_text(original)
    # an applied version whose files disappeared
    for sub in ("migrations", "rollbacks"):
        (root / sub / "2025.01.002__create_users.sql").rename(root / f"{sub}-002.sql.bak")
    r = dbtool("migrate", cwd=root)
    assert r.code == 1 and "2025.01.002" in r.err and "missing" in r.err
    st = json.loads(dbtool("status", "--format", "json", cwd=root).out)
    assert {m["version"]: m["state"] for m in st["migrations"]}["2025.01.002"] == "missing"
    for sub in ("migrations", "rollbacks"):
        (root / f"{sub}-002.sql.bak").rename(root / sub / "2025.01.002__create_users.sql")
    # a pending version older than the newest applied one
    assert dbtool("migrate", cwd=root).code == 0
    (root / "migrations" / "2025.01.000__late.sql").write_text("SELECT 1;\n")
    (root / "rollbacks" / "2025.01.000__late.sql").write_text("SELECT 1;\n")
    r = dbtool("migrate", cwd=root)
    assert r.code == 1 and "older than the newest applied version" in r.err
    assert dbtool("migrate", "--allow-out-of-order", cwd=root).code == 0


def test_rollback_refuses_missing_or_changed_down_script(project_factory, db_url):
    root = project_factory(BASIC, url=db_url)
    assert dbtool("migrate", cwd=root).code == 0
    down = root / "rollbacks" / "2025.01.004__add_platform_site.sql"
    down.write_text("ALTER TABLE platforms DROP COLUMN website CASCADE;\n")
    r = dbtool("rollback", "2025.01.004", "--yes", cwd=root)
    assert r.code == 1 and "changed since 2025.01.004 was applied" in r.err
    down.unlink()
    r = dbtool("rollback", "2025.01.004", "--yes", cwd=root)
    assert r.code == 2 and "has no rollback" in r.err


def test_two_concurrent_runners_apply_each_migration_once(project_factory, db_url):
    migs = {f"2025.02.{i:03d}__step_{i}": (f"CREATE TABLE t{i} (id int);\nSELECT pg_sleep(0.05);\n", f"DROP TABLE t{i};\n")
            for i in range(1, 9)}
    root = project_factory(migs, url=db_url)
    procs = [subprocess.Popen([sys.executable, "-m", "dbtool", "migrate"], cwd=root, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    rows = [(v, s) for v, d, s in states(db_url)]
    completed = [v for v, s in rows if s == "completed"]
    assert sorted(completed) == sorted(v.split("__")[0] for v in migs)
    assert len(completed) == len(set(completed)), "no migration applied twice"


def kill_during_sleep(p: subprocess.Popen, db_url: str) -> None:
    """SIGKILL the dbtool process once its migration sits in pg_sleep(30), then end that orphaned backend."""
    with psycopg.connect(db_url, autocommit=True) as c:
        for _ in range(200):
            if c.execute("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(30)%%'").fetchone()[0]:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the migration never reached its slow statement")
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=10)
        # A killed client's backend only notices at its next write; end it as a DBA would.
        c.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(30)%%'")


def test_sigkill_during_a_long_transactional_migration(project_factory, db_url):
    migs = {"2025.03.001__slow": ("CREATE TABLE slow_t (id int);\nINSERT INTO slow_t SELECT generate_series(1, 1000);\n"
                                  "SELECT pg_sleep(30);\n", "DROP TABLE slow_t;\n")}
    root = project_factory(migs, url=db_url)
    p = subprocess.Popen([sys.executable, "-m", "dbtool", "migrate"], cwd=root, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    kill_during_sleep(p, db_url)
    assert "slow_t" not in tables(db_url)
    (root / "migrations" / "2025.03.001__slow.sql").write_text(
        "CREATE TABLE slow_t (id int);\nINSERT INTO slow_t SELECT generate_series(1, 1000);\n")
    r = dbtool("migrate", cwd=root)
    assert r.code == 0, r.err
    with psycopg.connect(db_url) as c:
        assert c.execute("SELECT count(*) FROM slow_t").fetchone()[0] == 1000


def test_interrupted_non_transactional_migration(project_factory, db_url):
    migs = {"2025.04.001__base": ("CREATE TABLE big (id int);\n", "DROP TABLE big;\n"),
            "2025.04.002__concurrent": ("CREATE INDEX CONCURRENTLY IF NOT EXISTS big_id_idx ON big (id);\n"
                                        "SELECT pg_sleep(30);\n",
                                        "DROP INDEX CONCURRENTLY IF EXISTS big_id_idx;\n")}
    root = project_factory(migs, url=db_url)
    p = subprocess.Popen([sys.executable, "-m", "dbtool", "migrate"], cwd=root, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    kill_during_sleep(p, db_url)
    st = json.loads(dbtool("status", "--format", "json", cwd=root).out)
    assert {m["version"]: m["state"] for m in st["migrations"]} == {"2025.04.001": "applied", "2025.04.002": "interrupted"}
    r = dbtool("migrate", cwd=root)
    assert r.code == 1 and "interrupted" in r.err and "--retry-interrupted" in r.err
    (root / "migrations" / "2025.04.002__concurrent.sql").write_text(
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS big_id_idx ON big (id);\n")
    r = dbtool("migrate", "--retry-interrupted", cwd=root)
    assert r.code == 0, r.err
    st = json.loads(dbtool("status", "--format", "json", cwd=root).out)
    assert [m["state"] for m in st["migrations"]] == ["applied", "applied"]


def test_lock_timeout_is_retried(project_factory, db_url):
    migs = {"2025.05.001__base": ("CREATE TABLE hot (id int);\n", "DROP TABLE hot;\n"),
            "2025.05.002__alter_hot": ("ALTER TABLE hot ADD COLUMN note text;\n", "ALTER TABLE hot DROP COLUMN note;\n")}
    root = project_factory(migs, url=db_url, toml_extra="")
    (root / "dbtool.toml").write_text((root / "dbtool.toml").read_text().replace('lock_timeout = "2s"', 'lock_timeout = "200ms"'))
    assert dbtool("migrate", "--to", "2025.05.001", cwd=root).code == 0
    holder = psycopg.connect(db_url)
    holder.execute("LOCK TABLE hot IN ACCESS SHARE MODE")  # an open transaction, as a long report query would be
    p = subprocess.Popen([sys.executable, "-m", "dbtool", "migrate"], cwd=root, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    with psycopg.connect(db_url, autocommit=True) as watch:
        for _ in range(400):
            if watch.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                             " AND query LIKE 'ALTER TABLE hot%%'").fetchone()[0]:
                break
            time.sleep(0.025)
        else:
            pytest.fail("the migration never waited for the lock")
    time.sleep(0.6)  # longer than lock_timeout: the first attempt has timed out and is retrying
    holder.rollback()
    holder.close()
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    with psycopg.connect(db_url) as c:
        attempts = c.execute("SELECT details->>'attempts' FROM migration_log WHERE version = '2025.05.002' AND status = 'completed'").fetchone()[0]
    assert int(attempts) >= 2


def test_lock_timeout_exhausted_fails_cleanly(project_factory, db_url):
    migs = {"2025.05.001__base": ("CREATE TABLE hot (id int);\n", "DROP TABLE hot;\n"),
            "2025.05.002__alter_hot": ("ALTER TABLE hot ADD COLUMN note text;\n", "ALTER TABLE hot DROP COLUMN note;\n")}
    root = project_factory(migs, url=db_url)
    (root / "dbtool.toml").write_text((root / "dbtool.toml").read_text().replace('lock_timeout = "2s"', 'lock_timeout = "100ms"\nlock_retries = 1'))
    assert dbtool("migrate", "--to", "2025.05.001", cwd=root).code == 0
    with psycopg.connect(db_url) as holder:
        holder.execute("LOCK TABLE hot IN ACCESS SHARE MODE")
        r = dbtool("migrate", cwd=root)
    assert r.code == 1
    assert "lock timeout" in r.err and "after 2 attempts" in r.err
    st = json.loads(dbtool("status", "--format", "json", cwd=root).out)
    assert st["migrations"][1]["state"] == "failed"


def test_second_runner_waits_and_names_the_holder(project_factory, db_url):
    root = project_factory(BASIC, url=db_url)
    (root / "dbtool.toml").write_text((root / "dbtool.toml").read_text().replace("[env.dev]", 'advisory_lock_wait = "1s"\n[env.dev]'))
    cfg = config.load(root / "dbtool.toml")
    from dbtool.runner import migration_lock

    with psycopg.connect(db_url, autocommit=True) as holder:
        with migration_lock(holder, "dev:public.migration_log", 1):
            r = dbtool("migrate", cwd=root)
    assert r.code == 1
    assert "another migration runner holds the lock" in r.err and "pid" in r.err


def test_verify_script_failure_rolls_back(project_factory, db_url):
    root = project_factory(BASIC, url=db_url, verify={
        "2025.01.001__create_platforms": "DO $$\nBEGIN\n  IF NOT EXISTS (SELECT 1 FROM platforms) THEN\n"
                                         "    RAISE EXCEPTION 'no platform seeded';\n  END IF;\nEND $$;\n"})
    r = dbtool("migrate", cwd=root)
    assert r.code == 1
    # the RAISE stands on line 4 of the verify script: PL/pgSQL's own line is mapped back to the file
    assert "checks/2025.01.001__create_platforms.sql:4: verify script of 2025.01.001 failed: no platform seeded" in r.err
    assert "platforms" not in tables(db_url)


def test_protected_environment_needs_confirmation(project_factory, db_url):
    root = project_factory(BASIC, url=db_url)
    (root / "dbtool.toml").write_text((root / "dbtool.toml").read_text() + f'\n[env.production]\nurl = "{db_url}"\nprotected = true\nbackup = false\n')
    r = dbtool_proc("migrate", "--env", "production", cwd=root)
    assert r.returncode == 2 and "protected" in r.stderr and "--yes" in r.stderr
    assert tables(db_url) <= {"migration_log"}
    r = dbtool_proc("migrate", "--env", "production", "--yes", cwd=root)
    assert r.returncode == 0, r.stderr


def test_library_api_returns_results_and_raises_typed_errors(project_factory, db_url):
    root = project_factory(BASIC, url=db_url)
    cfg = config.load(root / "dbtool.toml")
    res = api.migrate(cfg)
    assert res.applied == ["2025.01.001", "2025.01.002", "2025.01.003", "2025.01.004"]
    assert all(r.details["statements"] for r in res.results)
    with pytest.raises(StateError):
        api.rollback(cfg, "2024.12.001")
    res = api.rollback(cfg, "2025.01.004")
    assert res.applied == ["2025.01.004"]


def test_database_that_goes_away_mid_run(project_factory, db_url):
    migs = {"2025.06.001__a": ("CREATE TABLE a (id int);\n", "DROP TABLE a;\n"),
            "2025.06.002__b": ("CREATE TABLE b (id int);\nSELECT pg_sleep(30);\n", "DROP TABLE b;\n")}
    root = project_factory(migs, url=db_url)
    p = subprocess.Popen([sys.executable, "-m", "dbtool", "migrate", "--no-checks"], cwd=root, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    with psycopg.connect(db_url, autocommit=True) as c:
        for _ in range(200):
            if c.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                         " WHERE query LIKE 'SELECT pg_sleep(30)%%'").fetchall():
                break
            time.sleep(0.05)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 2
    assert err.startswith("Error: migrations/2025.06.002__b.sql:2: the connection to the database was lost")
    assert "nothing of 2025.06.002 remains" in err and "Traceback" not in err
    assert tables(db_url) == {"a", "migration_log"}
    assert [(v, s) for v, d, s in states(db_url)] == [("2025.06.001", "completed")]

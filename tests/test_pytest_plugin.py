"""The pytest plugin, used as a user would: sample projects run through pytest's own pytester.

Every run is a subprocess (a fresh interpreter that loads the plugin from its pytest11 entry
point), on the suite's test server, so these tests follow the version matrix too.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

pytest_plugins = ["pytester"]

CUSTOMERS = {
    "2025.01.001__create_customers": (
        "CREATE TABLE customers (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, full_name text NOT NULL);\n",
        "DROP TABLE customers;\n"),
    # A data migration: one column becomes two, and back.
    "2025.01.002__split_customer_names": (
        "ALTER TABLE customers ADD COLUMN first_name text, ADD COLUMN last_name text;\n"
        "UPDATE customers SET first_name = split_part(full_name, ' ', 1),\n"
        "                     last_name = substr(full_name, strpos(full_name, ' ') + 1);\n"
        "ALTER TABLE customers DROP COLUMN full_name;\n",
        "ALTER TABLE customers ADD COLUMN full_name text;\n"
        "UPDATE customers SET full_name = first_name || ' ' || last_name;\n"
        "ALTER TABLE customers ALTER COLUMN full_name SET NOT NULL, DROP COLUMN first_name, DROP COLUMN last_name;\n"),
    "2025.01.003__create_orders": (
        "CREATE TABLE orders (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n"
        "                     customer_id bigint NOT NULL REFERENCES customers (id), total numeric(12,2));\n",
        "DROP TABLE orders;\n"),
}

SAMPLE_TESTS = '''
import psycopg


def test_schema_is_at_the_newest_version(dbtool_db):
    cols = [r[0] for r in dbtool_db.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'customers' ORDER BY ordinal_position")]
    assert cols == ["id", "first_name", "last_name"]
    assert dbtool_db.execute("SELECT to_regclass('orders')::text").fetchone()[0] == "orders"


def test_application_code_connecting_itself(dbtool_db, dbtool_url):
    dbtool_db.execute("INSERT INTO customers (first_name, last_name) VALUES ('Ada', 'Lovelace')")
    dbtool_db.commit()
    with psycopg.connect(dbtool_url) as app:
        assert app.execute("SELECT first_name FROM customers").fetchall() == [("Ada",)]


def test_split_names_data_migration(dbtool_migrate):
    conn = dbtool_migrate(before="2025.01.002")
    assert dbtool_migrate.current == "2025.01.001"
    conn.execute("INSERT INTO customers (full_name) VALUES ('Ada Lovelace'), ('Grace Brewster Hopper')")
    dbtool_migrate(to="2025.01.002")
    assert conn.execute("SELECT first_name, last_name FROM customers ORDER BY id").fetchall() == [
        ("Ada", "Lovelace"), ("Grace", "Brewster Hopper")]
    dbtool_migrate.rollback("2025.01.002")
    assert dbtool_migrate.current == "2025.01.001"
    assert conn.execute("SELECT full_name FROM customers ORDER BY id").fetchall() == [
        ("Ada Lovelace",), ("Grace Brewster Hopper",)]


def test_migrate_moves_both_ways(dbtool_migrate):
    dbtool_migrate()
    assert dbtool_migrate.applied == ["2025.01.001", "2025.01.002", "2025.01.003"]
    conn = dbtool_migrate(to="2025.01.001")
    assert dbtool_migrate.applied == ["2025.01.001"]
    assert conn.execute("SELECT to_regclass('orders')").fetchone()[0] is None
    dbtool_migrate(before="2025.01.001")
    assert dbtool_migrate.applied == []
'''

# Each test records its database, so the caller can check they are gone afterwards.
RECORD_DBS = '''
import os
import pytest

@pytest.fixture(autouse=True)
def _record_database(request):
    for name in ("dbtool_db", "dbtool_migrate"):
        if name in request.fixturenames:
            value = request.getfixturevalue(name)
            conn = value if name == "dbtool_db" else value.conn
            with open(os.environ["RECORD_DBS"], "a") as f:
                f.write(conn.info.dbname + "\\n")
'''


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch):
    for var in ("DBTOOL_TEST_URL", "DBTOOL_ENV", "DBTOOL_TEST_SERVER"):
        monkeypatch.delenv(var, raising=False)


def sample(pytester: pytest.Pytester, url: str, migrations=CUSTOMERS, *, env: str = "dev", extra_env: str = "",
           folder: Path | None = None) -> Path:
    root = folder or pytester.path
    for sub in ("migrations", "rollbacks"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for label, (up, down) in migrations.items():
        (root / "migrations" / f"{label}.sql").write_text(up)
        if down is not None:
            (root / "rollbacks" / f"{label}.sql").write_text(down)
    (root / "dbtool.toml").write_text(f'[dbtool]\nlock_timeout = "2s"\n\n[env.{env}]\nurl = "{url}"\n{extra_env}')
    return root


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)


def databases(admin_url: str, names) -> set[str]:
    with psycopg.connect(admin_url, autocommit=True) as c:
        return {r[0] for r in c.execute("SELECT datname FROM pg_database WHERE datname = ANY(%s)", [list(names)])}


def test_sample_project_passes_and_leaves_nothing_behind(pytester, pg_admin_url, make_db, monkeypatch, tmp_path):
    # The environment names a database of its own: the plugin uses its server and never that database.
    env_db = make_db()
    sample(pytester, env_db)
    pytester.makepyfile(test_sample=SAMPLE_TESTS)
    pytester.makeconftest(RECORD_DBS)
    record = tmp_path / "dbs.txt"
    monkeypatch.setenv("RECORD_DBS", str(record))
    result = run(pytester, "-v")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["plugins:*dbtool-*"])
    used = set(record.read_text().split())
    assert len(used) == 4 and all(n.startswith("dbtool_test_") for n in used)
    assert databases(pg_admin_url, used) == set()
    with psycopg.connect(env_db) as c:
        assert c.execute("SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace").fetchone()[0] == 0


def test_each_test_gets_a_fresh_copy(pytester, pg_admin_url):
    sample(pytester, pg_admin_url)
    pytester.makepyfile(test_isolation='''
        NAMES = []

        def count(conn):
            return conn.execute("SELECT count(*) FROM customers").fetchone()[0]

        def test_first_inserts_and_commits(dbtool_db):
            dbtool_db.execute("INSERT INTO customers (first_name, last_name) VALUES ('Ada', 'Lovelace')")
            dbtool_db.commit()
            assert count(dbtool_db) == 1
            NAMES.append(dbtool_db.info.dbname)

        def test_second_does_not_see_it(dbtool_db):
            assert count(dbtool_db) == 0
            assert dbtool_db.info.dbname not in NAMES

        def test_migrate_fixture_starts_empty(dbtool_migrate):
            assert dbtool_migrate.applied == []
    ''')
    run(pytester, "-p", "no:randomly").assert_outcomes(passed=3)


ROUNDTRIP = {
    "2025.01.001__create_customers": CUSTOMERS["2025.01.001__create_customers"],
    "2025.01.002__index_customer_names": ("CREATE INDEX customers_full_name_idx ON customers (full_name);\n",
                                          "SELECT 1;  -- forgets the index\n"),
    "2025.01.003__create_orders": CUSTOMERS["2025.01.003__create_orders"],
}


def test_roundtrip_fails_exactly_the_broken_rollback(pytester, pg_admin_url):
    sample(pytester, pg_admin_url, ROUNDTRIP)
    result = run(pytester, "--dbtool-roundtrip", "-v", "--junitxml=report.xml")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines([
        "dbtool::roundtrip?2025.01.001? PASSED*",
        "dbtool::roundtrip?2025.01.002? FAILED*",
        "dbtool::roundtrip?2025.01.003? PASSED*",
    ])
    result.stdout.fnmatch_lines([
        "round trip of 2025.01.002__index_customer_names failed:",
        "*rollbacks/2025.01.002__index_customer_names.sql leaves index public.customers_full_name_idx behind*",
    ])
    assert "Traceback" not in result.stdout.str()
    cases = {c.get("name"): c for c in ET.parse(pytester.path / "report.xml").getroot().iter("testcase")}
    assert sorted(cases) == ["roundtrip[2025.01.001]", "roundtrip[2025.01.002]", "roundtrip[2025.01.003]"]
    assert {c.get("classname") for c in cases.values()} == {"dbtool"}
    failure = cases["roundtrip[2025.01.002]"].find("failure")
    assert failure is not None
    assert "rollbacks/2025.01.002__index_customer_names.sql" in failure.get("message")
    assert "customers_full_name_idx" in failure.get("message")
    assert cases["roundtrip[2025.01.001]"].find("failure") is None
    assert cases["roundtrip[2025.01.003]"].find("failure") is None


def test_roundtrip_rollback_error_names_file_and_line_and_later_versions_still_run(pytester, pg_admin_url):
    broken = dict(ROUNDTRIP)
    broken["2025.01.002__index_customer_names"] = (
        "CREATE INDEX customers_full_name_idx ON customers (full_name);\n",
        "DROP INDEX customers_full_name_idx;\nDROP TABLE no_such_table;\n")
    sample(pytester, pg_admin_url, broken)
    result = run(pytester, "--dbtool-roundtrip")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines([
        "*rollbacks/2025.01.002__index_customer_names.sql:2:*no_such_table*does not exist*",
        "FAILED dbtool::roundtrip?2025.01.002?*",
    ])


def test_roundtrip_items_obey_k(pytester, pg_admin_url):
    sample(pytester, pg_admin_url, ROUNDTRIP)
    result = run(pytester, "--dbtool-roundtrip", "-k", "2025.01.003")
    result.assert_outcomes(passed=1, deselected=2)


def test_unreachable_test_url_is_one_clear_error(pytester, monkeypatch):
    sample(pytester, "embedded")
    pytester.makepyfile(test_x="def test_x(dbtool_db):\n    pass\n\ndef test_y(dbtool_db):\n    pass\n")
    monkeypatch.setenv("DBTOOL_TEST_URL", "postgresql://postgres:sekrit@127.0.0.1:1/postgres")
    result = run(pytester)
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["*dbtool: no test server: cannot connect to postgres@127.0.0.1:1/postgres*DBTOOL_TEST_URL*"])
    out = result.stdout.str()
    assert "sekrit" not in out
    assert "Traceback" not in out and "pytest_plugin.py" not in out and "During handling" not in out


def test_protected_environment_is_refused(pytester, pg_admin_url):
    sample(pytester, pg_admin_url, env="dev", extra_env="protected = true\n")
    pytester.makepyfile(test_x="def test_x(dbtool_db):\n    pass\n")
    result = run(pytester)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*dbtool: environment dev is protected, so the plugin creates no test databases*"])


def test_failing_migration_is_reported_once_per_test_without_traceback(pytester, pg_admin_url):
    broken = dict(CUSTOMERS)
    broken["2025.01.003__create_orders"] = ("CREATE TABLE orders (id int REFERENCES nowhere (id));\n", "DROP TABLE orders;\n")
    sample(pytester, pg_admin_url, broken)
    pytester.makepyfile(test_x="def test_x(dbtool_db):\n    pass\n")
    result = run(pytester)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*dbtool: migrating the template database failed: "
                                 "migrations/2025.01.003__create_orders.sql:1: *nowhere*"])
    assert "Traceback" not in result.stdout.str()


def test_plugin_is_inert_until_used(pytester, monkeypatch):
    # A broken dbtool.toml and an unreachable DBTOOL_TEST_URL harm no one who does not ask for a dbtool fixture.
    (pytester.path / "dbtool.toml").write_text("[[[ not toml")
    monkeypatch.setenv("DBTOOL_TEST_URL", "postgresql://postgres@127.0.0.1:1/postgres")
    pytester.makepyfile(test_plain='''
        import sys

        def test_plain():
            assert not any(m in sys.modules for m in ("dbtool.config", "dbtool.api", "dbtool.testdb", "dbtool.embedded"))
    ''')
    result = run(pytester)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["plugins:*dbtool-*"])


def test_test_url_wins_over_the_environment(pytester, pg_admin_url, monkeypatch):
    sample(pytester, "postgresql://postgres@127.0.0.1:1/postgres")  # dev is unreachable
    pytester.makepyfile(test_x="def test_x(dbtool_db):\n    assert dbtool_db.execute('SELECT 1').fetchone() == (1,)\n")
    monkeypatch.setenv("DBTOOL_TEST_URL", pg_admin_url)
    run(pytester).assert_outcomes(passed=1)


def test_ini_options_name_config_and_environment(pytester, pg_admin_url):
    project = sample(pytester, pg_admin_url, env="ci", folder=pytester.path / "db",
                     extra_env='\n[env.dev]\nurl = "postgresql://postgres@127.0.0.1:1/postgres"\n')
    assert project.name == "db"
    pytester.makeini("[pytest]\ndbtool_config = db/dbtool.toml\ndbtool_env = ci\n")
    pytester.makepyfile(test_x="def test_x(dbtool_db):\n    assert dbtool_db.execute('SELECT count(*) FROM orders').fetchone() == (0,)\n")
    run(pytester).assert_outcomes(passed=1)
    # The command line wins over the ini file.
    run(pytester, "--dbtool-env", "dev").assert_outcomes(errors=1)


def test_unknown_server_mode_in_ini_is_a_usage_error(pytester):
    pytester.makeini("[pytest]\ndbtool_server = docker\n")
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    result = run(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*dbtool_server = 'docker': expected one of auto, url, env, postgresql-proc, postgresql-noproc*"])


def test_postgresql_noproc_server(pytester, pg_admin_url):
    sample(pytester, "postgresql://postgres@127.0.0.1:1/postgres")
    pytester.makepyfile(test_x="def test_x(dbtool_db):\n    assert dbtool_db.execute('SELECT count(*) FROM orders').fetchone() == (0,)\n")
    parts = conninfo_to_dict(pg_admin_url)
    args = ["--dbtool-server", "postgresql-noproc", f"--postgresql-host={parts.get('host') or 'localhost'}",
            f"--postgresql-port={parts.get('port') or 5432}", f"--postgresql-user={parts.get('user') or 'postgres'}"]
    if parts.get("password"):
        args.append(f"--postgresql-password={parts['password']}")
    run(pytester, *args).assert_outcomes(passed=1)


def test_postgresql_proc_failure_is_readable(pytester):
    sample(pytester, "embedded")
    pytester.makepyfile(test_x="def test_x(dbtool_db):\n    pass\n")
    result = run(pytester, "--dbtool-server", "postgresql-proc", "--postgresql-exec", "/nonexistent/pg_ctl")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*dbtool: --dbtool-server postgresql-proc: pytest-postgresql's postgresql_proc fixture gave no server:*"])


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="pg_ctl (initdb) refuses to run as root")
def test_postgresql_proc_server(pytester):
    sample(pytester, "postgresql://postgres@127.0.0.1:1/postgres")
    pytester.makepyfile(test_x="def test_x(dbtool_db):\n    assert dbtool_db.execute('SELECT count(*) FROM orders').fetchone() == (0,)\n")
    run(pytester, "--dbtool-server", "postgresql-proc").assert_outcomes(passed=1)


def test_url_mode_without_test_url_says_so(pytester):
    sample(pytester, "embedded")
    pytester.makepyfile(test_x="def test_x(dbtool_db):\n    pass\n")
    result = run(pytester, "--dbtool-server", "url")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*dbtool: --dbtool-server url needs DBTOOL_TEST_URL*"])


del make_conninfo


def test_roundtrip_without_a_rollback_fails_that_item_and_skips_what_cannot_be_reached(pytester, pg_admin_url):
    missing = dict(ROUNDTRIP)
    missing["2025.01.002__index_customer_names"] = (ROUNDTRIP["2025.01.002__index_customer_names"][0], None)
    sample(pytester, pg_admin_url, missing)
    result = run(pytester, "--dbtool-roundtrip", "-rfs")
    result.assert_outcomes(passed=1, failed=1, skipped=1)
    result.stdout.fnmatch_lines(["round trip of 2025.01.002__index_customer_names failed:",
                                 "*migrations/2025.01.002__index_customer_names.sql has no rollback*"])
    result.stdout.fnmatch_lines(["FAILED dbtool::roundtrip?2025.01.002?*"])
    result.stdout.fnmatch_lines(["SKIPPED*migrations/2025.01.003__create_orders.sql*"
                                 "not tested: the round trip cannot get past 2025.01.002*"])

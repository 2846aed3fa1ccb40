"""Performance impact: predicted from the statements and the real sizes, measured while the migration runs."""

from __future__ import annotations

import threading
import time

import psycopg

from checks_support import big_db, clones, project, scalar  # noqa: F401 (fixtures)
from dbtool import api, checks_runner, config


def migrate(root, **kw):
    cfg = config.load(root / "dbtool.toml")
    return api.migrate(cfg, checks=checks_runner.factory(cfg), **kw)


def seq_scans(url: str, table: str, above: int | None = None) -> int:
    """pg_stat_user_tables.seq_scan; with ``above``, wait (up to 3 s) for the exiting backend to flush its counts."""
    deadline = time.monotonic() + 3
    while True:
        n = scalar(url, f"SELECT seq_scan FROM pg_stat_user_tables WHERE relname = '{table}'")
        if above is None or n > above or time.monotonic() > deadline:
            return n
        time.sleep(0.1)


def test_a_rewrite_is_predicted_and_measured(tmp_path, big_db):
    root = project(tmp_path / "p", big_db, {
        "2025.01.001__widen_score": ("ALTER TABLE accounts ALTER COLUMN score TYPE bigint;\n",
                                     "ALTER TABLE accounts ALTER COLUMN score TYPE int;\n"),
    })
    plan = migrate(root, dry_run=True)
    (stmt,) = plan.extra["impact"][0]["statements"]
    (effect,) = stmt["effects"]
    assert effect["rewrites"] and effect["table"] == "public.accounts" and effect["lock"] == "ACCESS EXCLUSIVE"
    assert effect["total_bytes"] > 20_000_000 and effect["rows_estimate"] > 250_000
    assert stmt["estimate"].startswith("rewrites public.accounts, ") and "MB" in stmt["estimate"]
    assert stmt["estimate"].endswith("under ACCESS EXCLUSIVE: reads and writes blocked while it runs")
    filenode = scalar(big_db, "SELECT relfilenode FROM pg_class WHERE relname = 'accounts'")

    res = migrate(root)
    imp = res.results[0].details["impact"]
    assert imp["rewrites"] == ["public.accounts"] and imp["predicted_rewrites"] == ["public.accounts"]
    measured = imp["statements"][0]
    assert measured["rewrote"] == ["public.accounts"] and measured["duration_ms"] > 0
    assert measured["locks"][0]["mode"] == "ACCESS EXCLUSIVE" and measured["locks"][0]["relation"] == "public.accounts"
    assert scalar(big_db, "SELECT relfilenode FROM pg_class WHERE relname = 'accounts'") != filenode
    assert "REWROTE public.accounts" in res.extra["report_text"]


def test_a_nullable_column_is_neither_predicted_nor_measured_as_a_rewrite(tmp_path, big_db):
    root = project(tmp_path / "p", big_db, {
        "2025.01.001__add_nickname": ("ALTER TABLE accounts ADD COLUMN nickname text;\n",
                                      "ALTER TABLE accounts DROP COLUMN nickname;\n"),
    })
    (stmt,) = migrate(root, dry_run=True).extra["impact"][0]["statements"]
    assert not stmt["effects"][0]["rewrites"] and not stmt["effects"][0]["scans"]
    assert "briefly (no scan)" in stmt["estimate"]
    res = migrate(root)
    imp = res.results[0].details["impact"]
    assert imp["rewrites"] == [] and imp["predicted_rewrites"] == []
    assert imp["statements"][0]["rewrote"] == []


def test_locks_are_measured_per_statement(tmp_path, big_db):
    root = project(tmp_path / "p", big_db, {
        "2025.01.001__index_and_touch": ("CREATE INDEX accounts_score_idx ON accounts (score);\n"
                                         "UPDATE plans SET name = 'gold' WHERE id = 3;\n"
                                         "ALTER TABLE accounts ADD COLUMN vip boolean;\n",
                                         "DROP INDEX accounts_score_idx;\nALTER TABLE accounts DROP COLUMN vip;\n"),
    })
    stmts = migrate(root).results[0].details["impact"]["statements"]
    assert [(lk["mode"], lk["relation"]) for lk in stmts[0]["locks"]] == [("SHARE", "public.accounts")]
    assert [(lk["mode"], lk["relation"]) for lk in stmts[1]["locks"]] == [("ROW EXCLUSIVE", "public.plans")]
    assert [(lk["mode"], lk["relation"]) for lk in stmts[2]["locks"]] == [("ACCESS EXCLUSIVE", "public.accounts")]


def test_time_waiting_for_a_lock_is_sampled_and_the_blocker_named(tmp_path, big_db):
    root = project(tmp_path / "p", big_db, {
        "2025.01.001__add_column": ("ALTER TABLE plans ADD COLUMN tier int;\n", "ALTER TABLE plans DROP COLUMN tier;\n"),
    })
    ready = threading.Event()
    blocker_pid = []

    def hold():
        with psycopg.connect(big_db) as c:  # a reader in a long transaction
            c.execute("SELECT count(*) FROM plans")
            blocker_pid.append(c.info.backend_pid)
            ready.set()
            time.sleep(1.0)

    t = threading.Thread(target=hold)
    t.start()
    ready.wait(5)
    try:
        res = migrate(root)
    finally:
        t.join()
    stmt = res.results[0].details["impact"]["statements"][0]
    assert stmt["lock_wait_ms"] >= 300
    assert stmt["blocked_by"] == blocker_pid


def test_row_counts_of_a_large_table_do_not_scan_it_unless_asked(tmp_path, big_db):
    root = project(tmp_path / "p", big_db, {
        "2025.01.001__add_column": ("ALTER TABLE events ADD COLUMN source text;\n", "ALTER TABLE events DROP COLUMN source;\n"),
    })
    before = seq_scans(big_db, "events")
    res = migrate(root)
    rows = res.results[0].details["checks"]["rows"]
    assert rows[0]["table"] == "public.events" and "estimate" in rows[0]["method"]
    assert seq_scans(big_db, "events") == before

    asked = project(tmp_path / "q", big_db, {
        "2025.01.002__add_column": ("ALTER TABLE events ADD COLUMN medium text;\n", "ALTER TABLE events DROP COLUMN medium;\n"),
    }, toml_extra="exact_count_limit = 10000000")
    (asked / "migrations" / "2025.01.001__add_column.sql").write_text("ALTER TABLE events ADD COLUMN source text;\n")
    (asked / "rollbacks" / "2025.01.001__add_column.sql").write_text("ALTER TABLE events DROP COLUMN source;\n")
    res = migrate(asked)
    rows = res.results[0].details["checks"]["rows"]
    assert rows[0]["method"] == "exact count(*)" and rows[0]["before"] == 200_000
    assert seq_scans(big_db, "events", above=before) > before


def test_a_non_transactional_migration_is_measured_by_snapshots(tmp_path, big_db):
    root = project(tmp_path / "p", big_db, {
        "2025.01.001__index_concurrently": ("CREATE INDEX CONCURRENTLY accounts_created_idx ON accounts (created_at);\n",
                                            "DROP INDEX CONCURRENTLY accounts_created_idx;\n"),
    })
    plan = migrate(root, dry_run=True).extra["impact"][0]["statements"][0]
    assert "SHARE UPDATE EXCLUSIVE" in plan["estimate"] and "reads and writes continue" in plan["estimate"]
    res = migrate(root)
    d = res.results[0].details
    assert d["impact"]["statements"][0]["locks"] is None
    assert "outside a transaction" in d["impact"]["statements"][0]["locks_note"]
    assert d["checks"]["status"] == "pass"


def test_a_clone_predicts_with_its_sources_sizes(tmp_path, big_db):
    """`dbtool clone` leaves the source's sizes in dbtool_source_stats: a rehearsal predicts with them."""
    import datetime

    from dbtool import targetdb

    with psycopg.connect(big_db, autocommit=True) as c:
        targetdb.write_stats(c, ("public", "dbtool_source_stats"),
                             [("public", "accounts", "table", 40 * 2**30, 10 * 2**30, 50 * 2**30, 9.0e8, 5_000_000)],
                             "production", "prod", datetime.datetime(2026, 11, 2, tzinfo=datetime.timezone.utc))
    root = project(tmp_path / "p", big_db, {
        "2025.01.001__widen_score": ("ALTER TABLE accounts ALTER COLUMN score TYPE bigint;\n",
                                     "ALTER TABLE accounts ALTER COLUMN score TYPE int;\n"),
    })
    (stmt,) = migrate(root, dry_run=True).extra["impact"][0]["statements"]
    assert stmt["estimate"] == ("rewrites public.accounts, 50.0 GB on production (2026-11-02), under ACCESS EXCLUSIVE: "
                                "reads and writes blocked while it runs")
    assert stmt["effects"][0]["rows_estimate"] == 900_000_000


def test_a_script_that_deallocates_prepared_statements_is_still_measured(tmp_path, big_db):
    root = project(tmp_path / "p", big_db, {
        "2025.01.001__deallocate": ("DEALLOCATE ALL;\nALTER TABLE plans ADD COLUMN tier int;\n",
                                    "ALTER TABLE plans DROP COLUMN tier;\n"),
    })
    stmts = migrate(root).results[0].details["impact"]["statements"]
    assert stmts[0]["locks"] == [] and stmts[1]["locks"][0]["mode"] == "ACCESS EXCLUSIVE"

"""Workload queries: what they read (sqlglot), their plans before and after a migration (EXPLAIN)."""

from __future__ import annotations

import pytest

from checks_support import big_db, clones, last_log, project, scalar  # noqa: F401 (fixtures)
from dbtool import api, checks_runner, config, workload
from dbtool.errors import MigrationError
from dbtool.touches import Name

SCHEMA = {"public": {"accounts": {"id": "bigint", "email": "text", "plan_id": "int", "legacy_code": "text"},
                     "plans": {"id": "int", "name": "text"}}}

BY_EMAIL = "-- dbtool: requires accounts\nSELECT id, email, legacy_code FROM accounts WHERE email = 'user42@example.com'"


def migrate(root, strict=False):
    cfg = config.load(root / "dbtool.toml")
    return api.migrate(cfg, checks=checks_runner.factory(cfg, strict=strict))


def test_reads_resolves_unqualified_columns_and_star():
    r = workload.reads("SELECT a.email, name FROM accounts a JOIN plans p ON p.id = a.plan_id "
                       "WHERE EXISTS (SELECT 1 FROM plans q WHERE q.id = a.plan_id)", SCHEMA)
    acc, plans = Name(None, "accounts"), Name(None, "plans")
    assert r.tables == {acc, plans}
    assert (acc, "email") in r.columns and (plans, "name") in r.columns and (acc, "plan_id") in r.columns
    star = workload.reads("SELECT * FROM accounts", SCHEMA)
    assert (acc, "legacy_code") in star.columns
    ctes = workload.reads("WITH x AS (SELECT id FROM accounts) SELECT id FROM x", SCHEMA)
    assert ctes.tables == {acc} and (acc, "id") in ctes.columns


def test_a_query_that_loses_its_index_is_flagged_and_linked_to_the_migration(tmp_path, big_db):
    root = project(tmp_path / "p", big_db, {
        "2025.01.001__drop_email_index": ("DROP INDEX accounts_email_idx;\n",
                                          "CREATE INDEX accounts_email_idx ON accounts (email);\n"),
    }, queries={"account_by_email": BY_EMAIL})
    res = migrate(root)
    wl = res.results[0].details["checks"]["workload"]
    assert len(wl) == 1
    entry = wl[0]
    assert entry["query"] == "checks/queries/account_by_email.sql" and entry["status"] == "slower"
    assert entry["tables"] == ["accounts"]
    assert "Index Scan using accounts_email_idx on accounts" in entry["message"] and "Seq Scan on accounts" in entry["message"]
    assert entry["change"] > 0.1
    # sqlglot says which columns it reads; the migration that slowed it wrote its table.
    assert entry["columns"] == ["accounts.email", "accounts.id", "accounts.legacy_code"]
    assert entry["changed_by_this_migration"] == ["accounts"]
    assert res.results[0].details["checks"]["status"] == "warn"
    text = res.extra["report_text"]
    assert "2025.01.001" in text and "account_by_email.sql slower" in text
    assert "(reads accounts.email, accounts.id, accounts.legacy_code; this migration changed accounts)" in text


def test_strict_makes_a_slower_query_an_error_and_rolls_back(tmp_path, big_db):
    root = project(tmp_path / "p", big_db, {
        "2025.01.001__drop_email_index": ("DROP INDEX accounts_email_idx;\n",
                                          "CREATE INDEX accounts_email_idx ON accounts (email);\n"),
    }, queries={"account_by_email": BY_EMAIL})
    with pytest.raises(MigrationError) as exc:
        migrate(root, strict=True)
    assert "account_by_email.sql is slower after 2025.01.001" in str(exc.value) and "--strict" in str(exc.value)
    assert scalar(big_db, "SELECT count(*) FROM pg_indexes WHERE indexname = 'accounts_email_idx'") == 1


def test_a_dropped_column_read_by_a_workload_query_is_refused(tmp_path, big_db):
    root = project(tmp_path / "p", big_db, {
        "2025.01.001__drop_legacy_code": ("ALTER TABLE accounts DROP COLUMN legacy_code;\n",
                                          "ALTER TABLE accounts ADD COLUMN legacy_code text;\n"),
    }, queries={"account_by_email": BY_EMAIL})
    with pytest.raises(MigrationError) as exc:
        migrate(root)
    msg = str(exc.value)
    assert "drops column accounts.legacy_code, which checks/queries/account_by_email.sql reads" in msg
    assert "running version of the application would break" in msg
    row = last_log(big_db)
    assert row["status"] == "failed" and row["details"]["blue_green"]
    assert scalar(big_db, "SELECT count(*) FROM information_schema.columns WHERE column_name = 'legacy_code'") == 1


def test_a_renamed_column_is_refused_and_an_unread_column_may_go(tmp_path, big_db):
    root = project(tmp_path / "p", big_db, {
        "2025.01.001__rename_email": ("ALTER TABLE accounts RENAME COLUMN email TO login;\n",
                                      "ALTER TABLE accounts RENAME COLUMN login TO email;\n"),
    }, queries={"plan_names": "SELECT p.name, count(*) FROM accounts a JOIN plans p ON p.id = a.plan_id GROUP BY p.name",
                "account_by_email": BY_EMAIL})
    with pytest.raises(MigrationError) as exc:
        migrate(root)
    assert "renames column accounts.email to login" in str(exc.value)
    # A column no workload query reads can be dropped.
    (root / "migrations" / "2025.01.001__rename_email.sql").write_text("ALTER TABLE accounts DROP COLUMN score;\n")
    (root / "rollbacks" / "2025.01.001__rename_email.sql").write_text("ALTER TABLE accounts ADD COLUMN score int;\n")
    assert migrate(root).applied == ["2025.01.001"]


def test_a_query_broken_in_a_way_the_parser_cannot_see_fails_the_migration(tmp_path, big_db):
    root = project(tmp_path / "p", big_db, {
        "2025.01.001__sneaky": ("DO $$ BEGIN EXECUTE 'ALTER TABLE accounts DROP COLUMN legacy_code'; END $$;\n",
                                "ALTER TABLE accounts ADD COLUMN legacy_code text;\n"),
    }, queries={"account_by_email": BY_EMAIL})
    with pytest.raises(MigrationError) as exc:
        migrate(root)
    assert "account_by_email.sql no longer plans after 2025.01.001" in str(exc.value)
    assert "legacy_code" in str(exc.value)


def test_queries_of_untouched_tables_are_not_planned_again(tmp_path, big_db):
    root = project(tmp_path / "p", big_db, {
        "2025.01.001__note_index": ("CREATE INDEX audit_notes_note_idx ON audit_notes (note);\n",
                                    "DROP INDEX audit_notes_note_idx;\n"),
        "2025.01.002__invoices": ("CREATE TABLE invoices (id int PRIMARY KEY, account_id bigint);\n", "DROP TABLE invoices;\n"),
    }, queries={"account_by_email": BY_EMAIL,
                "invoices_of": "-- dbtool: requires invoices\nSELECT id FROM invoices WHERE account_id = 7"})
    res = migrate(root)
    before = res.extra["checks"]["before"]["workload"]
    assert "cost" in before["checks/queries/account_by_email.sql"]
    assert "checks/queries/invoices_of.sql" not in before  # skipped: invoices does not exist yet
    assert res.results[0].details["checks"]["workload"] == []
    second = res.results[1].details["checks"]["workload"]
    assert [w["query"] for w in second] == ["checks/queries/invoices_of.sql"] and second[0]["status"] == "new"

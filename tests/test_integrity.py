"""Integrity checks before and after a migration, on a populated database (300k accounts, 200k events)."""

from __future__ import annotations

import pytest

from checks_support import big_db, clones, last_log, project, scalar  # noqa: F401 (fixtures)
from dbtool import api, checks_runner, config
from dbtool.errors import MigrationError


def migrate(root, **kw):
    cfg = config.load(root / "dbtool.toml")
    return api.migrate(cfg, checks=checks_runner.factory(cfg, strict=kw.pop("strict", False)), **kw)


def rollback(root, version, **kw):
    cfg = config.load(root / "dbtool.toml")
    return api.rollback(cfg, version, yes=True, checks=checks_runner.factory(cfg), **kw)


def details(res, i=0) -> dict:
    return res.results[i].details


NO_NEGATIVE = "-- dbtool: requires accounts\nSELECT id, balance FROM accounts WHERE balance < 0 ORDER BY id"


def test_violated_invariant_rolls_the_migration_back(tmp_path, big_db):
    root = project(tmp_path / "p", big_db, {
        "2025.01.001__add_flag": ("ALTER TABLE accounts ADD COLUMN flagged boolean;\n"
                                  "UPDATE accounts SET balance = -5 WHERE id IN (7, 8);\n", "ALTER TABLE accounts DROP COLUMN flagged;\n"),
    }, integrity={"no_negative_balance": NO_NEGATIVE})
    with pytest.raises(MigrationError) as exc:
        migrate(root)
    msg = str(exc.value)
    assert "checks/integrity/no_negative_balance.sql" in msg and "2025.01.001" in msg
    assert "id=7" in msg and "balance=-5" in msg and "rolled back" in msg
    row = last_log(big_db)
    assert row["status"] == "failed" and "no_negative_balance" in row["error"]
    assert scalar(big_db, "SELECT count(*) FROM accounts WHERE balance < 0") == 0
    assert scalar(big_db, "SELECT count(*) FROM information_schema.columns WHERE column_name = 'flagged'") == 0


def test_violations_that_existed_before_are_reported_not_blamed(tmp_path, big_db):
    scalar(big_db, "UPDATE accounts SET balance = -1 WHERE id = 3")
    root = project(tmp_path / "p", big_db, {
        "2025.01.001__touch": ("UPDATE accounts SET score = score + 1 WHERE id = 3;\n", "SELECT 1;\n"),
    }, integrity={"no_negative_balance": NO_NEGATIVE})
    res = migrate(root)
    checks = details(res)["checks"]
    entry = next(i for i in checks["integrity"] if i["check"].endswith("no_negative_balance.sql"))
    assert entry["status"] == "pass" and entry["violations"] == 1 and "before the migration" in entry["message"]
    assert res.extra["checks"]["before"]["integrity"][0]["status"] == "fail"


def test_undeclared_delete_fails_and_declared_delete_passes(tmp_path, big_db):
    root = project(tmp_path / "p", big_db, {
        "2025.01.001__purge_notes": ("DELETE FROM audit_notes WHERE id <= 20;\n", "SELECT 1;\n"),
    })
    with pytest.raises(MigrationError) as exc:
        migrate(root)
    assert "public.audit_notes lost 20 row(s)" in str(exc.value) and "dbtool: deletes" in str(exc.value)
    assert scalar(big_db, "SELECT count(*) FROM audit_notes") == 500

    (root / "migrations" / "2025.01.001__purge_notes.sql").write_text(
        "-- dbtool: deletes audit_notes\nDELETE FROM audit_notes WHERE id <= 20;\n")
    res = migrate(root)
    rows = {r["table"]: r for r in details(res)["checks"]["rows"]}
    assert rows["public.audit_notes"]["before"] == 500 and rows["public.audit_notes"]["after"] == 480
    assert rows["public.audit_notes"]["method"] == "exact count(*)"
    assert rows["public.audit_notes"]["declared"].startswith("declared")


def test_rows_deleted_from_an_untouched_table_fail_the_migration(tmp_path, big_db):
    # The statements name only plans; a trigger deletes events (a large table) behind their back.
    scalar(big_db, """CREATE FUNCTION purge() RETURNS trigger LANGUAGE plpgsql AS
                      $$ BEGIN DELETE FROM events WHERE id <= 1000; RETURN NEW; END $$""")
    scalar(big_db, "CREATE TRIGGER plans_purge AFTER UPDATE ON plans FOR EACH ROW EXECUTE FUNCTION purge()")
    root = project(tmp_path / "p", big_db, {
        "2025.01.001__rename_plan": ("UPDATE plans SET name = 'basic' WHERE id = 1;\n", "SELECT 1;\n"),
    })
    with pytest.raises(MigrationError) as exc:
        migrate(root)
    assert "public.events lost 1,000 row(s)" in str(exc.value)
    assert "pg_stat_xact_user_tables" in str(exc.value)
    assert scalar(big_db, "SELECT count(*) FROM events") == 200_000


def test_truncate_of_a_large_table_is_row_loss_measured_without_scanning(tmp_path, big_db):
    root = project(tmp_path / "p", big_db, {
        "2025.01.001__reset_events": ("TRUNCATE events;\n", "SELECT 1;\n"),
    })
    with pytest.raises(MigrationError) as exc:
        migrate(root)
    assert "public.events lost" in str(exc.value) and "estimate" in str(exc.value)
    row = last_log(big_db)
    assert row["status"] == "failed"
    assert scalar(big_db, "SELECT count(*) FROM events") == 200_000


def test_rollback_may_drop_tables_its_up_script_created(tmp_path, big_db):
    root = project(tmp_path / "p", big_db, {
        "2025.01.001__archive": ("CREATE TABLE archive AS SELECT id, email FROM accounts WHERE id <= 5000;\n",
                                 "DROP TABLE archive;\n"),
    })
    migrate(root)
    res = rollback(root, "2025.01.001")
    rows = {r["table"]: r for r in details(res)["checks"]["rows"]}
    assert rows["public.archive"]["lost"] == 5000 and "created by migrations/" in rows["public.archive"]["declared"]
    assert last_log(big_db)["status"] == "completed"


def test_constraint_left_not_valid_fails_but_a_rollback_of_validate_is_expected(tmp_path, big_db):
    add = "ALTER TABLE accounts ADD CONSTRAINT accounts_score_check CHECK (score >= 0) NOT VALID;\n"
    root = project(tmp_path / "p", big_db, {
        "2025.01.001__add_check": (add, "ALTER TABLE accounts DROP CONSTRAINT accounts_score_check;\n"),
        "2025.01.002__validate_check": ("ALTER TABLE accounts VALIDATE CONSTRAINT accounts_score_check;\n",
                                        "ALTER TABLE accounts DROP CONSTRAINT accounts_score_check;\n" + add),
        "2025.01.003__weaken_check": ("ALTER TABLE accounts DROP CONSTRAINT accounts_score_check;\n" + add, "SELECT 1;\n"),
    })
    with pytest.raises(MigrationError) as exc:
        migrate(root)
    assert "accounts_score_check" in str(exc.value) and "was valid before" in str(exc.value)
    assert last_log(big_db)["version"] == "2025.01.003"
    first = last_log(big_db, "2025.01.001")["details"]["checks"]["builtin"]
    assert any("added NOT VALID" in f["message"] and f["status"] == "info" for f in first)
    (root / "migrations" / "2025.01.003__weaken_check.sql").unlink()
    (root / "rollbacks" / "2025.01.003__weaken_check.sql").unlink()
    res = rollback(root, "2025.01.002")
    assert any(f["status"] == "info" and "as before its up-script validated it" in f["message"]
               for f in details(res)["checks"]["builtin"])


def test_sequence_behind_max_fails(tmp_path, big_db):
    root = project(tmp_path / "p", big_db, {
        "2025.01.001__import_account": (
            "INSERT INTO accounts (id, email, plan_id) VALUES (400000, 'imported@example.com', 1);\n", "SELECT 1;\n"),
    })
    with pytest.raises(MigrationError) as exc:
        migrate(root)
    assert "accounts.id" in str(exc.value) and "setval" in str(exc.value)


def test_orphans_made_with_triggers_bypassed_fail(tmp_path, big_db):
    root = project(tmp_path / "p", big_db, {
        "2025.01.001__drop_plan": ("-- dbtool: deletes plans\n"
                                   "SET LOCAL session_replication_role = replica;\n"
                                   "DELETE FROM plans WHERE id = 10;\n", "SELECT 1;\n"),
    })
    with pytest.raises(MigrationError) as exc:
        migrate(root)
    assert "1 row(s) of plan_prices violate foreign key plan_prices_plan_id_fkey" in str(exc.value)
    assert "triggers were bypassed" in str(exc.value)
    findings = last_log(big_db)["details"]["checks"]["builtin"]
    # accounts (300k rows) also references plans: too large to scan unless asked, and the report says so.
    skipped = [f for f in findings if f["check"] == "fk-orphans" and "accounts_plan_id_fkey" in f["message"]]
    assert skipped and skipped[0]["status"] == "warn" and "exact_count_limit" in skipped[0]["message"]
    assert scalar(big_db, "SELECT count(*) FROM plans") == 10


def test_checks_whose_tables_do_not_exist_yet_are_skipped(tmp_path, big_db):
    root = project(tmp_path / "p", big_db, {
        "2025.01.001__create_invoices": ("CREATE TABLE invoices (id int PRIMARY KEY, amount numeric NOT NULL);\n",
                                         "DROP TABLE invoices;\n"),
    }, integrity={"negative_invoices": "-- dbtool: requires invoices\nSELECT id FROM invoices WHERE amount < 0"})
    res = migrate(root)
    before = res.extra["checks"]["before"]["integrity"][0]
    assert before["status"] == "skipped" and "invoices" in before["message"]
    after = details(res)["checks"]["integrity"][0]
    assert after["status"] == "pass" and after["rerun"]


def test_log_details_hold_the_checks(tmp_path, big_db):
    root = project(tmp_path / "p", big_db, {
        "2025.01.001__add_note": ("ALTER TABLE accounts ADD COLUMN note text;\n", "ALTER TABLE accounts DROP COLUMN note;\n"),
    }, integrity={"no_negative_balance": NO_NEGATIVE})
    migrate(root)
    d = last_log(big_db)["details"]
    assert d["checks"]["status"] == "pass"
    rows = {r["table"]: r for r in d["checks"]["rows"]}
    # 300k rows is above exact_count_limit: an estimate, with its method, and no scan.
    assert "estimate" in rows["public.accounts"]["method"] and rows["public.accounts"]["before"] > 250_000
    assert d["impact"]["statements"][0]["locks"][0] == {"relation": "public.accounts", "kind": "table",
                                                        "mode": "ACCESS EXCLUSIVE", "new": False}
    # The invariant reads accounts, which the migration locked: it ran again.
    assert d["checks"]["integrity"][0]["rerun"] is True


def test_a_sequence_set_back_without_inserting_fails(tmp_path, big_db):
    root = project(tmp_path / "p", big_db, {
        "2025.01.001__reset_sequence": ("SELECT setval(pg_get_serial_sequence('accounts', 'id'), 100);\n", "SELECT 1;\n"),
    })
    with pytest.raises(MigrationError) as exc:
        migrate(root)
    assert "would hand out 101, but max(id) is 300000" in str(exc.value)


def test_orphans_of_a_new_not_valid_key_are_a_warning(tmp_path, big_db):
    scalar(big_db, "CREATE TABLE notes (id int PRIMARY KEY, plan_id int)")
    scalar(big_db, "INSERT INTO notes SELECT g, g FROM generate_series(1, 12) g")  # plans 11 and 12 do not exist
    root = project(tmp_path / "p", big_db, {
        "2025.01.001__notes_fk": ("ALTER TABLE notes ADD CONSTRAINT notes_plan_fkey FOREIGN KEY (plan_id) "
                                  "REFERENCES plans (id) NOT VALID;\n", "ALTER TABLE notes DROP CONSTRAINT notes_plan_fkey;\n"),
    })
    res = migrate(root)
    found = details(res)["checks"]["builtin"]
    orphans = [f for f in found if f["check"] == "fk-orphans"]
    assert orphans == [{"check": "fk-orphans", "status": "warn", "table": "notes",
                        "message": "2 row(s) of notes violate foreign key notes_plan_fkey: the key is NOT VALID; "
                                   "VALIDATE CONSTRAINT will fail until they are fixed"}]
    assert details(res)["checks"]["status"] == "warn"


def test_a_constraint_weakened_two_migrations_later_is_still_caught(tmp_path, big_db):
    scalar(big_db, "ALTER TABLE plans ADD CONSTRAINT plans_name_check CHECK (name <> '')")
    readd = ("ALTER TABLE plans DROP CONSTRAINT plans_name_check;\n"
             "ALTER TABLE plans ADD CONSTRAINT plans_name_check CHECK (name <> '') NOT VALID;\n")
    root = project(tmp_path / "p", big_db, {
        "2025.01.001__add_tier": ("ALTER TABLE plans ADD COLUMN tier int;\n", "ALTER TABLE plans DROP COLUMN tier;\n"),
        "2025.01.002__weaken": (readd, "SELECT 1;\n"),
    })
    with pytest.raises(MigrationError) as exc:
        migrate(root)
    assert "constraint plans_name_check on public.plans was valid before the migration" in str(exc.value)
    assert last_log(big_db, "2025.01.001")["status"] == "completed"


def test_row_loss_without_forced_statistics_flush(tmp_path, big_db, monkeypatch):
    """PostgreSQL before 15 cannot be asked to flush a backend's counts: they are read before each migration
    and subtracted.  Simulated here by not flushing, so the earlier migration's deletes are still pending."""
    from dbtool import catalog

    monkeypatch.setattr(catalog, "can_flush_stats", lambda conn: False)
    root = project(tmp_path / "p", big_db, {
        "2025.01.001__purge_notes": ("-- dbtool: deletes audit_notes\nDELETE FROM audit_notes WHERE id <= 30;\n", "SELECT 1;\n"),
        "2025.01.002__touch_notes": ("UPDATE audit_notes SET note = 'x' WHERE id = 100;\n", "SELECT 1;\n"),
        "2025.01.003__purge_more": ("DELETE FROM audit_notes WHERE id = 200;\n", "SELECT 1;\n"),
    })
    with pytest.raises(MigrationError) as exc:
        migrate(root)
    assert "public.audit_notes lost 1 row(s)" in str(exc.value)  # 1, not 31: the first migration's 30 are subtracted
    second = last_log(big_db, "2025.01.002")["details"]["checks"]["rows"][0]
    assert second["deleted"] == 0 and second["lost"] == 0 and second["before"] == 470

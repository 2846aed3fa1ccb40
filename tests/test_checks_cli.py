"""The checks through the command line: migrate/rollback reports, --dry-run, --format json, verify."""

from __future__ import annotations

import json

from checks_support import big_db, clones, project, scalar  # noqa: F401 (fixtures)
from cli_util import dbtool, dbtool_proc

NO_NEGATIVE = "-- dbtool: requires accounts\nSELECT id, balance FROM accounts WHERE balance < 0"
BY_EMAIL = "-- dbtool: requires accounts\nSELECT id, email FROM accounts WHERE email = 'user42@example.com'"


def test_migrate_prints_a_report_per_migration_and_json_carries_the_same(tmp_path, big_db):
    root = project(tmp_path / "p", big_db, {
        "2025.01.001__widen_score": ("ALTER TABLE accounts ALTER COLUMN score TYPE bigint;\n",
                                     "ALTER TABLE accounts ALTER COLUMN score TYPE int;\n"),
        "2025.01.002__note": ("ALTER TABLE plans ADD COLUMN note text;\n", "ALTER TABLE plans DROP COLUMN note;\n"),
    }, integrity={"no_negative_balance": NO_NEGATIVE}, queries={"by_email": BY_EMAIL})
    run = dbtool("migrate", "--to", "2025.01.001", cwd=root)
    assert run.code == 0, run.err
    out = run.out
    assert "checks before and after" in out and "up   2025.01.001 widen_score: pass" in out
    assert "ALTER TABLE accounts ALTER COLUMN score TYPE bigint" in out  # 51 characters: not cut
    assert "ACCESS EXCLUSIVE public.accounts; REWROTE public.accounts" in out
    assert "predicted: rewrites public.accounts" in out
    assert "rows public.accounts:" in out and "estimate" in out
    assert "integrity: 1 pass" in out

    run = dbtool("migrate", "--format", "json", cwd=root)
    assert run.code == 0, run.err
    data = json.loads(run.out)
    entry = data["report"][0]
    assert entry["version"] == "2025.01.002"
    assert entry["details"]["impact"]["statements"][0]["locks"][0]["mode"] == "ACCESS EXCLUSIVE"
    assert data["checks"]["migrations"][0]["version"] == "2025.01.002"
    assert data["checks"]["migrations"][0]["checks"] == entry["details"]["checks"]
    log = json.loads(dbtool("log", "--format", "json", cwd=root).out)["entries"]
    assert log[-1]["details"]["checks"] == entry["details"]["checks"]


def test_dry_run_shows_the_predicted_impact_and_changes_nothing(tmp_path, big_db):
    root = project(tmp_path / "p", big_db, {
        "2025.01.001__widen_score": ("ALTER TABLE accounts ALTER COLUMN score TYPE bigint;\n"
                                     "CREATE INDEX accounts_score_idx ON accounts (score);\n",
                                     "DROP INDEX accounts_score_idx;\nALTER TABLE accounts ALTER COLUMN score TYPE int;\n"),
    })
    run = dbtool("migrate", "--dry-run", cwd=root)
    assert run.code == 0, run.err
    assert "predicted impact:" in run.out
    assert "line 1: rewrites public.accounts," in run.out and "reads and writes blocked while it runs" in run.out
    assert "line 2: scans public.accounts," in run.out and "under SHARE: writes blocked, reads continue" in run.out
    assert scalar(big_db, "SELECT data_type FROM information_schema.columns WHERE table_name = 'accounts' "
                          "AND column_name = 'score'") == "integer"
    assert scalar(big_db, "SELECT to_regclass('migration_log') IS NULL")


def test_a_failed_check_exits_1_with_one_sentence(tmp_path, big_db):
    root = project(tmp_path / "p", big_db, {
        "2025.01.001__bad_update": ("UPDATE accounts SET balance = -1 WHERE id = 11;\n", "SELECT 1;\n"),
    }, integrity={"no_negative_balance": NO_NEGATIVE})
    run = dbtool_proc("migrate", cwd=root)
    assert run.returncode == 1
    err = run.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("Error: migrations/2025.01.001__bad_update.sql: check failed: ")
    assert "checks/integrity/no_negative_balance.sql returns 1 violating row(s) after 2025.01.001: (id=11, balance=-1" in err[0]
    assert "Traceback" not in run.stderr
    assert scalar(big_db, "SELECT balance FROM accounts WHERE id = 11") >= 0


def test_no_checks_skips_them(tmp_path, big_db):
    root = project(tmp_path / "p", big_db, {
        "2025.01.001__bad_update": ("UPDATE accounts SET balance = -1 WHERE id = 11;\n", "SELECT 1;\n"),
    }, integrity={"no_negative_balance": NO_NEGATIVE})
    run = dbtool("migrate", "--no-checks", cwd=root)
    assert run.code == 0 and "checks before and after" not in run.out


def test_rollback_reports_its_checks(tmp_path, big_db):
    root = project(tmp_path / "p", big_db, {
        "2025.01.001__archive": ("CREATE TABLE archive AS SELECT id FROM accounts WHERE id <= 100;\n", "DROP TABLE archive;\n"),
    })
    assert dbtool("migrate", cwd=root).code == 0
    run = dbtool("rollback", "2025.01.001", "--yes", cwd=root)
    assert run.code == 0, run.err
    assert "down 2025.01.001 archive: pass" in run.out
    assert "rows public.archive: 100 → 0 (exact count(*), lost 100, created by migrations/2025.01.001__archive.sql" in run.out


def test_verify_checks_without_changing_anything(tmp_path, big_db):
    root = project(tmp_path / "p", big_db, {
        "2025.01.001__note": ("ALTER TABLE plans ADD COLUMN note text;\n", "ALTER TABLE plans DROP COLUMN note;\n"),
    }, integrity={"no_negative_balance": NO_NEGATIVE})
    (root / "checks" / "2025.01.001__note.sql").write_text(
        "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_name = 'plans' "
        "AND column_name = 'note') THEN RAISE EXCEPTION 'plans.note is missing'; END IF; END $$;\n")
    assert dbtool("migrate", cwd=root).code == 0
    run = dbtool("verify", cwd=root)
    assert run.code == 0, run.out
    assert "integrity checks: 1 pass" in run.out and "verify scripts: 1 pass" in run.out

    scalar(big_db, "UPDATE accounts SET balance = -3 WHERE id = 5")
    scalar(big_db, "ALTER TABLE plans DROP COLUMN note")
    scalar(big_db, "SELECT setval(pg_get_serial_sequence('accounts', 'id'), 10)")
    run = dbtool("verify", "--format", "json", cwd=root)
    assert run.code == 1
    data = json.loads(run.out)
    assert not data["ok"]
    assert data["integrity"][0]["status"] == "fail" and data["integrity"][0]["rows"] == [{"id": 5, "balance": -3.0}]
    assert data["verify"][0]["status"] == "fail" and "plans.note is missing" in data["verify"][0]["message"]
    assert any(f["check"] == "sequences" and "accounts.id" in f["message"] for f in data["builtin"])
    assert scalar(big_db, "SELECT count(*) FROM migration_log") == 1  # verify wrote nothing

    (root / "migrations" / "2025.01.001__note.sql").write_text("ALTER TABLE plans ADD COLUMN note varchar(10);\n")
    run = dbtool("verify", cwd=root)
    assert run.code == 1 and "2025.01.001 note: drifted" in run.out


def test_the_example_project_migrates_verifies_and_rolls_back_with_checks(example_project, make_db):
    url = make_db()
    (example_project / "dbtool.toml").write_text(f'[dbtool]\nlock_timeout = "5s"\n[env.dev]\nurl = "{url}"\n')
    run = dbtool("migrate", cwd=example_project)
    assert run.code == 0, run.err
    assert "checks before and after" in run.out and ": FAIL" not in run.out
    assert "renewal_reminders.sql faster" in run.out  # 2025.02.004 gives it an index
    run = dbtool("verify", cwd=example_project)
    assert run.code == 0, run.out
    run = dbtool("rollback", "2025.01.001", "--yes", cwd=example_project)
    assert run.code == 0, run.err
    assert "down 2025.01.001 create_platforms: pass" in run.out

"""The round trip (S0 → up → S1 → down → S2 = S0 → up → S3 = S1) with deliberately broken pairs."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from psycopg import sql

from dbtool import config, files, roundtrip, scratch, seed
from dbtool.errors import ConfigError
from dbtool.sql import parse

BASE = {
    "2025.01.001__create_subscriptions": (
        "CREATE TABLE subscriptions (\n"
        "    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n"
        "    status text NOT NULL,\n"
        "    price numeric(12,2)\n"
        ");\n",
        "DROP TABLE subscriptions;\n"),
}


def run(project_factory, pg_admin_url, migrations, *, verify=None, versions=None):
    root = project_factory({**BASE, **migrations}, url=pg_admin_url, verify=verify)
    cfg = config.load(root / "dbtool.toml")
    with scratch.database(cfg, scratch_url=pg_admin_url) as s:
        return roundtrip.roundtrip(files.discover(root), cfg, s.url, versions=versions)


def only(result, rule):
    return [f for f in result.findings if f.rule == rule]


def one(result, rule):
    found = only(result, rule)
    assert len(found) == 1, [f"{f.rule}: {f.message}" for f in result.findings]
    return found[0]


def rules(result):
    return sorted({f.rule for f in result.findings})


# ---------------------------------------------------------------- clean pairs

def test_correct_pairs_pass_including_a_non_transactional_one(project_factory, pg_admin_url):
    res = run(project_factory, pg_admin_url, {
        "2025.01.002__index_status": (
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS subscriptions_status_idx ON subscriptions (status);\n",
            "DROP INDEX CONCURRENTLY IF EXISTS subscriptions_status_idx;\n"),
        "2025.01.003__add_note": (
            "ALTER TABLE subscriptions ADD COLUMN note text DEFAULT 'none';\n"
            "ALTER TABLE subscriptions ADD CONSTRAINT subscriptions_price_check CHECK (price >= 0) NOT VALID;\n",
            "ALTER TABLE subscriptions DROP CONSTRAINT subscriptions_price_check;\n"
            "ALTER TABLE subscriptions DROP COLUMN note;\n"),
    }, verify={"2025.01.002__index_status": "SELECT 1 / (SELECT count(*)::int FROM pg_index i JOIN pg_class c "
                                            "ON c.oid = i.indexrelid WHERE c.relname = 'subscriptions_status_idx' AND i.indisvalid);\n"})
    assert res.findings == [], [f.message for f in res.findings]
    assert res.ok
    assert res.tested == ["2025.01.001", "2025.01.002", "2025.01.003"]
    assert res.stopped_at is None and res.untested == []
    assert [t.version for t in res.timings] == res.tested
    assert all(t.up_ms > 0 and t.down_ms > 0 and t.reapply_ms > 0 for t in res.timings)


# ---------------------------------------------------------------- rollbacks that forget something

def test_rollback_forgets_an_index(project_factory, pg_admin_url):
    res = run(project_factory, pg_admin_url, {
        "2025.01.002__index_status": (
            "-- the status filter of the dashboard\nCREATE INDEX subscriptions_status_idx ON subscriptions (status);\n",
            "COMMENT ON TABLE subscriptions IS NULL;\n"),
        "2025.01.003__later": ("CREATE TABLE later (id int);\n", "DROP TABLE later;\n"),
    })
    f = one(res, "roundtrip-down-differs")
    assert f.severity == "error"
    assert f.file == "rollbacks/2025.01.002__index_status.sql" and f.version == "2025.01.002" and f.line == 1
    assert f.message.startswith("rollbacks/2025.01.002__index_status.sql leaves index public.subscriptions_status_idx behind")
    assert "migrations/2025.01.002__index_status.sql:2" in f.message  # where the index was created
    # the leftover index makes the second up fail: the round trip stops there and says so
    again = one(res, "roundtrip-reapply-failed")
    assert again.file == "migrations/2025.01.002__index_status.sql" and again.line == 2
    assert 'relation "subscriptions_status_idx" already exists' in again.message
    stop = one(res, "roundtrip-stopped")
    assert stop.severity == "info" and "2025.01.003" in stop.message
    assert res.stopped_at == "2025.01.002" and res.untested == ["2025.01.003"]
    assert not res.ok


def test_rollback_forgets_a_column_default(project_factory, pg_admin_url):
    res = run(project_factory, pg_admin_url, {
        "2025.01.002__status_default": (
            "ALTER TABLE subscriptions ALTER COLUMN status SET DEFAULT 'active';\n",
            "COMMENT ON COLUMN subscriptions.price IS NULL;\n"),
    })
    f = one(res, "roundtrip-down-differs")
    assert f.file == "rollbacks/2025.01.002__status_default.sql"
    assert "column public.subscriptions.status" in f.message and "default" in f.message and "'active'" in f.message
    # SET DEFAULT again gives the same schema as the first time: no stop
    assert only(res, "roundtrip-reapply-differs") == [] and res.stopped_at is None


def test_the_line_is_the_statement_responsible_when_there_is_one(project_factory, pg_admin_url):
    res = run(project_factory, pg_admin_url, {
        "2025.01.002__status_default": (
            "ALTER TABLE subscriptions ALTER COLUMN status SET DEFAULT 'active';\n",
            "COMMENT ON COLUMN subscriptions.status IS NULL;\n"
            "-- a wrong default instead of none\n"
            "ALTER TABLE subscriptions ALTER COLUMN status SET DEFAULT 'none';\n"),
    })
    f = one(res, "roundtrip-down-differs")
    assert f.line == 3 and "'none'" in f.message


def test_rollback_forgets_a_constraint(project_factory, pg_admin_url):
    res = run(project_factory, pg_admin_url, {
        "2025.01.002__price_check": (
            "ALTER TABLE subscriptions ADD CONSTRAINT subscriptions_price_check CHECK (price >= 0);\n",
            "COMMENT ON TABLE subscriptions IS NULL;\n"),
    })
    f = one(res, "roundtrip-down-differs")
    assert f.file == "rollbacks/2025.01.002__price_check.sql"
    assert "leaves constraint public.subscriptions.subscriptions_price_check behind" in f.message
    assert one(res, "roundtrip-reapply-failed").file == "migrations/2025.01.002__price_check.sql"


def test_rollback_forgets_a_trigger(project_factory, pg_admin_url):
    res = run(project_factory, pg_admin_url, {
        "2025.01.002__touch_trigger": (
            "CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;\n"
            "CREATE TRIGGER subscriptions_touch BEFORE UPDATE ON subscriptions\n"
            "    FOR EACH ROW EXECUTE FUNCTION touch();\n",
            "-- the trigger is forgotten; the function cannot go while the trigger uses it\n"
            "COMMENT ON TABLE subscriptions IS NULL;\n"),
    })
    messages = [f.message for f in only(res, "roundtrip-down-differs")]
    assert any("leaves trigger public.subscriptions.subscriptions_touch behind" in m for m in messages), messages
    assert any("leaves function public.touch() behind" in m for m in messages), messages


def test_rollback_forgets_a_sequence(project_factory, pg_admin_url):
    res = run(project_factory, pg_admin_url, {
        "2025.01.002__invoice_numbers": ("CREATE SEQUENCE invoice_number_seq START 1000;\n",
                                         "COMMENT ON TABLE subscriptions IS NULL;\n"),
    })
    f = one(res, "roundtrip-down-differs")
    assert "leaves sequence public.invoice_number_seq behind" in f.message
    assert f.file == "rollbacks/2025.01.002__invoice_numbers.sql"


@pytest.fixture
def role(pg_admin_url):
    name = f"dbtool_reader_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_admin_url, autocommit=True) as c:
        c.execute(sql.SQL("CREATE ROLE {}").format(sql.Identifier(name)))
    yield name
    with psycopg.connect(pg_admin_url, autocommit=True) as c:
        c.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


def test_rollback_forgets_a_grant(project_factory, pg_admin_url, role):
    res = run(project_factory, pg_admin_url, {
        "2025.01.002__grant_reader": (f"GRANT SELECT ON subscriptions TO {role};\n",
                                      "COMMENT ON TABLE subscriptions IS NULL;\n"),
    })
    f = one(res, "roundtrip-down-differs")
    assert f.file == "rollbacks/2025.01.002__grant_reader.sql"
    assert "table public.subscriptions" in f.message and "acl" in f.message and f"{role}=r" in f.message
    # the same pair with its REVOKE is clean
    res = run(project_factory, pg_admin_url, {
        "2025.01.002__grant_reader": (f"GRANT SELECT ON subscriptions TO {role};\n",
                                      f"REVOKE SELECT ON subscriptions FROM {role};\n"),
    })
    assert res.findings == [], [f.message for f in res.findings]


def test_rollback_drops_a_table_the_up_script_did_not_create(project_factory, pg_admin_url):
    res = run(project_factory, pg_admin_url, {
        "2025.01.002__add_note": ("ALTER TABLE subscriptions ADD COLUMN note text;\n",
                                  "-- undo\nDROP TABLE subscriptions;\n"),
    })
    f = one(res, "roundtrip-down-differs")
    assert f.message == ("rollbacks/2025.01.002__add_note.sql drops table public.subscriptions, which existed before")
    assert f.line == 2  # the DROP TABLE
    data = one(res, "roundtrip-destroys-data")
    assert data.severity == "warning" and data.file == "rollbacks/2025.01.002__add_note.sql" and data.line == 2
    assert "would destroy data that existed before 2025.01.002: table public.subscriptions lost its rows" in data.message
    assert res.stopped_at == "2025.01.002"  # the second up cannot add a column to a table that is gone


# ---------------------------------------------------------------- failures

def test_failing_verify_script(project_factory, pg_admin_url):
    res = run(project_factory, pg_admin_url, {
        "2025.01.002__index_status": ("CREATE INDEX subscriptions_state_idx ON subscriptions (status);\n",
                                      "DROP INDEX subscriptions_state_idx;\n"),
        "2025.01.003__later": ("CREATE TABLE later (id int);\n", "DROP TABLE later;\n"),
    }, verify={"2025.01.002__index_status": (
        "-- the index the dashboard needs\n"
        "DO $$\nBEGIN\n"
        "  IF to_regclass('subscriptions_status_idx') IS NULL THEN\n"
        "    RAISE EXCEPTION 'index subscriptions_status_idx is missing';\n"
        "  END IF;\nEND $$;\n")})
    f = one(res, "roundtrip-verify-failed")
    # line 5 is the RAISE inside the DO block (PL/pgSQL's own line, mapped back to the file)
    assert f.severity == "error" and f.file == "checks/2025.01.002__index_status.sql" and f.line == 5
    assert f.version == "2025.01.002" and "index subscriptions_status_idx is missing" in f.message
    assert res.stopped_at == "2025.01.002" and res.untested == ["2025.01.003"]


def test_failing_up_and_down_scripts_point_at_their_statement(project_factory, pg_admin_url):
    res = run(project_factory, pg_admin_url, {
        "2025.01.002__bad_up": ("ALTER TABLE subscriptions ADD COLUMN note text;\n"
                                "ALTER TABLE subscriptions ADD COLUMN status text;\n", "SELECT 1;\n"),
    })
    f = one(res, "roundtrip-up-failed")
    assert f.file == "migrations/2025.01.002__bad_up.sql" and f.line == 2
    assert 'column "status" of relation "subscriptions" already exists' in f.message

    res = run(project_factory, pg_admin_url, {
        "2025.01.002__bad_down": ("ALTER TABLE subscriptions ADD COLUMN note text;\n",
                                  "ALTER TABLE subscriptions DROP COLUMN note;\nDROP INDEX no_such_idx;\n"),
    })
    f = one(res, "roundtrip-down-failed")
    assert f.file == "rollbacks/2025.01.002__bad_down.sql" and f.line == 2 and "no_such_idx" in f.message
    assert res.stopped_at == "2025.01.002"


def test_a_rollback_that_only_differs_does_not_hide_later_ones(project_factory, pg_admin_url):
    res = run(project_factory, pg_admin_url, {
        "2025.01.002__status_default": ("ALTER TABLE subscriptions ALTER COLUMN status SET DEFAULT 'active';\n",
                                        "SELECT 1;\n"),
        "2025.01.003__price_default": ("ALTER TABLE subscriptions ALTER COLUMN price SET DEFAULT 0;\n",
                                       "SELECT 1;\n"),
    })
    files_ = [f.file for f in only(res, "roundtrip-down-differs")]
    assert files_ == ["rollbacks/2025.01.002__status_default.sql", "rollbacks/2025.01.003__price_default.sql"]
    assert res.stopped_at is None


def test_reapply_differs_when_the_up_script_depends_on_what_the_rollback_left(project_factory, pg_admin_url):
    # The rollback leaves the column behind; the up-script's IF NOT EXISTS then skips it and
    # its COMMENT lands on the old column: the second up does not give the first up's schema.
    res = run(project_factory, pg_admin_url, {
        "2025.01.002__add_note": ("ALTER TABLE subscriptions ADD COLUMN IF NOT EXISTS note text;\n"
                                  "CREATE INDEX IF NOT EXISTS subscriptions_note_idx ON subscriptions (note);\n",
                                  "DROP INDEX subscriptions_note_idx;\nALTER TABLE subscriptions ALTER COLUMN note TYPE varchar(10);\n"),
    })
    down = one(res, "roundtrip-down-differs")
    assert "column public.subscriptions.note" in down.message
    again = one(res, "roundtrip-reapply-differs")
    assert again.file == "migrations/2025.01.002__add_note.sql"
    assert "column public.subscriptions.note" in again.message and "did not restore it" in again.message
    assert res.stopped_at == "2025.01.002"


# ---------------------------------------------------------------- data

def test_rollback_that_recreates_a_column_destroys_its_data(project_factory, pg_admin_url):
    res = run(project_factory, pg_admin_url, {
        "2025.01.002__add_note": ("ALTER TABLE subscriptions ADD COLUMN note text;\n",
                                  "ALTER TABLE subscriptions DROP COLUMN note;\n"),
        "2025.01.003__price_type": (
            "ALTER TABLE subscriptions ALTER COLUMN price TYPE numeric(14,2);\n",
            "ALTER TABLE subscriptions DROP COLUMN note;\nALTER TABLE subscriptions DROP COLUMN price;\n"
            "ALTER TABLE subscriptions ADD COLUMN price numeric(12,2);\nALTER TABLE subscriptions ADD COLUMN note text;\n"),
    })
    assert only(res, "roundtrip-down-differs") == [], [f.message for f in res.findings]
    lost = only(res, "roundtrip-destroys-data")
    assert {f.file for f in lost} == {"rollbacks/2025.01.003__price_type.sql"}
    text = " | ".join(f.message for f in lost)
    assert "column price of public.subscriptions lost values" in text
    assert "column note of public.subscriptions lost values" in text
    assert all(f.severity == "warning" for f in lost)
    assert res.ok  # warnings only


def test_an_up_script_that_fails_on_a_non_empty_table_is_retried_without_the_seed(project_factory, pg_admin_url):
    res = run(project_factory, pg_admin_url, {
        "2025.01.002__add_plan": ("ALTER TABLE subscriptions ADD COLUMN plan text NOT NULL;\n",
                                  "ALTER TABLE subscriptions DROP COLUMN plan;\n"),
    })
    f = one(res, "roundtrip-seed-skipped")
    assert f.severity == "info" and f.file == "migrations/2025.01.002__add_plan.sql"
    assert 'column "plan" of relation "subscriptions" contains null values' in f.message
    assert res.ok and res.stopped_at is None


def test_versions_selects_what_is_round_tripped(project_factory, pg_admin_url):
    res = run(project_factory, pg_admin_url, {
        "2025.01.002__status_default": ("ALTER TABLE subscriptions ALTER COLUMN status SET DEFAULT 'a';\n", "SELECT 1;\n"),
        "2025.01.003__add_note": ("ALTER TABLE subscriptions ADD COLUMN note text;\n",
                                  "ALTER TABLE subscriptions DROP COLUMN note;\n"),
        "2025.01.004__later": ("CREATE TABLE later (id int);\n", "SELECT 1;\n"),
    }, versions=["2025.01.003"])
    assert res.findings == [] and res.tested == ["2025.01.003"]
    assert [(t.version, t.round_trip) for t in res.timings] == [
        ("2025.01.001", False), ("2025.01.002", False), ("2025.01.003", True)]


def test_a_missing_rollback_stops_the_round_trip_there(project_factory, pg_admin_url):
    root = project_factory({**BASE, "2025.01.002__no_down": ("CREATE TABLE x (id int);\n", None)}, url=pg_admin_url)
    cfg = config.load(root / "dbtool.toml")
    with scratch.database(cfg, scratch_url=pg_admin_url) as s:
        res = roundtrip.roundtrip(files.discover(root), cfg, s.url)
    assert res.tested == ["2025.01.001"]
    f = one(res, "roundtrip-stopped")
    assert "migrations/2025.01.002__no_down.sql has no rollback" in f.message and res.untested == ["2025.01.002"]


# ---------------------------------------------------------------- seeding

def test_touched_tables_come_from_the_parse_trees():
    script = parse("ALTER TABLE s.t ADD COLUMN x int REFERENCES p (id);\nUPDATE u SET a = 1;\n"
                   "CREATE INDEX CONCURRENTLY i ON v (x);\nDROP TABLE z, s.y;\nCREATE TEMP TABLE tmp (a int);\n")
    assert seed.touched_tables([script, None]) == [("s", "t"), (None, "p"), (None, "u"), (None, "v"), (None, "z"), ("s", "y")]


def test_seeded_rows_cover_common_types_and_foreign_keys(conn):
    conn.execute("""
        CREATE TYPE mood AS ENUM ('sad', 'ok');
        CREATE DOMAIN positive AS int CHECK (VALUE > 0);
        CREATE TABLE parent (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, code varchar(3) NOT NULL UNIQUE);
        CREATE TABLE child (
            id serial PRIMARY KEY, parent_id bigint NOT NULL REFERENCES parent, m mood NOT NULL, p positive,
            amount numeric(4,2), doc jsonb, tags text[], at timestamptz DEFAULT now(), u uuid NOT NULL,
            twice int GENERATED ALWAYS AS (p * 2) STORED,
            email text NOT NULL CHECK (email LIKE '%@%'), kind text NOT NULL CHECK (kind IN ('a', 'b')));
        CREATE TABLE odd (q tsquery NOT NULL, pt polygon NOT NULL);
    """)
    seeds = seed.plant(conn, [(None, "child"), (None, "odd"), (None, "missing")], counter=7)
    tables = [r.table for r in seeds.rows]
    assert tables == ["public.parent", "public.child"]  # the empty parent was seeded first, for the foreign key
    child = seeds.rows[1].values
    assert child["m"] == "sad" and child["amount"] == "99.00" and child["tags"] == "{}" and child["kind"] == "a"
    assert "@" in child["email"] and "twice" not in child
    assert child["parent_id"] == seeds.rows[0].values["id"]
    assert [s.table for s in seeds.skipped] == ["public.odd"]
    assert "polygon" in seeds.skipped[0].reason
    assert seed.check(conn, seeds) == []
    conn.execute("UPDATE child SET doc = '{}'")
    losses = seed.check(conn, seeds)
    assert [(l.table, l.column) for l in losses] == [("public.child", "doc")]
    conn.execute("DELETE FROM child")
    assert [(l.table, l.column) for l in seed.check(conn, seeds)] == [("public.child", None)]
    seed.remove(conn, seeds)
    assert conn.execute("SELECT count(*) FROM parent").fetchone()[0] == 0


# ---------------------------------------------------------------- scratch databases

def _scratch_dbs(url):
    with psycopg.connect(url, autocommit=True) as c:
        return {r[0] for r in c.execute("SELECT datname FROM pg_database WHERE datname LIKE 'dbtool\\_scratch\\_%'")}


def test_scratch_database_is_dropped_on_success_failure_and_interrupt(tmp_path, pg_admin_url):
    # Only the databases made here are checked: other runs may use the same server at the same time.
    cfg = config.load(None, cwd=tmp_path)
    made = []
    with scratch.database(cfg, scratch_url=pg_admin_url) as s:
        with psycopg.connect(s.url) as c:
            made.append(c.info.dbname)
        assert made[0] in _scratch_dbs(pg_admin_url)
        assert s.server == "url" and made[0] in s.label
    assert made[0] not in _scratch_dbs(pg_admin_url)
    for exc in (RuntimeError("boom"), KeyboardInterrupt()):
        with pytest.raises(type(exc)):
            with scratch.database(cfg, scratch_url=pg_admin_url) as s:
                keep = psycopg.connect(s.url)  # an open session does not keep it alive
                made.append(keep.info.dbname)
                raise exc
        keep.close()
    assert len(set(made)) == 3 and not set(made) & _scratch_dbs(pg_admin_url)


def test_scratch_url_own_database_is_never_touched(tmp_path, make_db):
    url = make_db()
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("CREATE TABLE precious (id int)")
    cfg = config.load(None, cwd=tmp_path)
    with scratch.database(cfg, scratch_url=url) as s:
        with psycopg.connect(s.url) as c:
            assert c.execute("SELECT to_regclass('precious')").fetchone()[0] is None
    with psycopg.connect(url) as c:
        assert c.execute("SELECT to_regclass('precious')").fetchone()[0] == "precious"


def test_scratch_spec_errors(tmp_path):
    cfg = config.load(None, cwd=tmp_path)
    with pytest.raises(ConfigError, match="docker or docker:IMAGE"):
        with scratch.database(cfg, scratch="podman"):
            pass
    with pytest.raises(ConfigError, match="pass one of them"):
        with scratch.database(cfg, scratch="docker", scratch_url="postgresql://x@localhost/y"):
            pass
    assert scratch.parse_spec("docker") == scratch.DEFAULT_IMAGE
    assert scratch.parse_spec("docker:postgres:13") == "postgres:13"


def _docker_usable() -> bool:
    try:
        import docker

        docker.from_env().ping()
        return True
    except Exception:  # noqa: BLE001
        return False


@pytest.mark.skipif(_docker_usable(), reason="Docker is usable here; the unusable case cannot be shown")
def test_docker_scratch_without_docker_is_a_configuration_error(tmp_path):
    cfg = config.load(None, cwd=tmp_path)
    with pytest.raises(ConfigError, match="Docker is not usable here") as err:
        with scratch.database(cfg, scratch="docker"):
            pass
    assert err.value.exit_code == 2


@pytest.mark.slow
@pytest.mark.skipif(not _docker_usable(), reason="Docker is not usable on this machine")
def test_docker_scratch_round_trip(project_factory, pg_admin_url):
    root = project_factory(BASE, url=pg_admin_url)
    cfg = config.load(root / "dbtool.toml")
    with scratch.database(cfg, scratch="docker:postgres:13-alpine") as s:
        res = roundtrip.roundtrip(files.discover(root), cfg, s.url)
    assert res.findings == [] and res.tested == ["2025.01.001"]


def test_seeded_rows_are_removed_even_after_a_column_lost_its_value(conn):
    conn.execute("CREATE TABLE t (id int PRIMARY KEY, note text, extra text)")
    seeds = seed.plant(conn, [(None, "t")])
    conn.execute("UPDATE t SET note = 'changed'")
    assert [l.column for l in seed.check(conn, seeds)] == ["note"]
    seed.remove(conn, seeds)
    assert conn.execute("SELECT count(*) FROM t").fetchone()[0] == 0

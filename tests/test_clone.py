"""dbtool clone: a production-like source copied into a second real database, equal, and never written."""

from __future__ import annotations

import json
import uuid

import psycopg
import pytest

from cli_util import dbtool
from staging_fixture import APPLIED, PENDING, production, project, rows, write_counters  # noqa: F401

from dbtool import api, clone, config, snapshot, targetdb
from dbtool.errors import Aborted, ConfigError, TransferError


def snap(url):
    with psycopg.connect(url, autocommit=True) as c:
        return snapshot.take(c)


def envs(prod_url, staging_url, **staging):
    return {"production": {"url": prod_url, "protected": True}, "staging": {"url": staging_url, **staging}}


LOG = "SELECT id, version, name, direction, status, checksum, started_at, completed_at, duration_ms, applied_by," \
      " tool_version, error, details::text FROM public.migration_log ORDER BY id"


def test_clone_equals_source_carries_log_and_stats_and_never_writes_the_source(production, make_db, tmp_path):
    staging = make_db("dbtool_staging")
    cfg = config.load(project(tmp_path, envs(production.url, staging)) / "dbtool.toml")
    before, counters = snap(production.url), write_counters(production.url)

    res = clone.clone(cfg, "production", "staging")

    assert res.ok and res.compared and res.ignored == [], res.differences[:3]
    # equal schema, proven independently of the clone's own check
    assert snapshot.diff(snap(production.url), snap(staging)) == []
    assert res.objects["TABLE"] >= 300 and res.log_rows == len(APPLIED)
    # the log is the source's, row for row, and the next migrate appends after it
    assert rows(staging, LOG) == rows(production.url, LOG)
    prod_status, staging_status = api.status(cfg, "production"), api.status(cfg, "staging")
    assert [(m.version, m.state) for m in staging_status.migrations] == [(m.version, m.state) for m in prod_status.migrations]
    assert [m.version for m in staging_status.migrations if m.state == "pending"] == PENDING
    # the source's sizes, for impact predictions on staging
    stats = dict((f"{s}.{t}", (b, n, env)) for s, t, b, n, env in rows(
        staging, "SELECT schema_name, table_name, bytes, reltuples, source_env FROM public.dbtool_source_stats"))
    assert stats["app.accounts"][2] == "production" and stats["app.accounts"][1] == 300
    assert stats["app.accounts"][0] == rows(production.url, "SELECT pg_table_size('app.accounts')")[0][0]
    assert stats["billing.invoices"][1] == 500  # a partitioned table: the sum of its partitions
    assert len(stats) == rows(production.url, "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                                              " WHERE relkind IN ('r','p','m') AND nspname IN ('public','app','billing','audit','reporting')")[0][0]
    # a materialized view populated on the source is populated on the clone (REFRESH ... CONCURRENTLY needs it)
    assert rows(staging, "SELECT relispopulated FROM pg_class WHERE oid = 'reporting.project_totals'::regclass") == [(True,)]
    # no data left production: only the log rows
    assert rows(staging, "SELECT count(*) FROM app.accounts") == [(0,)]
    # and the source was only read
    assert snapshot.diff(before, snap(production.url)) == []
    assert write_counters(production.url) == counters
    # migrate on the clone continues the copied log
    run = api.migrate(cfg, "staging")
    assert run.applied == PENDING


def test_protected_target_is_refused_and_left_alone(production, make_db, tmp_path):
    other = make_db("dbtool_staging")
    root = project(tmp_path, {"staging": {"url": other}, "production": {"url": production.url, "protected": True}})
    before = snap(production.url)
    r = dbtool("clone", "--from", "staging", "--to", "production", "--yes", cwd=root)
    assert r.code == 2
    assert r.err.strip() == "Error: environment production is protected: dbtool clone never writes into a protected environment"
    assert snapshot.diff(before, snap(production.url)) == []


def test_non_empty_target_is_emptied_only_with_yes(production, make_db, tmp_path):
    staging = make_db("dbtool_staging")
    with psycopg.connect(staging, autocommit=True) as c:
        c.execute("CREATE SCHEMA leftovers; CREATE TABLE leftovers.old (id int); CREATE TABLE public.stale (id int)")
    root = project(tmp_path, envs(production.url, staging))
    r = dbtool("clone", "--from", "production", "--to", "staging", cwd=root)
    assert r.code == 2
    assert "is not empty (1 schemas, 2 tables): pass --yes to empty it" in r.err
    assert rows(staging, "SELECT count(*) FROM leftovers.old") == [(0,)]  # untouched
    cfg = config.load(root / "dbtool.toml")
    with pytest.raises(Aborted):
        clone.clone(cfg, "production", "staging", confirm=lambda q: False)
    asked = []
    res = clone.clone(cfg, "production", "staging", confirm=lambda q: asked.append(q) or True)
    assert "holds 1 schemas, 2 tables" in asked[0] and res.emptied == {"schemas": 1, "tables": 2}
    assert res.ok
    assert rows(staging, "SELECT to_regclass('leftovers.old'), to_regclass('public.stale')") == [(None, None)]
    # a second clone over the first (the everyday refresh of staging) needs --yes and gives the same result
    r = dbtool("clone", "--from", "production", "--to", "staging", "--yes", "--format", "json", cwd=root)
    assert r.code == 0, r.err
    assert r.err == ""  # no terminal, no progress
    out = json.loads(r.out)
    assert out["ok"] and out["schema_equal"] and out["emptied"]["tables"] >= 300
    assert out["log_rows"] == len(APPLIED) and out["stats_table"] == "dbtool_source_stats"
    assert snapshot.diff(snap(production.url), snap(staging)) == []


def test_sample_data_keeps_foreign_keys_consistent(production, make_db, tmp_path):
    staging = make_db("dbtool_staging")
    cfg = config.load(project(tmp_path, envs(production.url, staging)) / "dbtool.toml")
    counters = write_counters(production.url)
    res = clone.clone(cfg, "production", "staging", options=clone.Options(data="sample", sample_rows=50))
    assert res.ok, res.differences[:3]
    assert res.sample["orphans_removed"] > 0  # children whose parents were not sampled
    counts = dict(rows(staging, "SELECT 'accounts', count(*) FROM app.accounts UNION ALL SELECT 'projects', count(*) FROM app.projects"
                                " UNION ALL SELECT 't2', count(*) FROM app.t0002 UNION ALL SELECT 'invoices', count(*) FROM billing.invoices"))
    assert counts["accounts"] == 50 and 0 < counts["projects"] <= 50 and counts["t2"] <= 50
    assert 0 < counts["invoices"] <= 150  # three partitions, at most 50 rows each
    # the foreign keys exist and hold (they were created, and so validated, after the rows were loaded)
    assert rows(staging, "SELECT count(*) FROM app.projects p LEFT JOIN app.accounts a ON a.id = p.account_id WHERE a.id IS NULL") == [(0,)]
    assert rows(staging, "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND NOT convalidated") == [(0,)]
    # sequences continue after the sampled rows: a new row does not collide
    with psycopg.connect(staging, autocommit=True) as c:
        c.execute("INSERT INTO app.projects (account_id, name) SELECT min(id), 'new one' FROM app.accounts")
    assert write_counters(production.url) == counters


def test_owners_dropped_belong_to_the_loading_user(production, make_db, tmp_path):
    staging = make_db("dbtool_staging")
    with psycopg.connect(production.url, autocommit=True) as c:
        owner = c.execute("SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = 'app.accounts'::regclass").fetchone()[0]
    root = project(tmp_path, envs(production.url, staging))
    r = dbtool("clone", "--from", "production", "--to", "staging", "--owners", "drop", "--no-grants", "--format", "json", cwd=root)
    assert r.code == 0, r.err
    out = json.loads(r.out)
    assert out["ok"] and sorted(out["not_compared"]) == ["acl", "default privileges", "owner"]
    with psycopg.connect(staging) as c:
        me = c.execute("SELECT current_user").fetchone()[0]
        assert c.execute("SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = 'app.accounts'::regclass").fetchone()[0] == me
        assert c.execute("SELECT has_table_privilege(%s, 'app.accounts', 'SELECT')", [production.role]).fetchone()[0] is False
    assert owner  # the source had one; dropping it is what was asked


def test_grants_to_existing_roles_are_carried(production, make_db, tmp_path):
    staging = make_db("dbtool_staging")
    cfg = config.load(project(tmp_path, envs(production.url, staging)) / "dbtool.toml")
    assert clone.clone(cfg, "production", "staging").ok
    with psycopg.connect(staging) as c:
        assert c.execute("SELECT has_table_privilege(%s, 'app.accounts', 'SELECT')", [production.role]).fetchone()[0]
        assert c.execute("SELECT has_column_privilege(%s, 'app.bookings', 'room', 'SELECT')", [production.role]).fetchone()[0]
        assert c.execute("SELECT count(*) FROM pg_policy WHERE polrelid = 'app.accounts'::regclass").fetchone()[0] == 2


def test_clone_into_itself_and_unknown_options_are_usage_errors(production, tmp_path):
    root = project(tmp_path, {"production": {"url": production.url, "protected": True}, "alias": {"url": production.url}})
    r = dbtool("clone", "--from", "production", "--to", "alias", "--yes", cwd=root)
    assert r.code == 2 and "are the same database" in r.err
    r = dbtool("clone", "--from", "production", "--to", "production", cwd=root)
    assert r.code == 2 and "both name environment production" in r.err
    cfg = config.load(project(tmp_path / "p2", {"a": {"url": production.url}}, extra="[clone]\nowners = \"someone\"") / "dbtool.toml")
    with pytest.raises(ConfigError, match=r"\[clone\] owners = 'someone'"):
        clone.Options.from_config(cfg)


def test_a_locked_source_table_fails_the_clone_clearly_instead_of_hanging(production, make_db, tmp_path):
    staging = make_db("dbtool_staging")
    cfg = config.load(project(tmp_path, envs(production.url, staging), extra='advisory_lock_wait = "1s"') / "dbtool.toml")
    with psycopg.connect(production.url) as holder:  # a migration in progress on production
        holder.execute("LOCK TABLE app.projects IN ACCESS EXCLUSIVE MODE")
        with pytest.raises(TransferError, match=r"^pg_dump failed reading the source: pg_dump could not lock table app.projects within 1s \(setting dbtool.advisory_lock_wait\)"):
            clone.clone(cfg, "production", "staging")
        holder.rollback()
    with psycopg.connect(staging, autocommit=True) as c:
        assert targetdb.inventory(c) == {}  # nothing half loaded


@pytest.fixture
def staging_owner(pg_admin_url):
    """A role of the staging side that owns nothing on the source (dropped after the test's databases)."""
    name = f"dbtool_owner_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_admin_url, autocommit=True) as c:
        c.execute(f'CREATE ROLE "{name}" NOLOGIN')
    yield name
    with psycopg.connect(pg_admin_url, autocommit=True) as c:
        c.execute(f'DROP ROLE IF EXISTS "{name}"')


def test_owners_mapped_from_the_config(production, staging_owner, make_db, tmp_path):
    staging = make_db("dbtool_staging")
    with psycopg.connect(production.url) as c:
        owner = c.execute("SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = 'app.accounts'::regclass").fetchone()[0]
    extra = f'[clone]\nowners = {{ {owner} = "{staging_owner}" }}'
    cfg = config.load(project(tmp_path, envs(production.url, staging), extra=extra) / "dbtool.toml")
    res = clone.clone(cfg, "production", "staging")
    assert res.ok and res.ignored == ["owner"], [d.describe() for d in res.differences[:5]]
    assert res.adjustments.owners_mapped[f"{owner} -> {staging_owner}"] > 300
    with psycopg.connect(staging) as c:
        owners = {r[0] for r in c.execute("SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class c JOIN pg_namespace n"
                                          " ON n.oid = c.relnamespace WHERE nspname IN ('app', 'billing', 'audit', 'reporting')")}
        assert owners == {staging_owner}
        # grants to other roles are kept, now made by the new owner
        assert c.execute("SELECT has_table_privilege(%s, 'app.accounts', 'SELECT')", [production.role]).fetchone()[0]
    assert f"owners mapped: {owner} -> {staging_owner}" in clone.describe(res)

"""Schema snapshots on a real server: completeness, stability across databases, precise differences."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from dbtool import snapshot
from dbtool.errors import DbtoolError
from dbtool.snapshot import Difference, Snapshot

SCHEMA_TEMPLATE = (Path(__file__).parent / "data" / "snapshot_schema.sql").read_text()
SCHEMA_SQL = SCHEMA_TEMPLATE  # rewritten by the ``extension`` fixture for servers without citext
EXT = "citext"
READER = "dbtool_snapshot_reader"
OTHER_OWNER = "dbtool_snapshot_owner"
ROLLBACK = "rollbacks/2025.01.003__x.sql"


@pytest.fixture(scope="session")
def roles(pg_admin_url):
    """Roles are cluster-wide: create them once, tolerate a concurrent creator, leave them."""
    with psycopg.connect(pg_admin_url, autocommit=True) as c:
        for role in (READER, OTHER_OWNER):
            c.execute(f"""DO $$ BEGIN CREATE ROLE {role};
                          EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$""")


@pytest.fixture(scope="session", autouse=True)
def extension(pg_admin_url):
    """citext where the server has it; pgserver's PostgreSQL 16 ships only vector besides plpgsql."""
    global SCHEMA_SQL, EXT
    with psycopg.connect(pg_admin_url, autocommit=True) as c:
        have = {r[0] for r in c.execute("SELECT name FROM pg_available_extensions")}
    if "citext" in have:
        EXT, SCHEMA_SQL = "citext", SCHEMA_TEMPLATE
    elif "vector" in have:
        EXT = "vector"
        SCHEMA_SQL = SCHEMA_TEMPLATE.replace("CREATE EXTENSION citext;", "CREATE EXTENSION vector;").replace(
            "email citext NOT NULL,", "email text NOT NULL,\n    embedding vector(3),")
    else:
        pytest.skip("the server has neither citext nor vector for the extension objects")
    return EXT


@pytest.fixture
def billing(make_db, roles):
    """A connection to a fresh database holding every object kind."""
    with psycopg.connect(make_db(), autocommit=True) as c:
        c.execute(SCHEMA_SQL)
        yield c


def changes(before: Snapshot, after: Snapshot, **kw) -> list[tuple]:
    return [(d.kind, d.name, d.change, d.attribute) for d in snapshot.diff(before, after, **kw)]


def test_snapshot_covers_every_kind(billing):
    snap = snapshot.take(billing)
    kinds = {snapshot.split_key(key)[0] for key in snap.objects}
    assert kinds == set(snapshot.KINDS)
    sub = snap.get("table", "billing.subscriptions")
    assert sub["row_security"] is True
    assert sub["columns"][:3] == ["id", "plan_id", "email"]
    assert sub["acl"] == ["(owner)=arwdDxt", f"{READER}=r"]
    assert snap.get("column", "billing.subscriptions.price") == {
        "table": "billing.subscriptions", "type": "numeric(10,2)", "default": "0", "not_null": True,
        "comment": "Monthly price", "acl": []}
    assert snap.get("column", "billing.subscriptions.id")["identity_sequence"]["start"] == 10
    assert snap.get("column", "billing.subscriptions.price_with_vat")["generated"] == "(price * 1.2) STORED"
    assert snap.get("column", "billing.plans.name")["acl"] == [f"{READER}=r"]
    assert snap.get("column", "billing.plans.name")["collation"] == 'pg_catalog."C"'
    assert snap.get("index", "billing.subscriptions_status_idx")["definition"].startswith(
        "CREATE INDEX subscriptions_status_idx ON billing.subscriptions USING btree (status)")
    assert snap.get("constraint", "billing.subscriptions.subscriptions_email_check")["validated"] is False
    assert snap.get("sequence", "billing.invoice_no")["owned_by"] == "billing.subscriptions.invoice_no"
    assert snap.get("type", "billing.status")["labels"] == ["trial", "active", "cancelled"]
    assert snap.get("type", "billing.address")["attributes"] == ["street text", 'city text COLLATE pg_catalog."C"']
    assert snap.get("extension", EXT)["schema"] == "public"
    assert snap.get("policy", "billing.subscriptions.tenant_isolation")["using"] == "(tenant = CURRENT_USER)"
    assert snap.get("function", "billing.monthly_total(billing.status)")["acl"] == ["(owner)=X", f"{READER}=X"]
    assert "procedure billing.cancel(bigint)" in snap.objects
    # Identity sequences belong to their column; extension objects and generated
    # range constructors are not user objects.
    assert "sequence billing.subscriptions_id_seq" not in snap.objects
    assert not any(key.startswith(("function", "type")) and EXT in key for key in snap.objects)
    assert not any(key.startswith("function billing.period") for key in snap.objects)


def test_same_sql_in_two_databases_compares_equal(billing, make_db):
    with psycopg.connect(make_db(), autocommit=True) as other:
        other.execute(SCHEMA_SQL)
        assert snapshot.diff(snapshot.take(billing), snapshot.take(other)) == []


CASES = [
    ("DROP INDEX billing.subscriptions_status_idx",
     ("index", "billing.subscriptions_status_idx", "missing", None),
     "drops index billing.subscriptions_status_idx, which existed before"),
    ("CREATE INDEX subscriptions_plan_idx ON billing.subscriptions (plan_id)",
     ("index", "billing.subscriptions_plan_idx", "extra", None),
     "leaves index billing.subscriptions_plan_idx behind"),
    ("ALTER TABLE billing.subscriptions ALTER COLUMN price DROP DEFAULT",
     ("column", "billing.subscriptions.price", "changed", "default"),
     "changes column billing.subscriptions.price: default 0 → (none)"),
    ("ALTER TABLE billing.subscriptions DROP CONSTRAINT subscriptions_price_check",
     ("constraint", "billing.subscriptions.subscriptions_price_check", "missing", None),
     "drops constraint billing.subscriptions.subscriptions_price_check, which existed before"),
    ("ALTER TABLE billing.subscriptions VALIDATE CONSTRAINT subscriptions_email_check",
     ("constraint", "billing.subscriptions.subscriptions_email_check", "changed", "validated"),
     "changes constraint billing.subscriptions.subscriptions_email_check: validated false → true"),
    ("CREATE TRIGGER subscriptions_touch BEFORE INSERT ON billing.subscriptions"
     " FOR EACH ROW EXECUTE FUNCTION billing.set_updated_at()",
     ("trigger", "billing.subscriptions.subscriptions_touch", "extra", None),
     "leaves trigger billing.subscriptions.subscriptions_touch behind"),
    ("ALTER TABLE billing.subscriptions DISABLE TRIGGER subscriptions_set_updated_at",
     ("trigger", "billing.subscriptions.subscriptions_set_updated_at", "changed", "enabled"),
     "changes trigger billing.subscriptions.subscriptions_set_updated_at: enabled enabled → disabled"),
    (f"REVOKE SELECT ON billing.subscriptions FROM {READER}",
     ("table", "billing.subscriptions", "changed", "acl"),
     f"changes table billing.subscriptions: acl (owner)=arwdDxt, {READER}=r → (owner)=arwdDxt"),
    (f"REVOKE SELECT (name) ON billing.plans FROM {READER}",
     ("column", "billing.plans.name", "changed", "acl"),
     f"changes column billing.plans.name: acl {READER}=r → (none)"),
    ("ALTER SEQUENCE billing.invoice_no INCREMENT BY 5",
     ("sequence", "billing.invoice_no", "changed", "increment"),
     "changes sequence billing.invoice_no: increment 1 → 5"),
    ("ALTER TABLE billing.subscriptions ALTER COLUMN id SET INCREMENT BY 2",
     ("column", "billing.subscriptions.id", "changed", "identity_sequence"),
     "changes column billing.subscriptions.id: identity sequence: increment 1 → 2"),
    ("ALTER TYPE billing.status ADD VALUE 'paused'",
     ("type", "billing.status", "changed", "labels"),
     "changes type billing.status: labels trial, active, cancelled → trial, active, cancelled, paused"),
    ("ALTER DOMAIN billing.money_amount DROP CONSTRAINT money_amount_positive",
     ("constraint", "billing.money_amount.money_amount_positive", "missing", None), None),
    ("ALTER TABLE billing.subscriptions DISABLE ROW LEVEL SECURITY",
     ("table", "billing.subscriptions", "changed", "row_security"),
     "changes table billing.subscriptions: row security true → false"),
    ("ALTER POLICY tenant_isolation ON billing.subscriptions USING (true)",
     ("policy", "billing.subscriptions.tenant_isolation", "changed", "using"),
     "changes policy billing.subscriptions.tenant_isolation: using (tenant = CURRENT_USER) → true"),
    ("COMMENT ON TABLE billing.subscriptions IS 'Customer subscriptions'",
     ("table", "billing.subscriptions", "changed", "comment"),
     "changes table billing.subscriptions: comment One row per customer subscription → Customer subscriptions"),
    ("COMMENT ON INDEX billing.subscriptions_status_idx IS NULL",
     ("index", "billing.subscriptions_status_idx", "changed", "comment"), None),
    ("CREATE OR REPLACE FUNCTION billing.set_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$\n"
     "BEGIN\n    NEW.updated_at := clock_timestamp();\n    RETURN NEW;\nEND\n$$",
     ("function", "billing.set_updated_at()", "changed", "definition"),
     "changes function billing.set_updated_at(): definition differs at line 6:"
     " NEW.updated_at := now(); → NEW.updated_at := clock_timestamp();"),
    ("ALTER FUNCTION billing.monthly_total(billing.status) SECURITY DEFINER",
     ("function", "billing.monthly_total(billing.status)", "changed", "definition"), None),
    ("CREATE OR REPLACE VIEW billing.active_subscriptions AS"
     " SELECT id, email, price FROM billing.subscriptions WHERE status = 'trial'",
     ("view", "billing.active_subscriptions", "changed", "definition"), None),
    ("ALTER TABLE billing.subscriptions DROP COLUMN address;"
     " ALTER TABLE billing.subscriptions ADD COLUMN address billing.address",
     ("table", "billing.subscriptions", "changed", "column order"), None),
    ("ALTER TABLE billing.scratch SET (fillfactor = 90)",
     ("table", "billing.scratch", "changed", "options"),
     "changes table billing.scratch: options fillfactor=70 → fillfactor=90"),
]


@pytest.mark.parametrize("statement, expected, sentence",
                         CASES, ids=[c[0][:60] for c in CASES])
def test_each_change_is_reported_precisely(billing, statement, expected, sentence):
    before = snapshot.take(billing)
    billing.execute(statement)
    after = snapshot.take(billing)
    found = changes(before, after)
    if expected[0] == "function" and expected[1].startswith("billing.monthly_total"):
        # SECURITY DEFINER shows in the definition and, by name, as its own attribute.
        assert found == [expected, ("function", expected[1], "changed", "security_definer")]
    else:
        assert found == [expected]
    if sentence:
        assert snapshot.diff(before, after)[0].describe(ROLLBACK) == f"{ROLLBACK} {sentence}"


def test_dropping_a_table_is_one_difference_not_one_per_column(billing):
    before = snapshot.take(billing)
    billing.execute("DROP TABLE billing.scratch")
    assert changes(before, snapshot.take(billing)) == [("table", "billing.scratch", "missing", None)]


def test_extension_version_is_compared(billing):
    available = billing.execute(
        "SELECT v.version FROM pg_available_extension_versions v JOIN pg_extension e ON e.extname = v.name"
        " WHERE v.name = %s AND v.version <> e.extversion ORDER BY v.version DESC LIMIT 1", [EXT]).fetchone()
    if available is None:
        pytest.skip(f"only one {EXT} version is installed on this server")
    before = snapshot.take(billing)
    billing.execute(f"DROP EXTENSION {EXT} CASCADE")
    billing.execute(f"CREATE EXTENSION {EXT} VERSION '{available[0]}'")
    found = changes(before, snapshot.take(billing), ignore={"column", "constraint", "index", "view"})
    assert ("extension", EXT, "changed", "version") in found


def test_sequence_values_and_row_data_make_no_difference(billing):
    before = snapshot.take(billing)
    billing.execute("INSERT INTO billing.plans (name, price) VALUES ('basic', 5), ('pro', 20)")
    billing.execute("""INSERT INTO billing.subscriptions (plan_id, email, price, tenant)
                       SELECT id, name || '@example.com', price, current_user FROM billing.plans""")
    billing.execute("SELECT nextval('billing.invoice_no') FROM generate_series(1, 50)")
    billing.execute("ANALYZE; REFRESH MATERIALIZED VIEW billing.revenue")
    assert snapshot.diff(before, snapshot.take(billing)) == []


def test_dbtool_tables_are_left_out(billing):
    before = snapshot.take(billing)
    billing.execute("""
        CREATE TABLE public.migration_log (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                                           version text NOT NULL, status text CHECK (status <> ''));
        CREATE INDEX migration_log_version_idx ON public.migration_log (version);
        CREATE TABLE billing.dbtool_lock (id serial PRIMARY KEY, holder text);
        CREATE TRIGGER dbtool_lock_touch BEFORE UPDATE ON billing.dbtool_lock
            FOR EACH ROW EXECUTE FUNCTION billing.set_updated_at();
        CREATE SCHEMA ops;
        CREATE TABLE ops.deploy_log (id serial PRIMARY KEY);
    """)
    after = snapshot.take(billing)
    leftovers = [key for key in after.objects if "migration_log" in key or "dbtool_lock" in key]
    assert leftovers == []
    # Only the new schema and the table that is not dbtool's show up.
    assert changes(before, after) == [("schema", "ops", "extra", None), ("table", "ops.deploy_log", "extra", None)]
    custom = snapshot.take(billing, log_table="ops.deploy_log")
    assert changes(before, custom) == [("schema", "ops", "extra", None),
                                       ("table", "public.migration_log", "extra", None)]
    assert changes(before, snapshot.take(billing, log_table="ops.deploy_log", exclude_tables={"public.migration_*"})) \
        == [("schema", "ops", "extra", None)]


def test_schema_filter(billing):
    snap = snapshot.take(billing, schemas=["billing"])
    assert {key.split(" ")[-1].split(".")[0] for key in snap.objects if key.startswith(("table", "schema"))} \
        == {"billing"}
    assert f"extension {EXT}" not in snap.objects
    assert "event trigger billing_log_ddl" not in snap.objects


def test_owners_and_acls_can_be_ignored(billing):
    before = snapshot.take(billing)
    billing.execute(f"ALTER TABLE billing.subscriptions OWNER TO {OTHER_OWNER}")
    after = snapshot.take(billing)
    # Grants name the owner as "(owner)", so a different owner does not look like different grants.
    # The owned sequence follows its table's owner.
    assert changes(before, after) == [("sequence", "billing.invoice_no", "changed", "owner"),
                                      ("table", "billing.subscriptions", "changed", "owner")]
    assert snapshot.diff(before, after, ignore={"owner"}) == []
    billing.execute(f"REVOKE SELECT ON billing.subscriptions FROM {READER}")
    assert snapshot.diff(before, snapshot.take(billing), ignore={"owner", "acl"}) == []


def test_grant_then_revoke_equals_never_granting(billing):
    before = snapshot.take(billing)
    billing.execute(f"GRANT SELECT ON billing.scratch TO {READER}; REVOKE SELECT ON billing.scratch FROM {READER}")
    assert snapshot.diff(before, snapshot.take(billing)) == []


def test_session_search_path_does_not_change_the_snapshot(billing):
    plain = snapshot.take(billing)
    billing.execute("SET search_path = billing, public")
    assert snapshot.diff(plain, snapshot.take(billing)) == []
    assert billing.execute("SHOW search_path").fetchone()[0] == "billing, public"
    # Inside the caller's (read-only) transaction the pinned settings must not outlive the snapshot.
    with psycopg.connect(billing.info.dsn, autocommit=False) as tx:
        tx.execute("SET TRANSACTION READ ONLY")
        tx.execute("SET LOCAL search_path = billing; SET LOCAL jit = on")
        assert snapshot.diff(plain, snapshot.take(tx)) == []
        assert tx.execute("SHOW search_path").fetchone()[0] == "billing"
        assert tx.execute("SHOW jit").fetchone()[0] == "on"
        tx.rollback()


def test_json_round_trip(billing):
    snap = snapshot.take(billing)
    again = Snapshot.from_json(snap.to_json())
    assert again == snap
    assert snapshot.diff(snap, again) == []
    with pytest.raises(DbtoolError):
        Snapshot.from_json('{"objects": []}')


def test_differences_are_ordered_and_described_without_actor():
    before = Snapshot({"table public.t": {"columns": ["a", "b", "c"], "owner": "x"},
                       "index public.i": {"table": "public.t"},
                       "column public.t.c": {"table": "public.t", "default": "0"}})
    after = Snapshot({"table public.t": {"columns": ["a", "c", "b"], "owner": "y"},
                      "column public.t.c": {"table": "public.t"},
                      "materialized view public.m": {"definition": "SELECT 1"}})
    found = snapshot.diff(before, after)
    assert [(d.kind, d.name, d.attribute) for d in found] == [
        ("table", "public.t", "column order"), ("table", "public.t", "owner"),
        ("column", "public.t.c", "default"), ("index", "public.i", None),
        ("materialized view", "public.m", None)]
    assert [d.describe() for d in found] == [
        "table public.t differs: column order a, b, c → a, c, b",
        "table public.t differs: owner x → y",
        "column public.t.c differs: default 0 → (none)",
        "index public.i is missing",
        "materialized view public.m is extra",
    ]
    assert isinstance(found[0], Difference) and found[0].to_dict()["message"] == found[0].describe()
    assert snapshot.diff(before, after, ignore={"owner", "column order", "index", "materialized view"}) == [found[2]]


def test_failure_is_a_dbtool_error(billing):
    billing.execute("BEGIN")
    with pytest.raises(psycopg.Error):
        billing.execute("SELECT 1/0")
    with pytest.raises(DbtoolError, match="cannot take a schema snapshot"):
        snapshot.take(billing)
    billing.execute("ROLLBACK")

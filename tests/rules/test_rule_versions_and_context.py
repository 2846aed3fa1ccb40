"""Verdicts that depend on the target version, on earlier statements and migrations, and on rollback context."""

from __future__ import annotations

import pytest

from dbtool.lint import lint_sql


def rules(sql, **kw) -> list[str]:
    return [f.rule for f in lint_sql(sql, **kw)]


def only(sql, rule, **kw):
    return [f for f in lint_sql(sql, **kw) if f.rule == rule]


# ------------------------------------------------------------------ versions

@pytest.mark.parametrize("target, fires", [(10, True), (11, False), (13, False)])
def test_constant_default_rewrites_only_before_11(target, fires):
    found = only("ALTER TABLE orders ADD COLUMN channel text NOT NULL DEFAULT 'web';", "add-column-volatile-default",
                 target_version=target)
    assert bool(found) is fires
    if fires:
        assert "before PostgreSQL 11 (target_version 10)" in found[0].message


@pytest.mark.parametrize("default", ["gen_random_uuid()", "random()", "clock_timestamp()", "nextval('s')",
                                     "(random() * 10)::int", "uuid_generate_v4()"])
def test_volatile_defaults_rewrite_on_every_version(default):
    found = only(f"ALTER TABLE orders ADD COLUMN x text DEFAULT {default};", "add-column-volatile-default",
                 target_version=17)
    assert found and "volatile" in found[0].message and "ACCESS EXCLUSIVE" in found[0].message


@pytest.mark.parametrize("default", ["now()", "CURRENT_TIMESTAMP", "'{}'::jsonb", "-1", "ARRAY[]::text[]",
                                     "lower('X')", "now() + interval '1 day'", "NULL"])
def test_non_volatile_defaults_are_fine_from_11(default):
    assert not only(f"ALTER TABLE orders ADD COLUMN x text DEFAULT {default};", "add-column-volatile-default")


def test_user_function_volatility_comes_from_earlier_migrations():
    sql = "ALTER TABLE orders ADD COLUMN score int DEFAULT score_of();"
    unknown = only(sql, "add-column-volatile-default")
    assert unknown and "not known to be STABLE or IMMUTABLE" in unknown[0].message
    stable = "CREATE FUNCTION score_of() RETURNS int LANGUAGE sql STABLE AS 'SELECT 1';"
    assert not only(sql, "add-column-volatile-default", before=stable)
    volatile = "CREATE FUNCTION score_of() RETURNS int LANGUAGE sql AS 'SELECT 1';"  # VOLATILE by default
    assert only(sql, "add-column-volatile-default", before=volatile)


@pytest.mark.parametrize("target, fires", [(11, True), (12, False)])
def test_enum_add_value_in_the_runners_transaction_is_refused_before_12(target, fires):
    found = only("ALTER TYPE ticket_state ADD VALUE 'escalated';", "enum-add-value-in-transaction",
                 target_version=target)
    assert bool(found) is fires


def test_enum_add_value_used_in_the_same_transaction_on_12():
    sql = "ALTER TYPE ticket_state ADD VALUE 'escalated';\nUPDATE tickets SET state = 'escalated' WHERE id = 7;"
    found = only(sql, "enum-add-value-in-transaction", target_version=12)
    assert found and "line 2" in found[0].message and "unsafe use of new value" in found[0].message
    # a later ADD VALUE ... AFTER the new label is not a use of it
    sql2 = "ALTER TYPE ticket_state ADD VALUE 'escalated';\nALTER TYPE ticket_state ADD VALUE 'urgent' AFTER 'escalated';"
    assert not only(sql2, "enum-add-value-in-transaction", target_version=12)


def test_reindex_help_depends_on_whether_concurrently_exists():
    old = only("REINDEX TABLE orders;", "reindex-non-concurrently", target_version=11)
    new = only("REINDEX TABLE orders;", "reindex-non-concurrently", target_version=12)
    assert "needs PostgreSQL 12" in old[0].help
    assert new[0].help == "use REINDEX ... CONCURRENTLY"
    assert not only("REINDEX TABLE CONCURRENTLY orders;", "reindex-non-concurrently", target_version=12)


def test_detach_partition_help_depends_on_14():
    assert "needs PostgreSQL 14" in only("ALTER TABLE m DETACH PARTITION m1;", "detach-partition-non-concurrently",
                                         target_version=13)[0].help
    assert "CONCURRENTLY (PostgreSQL 14+" in only("ALTER TABLE m DETACH PARTITION m1;",
                                                  "detach-partition-non-concurrently", target_version=14)[0].help


def test_stored_generated_and_virtual():
    stored = "ALTER TABLE li ADD COLUMN g bigint GENERATED ALWAYS AS (q * p) STORED;"
    virtual = "ALTER TABLE li ADD COLUMN g bigint GENERATED ALWAYS AS (q * p) VIRTUAL;"
    assert only(stored, "add-column-stored-generated", target_version=18)
    assert not only(virtual, "add-column-stored-generated", target_version=18)
    # neither is mistaken for a volatile default
    assert not only(stored, "add-column-volatile-default")


def test_set_not_null_exception_needs_a_validated_check_and_12():
    before_valid = ("ALTER TABLE invoices ADD CONSTRAINT due_nn CHECK (due_on IS NOT NULL AND due_on > '2000-01-01') NOT VALID;\n"
                    "ALTER TABLE invoices VALIDATE CONSTRAINT due_nn;")
    before_not_valid = "ALTER TABLE invoices ADD CONSTRAINT due_nn CHECK (due_on IS NOT NULL) NOT VALID;"
    sql = "ALTER TABLE invoices ALTER COLUMN due_on SET NOT NULL;"
    assert not only(sql, "set-not-null", before=before_valid, target_version=12)
    assert only(sql, "set-not-null", before=before_valid, target_version=11)
    assert only(sql, "set-not-null", before=before_not_valid, target_version=15)
    # a check on another column proves nothing
    other = "ALTER TABLE invoices ADD CONSTRAINT x CHECK (paid_on IS NOT NULL);"
    assert only(sql, "set-not-null", before=other)


def test_set_not_null_after_validate_in_the_same_file_skips_the_scan_but_not_the_validate_finding():
    sql = ("ALTER TABLE invoices ADD CONSTRAINT due_nn CHECK (due_on IS NOT NULL) NOT VALID;\n"
           "ALTER TABLE invoices VALIDATE CONSTRAINT due_nn;\n"
           "ALTER TABLE invoices ALTER COLUMN due_on SET NOT NULL;")
    found = rules(sql)
    assert "set-not-null" not in found
    assert "validate-in-same-transaction" in found


# ------------------------------------------------------------------ type changes

@pytest.mark.parametrize("old, new, verdict", [
    ("int", "bigint", "rewrite"),
    ("varchar(40)", "varchar(80)", None),
    ("varchar(40)", "text", None),
    ("text", "varchar", None),
    ("numeric(12,2)", "numeric(14,2)", None),
    ("numeric(12,2)", "numeric", None),
    ("numeric(12,2)", "numeric(12,3)", "rewrite"),
    ("timestamp(3)", "timestamp(6)", None),
    ("cidr", "inet", None),
    ("text", "integer", "rewrite"),
    ("timestamp", "timestamptz", "may"),
])
def test_type_change_verdicts_from_the_known_old_type(old, new, verdict):
    before = f"CREATE TABLE t (c {old});"
    found = only(f"ALTER TABLE t ALTER COLUMN c TYPE {new};", "alter-column-type-rewrite", before=before)
    if verdict is None:
        assert not found
    else:
        assert found and (" may rewrite" in found[0].message) is (verdict == "may")


def test_type_change_with_unknown_old_type_says_may_rewrite():
    found = only("ALTER TABLE t ALTER COLUMN c TYPE text;", "alter-column-type-rewrite")
    assert found and "may rewrite" in found[0].message and "not known" in found[0].message
    assert found[0].severity == "warning"
    known = only("ALTER TABLE t ALTER COLUMN c TYPE bigint;", "alter-column-type-rewrite", before="CREATE TABLE t (c int);")
    assert known[0].severity == "error"
    # a configured severity applies to both verdicts
    assert only("ALTER TABLE t ALTER COLUMN c TYPE text;", "alter-column-type-rewrite",
                severities={"alter-column-type-rewrite": "error"})[0].severity == "error"


def test_model_follows_renames_and_type_changes_across_migrations():
    before = ("CREATE TABLE t (c varchar(10));\nALTER TABLE t RENAME COLUMN c TO d;\n"
              "ALTER TABLE t RENAME TO u;\nALTER TABLE u ALTER COLUMN d TYPE varchar(20);")
    assert not only("ALTER TABLE u ALTER COLUMN d TYPE varchar(30);", "alter-column-type-rewrite", before=before)
    assert only("ALTER TABLE u ALTER COLUMN d TYPE varchar(15);", "alter-column-type-narrowing", before=before)


def test_schema_qualified_and_public_names_are_the_same_table():
    sql = "CREATE TABLE public.orders (id bigint);\nCREATE INDEX orders_id_idx ON orders (id);"
    assert "create-index-non-concurrently" not in rules(sql)
    sql = "CREATE TABLE sales.orders (id bigint);\nCREATE INDEX orders_id_idx ON orders (id);"
    assert "create-index-non-concurrently" in rules(sql)


# ------------------------------------------------------------------ same-file context

def test_table_created_later_in_the_file_is_not_an_excuse():
    sql = "CREATE INDEX orders_id_idx ON orders (id);\nCREATE TABLE orders (id bigint);"
    assert "create-index-non-concurrently" in rules(sql)


def test_foreign_key_to_an_existing_table_from_a_new_one():
    sql = ("CREATE TABLE shipments (order_id bigint);\n"
           "ALTER TABLE shipments ADD CONSTRAINT shipments_order_fk FOREIGN KEY (order_id) REFERENCES orders (id);")
    found = only(sql, "add-foreign-key-without-not-valid")
    assert found and "orders" in found[0].message and "SHARE ROW EXCLUSIVE" in found[0].message


def test_rename_followed_by_a_compatibility_view():
    assert not only("ALTER TABLE shipments RENAME TO deliveries;\nCREATE VIEW shipments AS SELECT * FROM deliveries;",
                    "rename-table-or-schema")


# ------------------------------------------------------------------ rollbacks

def test_rollback_may_drop_what_its_up_script_created():
    up = ("CREATE TABLE coupons (id bigint PRIMARY KEY);\nALTER TABLE orders ADD COLUMN coupon_id bigint;\n"
          "ALTER TABLE orders ADD CONSTRAINT orders_coupon_fk FOREIGN KEY (coupon_id) REFERENCES coupons (id) NOT VALID;")
    down = ("ALTER TABLE orders DROP CONSTRAINT orders_coupon_fk;\nALTER TABLE orders DROP COLUMN coupon_id;\n"
            "DROP TABLE coupons;")
    found = rules(down, up=up)
    assert not {"drop-table", "drop-column", "drop-constraint-integrity"} & set(found), found


def test_rollback_dropping_something_else_is_flagged():
    up = "ALTER TABLE orders ADD COLUMN coupon_id bigint;"
    down = "ALTER TABLE orders DROP COLUMN coupon_id;\nALTER TABLE orders DROP COLUMN note;\nDROP TABLE coupons;"
    found = lint_sql(down, up=up)
    assert [(f.rule, f.line) for f in found if f.rule in ("drop-column", "drop-table")] == [
        ("drop-column", 2), ("drop-table", 3)]


def test_the_same_drops_in_an_up_script_are_flagged():
    assert {"drop-table", "drop-column"} <= set(rules("ALTER TABLE orders DROP COLUMN coupon_id;\nDROP TABLE coupons;"))


def test_rollback_lock_rules_still_apply():
    up = "ALTER TABLE invoices ALTER COLUMN due_on DROP NOT NULL;"
    down = "ALTER TABLE invoices ALTER COLUMN due_on SET NOT NULL;"
    assert "set-not-null" in rules(down, up=up)
    assert "drop-not-null" in rules(up)


def test_rollback_does_not_get_hygiene_findings_for_restoring_old_columns():
    up = "ALTER TABLE orders DROP COLUMN legacy_payload;"
    down = "ALTER TABLE orders ADD COLUMN legacy_payload json;"
    assert "prefer-jsonb-over-json" not in rules(down, up=up)
    assert "prefer-jsonb-over-json" in rules(down)


def test_rollback_of_a_concurrent_index_must_drop_it_concurrently():
    up = "CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_s_idx ON orders (s);"
    assert "drop-index-non-concurrently" in rules("DROP INDEX orders_s_idx;", up=up)
    assert "drop-index-non-concurrently" not in rules("DROP INDEX CONCURRENTLY IF EXISTS orders_s_idx;", up=up)


# ------------------------------------------------------------------ lock timeout

def test_missing_lock_timeout_only_when_the_timeout_is_off():
    sql = "ALTER TABLE orders ADD COLUMN a text;\nALTER TABLE orders ADD COLUMN b text;"
    assert "missing-lock-timeout" not in rules(sql)
    off = only(sql, "missing-lock-timeout", lock_timeout="0")
    assert len(off) == 1 and off[0].line == 1 and 'dbtool.toml sets lock_timeout = "0"' in off[0].message
    assert only("RESET lock_timeout;\nALTER TABLE orders ADD COLUMN a text;", "missing-lock-timeout")
    assert not only("SET LOCAL lock_timeout = '1s';\nALTER TABLE orders ADD COLUMN a text;", "missing-lock-timeout",
                    lock_timeout="0ms")
    # SHARE UPDATE EXCLUSIVE (COMMENT) and new tables need no timeout
    assert not only("COMMENT ON TABLE orders IS 'x';\nCREATE TABLE t (id bigint);\nALTER TABLE t ADD COLUMN a text;",
                    "missing-lock-timeout", lock_timeout="0")


# ------------------------------------------------------------------ not analysed

@pytest.mark.parametrize("sql, kind", [
    ("DO $$ BEGIN PERFORM 1; END $$;", "DO block"),
    ("CREATE POLICY p ON orders USING (true);", "CreatePolicyStmt"),
    ("CALL refresh_everything();", "CALL"),
    ("COPY orders FROM '/tmp/x.csv';", "CopyStmt"),
])
def test_statements_no_rule_understands_are_listed(sql, kind):
    found = only(sql, "not-analysed")
    assert len(found) == 1 and kind in found[0].message and found[0].severity == "info"


@pytest.mark.parametrize("sql", [
    "CREATE TABLE t (id bigint PRIMARY KEY);", "COMMENT ON TABLE orders IS 'x';",
    "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1';", "CREATE TYPE mood AS ENUM ('ok');",
    "CREATE SEQUENCE s;", "CREATE VIEW v AS SELECT 1;", "GRANT SELECT ON orders TO reporting;",
    "CREATE EXTENSION IF NOT EXISTS pgcrypto;", "SET lock_timeout = '1s';", "CREATE SCHEMA IF NOT EXISTS app;",
    "ALTER TABLE orders ALTER COLUMN status SET DEFAULT 'new';", "SELECT 1;",
])
def test_understood_safe_statements_produce_nothing(sql):
    assert lint_sql(sql) == []

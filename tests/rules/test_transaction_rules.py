"""How dbtool's runner runs a file (one transaction, or autocommit) and the rules that depend on it."""

from __future__ import annotations

from dbtool.lint import lint_sql

CIC = "CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_a_idx ON orders (a);"


def rules(sql, **kw):
    return [(f.rule, f.line) for f in lint_sql(sql, **kw)]


def test_concurrent_index_alone_is_clean():
    assert rules(CIC) == []


def test_mixing_a_concurrent_statement_with_transactional_ones():
    found = lint_sql(f"ALTER TABLE orders ADD COLUMN a text;\nUPDATE orders SET a = 'x' WHERE id = 1;\n{CIC}")
    mixed = [f for f in found if f.rule == "mixed-transactional-statements"]
    assert len(mixed) == 1 and mixed[0].line == 3 and mixed[0].severity == "error"
    assert "2 transactional statement(s) at line 1, 2" in mixed[0].message
    # in autocommit the ADD COLUMN is not idempotent either
    assert ("non-idempotent-outside-transaction", 1) in [(f.rule, f.line) for f in found]


def test_concurrently_after_explicit_begin():
    found = rules(f"BEGIN;\n{CIC}\nCOMMIT;")
    assert ("concurrently-in-transaction", 2) in found
    assert ("transaction-control-mismatch", 1) in found and ("transaction-control-mismatch", 3) in found


def test_begin_commit_in_a_wrapped_file():
    found = lint_sql("BEGIN;\nALTER TABLE orders ADD COLUMN a text;\nCOMMIT;")
    msgs = {f.line: f.message for f in found if f.rule == "transaction-control-mismatch"}
    assert "only warns" in msgs[1] and "ends dbtool's transaction early" in msgs[3]


def test_uncommitted_begin_in_an_autocommit_file():
    found = rules(f"{CIC}\nBEGIN;\nUPDATE orders SET a = 'x' WHERE id = 1;")
    assert found.count(("transaction-control-mismatch", 2)) == 2  # BEGIN itself, and never committed


def test_savepoint_needs_a_transaction():
    assert ("transaction-control-mismatch", 2) in rules(f"{CIC}\nSAVEPOINT s;")
    assert rules("SAVEPOINT s;\nALTER TABLE orders ALTER COLUMN a SET DEFAULT 1;\nRELEASE SAVEPOINT s;") == []


def test_validate_in_same_transaction_only_when_the_transaction_is_shared():
    add = "ALTER TABLE s ADD CONSTRAINT s_fk FOREIGN KEY (o) REFERENCES o (id) NOT VALID;"
    val = "ALTER TABLE s VALIDATE CONSTRAINT s_fk;"
    assert ("validate-in-same-transaction", 2) in rules(f"{add}\n{val}")
    # autocommit file: each statement commits on its own
    assert "validate-in-same-transaction" not in [r for r, _ in rules(f"{add}\n{val}\n{CIC}")]


def test_work_after_exclusive_lock_once_per_transaction():
    sql = ("ALTER TABLE orders ADD COLUMN a text;\nUPDATE orders SET a = 'x' WHERE id = 1;\n"
           "UPDATE orders SET a = 'y' WHERE id = 2;")
    found = [f for f in lint_sql(sql) if f.rule == "work-after-exclusive-lock"]
    assert [f.line for f in found] == [2]
    assert "ACCESS EXCLUSIVE lock on orders at line 1" in found[0].message


def test_work_after_exclusive_lock_sees_scans_of_other_tables():
    sql = "ALTER TABLE orders ADD COLUMN a text;\nCREATE INDEX customers_x_idx ON customers (x);"
    assert ("work-after-exclusive-lock", 2) in rules(sql)


def test_cheap_statements_after_a_lock_are_not_work():
    sql = ("ALTER TABLE orders ADD COLUMN a text;\nCOMMENT ON COLUMN orders.a IS 'x';\n"
           "ALTER TABLE orders ALTER COLUMN a SET DEFAULT 'x';\nINSERT INTO audit (what) VALUES ('added a');")
    assert "work-after-exclusive-lock" not in [r for r, _ in rules(sql)]


def test_non_idempotent_forms_in_autocommit():
    sql = "DROP INDEX CONCURRENTLY orders_old_idx;"
    assert rules(sql) == [("non-idempotent-outside-transaction", 1)]
    assert rules("DROP INDEX CONCURRENTLY IF EXISTS orders_old_idx;") == []


def test_set_local_in_an_autocommit_file():
    found = lint_sql(f"SET LOCAL lock_timeout = '1s';\n{CIC}")
    assert [(f.rule, f.line) for f in found] == [("transaction-control-mismatch", 1)]
    assert "no effect" in found[0].message


def test_work_that_locks_the_same_table_as_strongly_is_left_to_its_own_rule():
    sql = "ALTER TABLE p ALTER COLUMN a SET DEFAULT 1;\nALTER TABLE p ALTER COLUMN b TYPE bigint;"
    found = [r for r, _ in rules(sql)]
    assert "alter-column-type-rewrite" in found and "work-after-exclusive-lock" not in found
    # a rewrite of another table while p stays locked is reported
    sql = "ALTER TABLE p ALTER COLUMN a SET DEFAULT 1;\nALTER TABLE q ALTER COLUMN b TYPE bigint;"
    assert ("work-after-exclusive-lock", 2) in rules(sql)

"""add-column-stored-generated: a STORED generated column added to an existing table."""

from pglast import ast

from dbtool import ddl
from dbtool.rules.base import Example, Report, Rule, column_defs


class AddColumnStoredGenerated(Rule):
    id = "add-column-stored-generated"
    severity = "error"
    category = "L"
    summary = "ADD COLUMN ... GENERATED ALWAYS AS (...) STORED computes the value for every row: a table rewrite"
    help = ("on PostgreSQL 18+ use a VIRTUAL generated column (computed on read); before 18 add a plain column, "
            "fill new rows with a trigger and backfill old rows in batches")
    kinds = (ast.AlterTableStmt,)
    bad = (Example("ALTER TABLE line_items ADD COLUMN gross_cents bigint\n"
                   "  GENERATED ALWAYS AS (quantity * unit_cents) STORED;"),)
    ok = (Example("ALTER TABLE line_items ADD COLUMN gross_cents bigint\n"
                  "  GENERATED ALWAYS AS (quantity * unit_cents) VIRTUAL;", target_version=18),
          Example("CREATE TABLE line_items (quantity int, unit_cents bigint);\n"
                  "ALTER TABLE line_items ADD COLUMN gross_cents bigint GENERATED ALWAYS AS (quantity * unit_cents) STORED;",
                  note="table created in the same file"))

    def check(self, stmt, ctx):
        for table, col, _ in column_defs(stmt.node):
            if ctx.is_new(table) or not ddl.stored_generated(col):
                continue
            yield Report(f"ADD COLUMN {col.colname} on {table} is a STORED generated column: its expression is computed for "
                         f"every existing row, rewriting the table under an ACCESS EXCLUSIVE lock, which blocks reads and "
                         f"writes on {table}")


RULE = AddColumnStoredGenerated()

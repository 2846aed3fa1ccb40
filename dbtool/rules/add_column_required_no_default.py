"""add-column-required-no-default: ADD COLUMN ... NOT NULL without a default."""

from pglast import ast

from dbtool import ddl
from dbtool.rules.base import Example, Report, Rule, column_defs


class AddColumnRequiredNoDefault(Rule):
    id = "add-column-required-no-default"
    severity = "error"
    category = "F"
    summary = "ADD COLUMN ... NOT NULL without a DEFAULT fails on any table that has rows"
    help = ("give the column a constant default (metadata-only on 11+), or add it nullable, backfill, "
            "and tighten it later with the CHECK ... NOT VALID pattern")
    kinds = (ast.AlterTableStmt,)
    bad = (Example("ALTER TABLE customers ADD COLUMN loyalty_tier text NOT NULL;"),)
    ok = (Example("ALTER TABLE customers ADD COLUMN loyalty_tier text NOT NULL DEFAULT 'standard';"),
          Example("ALTER TABLE customers ADD COLUMN loyalty_tier text;"),
          Example("CREATE TABLE customers (id bigint);\nALTER TABLE customers ADD COLUMN loyalty_tier text NOT NULL;",
                  note="table created in the same file"))

    def check(self, stmt, ctx):
        for table, col, _ in column_defs(stmt.node):
            if ctx.is_new(table) or not ddl.is_not_null(col):
                continue
            default = ddl.column_default(col)
            if default is not None and not ddl.is_null_const(default):
                continue
            tref = ddl.type_ref(col.typeName)
            if ddl.is_identity(col) or ddl.stored_generated(col) or (tref and tref.name in ddl.SERIAL_TYPES):
                continue
            yield Report(f"ADD COLUMN {col.colname} on {table} is NOT NULL without a default: it fails as soon as {table} has "
                         "a row (after waiting for an ACCESS EXCLUSIVE lock, which blocks reads and writes), and the "
                         "application version still running cannot insert rows without the new column")


RULE = AddColumnRequiredNoDefault()

"""add-unique-constraint: ADD UNIQUE builds its index under ACCESS EXCLUSIVE."""

from pglast import ast
from pglast.enums import ConstrType

from dbtool import ddl
from dbtool.rules.base import Example, Report, Rule, added_constraints, column_defs


class AddUniqueConstraint(Rule):
    id = "add-unique-constraint"
    severity = "error"
    category = "L"
    summary = "ADD CONSTRAINT ... UNIQUE builds the index while reads and writes wait"
    help = ("CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS in its own migration, then "
            "ADD CONSTRAINT ... UNIQUE USING INDEX (a catalog change) in a later one")
    kinds = (ast.AlterTableStmt,)
    bad = (Example("ALTER TABLE customers ADD CONSTRAINT customers_handle_key UNIQUE (handle);"),
           Example("ALTER TABLE customers ADD COLUMN handle text UNIQUE;"))
    ok = (Example("ALTER TABLE customers ADD CONSTRAINT customers_handle_key UNIQUE USING INDEX customers_handle_uidx;"),
          Example("CREATE TABLE customers (handle text);\n"
                  "ALTER TABLE customers ADD CONSTRAINT customers_handle_key UNIQUE (handle);",
                  note="table created in the same file"))

    def check(self, stmt, ctx):
        table = ddl.rel_name(stmt.node.relation)
        if ctx.is_new(table):
            return
        for _, con in added_constraints(stmt.node, ConstrType.CONSTR_UNIQUE):
            if con.indexname:
                continue
            yield Report(f"ADD UNIQUE {con.conname or ''} on {table} builds its index (a full scan and sort) under an ACCESS "
                         f"EXCLUSIVE lock, which blocks reads and writes on {table}, and fails on existing duplicates")
        for _, col, _ in column_defs(stmt.node):
            if ddl.constraints_of(col, ConstrType.CONSTR_UNIQUE):
                yield Report(f"ADD COLUMN {col.colname} UNIQUE on {table} builds a unique index under an ACCESS EXCLUSIVE "
                             f"lock, which blocks reads and writes on {table}")


RULE = AddUniqueConstraint()

"""add-check-without-not-valid: ADD CHECK verifies every row under ACCESS EXCLUSIVE."""

from pglast import ast
from pglast.enums import ConstrType

from dbtool import ddl
from dbtool.rules.base import Example, Report, Rule, added_constraints, column_defs


class AddCheckWithoutNotValid(Rule):
    id = "add-check-without-not-valid"
    severity = "error"
    category = "L"
    summary = "ADD CONSTRAINT ... CHECK without NOT VALID scans the table while reads and writes wait"
    help = "add it with NOT VALID, then ALTER TABLE ... VALIDATE CONSTRAINT in a later migration (SHARE UPDATE EXCLUSIVE)"
    kinds = (ast.AlterTableStmt,)
    bad = (Example("ALTER TABLE shipments ADD CONSTRAINT shipments_weight_positive CHECK (weight_grams > 0);"),
           Example("ALTER TABLE shipments ADD CONSTRAINT shipments_weight_nn NOT NULL weight_grams;", target_version=18))
    ok = (Example("ALTER TABLE shipments ADD CONSTRAINT shipments_weight_positive CHECK (weight_grams > 0) NOT VALID;"),
          Example("CREATE TABLE shipments (weight_grams int);\n"
                  "ALTER TABLE shipments ADD CONSTRAINT shipments_weight_positive CHECK (weight_grams > 0);",
                  note="table created in the same file"))

    def check(self, stmt, ctx):
        table = ddl.rel_name(stmt.node.relation)
        if ctx.is_new(table):
            return
        for _, con in added_constraints(stmt.node, ConstrType.CONSTR_CHECK, ConstrType.CONSTR_NOTNULL):
            if con.skip_validation:
                continue
            kind = "CHECK" if con.contype == ConstrType.CONSTR_CHECK else "NOT NULL"
            yield Report(f"ADD {kind} {con.conname or ''} on {table} verifies every row under an ACCESS EXCLUSIVE lock, "
                         f"which blocks reads and writes on {table} for the whole scan, and fails on the first bad row")
        for _, col, _ in column_defs(stmt.node):
            if ddl.constraints_of(col, ConstrType.CONSTR_CHECK):
                yield Report(f"ADD COLUMN {col.colname} with a CHECK on {table} verifies every row under an ACCESS "
                             f"EXCLUSIVE lock, which blocks reads and writes on {table}",
                             help="add the column, then its CHECK as a separate NOT VALID constraint, and VALIDATE later")


RULE = AddCheckWithoutNotValid()

"""set-not-null: SET NOT NULL on an existing column scans the table under ACCESS EXCLUSIVE."""

from pglast import ast
from pglast.enums import AlterTableType as AT

from dbtool import ddl
from dbtool.rules.base import Example, Report, Rule, alter_cmds


class SetNotNull(Rule):
    id = "set-not-null"
    severity = "error"
    category = "L"
    summary = "ALTER COLUMN ... SET NOT NULL scans the whole table under ACCESS EXCLUSIVE"
    help = ("PostgreSQL 12-17: ADD CONSTRAINT ... CHECK (col IS NOT NULL) NOT VALID, VALIDATE CONSTRAINT in a later "
            "migration, then SET NOT NULL (no scan) and drop the check; 18+: ADD CONSTRAINT ... NOT NULL col NOT VALID, "
            "then VALIDATE CONSTRAINT")
    kinds = (ast.AlterTableStmt,)
    bad = (Example("ALTER TABLE invoices ALTER COLUMN due_on SET NOT NULL;"),
           Example("ALTER TABLE invoices ALTER COLUMN due_on SET NOT NULL;", target_version=11,
                   before="ALTER TABLE invoices ADD CONSTRAINT invoices_due_on_present CHECK (due_on IS NOT NULL);",
                   note="before 12 a validated CHECK does not skip the scan"))
    ok = (Example("ALTER TABLE invoices ALTER COLUMN due_on SET NOT NULL;\n"
                  "ALTER TABLE invoices DROP CONSTRAINT invoices_due_on_present;",
                  before="ALTER TABLE invoices ADD CONSTRAINT invoices_due_on_present CHECK (due_on IS NOT NULL) NOT VALID;\n"
                         "ALTER TABLE invoices VALIDATE CONSTRAINT invoices_due_on_present;",
                  note="12+: a validated CHECK proves the column non-null"),
          Example("CREATE TABLE invoices (due_on date);\nALTER TABLE invoices ALTER COLUMN due_on SET NOT NULL;",
                  note="table created in the same file"))

    def check(self, stmt, ctx):
        table = ddl.rel_name(stmt.node.relation)
        if ctx.is_new(table):
            return
        for cmd in alter_cmds(stmt.node, AT.AT_SetNotNull):
            if ctx.target_version >= 12 and ctx.proves_not_null(table, cmd.name):
                continue
            t = ctx.model.table(table)
            if t is not None and cmd.name in t.not_null:
                continue
            yield Report(f"SET NOT NULL on {table}.{cmd.name} scans every row under an ACCESS EXCLUSIVE lock, which blocks "
                         f"reads and writes on {table} for the whole scan, and fails if a NULL remains")


RULE = SetNotNull()

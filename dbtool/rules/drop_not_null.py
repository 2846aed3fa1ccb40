"""drop-not-null: DROP NOT NULL lets NULLs into a column readers assume is filled."""

from pglast import ast
from pglast.enums import AlterTableType as AT

from dbtool import ddl
from dbtool.rules.base import Example, Report, Rule, alter_cmds


class DropNotNull(Rule):
    id = "drop-not-null"
    severity = "warning"
    category = "B"
    summary = "DROP NOT NULL breaks readers that assume a value, and makes the rollback (SET NOT NULL) a scan that may fail"
    help = ("keep the guarantee (use a sentinel default), or ship NULL-safe readers first and write the down step "
            "with the CHECK ... NOT VALID pattern")
    kinds = (ast.AlterTableStmt,)
    bad = (Example("ALTER TABLE invoices ALTER COLUMN due_on DROP NOT NULL;"),)
    ok = (Example("ALTER TABLE invoices ALTER COLUMN due_on SET DEFAULT DATE '9999-12-31';"),
          Example("ALTER TABLE invoices ALTER COLUMN due_on DROP NOT NULL;",
                  up="ALTER TABLE invoices ALTER COLUMN due_on SET NOT NULL;",
                  note="a rollback undoing its up-script's SET NOT NULL"))

    def check(self, stmt, ctx):
        table = ddl.rel_name(stmt.node.relation)
        if ctx.is_new(table):
            return
        for cmd in alter_cmds(stmt.node, AT.AT_DropNotNull):
            if ctx.up is not None and ((ddl.norm(table), cmd.name) in ctx.up.not_null or ddl.norm(table) in ctx.up.tables
                                       or (ddl.norm(table), cmd.name) in ctx.up.columns):
                continue
            yield Report(f"DROP NOT NULL on {table}.{cmd.name}: code that assumed a value breaks once NULLs are written, and "
                         "putting the constraint back is a full scan under ACCESS EXCLUSIVE that fails on those NULLs")


RULE = DropNotNull()

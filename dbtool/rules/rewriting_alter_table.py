"""rewriting-alter-table: SET TABLESPACE / LOGGED / UNLOGGED / ACCESS METHOD copy the whole table."""

from pglast import ast
from pglast.enums import AlterTableType as AT

from dbtool import ddl
from dbtool.rules.base import Example, Report, Rule, alter_cmds

_FORMS = {AT.AT_SetTableSpace: "SET TABLESPACE", AT.AT_SetLogged: "SET LOGGED", AT.AT_SetUnLogged: "SET UNLOGGED",
          AT.AT_SetAccessMethod: "SET ACCESS METHOD", AT.AT_SetExpression: "SET EXPRESSION"}


class RewritingAlterTable(Rule):
    id = "rewriting-alter-table"
    severity = "error"
    category = "L"
    summary = ("ALTER TABLE ... SET TABLESPACE / SET LOGGED / SET UNLOGGED / SET ACCESS METHOD / ALTER COLUMN ... "
               "SET EXPRESSION copies the table")
    help = "build the replacement beside the original and switch over (expand/contract), or use a maintenance window"
    kinds = (ast.AlterTableStmt,)
    bad = (Example("ALTER TABLE events SET TABLESPACE fast_ssd;"), Example("ALTER TABLE events SET LOGGED;"),
           Example("ALTER TABLE line_items ALTER COLUMN gross_cents SET EXPRESSION AS (quantity * unit_cents * 2);",
                   target_version=17, note="a stored generated column is recomputed for every row"))
    ok = (Example("CREATE TABLE events_new (LIKE events INCLUDING ALL) TABLESPACE fast_ssd;"),
          Example("CREATE TABLE events (id bigint);\nALTER TABLE events SET UNLOGGED;", note="table created in the same file"))

    def check(self, stmt, ctx):
        table = ddl.rel_name(stmt.node.relation)
        if ctx.is_new(table):
            return
        for cmd in alter_cmds(stmt.node, *_FORMS):
            yield Report(f"{_FORMS[cmd.subtype]} copies {table} and rebuilds its indexes under an ACCESS EXCLUSIVE lock, "
                         f"which blocks reads and writes on {table} for the whole copy")


RULE = RewritingAlterTable()

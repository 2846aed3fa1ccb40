"""drop-column: DROP COLUMN loses the data and breaks code that still selects it."""

from pglast import ast
from pglast.enums import AlterTableType as AT

from dbtool import ddl
from dbtool.rules.base import Example, Report, Rule, alter_cmds


class DropColumn(Rule):
    id = "drop-column"
    severity = "error"
    category = "D"
    summary = "DROP COLUMN deletes the column's data; code (and ORMs caching column lists) still using it fails"
    help = ("ship a release that no longer reads or writes the column, then drop it in a later one and acknowledge "
            "with -- dbtool: ignore drop-column -- <reason>")
    kinds = (ast.AlterTableStmt,)
    bad = (Example("ALTER TABLE customers DROP COLUMN fax_number;"),)
    ok = (Example("-- dbtool: ignore drop-column -- unused since release 12\n"
                  "ALTER TABLE customers DROP COLUMN IF EXISTS fax_number;"),
          Example("ALTER TABLE customers DROP COLUMN fax_number;", up="ALTER TABLE customers ADD COLUMN fax_number text;",
                  note="a rollback dropping the column its up-script added"),
          Example("CREATE TABLE customers (id bigint, fax_number text);\nALTER TABLE customers DROP COLUMN fax_number;",
                  note="table created in the same file"))

    def check(self, stmt, ctx):
        table = ddl.rel_name(stmt.node.relation)
        if ctx.is_new(table) or (ctx.up is not None and ddl.norm(table) in ctx.up.tables):
            return
        for cmd in alter_cmds(stmt.node, AT.AT_DropColumn):
            if ctx.up is not None and (ddl.norm(table), cmd.name) in ctx.up.columns:
                continue
            yield Report(f"DROP COLUMN {cmd.name} on {table} deletes its data for good; the ACCESS EXCLUSIVE lock is brief "
                         "(no rewrite), but the application version still selecting or writing the column fails")


RULE = DropColumn()

"""rename-column: RENAME COLUMN breaks the application version still using the old name."""

from pglast import ast
from pglast.enums import ObjectType as OT

from dbtool import ddl
from dbtool.rules.base import Example, Report, Rule


class RenameColumn(Rule):
    id = "rename-column"
    severity = "warning"
    category = "B"
    summary = "RENAME COLUMN breaks every query of the application version still running during the deploy"
    help = ("keep the column name and rename in the application (ORM mapping), or add the new column, sync it with a "
            "trigger, backfill, switch the code, and drop the old column later")
    kinds = (ast.RenameStmt,)
    bad = (Example("ALTER TABLE customers RENAME COLUMN full_name TO display_name;"),)
    ok = (Example("ALTER TABLE customers ADD COLUMN display_name text;"),
          Example("ALTER TABLE customers RENAME COLUMN display_name TO full_name;",
                  up="ALTER TABLE customers RENAME COLUMN full_name TO display_name;",
                  note="a rollback undoing its up-script's rename"),
          Example("CREATE TABLE customers (full_name text);\nALTER TABLE customers RENAME COLUMN full_name TO display_name;",
                  note="table created in the same file"))

    def check(self, stmt, ctx):
        n = stmt.node
        if n.renameType != OT.OBJECT_COLUMN or n.relation is None:
            return
        table = ddl.rel_name(n.relation)
        if ctx.is_new(table):
            return
        if ctx.up is not None and (ctx.up.renamed_columns.get((ddl.norm(table), n.subname)) == n.newname
                                   or ddl.norm(table) in ctx.up.tables):
            return
        yield Report(f"RENAME COLUMN {n.subname} TO {n.newname} on {table}: the application version still running uses "
                     f"{n.subname} and fails from commit on (the ACCESS EXCLUSIVE lock itself is brief)")


RULE = RenameColumn()

"""drop-schema-or-database: DROP SCHEMA / DROP DATABASE in a migration."""

from pglast import ast
from pglast.enums import DropBehavior, ObjectType as OT

from dbtool import ddl
from dbtool.rules.base import Example, Report, Rule


class DropSchemaOrDatabase(Rule):
    id = "drop-schema-or-database"
    severity = "error"
    category = "D"
    summary = "DROP SCHEMA (especially CASCADE) or DROP DATABASE deletes everything inside"
    help = "DROP SCHEMA ... RESTRICT (the default) after making sure it is empty; never drop databases from a migration"
    kinds = (ast.DropStmt, ast.DropdbStmt)
    bad = (Example("DROP SCHEMA reporting CASCADE;"), Example("DROP DATABASE analytics;"))
    ok = (Example("DROP SCHEMA IF EXISTS reporting RESTRICT;"),
          Example("DROP SCHEMA reporting CASCADE;", up="CREATE SCHEMA reporting;",
                  note="a rollback dropping the schema its up-script created"))

    def check(self, stmt, ctx):
        n = stmt.node
        if isinstance(n, ast.DropdbStmt):
            yield Report(f"DROP DATABASE {n.dbname} deletes a whole database from a schema migration")
            return
        if n.removeType != OT.OBJECT_SCHEMA or n.behavior != DropBehavior.DROP_CASCADE:
            return
        for obj in n.objects or ():
            name = ddl.qual_name(obj)
            if ctx.up is not None and name in ctx.up.schemas:
                continue
            yield Report(f"DROP SCHEMA {name} CASCADE deletes every table, view and function in it, with their data, and "
                         "hides how much that is")


RULE = DropSchemaOrDatabase()

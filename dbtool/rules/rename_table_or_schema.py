"""rename-table-or-schema: renaming a table (or moving it to another schema) breaks running code."""

from pglast import ast
from pglast.enums import ObjectType as OT

from dbtool import ddl
from dbtool.rules.base import Example, Report, Rule

_RELATIONS = (OT.OBJECT_TABLE, OT.OBJECT_VIEW, OT.OBJECT_MATVIEW)


def _view_keeps_old_name(ctx, stmt, old: str) -> bool:
    """A CREATE VIEW with the old name later in the same file keeps old queries working (Atlas does the same)."""
    for later in ctx.script.statements[stmt.index + 1:]:
        if isinstance(later.node, ast.ViewStmt) and ddl.norm(ddl.rel_name(later.node.view)) == ddl.norm(old):
            return True
    return False


class RenameTableOrSchema(Rule):
    id = "rename-table-or-schema"
    severity = "warning"
    category = "B"
    summary = "RENAME TO / SET SCHEMA on a table, or ALTER SCHEMA ... RENAME, breaks queries of the running application"
    help = ("rename and create a view with the old name in the same migration (simple views are updatable); drop "
            "the view once no code uses the old name")
    kinds = (ast.RenameStmt, ast.AlterObjectSchemaStmt)
    bad = (Example("ALTER TABLE shipments RENAME TO deliveries;"), Example("ALTER TABLE shipments SET SCHEMA logistics;"),
           Example("ALTER SCHEMA sales RENAME TO commerce;"))
    ok = (Example("ALTER TABLE shipments RENAME TO deliveries;\nCREATE VIEW shipments AS SELECT * FROM deliveries;"),
          Example("ALTER TABLE deliveries RENAME TO shipments;", up="ALTER TABLE shipments RENAME TO deliveries;",
                  note="a rollback undoing its up-script's rename"))

    def check(self, stmt, ctx):
        n = stmt.node
        if isinstance(n, ast.AlterObjectSchemaStmt):
            if n.objectType in _RELATIONS and n.relation is not None:
                old = ddl.rel_name(n.relation)
                if not ctx.is_new(old) and not _view_keeps_old_name(ctx, stmt, old):
                    yield Report(f"SET SCHEMA {n.newschema} moves {old}: queries of the running application that name it "
                                 "fail from commit on (ACCESS EXCLUSIVE lock, brief)")
            return
        if n.renameType == OT.OBJECT_SCHEMA:
            yield Report(f"ALTER SCHEMA {n.subname} RENAME TO {n.newname}: every query naming the schema fails from commit on")
            return
        if n.renameType not in _RELATIONS or n.relation is None:
            return
        old = ddl.rel_name(n.relation)
        if ctx.is_new(old) or _view_keeps_old_name(ctx, stmt, old):
            return
        if ctx.up is not None:
            new = ddl.norm(f"{n.relation.schemaname}.{n.newname}" if n.relation.schemaname else n.newname)
            if ctx.up.renamed_tables.get(ddl.norm(old)) == new or ddl.norm(old) in ctx.up.tables:
                return
        yield Report(f"RENAME {old} TO {n.newname}: the application version still running queries {old} and fails from "
                     "commit on (the ACCESS EXCLUSIVE lock itself is brief)")


RULE = RenameTableOrSchema()

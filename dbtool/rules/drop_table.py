"""drop-table: DROP TABLE loses the data."""

from pglast import ast
from pglast.enums import DropBehavior, ObjectType as OT

from dbtool import ddl
from dbtool.rules.base import Example, Report, Rule


class DropTable(Rule):
    id = "drop-table"
    severity = "error"
    category = "D"
    summary = "DROP TABLE deletes the table and its data for good; code still using it fails"
    help = ("stop using the table in a release first, park it (ALTER TABLE ... SET SCHEMA graveyard), drop it in a "
            "later release and acknowledge with -- dbtool: ignore drop-table -- <reason>")
    kinds = (ast.DropStmt,)
    bad = (Example("DROP TABLE legacy_coupons;"),
           Example("DROP TABLE coupons;", up="ALTER TABLE coupons ADD COLUMN note text;",
                   note="a rollback dropping a table its up-script did not create"))
    ok = (Example("-- dbtool: ignore drop-table -- unused since release 41, parked in graveyard since 42\n"
                  "DROP TABLE IF EXISTS graveyard.legacy_coupons;"),
          Example("DROP TABLE coupons;", up="CREATE TABLE coupons (id bigint PRIMARY KEY);",
                  note="a rollback dropping the table its up-script created"),
          Example("CREATE TABLE tmp_ids (id bigint);\nDROP TABLE tmp_ids;", note="table created in the same file"))

    def check(self, stmt, ctx):
        n = stmt.node
        if n.removeType not in (OT.OBJECT_TABLE, OT.OBJECT_FOREIGN_TABLE):
            return
        lost = []
        for obj in n.objects or ():
            name = ddl.qual_name(obj)
            if ctx.is_new(name) or (ctx.up is not None and ddl.norm(name) in ctx.up.tables):
                continue
            lost.append(name)
        if lost:
            cascade = " (CASCADE also drops the views and foreign keys that depend on it)" if n.behavior == DropBehavior.DROP_CASCADE else ""
            yield Report(f"DROP TABLE {', '.join(lost)} deletes the table and all its rows{cascade}; it takes an ACCESS "
                         "EXCLUSIVE lock, and any application version still querying it fails")


RULE = DropTable()

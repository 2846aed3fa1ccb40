"""drop-index-non-concurrently: DROP INDEX without CONCURRENTLY takes ACCESS EXCLUSIVE on the table."""

from pglast import ast
from pglast.enums import ObjectType as OT

from dbtool import ddl
from dbtool.rules.base import Example, Report, Rule


class DropIndexNonConcurrently(Rule):
    id = "drop-index-non-concurrently"
    severity = "warning"
    category = "L"
    summary = "DROP INDEX without CONCURRENTLY takes ACCESS EXCLUSIVE on the index's table and queues behind queries"
    help = ("DROP INDEX CONCURRENTLY IF EXISTS ... alone in its migration file (one index per statement, no CASCADE; "
            "not for indexes that back a constraint)")
    kinds = (ast.DropStmt,)
    bad = (Example("DROP INDEX orders_legacy_status_idx;"),
           Example("DROP INDEX orders_status_idx;", up="CREATE INDEX CONCURRENTLY orders_status_idx ON orders (status);",
                   note="a rollback of an index the up-script built concurrently, so the table is live"))
    ok = (Example("DROP INDEX CONCURRENTLY IF EXISTS orders_legacy_status_idx;"),
          Example("CREATE TABLE t (a int);\nCREATE INDEX t_a_idx ON t (a);\nDROP INDEX t_a_idx;",
                  note="index created in the same file"),
          Example("DROP INDEX orders_status_idx;", up="CREATE INDEX orders_status_idx ON orders (status);",
                  note="a rollback mirroring a plain CREATE INDEX of its up-script"))

    def check(self, stmt, ctx):
        n = stmt.node
        if n.removeType != OT.OBJECT_INDEX or n.concurrent:
            return
        for obj in n.objects or ():
            name = ddl.norm(ddl.qual_name(obj))
            if ctx.is_new_index(name):
                continue
            if ctx.up is not None and ctx.up.indexes.get(name) is False:
                continue
            yield Report(f"DROP INDEX {ddl.qual_name(obj)} takes an ACCESS EXCLUSIVE lock on its table, which blocks reads "
                         "and writes; it is brief once granted, but waits behind every running query and everything "
                         "queued after it waits too")


RULE = DropIndexNonConcurrently()

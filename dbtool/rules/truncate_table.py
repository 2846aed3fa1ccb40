"""truncate-table: TRUNCATE deletes every row, CASCADE also of every referencing table."""

from pglast import ast
from pglast.enums import DropBehavior

from dbtool import ddl
from dbtool.rules.base import Example, Report, Rule


class TruncateTable(Rule):
    id = "truncate-table"
    severity = "error"
    category = "D"
    summary = "TRUNCATE deletes every row at once (CASCADE also empties every table that references it)"
    help = ("list the tables explicitly and never use CASCADE; for live tables delete in batches; acknowledge an "
            "intended truncate with -- dbtool: ignore truncate-table -- <reason>")
    kinds = (ast.TruncateStmt,)
    bad = (Example("TRUNCATE customers CASCADE;"), Example("TRUNCATE staging_customer_import;"))
    ok = (Example("-- dbtool: ignore truncate-table -- staging tables are rebuilt nightly\n"
                  "TRUNCATE staging_customer_import, staging_order_import;"),
          Example("CREATE TABLE scratch (id bigint);\nTRUNCATE scratch;", note="table created in the same file"))

    def check(self, stmt, ctx):
        n = stmt.node
        tables = [ddl.rel_name(r) for r in n.relations or () if not ctx.is_new(ddl.rel_name(r))]
        if not tables:
            return
        cascade = n.behavior == DropBehavior.DROP_CASCADE
        yield Report(f"TRUNCATE {', '.join(tables)} deletes every row{' of every table that references them (CASCADE, transitively)' if cascade else ''}, "
                     "with no way back once committed; it takes an ACCESS EXCLUSIVE lock, which blocks reads and writes")


RULE = TruncateTable()

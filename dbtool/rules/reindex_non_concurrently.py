"""reindex-non-concurrently: REINDEX without CONCURRENTLY stalls the table's queries."""

from pglast import ast

from dbtool.rules.base import Example, Report, Rule


class ReindexNonConcurrently(Rule):
    id = "reindex-non-concurrently"
    severity = "error"
    category = "L"
    summary = "REINDEX without CONCURRENTLY blocks writes, and the index's ACCESS EXCLUSIVE lock stalls query planning"
    help = "REINDEX ... CONCURRENTLY (PostgreSQL 12+) alone in its migration file (dbtool runs it outside a transaction)"
    kinds = (ast.ReindexStmt,)
    bad = (Example("REINDEX TABLE orders;"), Example("REINDEX INDEX orders_placed_at_idx;", target_version=11))
    ok = (Example("REINDEX TABLE CONCURRENTLY orders;", target_version=12),
          Example("CREATE TABLE orders (id bigint PRIMARY KEY);\nREINDEX TABLE orders;", note="table created in the same file"))

    def check(self, stmt, ctx):
        n = stmt.node
        if any((getattr(p, "defname", "") or "").lower() == "concurrently" for p in n.params or ()):
            return
        for e in ctx.existing_effects(stmt):
            how = ("use REINDEX ... CONCURRENTLY" if ctx.target_version >= 12 else
                   f"REINDEX CONCURRENTLY needs PostgreSQL 12 (target_version is {ctx.target_version}): build a "
                   "replacement with CREATE INDEX CONCURRENTLY and drop the old index concurrently")
            yield Report(f"REINDEX takes a SHARE lock on {e.target}, which blocks writes, and an ACCESS EXCLUSIVE lock on "
                         "each index being rebuilt, which planning of every query on the table needs: reads and writes "
                         "stall until it finishes", help=how)


RULE = ReindexNonConcurrently()

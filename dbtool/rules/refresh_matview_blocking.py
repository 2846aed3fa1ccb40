"""refresh-matview-blocking: REFRESH MATERIALIZED VIEW without CONCURRENTLY blocks its readers."""

from pglast import ast

from dbtool import ddl
from dbtool.rules.base import Example, Report, Rule


class RefreshMatviewBlocking(Rule):
    id = "refresh-matview-blocking"
    severity = "warning"
    category = "L"
    summary = "REFRESH MATERIALIZED VIEW without CONCURRENTLY blocks every reader of the view for the whole refresh"
    help = "REFRESH MATERIALIZED VIEW CONCURRENTLY (needs a unique index on the view; takes EXCLUSIVE, reads continue)"
    kinds = (ast.RefreshMatViewStmt,)
    bad = (Example("REFRESH MATERIALIZED VIEW daily_revenue;"),)
    ok = (Example("REFRESH MATERIALIZED VIEW CONCURRENTLY daily_revenue;"),
          Example("CREATE MATERIALIZED VIEW daily_revenue AS SELECT 1 AS day WITH NO DATA;\n"
                  "REFRESH MATERIALIZED VIEW daily_revenue;", note="view created in the same file"))

    def check(self, stmt, ctx):
        n = stmt.node
        view = ddl.rel_name(n.relation)
        if n.concurrent or n.skipData or ctx.is_new(view):
            return
        yield Report(f"REFRESH MATERIALIZED VIEW {view} recomputes it under an ACCESS EXCLUSIVE lock, which blocks every "
                     "read of the view until the refresh is done")


RULE = RefreshMatviewBlocking()

"""concurrent-index-failure-leftover: CREATE INDEX CONCURRENTLY that a retry cannot repeat cleanly."""

from pglast import ast

from dbtool.rules.base import Example, Report, Rule


class ConcurrentIndexFailureLeftover(Rule):
    id = "concurrent-index-failure-leftover"
    severity = "warning"
    category = "F"
    summary = "CREATE INDEX CONCURRENTLY without a name or IF NOT EXISTS: a failed build leaves an INVALID index behind"
    help = ("name the index and write CREATE INDEX CONCURRENTLY IF NOT EXISTS; after a failure drop the INVALID "
            "leftover (pg_index.indisvalid = false) with DROP INDEX CONCURRENTLY before running again")
    kinds = (ast.IndexStmt,)
    bad = (Example("CREATE UNIQUE INDEX CONCURRENTLY ON customers (lower(email));"),
           Example("CREATE INDEX CONCURRENTLY orders_placed_at_idx ON orders (placed_at);"))
    ok = (Example("CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS customers_email_lower_uidx ON customers (lower(email));"),)

    def check(self, stmt, ctx):
        n = stmt.node
        if not n.concurrent:
            return
        if not n.idxname:
            yield Report(f"CREATE INDEX CONCURRENTLY on {n.relation.relname} has no name: a failed build leaves an INVALID "
                         "index (which still slows every write) and a retry builds a second one beside it")
        elif not n.if_not_exists:
            yield Report(f"CREATE INDEX CONCURRENTLY {n.idxname} has no IF NOT EXISTS: it runs outside a transaction, so a "
                         "failed or interrupted build leaves the index behind (INVALID) and the retry fails with "
                         "\"already exists\"")


RULE = ConcurrentIndexFailureLeftover()

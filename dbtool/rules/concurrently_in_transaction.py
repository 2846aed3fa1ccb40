"""concurrently-in-transaction: a statement that cannot run in a transaction block, inside one."""

from pglast import ast

from dbtool.rules.base import Example, Report, Rule
from dbtool.sql import requires_autocommit


class ConcurrentlyInTransaction(Rule):
    id = "concurrently-in-transaction"
    severity = "error"
    category = "T"
    summary = "CONCURRENTLY (or VACUUM, ALTER SYSTEM, ...) inside an explicit BEGIN ... COMMIT fails on the server"
    help = ("remove BEGIN/COMMIT: dbtool runs a file whose statements cannot run in a transaction outside one; "
            "keep that statement alone in its migration file")
    bad = (Example("BEGIN;\nALTER TABLE orders ADD COLUMN channel text;\n"
                   "CREATE INDEX CONCURRENTLY orders_channel_idx ON orders (channel);\nCOMMIT;"),)
    ok = (Example("CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_channel_idx ON orders (channel);"),)

    def check(self, stmt, ctx):
        if isinstance(stmt.node, ast.TransactionStmt) or not requires_autocommit(stmt.node):
            return
        if ctx.in_transaction(stmt):
            yield Report(f"{stmt.kind} cannot run inside a transaction block, and this one follows an explicit BEGIN: "
                         "PostgreSQL refuses it with \"cannot run inside a transaction block\" and the deploy stops there")


RULE = ConcurrentlyInTransaction()

"""mixed-transactional-statements: a statement that must run outside a transaction, with others in one file."""

from pglast import ast

from dbtool.rules.base import Example, Report, Rule
from dbtool.sql import requires_autocommit

_HARMLESS = (ast.VariableSetStmt, ast.VariableShowStmt, ast.TransactionStmt)


class MixedTransactionalStatements(Rule):
    id = "mixed-transactional-statements"
    severity = "error"
    category = "T"
    summary = "A statement that cannot run in a transaction shares its file with transactional ones, which lose atomicity"
    help = ("move it into a migration file of its own (dbtool runs that file outside a transaction, everything else "
            "in one)")
    bad = (Example("ALTER TABLE orders ADD COLUMN coupon_code text;\n"
                   "CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_coupon_code_idx ON orders (coupon_code);"),)
    ok = (Example("CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_coupon_code_idx ON orders (coupon_code);"),
          Example("SET statement_timeout = '30min';\n"
                  "CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_coupon_code_idx ON orders (coupon_code);",
                  note="session settings are not work"),
          Example("CREATE INDEX CONCURRENTLY IF NOT EXISTS a_idx ON orders (a);\n"
                  "CREATE INDEX CONCURRENTLY IF NOT EXISTS b_idx ON orders (b);",
                  note="only non-transactional statements (non-idempotent-outside-transaction checks re-runs)"))

    def check(self, stmt, ctx):
        if ctx.wrapped or ctx.state.get(self.id) or not requires_autocommit(stmt.node):
            return
        others = [s for s in ctx.script.statements
                  if not isinstance(s.node, _HARMLESS) and not requires_autocommit(s.node)]
        if not others:
            return
        ctx.state[self.id] = True
        lines = ", ".join(str(s.line) for s in others[:5]) + (", ..." if len(others) > 5 else "")
        yield Report(f"{stmt.kind} cannot run in a transaction, so dbtool runs this whole file statement by statement in "
                     f"autocommit: the {len(others)} transactional statement(s) at line {lines} are no longer atomic, and a "
                     "failure leaves part of the migration applied")


RULE = MixedTransactionalStatements()

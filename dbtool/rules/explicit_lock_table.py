"""explicit-lock-table: LOCK TABLE in a migration."""

from pglast import ast

from dbtool.rules.base import Example, Report, Rule, lock_text


class ExplicitLockTable(Rule):
    id = "explicit-lock-table"
    severity = "warning"
    category = "L"
    summary = "LOCK TABLE holds its lock (ACCESS EXCLUSIVE by default) until the migration commits"
    help = "avoid it; if a lock is truly needed, use the weakest mode that works, with NOWAIT or a short lock_timeout"
    kinds = (ast.LockStmt,)
    bad = (Example("LOCK TABLE orders;"), Example("LOCK TABLE orders IN SHARE MODE;"))
    ok = (Example("LOCK TABLE orders IN ACCESS SHARE MODE;", note="the weakest mode blocks nobody"),
          Example("CREATE TABLE orders (id bigint);\nLOCK TABLE orders;", note="table created in the same file"))

    def check(self, stmt, ctx):
        for e in ctx.existing_effects(stmt):
            if e.blocks == "nothing":
                continue
            yield Report(f"LOCK TABLE takes an {lock_text(e)}, held until the migration commits, so every statement "
                         "after it extends the outage")


RULE = ExplicitLockTable()

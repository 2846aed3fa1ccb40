"""work-after-exclusive-lock: slow work in the transaction that already holds a strong lock."""

from pglast import ast

from dbtool import ddl, locks
from dbtool.rules.base import Example, Report, Rule


def _is_work(stmt, ctx) -> str | None:
    """Why the statement is slow work on existing data, or None."""
    n = stmt.node
    if isinstance(n, (ast.UpdateStmt, ast.DeleteStmt, ast.MergeStmt)):
        return f"{stmt.kind.replace('Stmt', '').upper()} of existing rows"
    if isinstance(n, ast.InsertStmt) and isinstance(n.selectStmt, ast.SelectStmt) and n.selectStmt.fromClause:
        return "INSERT ... SELECT"
    for e in ctx.existing_effects(stmt):
        if e.rewrites:
            return f"a rewrite of {e.target}"
        if e.scans and e.lock != locks.ROW_EXCLUSIVE:
            return f"a scan of {e.target}"
    return None


class WorkAfterExclusiveLock(Rule):
    id = "work-after-exclusive-lock"
    severity = "warning"
    category = "L"
    summary = "Slow work after a statement that took a strong lock keeps that lock for the whole transaction"
    help = ("put the lock-taking DDL in its own migration (each file is its own transaction) and run backfills and "
            "other slow work in a later one; or keep the locking DDL last in its file")
    bad = (Example("ALTER TABLE orders ADD COLUMN channel text;\nUPDATE orders SET channel = 'web';"),)
    ok = (Example("ALTER TABLE orders ADD COLUMN channel text;"),
          Example("UPDATE orders SET channel = 'web' WHERE id BETWEEN 1 AND 5000;\n"
                  "ALTER TABLE orders ADD COLUMN channel text;", note="locking DDL last"),
          Example("CREATE TABLE orders (id bigint);\nALTER TABLE orders ADD COLUMN channel text;\n"
                  "UPDATE orders SET channel = 'web';", note="table created in the same file"))

    def check(self, stmt, ctx):
        held = ctx.state.setdefault(self.id, {})  # tx -> (statement, effect) of the first strong lock
        tx = ctx.tx_of(stmt)
        if tx is None:
            return
        first = held.get(tx)
        if first is not None and first is not False:
            why = _is_work(stmt, ctx)
            s0, e0 = first
            # Work that itself takes as strong a lock on the same table blocks the same traffic anyway, and its own
            # rule reports it.
            own = [e for e in ctx.existing_effects(stmt) if ddl.norm(e.table) == ddl.norm(e0.table)
                   and locks.at_least(e.lock, e0.lock)]
            if why and not own:
                held[tx] = False  # once per transaction
                s0, e = first
                yield Report(f"{why} runs in the transaction that took an {e.lock} lock on {e.target} at line {s0.line}; "
                             f"that lock is held until commit, so {e.blocks} on {e.target} stay blocked while this runs")
                return
        if tx not in held:
            for e in ctx.existing_effects(stmt):
                if e.table and locks.at_least(e.lock, locks.SHARE_ROW_EXCLUSIVE) and e.blocks != "nothing":
                    held[tx] = (stmt, e)
                    break


RULE = WorkAfterExclusiveLock()

"""transaction-control-mismatch: BEGIN / COMMIT / SAVEPOINT / SET LOCAL that fight the runner's transaction."""

from pglast import ast
from pglast.enums import TransactionStmtKind as TK

from dbtool.rules.base import Example, Report, Rule

_BLOCK = {TK.TRANS_STMT_BEGIN: "BEGIN", TK.TRANS_STMT_START: "START TRANSACTION", TK.TRANS_STMT_COMMIT: "COMMIT",
          TK.TRANS_STMT_ROLLBACK: "ROLLBACK", TK.TRANS_STMT_PREPARE: "PREPARE TRANSACTION",
          TK.TRANS_STMT_COMMIT_PREPARED: "COMMIT PREPARED", TK.TRANS_STMT_ROLLBACK_PREPARED: "ROLLBACK PREPARED"}
_INSIDE_ONLY = {TK.TRANS_STMT_SAVEPOINT: "SAVEPOINT", TK.TRANS_STMT_RELEASE: "RELEASE SAVEPOINT",
                TK.TRANS_STMT_ROLLBACK_TO: "ROLLBACK TO SAVEPOINT"}


class TransactionControlMismatch(Rule):
    id = "transaction-control-mismatch"
    severity = "error"
    category = "T"
    summary = "BEGIN/COMMIT in a migration fight dbtool's own transaction; SAVEPOINT / SET LOCAL need one"
    help = ("let dbtool own the transaction: no BEGIN/COMMIT in the file (it wraps each file in one, or runs it in "
            "autocommit when a statement requires that)")
    kinds = (ast.TransactionStmt, ast.VariableSetStmt)
    bad = (Example("BEGIN;\nCREATE TABLE promo_codes (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY);\nCOMMIT;"),
           Example("BEGIN;\nCREATE TABLE promo_codes (id bigint PRIMARY KEY);"),
           Example("SET LOCAL statement_timeout = '1min';\nCREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (a);"))
    ok = (Example("CREATE TABLE promo_codes (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY);"),
          Example("SAVEPOINT before_backfill;\nUPDATE orders SET channel = 'web' WHERE id = 1;\nRELEASE SAVEPOINT before_backfill;"))

    def check(self, stmt, ctx):
        n = stmt.node
        if isinstance(n, ast.VariableSetStmt):
            if n.is_local and not ctx.in_transaction(stmt):
                yield Report(f"SET LOCAL {n.name} runs outside a transaction (this file runs in autocommit), so it has no "
                             "effect", help="use SET (session-wide for this migration) in a non-transactional file")
            return
        if n.kind in _BLOCK:
            word = _BLOCK[n.kind]
            if ctx.wrapped:
                yield Report(f"{word} in a file that dbtool already runs in a transaction: "
                             + ("it only warns and changes nothing" if word in ("BEGIN", "START TRANSACTION") else
                                "it ends dbtool's transaction early, so the statements after it and the migration_log row "
                                "are no longer applied atomically"))
            else:
                yield Report(f"{word} in a file that dbtool runs in autocommit: statements inside an explicit transaction "
                             "block here may not run in one, and a missing COMMIT leaves them uncommitted")
        elif n.kind in _INSIDE_ONLY and not ctx.in_transaction(stmt):
            yield Report(f"{_INSIDE_ONLY[n.kind]} outside a transaction block (this file runs in autocommit): PostgreSQL "
                         "refuses it")

    def finish(self, ctx):
        stmts = ctx.script.statements
        if stmts and not ctx.wrapped and ctx.tx[-1] is not None:
            opener = next(s for s in stmts if ctx.tx_of(s) == ctx.tx[-1])
            yield Report("the transaction opened here is never committed: its statements roll back when the session ends",
                         stmt=opener)


RULE = TransactionControlMismatch()

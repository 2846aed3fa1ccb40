"""non-idempotent-outside-transaction: statements a retry cannot repeat, in a file that runs without a transaction."""

from pglast import ast
from pglast.enums import AlterTableType as AT

from dbtool import ddl
from dbtool.rules.base import Example, Report, Rule, alter_cmds


def _problem(n) -> str | None:
    if isinstance(n, ast.CreateStmt) and not n.if_not_exists:
        return f"CREATE TABLE {ddl.rel_name(n.relation)} without IF NOT EXISTS"
    if isinstance(n, ast.IndexStmt) and not n.concurrent and not n.if_not_exists:
        return f"CREATE INDEX {n.idxname or ''} without IF NOT EXISTS"
    if isinstance(n, ast.DropStmt) and not n.missing_ok:
        return f"DROP {n.removeType.name.removeprefix('OBJECT_')} without IF EXISTS"
    if isinstance(n, (ast.CreateSeqStmt, ast.CreateSchemaStmt, ast.CreateExtensionStmt)) and not n.if_not_exists:
        return f"{type(n).__name__.removesuffix('Stmt')} without IF NOT EXISTS"
    if isinstance(n, ast.AlterEnumStmt) and n.newVal and not n.oldVal and not n.skipIfNewValExists:
        return "ADD VALUE without IF NOT EXISTS"
    for cmd in alter_cmds(n, AT.AT_AddColumn, AT.AT_DropColumn):
        if not cmd.missing_ok:
            return "ADD COLUMN without IF NOT EXISTS" if cmd.subtype == AT.AT_AddColumn else "DROP COLUMN without IF EXISTS"
    return None


class NonIdempotentOutsideTransaction(Rule):
    id = "non-idempotent-outside-transaction"
    severity = "warning"
    category = "T"
    summary = "A statement in a non-transactional file that fails when the file is run again after a partial failure"
    help = "use the IF [NOT] EXISTS forms so that the file can be re-run after a failure or a crash"
    bad = (Example("DROP INDEX CONCURRENTLY orders_legacy_idx;"),
           Example("CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_coupon_code_idx ON orders (coupon_code);\n"
                   "CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_coupon_idx2 ON orders (coupon_code);\n"
                   "DROP INDEX CONCURRENTLY orders_coupon_old_idx;"))
    ok = (Example("DROP INDEX CONCURRENTLY IF EXISTS orders_legacy_idx;"),
          Example("DROP INDEX orders_legacy_idx;", note="a transactional file rolls back as a whole"))

    def check(self, stmt, ctx):
        if ctx.in_transaction(stmt):
            return
        why = _problem(stmt.node)
        if why:
            yield Report(f"{why}: this file runs outside a transaction (it has a statement that cannot run in one), so "
                         "after a failure or crash the statements before it stay applied and running the file again "
                         "fails here")


RULE = NonIdempotentOutsideTransaction()

"""unbatched-backfill: UPDATE / DELETE / INSERT ... SELECT over a whole existing table in one statement."""

from pglast import ast
from pglast.enums import A_Expr_Kind

from dbtool import ddl
from dbtool.rules.base import Example, Report, Rule

_RANGE_OPS = {"<", "<=", ">", ">="}


def bounded(where) -> bool:
    """True when the WHERE clause limits the rows to a batch: a key range, a LIMIT sub-select, a key equality."""
    for n in ddl.walk(where):
        if isinstance(n, ast.SelectStmt) and n.limitCount is not None or isinstance(n, ast.CurrentOfExpr):
            return True
        if isinstance(n, ast.A_Expr):
            op = n.name[-1].sval if n.name else ""
            if n.kind in (A_Expr_Kind.AEXPR_BETWEEN, A_Expr_Kind.AEXPR_NOT_BETWEEN):
                return True
            consts = [x for x in (n.lexpr, n.rexpr) if _constant(x)]
            cols = [x for x in (n.lexpr, n.rexpr) if isinstance(x, ast.ColumnRef)]
            if op in _RANGE_OPS and consts and cols:
                return True
            if (op == "=" or n.kind == A_Expr_Kind.AEXPR_IN) and cols and _is_key(cols[0]):
                return True
    return False


def _constant(x) -> bool:
    return isinstance(x, (ast.A_Const, ast.ParamRef)) or (isinstance(x, ast.TypeCast) and _constant(x.arg))


def _is_key(col) -> bool:
    name = getattr(col.fields[-1], "sval", "") or ""
    return name == "id" or name.endswith("_id")


class UnbatchedBackfill(Rule):
    id = "unbatched-backfill"
    severity = "warning"
    category = "L"
    summary = "UPDATE / DELETE / INSERT ... SELECT over a whole table in one transaction"
    help = ("run the data change as bounded batches (key ranges or UPDATE ... WHERE id IN (SELECT ... LIMIT n)), "
            "each in its own transaction, in a migration of its own")
    kinds = (ast.UpdateStmt, ast.DeleteStmt, ast.InsertStmt)
    bad = (Example("UPDATE orders SET channel = 'web' WHERE channel IS NULL;"), Example("DELETE FROM audit_log;"),
           Example("INSERT INTO orders_archive SELECT * FROM orders;"))
    ok = (Example("UPDATE orders SET channel = 'web'\n"
                  "WHERE id IN (SELECT id FROM orders WHERE channel IS NULL ORDER BY id LIMIT 5000);"),
          Example("UPDATE orders SET channel = 'web' WHERE id BETWEEN 1 AND 5000;"),
          Example("INSERT INTO platforms (name) VALUES ('Netflix'), ('Spotify');"),
          Example("CREATE TABLE orders (id bigint, channel text);\nUPDATE orders SET channel = 'web';",
                  note="table created in the same file"))

    def check(self, stmt, ctx):
        n = stmt.node
        table = ddl.rel_name(n.relation)
        if isinstance(n, ast.InsertStmt):
            sel = n.selectStmt
            if not (isinstance(sel, ast.SelectStmt) and sel.fromClause) or sel.limitCount is not None:
                return
            ctes = {c.ctename for w in (n.withClause, sel.withClause) if w is not None for c in w.ctes or ()}
            sources = [ddl.rel_name(r) for r in sel.fromClause if isinstance(r, ast.RangeVar) and r.relname not in ctes]
            if not sources or all(ctx.is_new(s) for s in sources) or (sel.whereClause is not None and bounded(sel.whereClause)):
                return
            yield Report(f"INSERT INTO {table} ... SELECT FROM {', '.join(sources)} copies every matching row in one "
                         "statement: a ROW EXCLUSIVE lock on the target (which blocks no reads or writes) but one long transaction that "
                         "blocks VACUUM, a burst of WAL and replication lag")
            return
        if ctx.is_new(table):
            return
        where = n.whereClause
        if where is not None and bounded(where):
            return
        verb = "UPDATE" if isinstance(n, ast.UpdateStmt) else "DELETE"
        scope = "every row" if where is None else "every matching row (the WHERE clause has no key range or LIMIT)"
        yield Report(f"{verb} on {table} touches {scope} in one statement: besides its ROW EXCLUSIVE lock it holds a row "
                     "lock on every changed row, which blocks concurrent writes to those rows until commit, and it bloats "
                     "the table and lags replicas")


RULE = UnbatchedBackfill()

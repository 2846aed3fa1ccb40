"""not-analysed: a statement kind no rule and no lock fact understands, listed rather than assumed safe."""

from pglast import ast

from dbtool.rules.base import Example, Report, Rule


class NotAnalysed(Rule):
    id = "not-analysed"
    severity = "info"
    category = "M"
    summary = "A statement dbtool's rules do not understand; its locks and effects were not checked"
    help = "review its locking by hand; acknowledge with -- dbtool: ignore not-analysed -- <what you checked>"
    bad = (Example("DO $$ BEGIN PERFORM 1; END $$;"),
           Example("CREATE POLICY tenant_isolation ON orders USING (tenant_id = current_setting('app.tenant')::bigint);"))
    ok = (Example("COMMENT ON TABLE orders IS 'Customer orders';"),
          Example("CREATE FUNCTION one() RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT 1';"))

    def check(self, stmt, ctx):
        a = ctx.analysis(stmt)
        if a.understood:
            return
        if isinstance(stmt.node, ast.DoStmt):
            yield Report("DO block: its body is opaque to static analysis, so the locks it takes and what it changes "
                         "were not checked")
        elif isinstance(stmt.node, ast.CallStmt):
            yield Report("CALL of a procedure: what it runs was not checked")
        else:
            yield Report(f"{a.note or stmt.kind} is not analysed by dbtool's rules: the locks it takes and whether it "
                         "rewrites or scans a table were not checked")


RULE = NotAnalysed()

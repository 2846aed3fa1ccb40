"""vacuum-full-or-cluster: VACUUM FULL and CLUSTER rewrite the table offline."""

from pglast import ast

from dbtool.rules.base import Example, Report, Rule


class VacuumFullOrCluster(Rule):
    id = "vacuum-full-or-cluster"
    severity = "error"
    category = "L"
    summary = "VACUUM FULL and CLUSTER rewrite the table under ACCESS EXCLUSIVE"
    help = ("reorganise out of band with pg_repack or pg_squeeze (19+: REPACK (CONCURRENTLY)); against bloat, "
            "plain VACUUM is enough")
    kinds = (ast.VacuumStmt, ast.ClusterStmt)
    bad = (Example("VACUUM FULL events;"), Example("CLUSTER events USING events_created_at_idx;"))
    ok = (Example("VACUUM (ANALYZE) events;"), Example("ANALYZE events;"))

    def check(self, stmt, ctx):
        for e in ctx.existing_effects(stmt):
            if not e.rewrites:
                continue
            verb = "CLUSTER" if isinstance(stmt.node, ast.ClusterStmt) else "VACUUM FULL"
            yield Report(f"{verb} rewrites {e.target} and all its indexes under an {e.lock} lock, which blocks reads and "
                         "writes until the copy is done (and needs up to twice the table's disk space)")


RULE = VacuumFullOrCluster()

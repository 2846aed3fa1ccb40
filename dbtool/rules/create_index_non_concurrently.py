"""create-index-non-concurrently: CREATE INDEX without CONCURRENTLY blocks writes for the whole build."""

from pglast import ast

from dbtool import ddl
from dbtool.rules.base import Example, Report, Rule


class CreateIndexNonConcurrently(Rule):
    id = "create-index-non-concurrently"
    severity = "error"
    category = "L"
    summary = "CREATE INDEX without CONCURRENTLY on an existing table blocks writes for the whole build"
    help = ("CREATE INDEX CONCURRENTLY IF NOT EXISTS ... alone in its migration file (dbtool runs it outside a "
            "transaction); for a partitioned table: CREATE INDEX ... ON ONLY parent, build each partition's index "
            "concurrently, then ALTER INDEX ... ATTACH PARTITION")
    kinds = (ast.IndexStmt,)
    bad = (Example("CREATE INDEX orders_placed_at_idx ON orders (placed_at);"),
           Example("CREATE UNIQUE INDEX customers_email_key ON customers (lower(email));"))
    ok = (Example("CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_placed_at_idx ON orders (placed_at);"),
          Example("CREATE TABLE orders (id bigint, placed_at timestamptz);\n"
                  "CREATE INDEX orders_placed_at_idx ON orders (placed_at);", note="table created in the same file"))

    def check(self, stmt, ctx):
        n = stmt.node
        table = ddl.rel_name(n.relation)
        if n.concurrent or ctx.is_new(table):
            return
        if not n.relation.inh:
            return  # ON ONLY parent: creates an invalid parent index without building anything
        yield Report(f"CREATE {'UNIQUE ' if n.unique else ''}INDEX {n.idxname or ''} on {table} takes a SHARE lock, which "
                     f"blocks writes (INSERT, UPDATE, DELETE) on {table} for the whole build")


RULE = CreateIndexNonConcurrently()

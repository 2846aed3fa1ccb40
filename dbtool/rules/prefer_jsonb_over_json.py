"""prefer-jsonb-over-json: json columns."""

from dbtool.rules.base import Example, Report, Rule
from dbtool.rules.hygiene import KINDS, typed_columns


class PreferJsonbOverJson(Rule):
    id = "prefer-jsonb-over-json"
    severity = "info"
    category = "H"
    summary = "json has no equality operator and no indexing; DISTINCT, GROUP BY and UNION on it fail"
    help = "jsonb"
    kinds = KINDS
    bad = (Example("ALTER TABLE orders ADD COLUMN gateway_payload json;"),)
    ok = (Example("ALTER TABLE orders ADD COLUMN gateway_payload jsonb;"),)

    def check(self, stmt, ctx):
        if ctx.is_rollback():
            return
        for table, col, t, how in typed_columns(stmt.node):
            if t and t.name == "json":
                yield Report(f"{how} {table}.{col} is json: no equality operator (DISTINCT, GROUP BY, UNION fail), no GIN "
                             "indexing, re-parsed on every access (no lock concern)")


RULE = PreferJsonbOverJson()

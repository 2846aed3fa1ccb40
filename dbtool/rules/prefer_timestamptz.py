"""prefer-timestamptz: timestamp without time zone in new columns."""

from dbtool.rules.base import Example, Report, Rule
from dbtool.rules.hygiene import KINDS, typed_columns


class PreferTimestamptz(Rule):
    id = "prefer-timestamptz"
    severity = "warning"
    category = "H"
    summary = "timestamp (without time zone) discards the offset; values depend on the writer's time zone"
    help = "timestamptz (timestamp with time zone)"
    kinds = KINDS
    bad = (Example("CREATE TABLE logins (member_id bigint NOT NULL, happened_at timestamp NOT NULL);"),)
    ok = (Example("CREATE TABLE logins (member_id bigint NOT NULL, happened_at timestamptz NOT NULL);"),)

    def check(self, stmt, ctx):
        if ctx.is_rollback():
            return
        for table, col, t, how in typed_columns(stmt.node):
            if t and t.name == "timestamp":
                yield Report(f"{how} {table}.{col} is timestamp without time zone: the offset is discarded, so the stored "
                             "instant depends on each writer's time zone (no lock concern)")


RULE = PreferTimestamptz()

"""prefer-identity-over-serial: serial columns in new tables."""

from dbtool import ddl
from dbtool.rules.base import Example, Report, Rule
from dbtool.rules.hygiene import KINDS, typed_columns


class PreferIdentityOverSerial(Rule):
    id = "prefer-identity-over-serial"
    severity = "info"
    category = "H"
    summary = "serial / bigserial: prefer the standard identity column"
    help = "bigint GENERATED ALWAYS AS IDENTITY (or BY DEFAULT)"
    kinds = KINDS
    bad = (Example("CREATE TABLE coupons (id serial PRIMARY KEY, code text NOT NULL);"),)
    ok = (Example("CREATE TABLE coupons (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, code text NOT NULL);"),)

    def check(self, stmt, ctx):
        if ctx.is_rollback():
            return
        for table, col, t, how in typed_columns(stmt.node):
            if t and t.name in ddl.SERIAL_TYPES and how == "column":
                yield Report(f"{table}.{col} is {t.name}: a sequence plus a default, with awkward ownership, grants and "
                             "table copies (no lock concern); identity columns are the standard form")


RULE = PreferIdentityOverSerial()

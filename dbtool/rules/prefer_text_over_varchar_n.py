"""prefer-text-over-varchar-n: varchar(n) in new columns."""

from dbtool.rules.base import Example, Report, Rule
from dbtool.rules.hygiene import KINDS, typed_columns


class PreferTextOverVarcharN(Rule):
    id = "prefer-text-over-varchar-n"
    severity = "info"
    category = "H"
    summary = "varchar(n): changing the limit later needs ACCESS EXCLUSIVE (and lowering it rewrites)"
    help = "text with CHECK (char_length(col) <= n), which can be replaced online with NOT VALID + VALIDATE"
    kinds = KINDS
    bad = (Example("CREATE TABLE vendors (id bigint PRIMARY KEY, legal_name varchar(120) NOT NULL);"),)
    ok = (Example("CREATE TABLE vendors (\n  id bigint PRIMARY KEY,\n  legal_name text NOT NULL,\n"
                  "  CONSTRAINT vendors_legal_name_len CHECK (char_length(legal_name) <= 120)\n);"),
          Example("CREATE TABLE vendors (id bigint PRIMARY KEY, legal_name varchar NOT NULL);"))

    def check(self, stmt, ctx):
        if ctx.is_rollback():
            return
        for table, col, t, how in typed_columns(stmt.node):
            if t and t.name == "varchar" and t.mods:
                yield Report(f"{how} {table}.{col} is {t}: raising the limit later still takes an ACCESS EXCLUSIVE lock "
                             "and lowering it rewrites the table; a CHECK on text can be changed online")


RULE = PreferTextOverVarcharN()

"""ban-char-n: char(n) columns."""

from dbtool.rules.base import Example, Report, Rule
from dbtool.rules.hygiene import KINDS, typed_columns


class BanCharN(Rule):
    id = "ban-char-n"
    severity = "info"
    category = "H"
    summary = "char(n) pads with blanks, has no speed benefit, and is usually a mistake"
    help = "text, with CHECK (char_length(col) = n) if the length matters"
    kinds = KINDS
    bad = (Example("CREATE TABLE airports (iata char(3) PRIMARY KEY);"),)
    ok = (Example("CREATE TABLE airports (iata text PRIMARY KEY CHECK (char_length(iata) = 3));"),)

    def check(self, stmt, ctx):
        if ctx.is_rollback():
            return
        for table, col, t, how in typed_columns(stmt.node):
            if t and t.name == "bpchar":
                yield Report(f"{how} {table}.{col} is {t}: blank-padded, compared ignoring trailing spaces, and no faster "
                             "than text (no lock concern)")


RULE = BanCharN()

"""prefer-bigint-keys: 32-bit (or smaller) primary and foreign keys."""

from dbtool import ddl
from dbtool.rules.base import Example, Report, Rule, column_defs, foreign_key_columns, primary_key_columns
from dbtool.rules.hygiene import KINDS

_SMALL = {"int4": "integer", "int2": "smallint", "serial": "serial", "smallserial": "smallserial"}


class PreferBigintKeys(Rule):
    id = "prefer-bigint-keys"
    severity = "warning"
    category = "H"
    summary = "integer / smallint keys run out; widening them later rewrites the biggest tables"
    help = "bigint (bigint GENERATED ALWAYS AS IDENTITY for a surrogate key)"
    kinds = KINDS
    bad = (Example("CREATE TABLE page_views (id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY, path text);"),
           Example("CREATE TABLE visits (id bigint PRIMARY KEY, page_id int REFERENCES pages (id));"))
    ok = (Example("CREATE TABLE page_views (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, path text);"),
          Example("CREATE TABLE page_views (id bigint PRIMARY KEY, hits integer NOT NULL);"))

    def check(self, stmt, ctx):
        if ctx.is_rollback():
            return
        keys = primary_key_columns(stmt.node) | foreign_key_columns(stmt.node)
        if not keys:
            return
        for table, col, _ in column_defs(stmt.node):
            t = ddl.type_ref(col.typeName)
            if col.colname in keys and t and t.name in _SMALL and not t.array:
                yield Report(f"key column {table}.{col.colname} is {_SMALL[t.name]}: 32-bit keys run out (2^31 values), "
                             "and widening later is a table rewrite under ACCESS EXCLUSIVE on the largest tables")


RULE = PreferBigintKeys()

"""alter-column-type-narrowing: a type change that may not fit the existing values."""

from pglast import ast
from pglast.enums import AlterTableType as AT

from dbtool import ddl
from dbtool.rules.base import Example, Report, Rule, alter_cmds


class AlterColumnTypeNarrowing(Rule):
    id = "alter-column-type-narrowing"
    severity = "error"
    category = "F"
    summary = "ALTER COLUMN ... TYPE to a narrower type fails on the first value that does not fit, after a long lock"
    help = ("keep the wider type and enforce the limit with CHECK (...) NOT VALID, then VALIDATE CONSTRAINT in a "
            "later migration")
    kinds = (ast.AlterTableStmt,)
    bad = (Example("ALTER TABLE customers ALTER COLUMN country_code TYPE varchar(2);",
                   before="CREATE TABLE customers (country_code varchar(3));"),
           Example("ALTER TABLE events ALTER COLUMN counter TYPE int;", before="CREATE TABLE events (counter bigint);"),
           Example("ALTER TABLE customers ALTER COLUMN name TYPE varchar(40);", before="CREATE TABLE customers (name text);"))
    ok = (Example("ALTER TABLE customers ADD CONSTRAINT customers_country_code_len\n"
                  "  CHECK (char_length(country_code) <= 2) NOT VALID;"),
          Example("ALTER TABLE customers ALTER COLUMN country_code TYPE varchar(8);",
                  before="CREATE TABLE customers (country_code varchar(3));"),
          Example("ALTER TABLE customers ALTER COLUMN country_code TYPE varchar(2);",
                  note="old type unknown: alter-column-type-rewrite reports it, not this rule"))

    def check(self, stmt, ctx):
        table = ddl.rel_name(stmt.node.relation)
        if ctx.is_new(table):
            return
        for cmd in alter_cmds(stmt.node, AT.AT_AlterColumnType):
            old, new = ctx.column_type(table, cmd.name), ddl.type_ref(cmd.def_.typeName)
            if old is None or new is None:
                continue
            if ddl.type_change(old, new, target_version=ctx.target_version).narrows:
                yield Report(f"ALTER COLUMN {cmd.name} on {table} narrows {old} to {new}: every value is checked under an "
                             f"ACCESS EXCLUSIVE lock, which blocks reads and writes on {table}, and the statement fails on "
                             "the first value that does not fit")


RULE = AlterColumnTypeNarrowing()

"""add-column-volatile-default: ADD COLUMN with a default that must be computed for every existing row."""

from pglast import ast

from dbtool import ddl
from dbtool.rules.base import Example, Report, Rule, column_defs


class AddColumnVolatileDefault(Rule):
    id = "add-column-volatile-default"
    severity = "error"
    category = "L"
    summary = "ADD COLUMN with a volatile default (any default before PostgreSQL 11) rewrites the table"
    help = ("add the column without a default, then ALTER COLUMN ... SET DEFAULT (new rows only), "
            "and backfill existing rows in batches")
    kinds = (ast.AlterTableStmt,)
    bad = (Example("ALTER TABLE orders ADD COLUMN public_ref uuid DEFAULT gen_random_uuid();"),
           Example("ALTER TABLE orders ADD COLUMN score int DEFAULT my_score();"),
           Example("ALTER TABLE orders ADD COLUMN channel text DEFAULT 'web';", target_version=10,
                   note="before 11 every default rewrites"))
    ok = (Example("ALTER TABLE orders ADD COLUMN public_ref uuid;\n"
                  "ALTER TABLE orders ALTER COLUMN public_ref SET DEFAULT gen_random_uuid();"),
          Example("ALTER TABLE orders ADD COLUMN channel text DEFAULT 'web';", target_version=11,
                  note="a constant default is metadata-only on 11+"),
          Example("ALTER TABLE orders ADD COLUMN placed_at timestamptz NOT NULL DEFAULT now();"),
          Example("ALTER TABLE orders ADD COLUMN score int DEFAULT my_score();",
                  before="CREATE FUNCTION my_score() RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT 1';",
                  note="a function the project declared IMMUTABLE"),
          Example("CREATE TABLE orders (id bigint PRIMARY KEY);\n"
                  "ALTER TABLE orders ADD COLUMN public_ref uuid DEFAULT gen_random_uuid();",
                  note="table created in the same file"))

    def check(self, stmt, ctx):
        for table, col, _ in column_defs(stmt.node):
            if ctx.is_new(table):
                continue
            default = ddl.column_default(col)
            if default is None or ddl.is_null_const(default) or ddl.stored_generated(col) or ddl.is_identity(col):
                continue
            tref = ddl.type_ref(col.typeName)
            if tref and tref.name in ddl.SERIAL_TYPES:
                continue
            level, culprit = ddl.volatility(default, ctx.function_volatility())
            if ctx.target_version < 11:
                why = f"before PostgreSQL 11 (target_version {ctx.target_version}) every ADD COLUMN default is written into every row"
            elif level == "volatile":
                why = f"the default {culprit} is volatile, so PostgreSQL computes it for every existing row"
            elif level == "unknown":
                why = (f"the default {culprit or 'expression'} is not known to be STABLE or IMMUTABLE, so it may be "
                       "computed for every existing row")
            else:
                continue
            yield Report(f"ADD COLUMN {col.colname} on {table}: {why}; the table and its indexes are rewritten under an "
                         f"ACCESS EXCLUSIVE lock, which blocks reads and writes on {table} until commit")


RULE = AddColumnVolatileDefault()

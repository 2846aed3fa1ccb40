"""add-column-serial-or-identity: a serial or identity column added to an existing table."""

from pglast import ast

from dbtool import ddl
from dbtool.rules.base import Example, Report, Rule, column_defs


class AddColumnSerialOrIdentity(Rule):
    id = "add-column-serial-or-identity"
    severity = "error"
    category = "L"
    summary = "ADD COLUMN serial / GENERATED AS IDENTITY fills every existing row: a table rewrite"
    help = ("add a plain nullable bigint column, attach a sequence default for new rows, backfill old rows in "
            "batches, then enforce NOT NULL with the CHECK ... NOT VALID pattern (and convert to identity if wanted)")
    kinds = (ast.AlterTableStmt,)
    bad = (Example("ALTER TABLE line_items ADD COLUMN position_no bigserial;"),
           Example("ALTER TABLE line_items ADD COLUMN position_no bigint GENERATED ALWAYS AS IDENTITY;"))
    ok = (Example("CREATE SEQUENCE IF NOT EXISTS line_items_position_no_seq AS bigint;\n"
                  "ALTER TABLE line_items ADD COLUMN position_no bigint;\n"
                  "ALTER TABLE line_items ALTER COLUMN position_no SET DEFAULT nextval('line_items_position_no_seq');"),
          Example("CREATE TABLE line_items (id bigint);\nALTER TABLE line_items ADD COLUMN position_no bigserial;",
                  note="table created in the same file"))

    def check(self, stmt, ctx):
        for table, col, _ in column_defs(stmt.node):
            if ctx.is_new(table):
                continue
            tref = ddl.type_ref(col.typeName)
            if tref and tref.name in ddl.SERIAL_TYPES:
                what = f"a {tref.name} column"
            elif ddl.is_identity(col):
                what = "an identity column"
            else:
                continue
            yield Report(f"ADD COLUMN {col.colname} on {table} is {what}: every existing row gets a sequence value, so the "
                         f"table is rewritten under an ACCESS EXCLUSIVE lock, which blocks reads and writes on {table}")


RULE = AddColumnSerialOrIdentity()

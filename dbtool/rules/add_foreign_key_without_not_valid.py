"""add-foreign-key-without-not-valid: a validated foreign key blocks writes on both tables while it scans."""

from pglast import ast
from pglast.enums import ConstrType

from dbtool import ddl
from dbtool.rules.base import Example, Report, Rule, added_constraints, column_defs


class AddForeignKeyWithoutNotValid(Rule):
    id = "add-foreign-key-without-not-valid"
    severity = "error"
    category = "L"
    summary = "ADD FOREIGN KEY without NOT VALID blocks writes on both tables while every row is checked"
    help = "add it with NOT VALID, then ALTER TABLE ... VALIDATE CONSTRAINT in a later migration"
    kinds = (ast.AlterTableStmt,)
    bad = (Example("ALTER TABLE shipments ADD CONSTRAINT shipments_order_fk\n"
                   "  FOREIGN KEY (order_id) REFERENCES orders (id);"),
           Example("ALTER TABLE shipments ADD COLUMN carrier_id bigint REFERENCES carriers (id);"))
    ok = (Example("ALTER TABLE shipments ADD CONSTRAINT shipments_order_fk\n"
                  "  FOREIGN KEY (order_id) REFERENCES orders (id) NOT VALID;"),
          Example("CREATE TABLE carriers (id bigint PRIMARY KEY);\nCREATE TABLE shipments (carrier_id bigint);\n"
                  "ALTER TABLE shipments ADD CONSTRAINT shipments_carrier_fk FOREIGN KEY (carrier_id) REFERENCES carriers (id);",
                  note="both tables created in the same file"))

    def check(self, stmt, ctx):
        table = ddl.rel_name(stmt.node.relation)
        for _, con in added_constraints(stmt.node, ConstrType.CONSTR_FOREIGN):
            ref = ddl.rel_name(con.pktable)
            if con.skip_validation or (ctx.is_new(table) and ctx.is_new(ref)):
                continue
            yield Report(f"ADD FOREIGN KEY {con.conname or ''} on {table} takes SHARE ROW EXCLUSIVE locks on {table} and "
                         f"{ref}, which block writes on both, while every row of {table} is checked")
        for _, col, _ in column_defs(stmt.node):
            for con in ddl.constraints_of(col, ConstrType.CONSTR_FOREIGN):
                ref = ddl.rel_name(con.pktable)
                if ctx.is_new(table) and ctx.is_new(ref):
                    continue
                yield Report(f"ADD COLUMN {col.colname} REFERENCES {ref} on {table} takes a SHARE ROW EXCLUSIVE lock on "
                             f"{ref}, which blocks writes on {ref}, on top of the ACCESS EXCLUSIVE lock on {table}",
                             help="add the column without REFERENCES, then ADD CONSTRAINT ... FOREIGN KEY ... NOT VALID "
                                  "and VALIDATE CONSTRAINT in a later migration")


RULE = AddForeignKeyWithoutNotValid()

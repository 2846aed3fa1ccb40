"""drop-constraint-integrity: DROP CONSTRAINT removes a data guarantee."""

from pglast import ast
from pglast.enums import AlterTableType as AT, ConstrType

from dbtool import ddl
from dbtool.rules.base import Example, Report, Rule, added_constraints, alter_cmds


def _readded_later(ctx, stmt, table: str, name: str) -> bool:
    for later in ctx.script.statements[stmt.index:]:
        if ddl.norm(ddl.rel_name(getattr(later.node, "relation", None))) != table:
            continue
        if any(con.conname == name for _, con in added_constraints(later.node)):
            return True
    return False


class DropConstraintIntegrity(Rule):
    id = "drop-constraint-integrity"
    severity = "warning"
    category = "D"
    summary = "DROP CONSTRAINT removes a guarantee the data relied on; adding it back later is the expensive path"
    help = "keep the constraint, or acknowledge with -- dbtool: ignore drop-constraint-integrity -- <reason>"
    kinds = (ast.AlterTableStmt,)
    bad = (Example("ALTER TABLE shipments DROP CONSTRAINT shipments_order_fk;"),)
    ok = (Example("ALTER TABLE shipments DROP CONSTRAINT shipments_order_fk;",
                  up="ALTER TABLE shipments ADD CONSTRAINT shipments_order_fk FOREIGN KEY (order_id) REFERENCES orders (id) NOT VALID;",
                  note="a rollback dropping the constraint its up-script added"),
          Example("ALTER TABLE shipments DROP CONSTRAINT shipments_order_fk;\n"
                  "ALTER TABLE shipments ADD CONSTRAINT shipments_order_fk\n"
                  "  FOREIGN KEY (order_id) REFERENCES orders (id) ON DELETE CASCADE NOT VALID;",
                  note="re-created under the same name in the same file"))

    def check(self, stmt, ctx):
        table = ddl.norm(ddl.rel_name(stmt.node.relation))
        if ctx.is_new(table) or (ctx.up is not None and table in ctx.up.tables):
            return
        for cmd in alter_cmds(stmt.node, AT.AT_DropConstraint):
            if ctx.up is not None and (table, cmd.name) in ctx.up.constraints:
                continue
            if _readded_later(ctx, stmt, table, cmd.name):
                continue
            yield Report(f"DROP CONSTRAINT {cmd.name} on {table} removes a guarantee (rows that break it can be written from "
                         "now on); it takes an ACCESS EXCLUSIVE lock (a foreign key's also on the referenced table)")


RULE = DropConstraintIntegrity()

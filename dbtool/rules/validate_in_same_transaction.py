"""validate-in-same-transaction: NOT VALID and VALIDATE CONSTRAINT in one transaction."""

from pglast import ast
from pglast.enums import AlterTableType as AT

from dbtool import ddl
from dbtool.rules.base import Example, Report, Rule, alter_cmds


class ValidateInSameTransaction(Rule):
    id = "validate-in-same-transaction"
    severity = "error"
    category = "T"
    summary = "VALIDATE CONSTRAINT in the transaction that added the constraint NOT VALID keeps the strong lock"
    help = "put VALIDATE CONSTRAINT in its own, later migration (dbtool runs each file in its own transaction)"
    kinds = (ast.AlterTableStmt,)
    bad = (Example("ALTER TABLE shipments ADD CONSTRAINT shipments_order_fk\n"
                   "  FOREIGN KEY (order_id) REFERENCES orders (id) NOT VALID;\n"
                   "ALTER TABLE shipments VALIDATE CONSTRAINT shipments_order_fk;"),)
    ok = (Example("ALTER TABLE shipments VALIDATE CONSTRAINT shipments_order_fk;",
                  before="ALTER TABLE shipments ADD CONSTRAINT shipments_order_fk\n"
                         "  FOREIGN KEY (order_id) REFERENCES orders (id) NOT VALID;",
                  note="the NOT VALID half ran in an earlier migration"),)

    def check(self, stmt, ctx):
        added = ctx.state.setdefault(self.id, {})
        table = ddl.norm(ddl.rel_name(getattr(stmt.node, "relation", None)))
        tx = ctx.tx_of(stmt)
        for cmd in alter_cmds(stmt.node):
            if cmd.subtype == AT.AT_AddConstraint and getattr(cmd.def_, "skip_validation", False) and cmd.def_.conname:
                added[(table, cmd.def_.conname)] = (tx, stmt)
            elif cmd.subtype == AT.AT_ValidateConstraint:
                seen = added.get((table, cmd.name))
                if seen and tx is not None and seen[0] == tx and not ctx.is_new(table):
                    yield Report(f"VALIDATE CONSTRAINT {cmd.name} on {table} runs in the same transaction that added it NOT "
                                 f"VALID (line {seen[1].line}): that statement's lock is still held, so the validating scan "
                                 f"blocks reads and writes on {table} and the NOT VALID split buys nothing")


RULE = ValidateInSameTransaction()

"""enum-add-value-in-transaction: ALTER TYPE ... ADD VALUE in a transaction (refused before 12; the label is
unusable until commit on 12+)."""

from pglast import ast

from dbtool import ddl
from dbtool.rules.base import Example, Report, Rule


def _enum_created_here(ctx, stmt, name: str) -> bool:
    for s in ctx.script.statements[:stmt.index]:
        if isinstance(s.node, ast.CreateEnumStmt) and ddl.norm(ddl.qual_name(s.node.typeName)) == ddl.norm(name) \
                and ctx.tx_of(s) == ctx.tx_of(stmt):
            return True
    return False


def _uses_label(stmt, label: str) -> bool:
    if isinstance(stmt.node, ast.AlterEnumStmt):
        return False
    return any(isinstance(n, ast.String) and n.sval == label and not isinstance(stmt.node, ast.CommentStmt)
               for n in ddl.walk(stmt.node))


class EnumAddValueInTransaction(Rule):
    id = "enum-add-value-in-transaction"
    severity = "error"
    category = "T"
    summary = "ALTER TYPE ... ADD VALUE in a transaction: refused before PostgreSQL 12, and on 12+ the new label cannot be used before commit"
    help = ("put ALTER TYPE ... ADD VALUE IF NOT EXISTS ... in its own migration and use the new label only in a "
            "later one")
    kinds = (ast.AlterEnumStmt,)
    bad = (Example("ALTER TYPE ticket_state ADD VALUE 'escalated';", target_version=11,
                   note="dbtool wraps the file in a transaction; refused before 12"),
           Example("ALTER TYPE ticket_state ADD VALUE 'escalated';\n"
                   "UPDATE tickets SET state = 'escalated' WHERE id = 1;", target_version=12,
                   note="12+: the new label is used before commit"))
    ok = (Example("ALTER TYPE ticket_state ADD VALUE IF NOT EXISTS 'escalated' AFTER 'open';", target_version=12),
          Example("CREATE TYPE ticket_state AS ENUM ('open');\nALTER TYPE ticket_state ADD VALUE 'escalated';",
                  target_version=11, note="enum created in the same transaction"))

    def check(self, stmt, ctx):
        n = stmt.node
        if not n.newVal or n.oldVal:
            return  # RENAME VALUE is enum-rename-or-reorder's
        name = ddl.qual_name(n.typeName)
        if not ctx.in_transaction(stmt) or _enum_created_here(ctx, stmt, name):
            return
        if ctx.target_version < 12:
            yield Report(f"ALTER TYPE {name} ADD VALUE '{n.newVal}' runs in a transaction (dbtool wraps this file in one), "
                         f"which PostgreSQL before 12 refuses (target_version is {ctx.target_version}): the deploy fails")
            return
        for later in ctx.script.statements[stmt.index + 1:]:
            if ctx.tx_of(later) == ctx.tx_of(stmt) and _uses_label(later, n.newVal):
                yield Report(f"'{n.newVal}' is added to {name} and used at line {later.line} in the same transaction: "
                             "PostgreSQL refuses with \"unsafe use of new value\" until the ADD VALUE has committed")
                return


RULE = EnumAddValueInTransaction()

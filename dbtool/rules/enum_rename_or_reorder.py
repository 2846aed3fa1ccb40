"""enum-rename-or-reorder: ALTER TYPE ... RENAME VALUE breaks code that still uses the old label."""

from pglast import ast

from dbtool import ddl
from dbtool.rules.base import Example, Report, Rule


class EnumRenameOrReorder(Rule):
    id = "enum-rename-or-reorder"
    severity = "warning"
    category = "B"
    summary = "ALTER TYPE ... RENAME VALUE breaks the application version that still reads or writes the old label"
    help = ("add the new label next to the old one (ADD VALUE ... AFTER), handle both in code, backfill, and retire "
            "the old label later")
    kinds = (ast.AlterEnumStmt,)
    bad = (Example("ALTER TYPE ticket_state RENAME VALUE 'closed' TO 'resolved';"),)
    ok = (Example("ALTER TYPE ticket_state ADD VALUE IF NOT EXISTS 'resolved' AFTER 'closed';", target_version=12),)

    def check(self, stmt, ctx):
        n = stmt.node
        if not n.oldVal:
            return
        name = ddl.qual_name(n.typeName)
        yield Report(f"RENAME VALUE '{n.oldVal}' TO '{n.newVal}' on {name}: the running application still writes and "
                     f"compares '{n.oldVal}' and fails once the rename commits (no table lock is taken)")


RULE = EnumRenameOrReorder()

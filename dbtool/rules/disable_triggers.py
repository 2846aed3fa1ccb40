"""disable-triggers: DISABLE TRIGGER or session_replication_role = replica in a migration."""

from pglast import ast
from pglast.enums import AlterTableType as AT

from dbtool import ddl
from dbtool.rules.base import Example, Report, Rule, alter_cmds

_DISABLE = (AT.AT_DisableTrig, AT.AT_DisableTrigAll, AT.AT_DisableTrigUser)


class DisableTriggers(Rule):
    id = "disable-triggers"
    severity = "error"
    category = "D"
    summary = "DISABLE TRIGGER affects every session (ALL also stops foreign-key enforcement); replica role skips FK checks"
    help = ("make the trigger function honour a transaction-local setting (SET LOCAL app.skip_audit = 'on') instead "
            "of disabling it")
    kinds = (ast.AlterTableStmt, ast.VariableSetStmt)
    bad = (Example("ALTER TABLE orders DISABLE TRIGGER ALL;"), Example("SET session_replication_role = replica;"))
    ok = (Example("SET LOCAL app.skip_audit = 'on';\nUPDATE orders SET channel = 'web' WHERE id BETWEEN 1 AND 5000;"),
          Example("ALTER TABLE orders ENABLE TRIGGER orders_audit;"))

    def check(self, stmt, ctx):
        n = stmt.node
        if isinstance(n, ast.VariableSetStmt):
            if (n.name or "").lower() == "session_replication_role" and n.args and \
                    str(getattr(n.args[0].val, "sval", "")).lower() == "replica":
                yield Report("SET session_replication_role = replica stops triggers, including foreign-key checks, for "
                             "this session's writes: rows that break integrity can be written")
            return
        table = ddl.rel_name(n.relation)
        if ctx.is_new(table):
            return
        for cmd in alter_cmds(n, *_DISABLE):
            which = "ALL (including foreign-key enforcement)" if cmd.subtype == AT.AT_DisableTrigAll else (
                "USER" if cmd.subtype == AT.AT_DisableTrigUser else cmd.name)
            yield Report(f"DISABLE TRIGGER {which} on {table} takes a SHARE ROW EXCLUSIVE lock, which blocks writes, and "
                         "switches the trigger off for every session until re-enabled; a failed deploy can leave it off")


RULE = DisableTriggers()

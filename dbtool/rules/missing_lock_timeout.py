"""missing-lock-timeout: a lock-taking statement while no lock_timeout is in force.

dbtool's runner always runs ``SET LOCAL lock_timeout`` from dbtool.toml before a migration, so this rule
fires only when that setting is "0" (no timeout) or when the file itself turns the timeout off with
``SET lock_timeout = 0`` / ``RESET lock_timeout``.
"""

from dbtool import locks
from dbtool.rules.base import Example, Report, Rule, lock_text, strongest


class MissingLockTimeout(Rule):
    id = "missing-lock-timeout"
    severity = "warning"
    category = "L"
    summary = "A statement waits for a strong lock with no lock_timeout, so every query queues behind it"
    help = ("keep dbtool.toml's lock_timeout (e.g. \"5s\"; dbtool retries on timeout) and do not set it to 0 in the "
            "file; or SET lock_timeout = '2s' before the statement")
    bad = (Example("ALTER TABLE orders ADD COLUMN gift_note text;", lock_timeout="0"),
           Example("SET lock_timeout = 0;\nALTER TABLE orders ADD COLUMN gift_note text;"))
    ok = (Example("ALTER TABLE orders ADD COLUMN gift_note text;", note="the runner sets lock_timeout (5s by default)"),
          Example("SET lock_timeout = '2s';\nALTER TABLE orders ADD COLUMN gift_note text;", lock_timeout="0"))

    def check(self, stmt, ctx):
        if not ctx.lock_timeout_off or ctx.state.get(self.id):
            return
        e = strongest([e for e in ctx.existing_effects(stmt) if locks.at_least(e.lock, locks.SHARE)])
        if e is None:
            return
        ctx.state[self.id] = True
        why = ("dbtool.toml sets lock_timeout = \"0\"" if ctx.config_lock_timeout_off and not _file_turned_off(ctx)
               else "this file turns lock_timeout off")
        yield Report(f"{stmt.kind} waits for an {lock_text(e)}, with no lock_timeout ({why}): while it waits behind a "
                     "long-running query, every later query on that table queues behind it")


def _file_turned_off(ctx) -> bool:
    from pglast import ast

    return any(isinstance(s.node, ast.VariableSetStmt) and (s.node.name or "").lower() == "lock_timeout"
               for s in ctx.script.statements[:ctx.index])


RULE = MissingLockTimeout()

"""Scaffold a new validate rule: its module under dbtool/rules/ with a bad and an ok example to fill in.

Usage: python scripts/new_rule.py RULE-ID [--severity warning] [--category L] [--dry-run]

Then add the module to the explicit registry in dbtool/rules/__init__.py (the meta-tests fail until you do),
fill in check() and the examples, and run python scripts/rule_docs.py to write docs/rules/RULE-ID.md.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

TEMPLATE = '''"""{id}: TODO one line on what the rule reports."""

from pglast import ast

from dbtool import ddl
from dbtool.rules.base import Example, Report, Rule


class {cls}(Rule):
    id = "{id}"
    severity = "{severity}"
    category = "{category}"
    summary = "TODO what is risky, in one sentence"
    help = "TODO the safer way"
    kinds = (ast.AlterTableStmt,)  # the statement node types the rule looks at
    bad = (Example("TODO SQL that must trigger the rule;"),)
    ok = (Example("TODO SQL that must not trigger it;"),
          Example("CREATE TABLE t (id bigint);\\nTODO the same statement on t;", note="table created in the same file"))

    def check(self, stmt, ctx):
        table = ddl.rel_name(getattr(stmt.node, "relation", None))
        if ctx.is_new(table):
            return
        # Name the lock taken and what it blocks: e.g. "... takes an ACCESS EXCLUSIVE lock on t, which blocks reads
        # and writes ...".
        yield from ()


RULE = {cls}()
'''


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("rule_id")
    p.add_argument("--severity", choices=("error", "warning", "info"), default="warning")
    p.add_argument("--category", choices=tuple("LDBFTH"), default="L")
    p.add_argument("--dry-run", action="store_true", help="print the module instead of writing it")
    args = p.parse_args(argv)
    if not re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)*", args.rule_id):
        p.error("a rule id is kebab-case, e.g. add-column-volatile-default")
    module = args.rule_id.replace("-", "_")
    cls = "".join(part.title() for part in args.rule_id.split("-"))
    text = TEMPLATE.format(id=args.rule_id, cls=cls, severity=args.severity, category=args.category)
    if args.dry_run:
        print(text, end="")
        return 0
    path = ROOT / "dbtool" / "rules" / f"{module}.py"
    if path.exists():
        p.error(f"{path.relative_to(ROOT)} exists already")
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path.relative_to(ROOT)}; now add `{module}` to _MODULES in dbtool/rules/__init__.py, "
          "fill in check() and the examples, and run python scripts/rule_docs.py")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

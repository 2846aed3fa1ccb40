"""alter-column-type-rewrite: ALTER COLUMN ... TYPE that rewrites (or may rewrite) the table."""

from pglast import ast
from pglast.enums import AlterTableType as AT

from dbtool import ddl
from dbtool.rules.base import Example, Report, Rule, alter_cmds


class AlterColumnTypeRewrite(Rule):
    id = "alter-column-type-rewrite"
    severity = "error"
    category = "L"
    summary = "ALTER COLUMN ... TYPE that is not a known binary-compatible change rewrites the table and its indexes"
    help = ("expand/contract: add a new column, keep it in sync with a trigger, backfill in batches, switch reads, "
            "drop the old column in a later release")
    kinds = (ast.AlterTableStmt,)
    bad = (Example("ALTER TABLE payments ALTER COLUMN amount_cents TYPE bigint;",
                   before="CREATE TABLE payments (amount_cents int);"),
           Example("ALTER TABLE payments ALTER COLUMN amount_cents TYPE bigint;",
                   note="old type unknown: reported as 'may rewrite' (a warning)"),
           Example("ALTER TABLE payments ALTER COLUMN note TYPE varchar(20) USING left(note, 20);",
                   before="CREATE TABLE payments (note text);"))
    ok = (Example("ALTER TABLE customers ALTER COLUMN handle TYPE varchar(80);",
                  before="CREATE TABLE customers (handle varchar(40));", note="raising a varchar limit"),
          Example("ALTER TABLE customers ALTER COLUMN handle TYPE text;",
                  before="CREATE TABLE customers (handle varchar(40));"),
          Example("ALTER TABLE payments ALTER COLUMN amount TYPE numeric(14,2);",
                  before="CREATE TABLE payments (amount numeric(12,2));"),
          Example("CREATE TABLE payments (amount_cents int);\n"
                  "ALTER TABLE payments ALTER COLUMN amount_cents TYPE bigint;", note="table created in the same file"))

    def check(self, stmt, ctx):
        table = ddl.rel_name(stmt.node.relation)
        if ctx.is_new(table):
            return
        for cmd in alter_cmds(stmt.node, AT.AT_AlterColumnType):
            new = ddl.type_ref(cmd.def_.typeName)
            old = ctx.column_type(table, cmd.name)
            change = ddl.type_change(old, new, using=cmd.def_.raw_default is not None,
                                     target_version=ctx.target_version)
            if change.verdict == "none":
                continue
            if change.verdict == "rewrite":
                yield Report(f"ALTER COLUMN {cmd.name} TYPE {new} on {table} rewrites the table and rebuilds its indexes "
                             f"({change.reason}) under an ACCESS EXCLUSIVE lock, which blocks reads and writes on {table} "
                             "for the whole rewrite")
            else:
                yield Report(f"ALTER COLUMN {cmd.name} TYPE {new} on {table} may rewrite the table ({change.reason}); it "
                             f"holds an ACCESS EXCLUSIVE lock, which blocks reads and writes on {table}, for as long as "
                             "that takes", severity="warning", help=self.help + "; if the change is binary compatible (e.g. raising a "
                             "varchar limit), acknowledge it with -- dbtool: ignore alter-column-type-rewrite -- <why>")


RULE = AlterColumnTypeRewrite()

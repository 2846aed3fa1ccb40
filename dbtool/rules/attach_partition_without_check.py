"""attach-partition-without-check: ATTACH PARTITION scans the new partition unless a CHECK proves the bound."""

from pglast import ast
from pglast.enums import AlterTableType as AT

from dbtool import ddl
from dbtool.rules.base import Example, Report, Rule, alter_cmds


class AttachPartitionWithoutCheck(Rule):
    id = "attach-partition-without-check"
    severity = "warning"
    category = "L"
    summary = "ATTACH PARTITION scans the attached table (and the default partition) unless a validated CHECK implies the bound"
    help = ("add a CHECK matching the partition bound NOT VALID, VALIDATE it, then ATTACH (no scan), then drop the "
            "check")
    kinds = (ast.AlterTableStmt,)
    bad = (Example("ALTER TABLE metrics ATTACH PARTITION metrics_2025_q1\n"
                   "  FOR VALUES FROM ('2025-01-01') TO ('2025-04-01');"),)
    ok = (Example("ALTER TABLE metrics ATTACH PARTITION metrics_2025_q1\n"
                  "  FOR VALUES FROM ('2025-01-01') TO ('2025-04-01');",
                  before="ALTER TABLE metrics_2025_q1 ADD CONSTRAINT metrics_2025_q1_bound\n"
                         "  CHECK (recorded_at IS NOT NULL AND recorded_at >= '2025-01-01' AND recorded_at < '2025-04-01');",
                  note="the attached table has a validated CHECK (the bound is assumed to match it)"),
          Example("CREATE TABLE metrics_2025_q1 (recorded_at timestamptz NOT NULL);\n"
                  "ALTER TABLE metrics ATTACH PARTITION metrics_2025_q1 FOR VALUES FROM ('2025-01-01') TO ('2025-04-01');",
                  note="partition created (empty) in the same file"))

    def check(self, stmt, ctx):
        table = ddl.rel_name(stmt.node.relation)
        for cmd in alter_cmds(stmt.node, AT.AT_AttachPartition):
            part = ddl.rel_name(cmd.def_.name)
            if ctx.is_new(part) or ctx.has_validated_check(part):
                continue
            parent = ("a SHARE UPDATE EXCLUSIVE lock on the parent" if ctx.target_version >= 12
                      else "an ACCESS EXCLUSIVE lock on the parent (before PostgreSQL 12)")
            yield Report(f"ATTACH PARTITION {part} to {table} scans every row of {part} (and of a default partition) under an "
                         f"ACCESS EXCLUSIVE lock on it, which blocks reads and writes there, plus {parent}")


RULE = AttachPartitionWithoutCheck()

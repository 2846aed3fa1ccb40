"""detach-partition-non-concurrently: DETACH PARTITION takes ACCESS EXCLUSIVE on the partitioned table."""

from pglast import ast
from pglast.enums import AlterTableType as AT

from dbtool import ddl
from dbtool.rules.base import Example, Report, Rule, alter_cmds


class DetachPartitionNonConcurrently(Rule):
    id = "detach-partition-non-concurrently"
    severity = "warning"
    category = "L"
    summary = "DETACH PARTITION without CONCURRENTLY blocks all access to the whole partitioned table"
    help = ("ALTER TABLE ... DETACH PARTITION ... CONCURRENTLY (PostgreSQL 14+, not with a default partition) alone in "
            "its migration file; ... FINALIZE completes an interrupted one")
    kinds = (ast.AlterTableStmt,)
    bad = (Example("ALTER TABLE metrics DETACH PARTITION metrics_2023_q1;", target_version=14),)
    ok = (Example("ALTER TABLE metrics DETACH PARTITION metrics_2023_q1 CONCURRENTLY;", target_version=14),)

    def check(self, stmt, ctx):
        table = ddl.rel_name(stmt.node.relation)
        if ctx.is_new(table):
            return
        for cmd in alter_cmds(stmt.node, AT.AT_DetachPartition):
            if cmd.def_.concurrent:
                continue
            how = self.help if ctx.target_version >= 14 else (
                f"DETACH ... CONCURRENTLY needs PostgreSQL 14 (target_version is {ctx.target_version}); keep "
                "lock_timeout short and run it when traffic is low")
            yield Report(f"DETACH PARTITION {ddl.rel_name(cmd.def_.name)} takes an ACCESS EXCLUSIVE lock on {table} and the "
                         f"partition, which blocks reads and writes on the whole partitioned table", help=how)


RULE = DetachPartitionNonConcurrently()

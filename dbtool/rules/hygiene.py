"""Shared helpers of the hygiene rules (types of new columns)."""

from pglast import ast
from pglast.enums import AlterTableType as AT

from dbtool import ddl
from dbtool.rules.base import alter_cmds, column_defs


def typed_columns(node):
    """(table, column, TypeRef, how) for new columns and ALTER COLUMN ... TYPE targets."""
    out = []
    for table, col, _ in column_defs(node):
        out.append((table, col.colname, ddl.type_ref(col.typeName), "column"))
    for cmd in alter_cmds(node, AT.AT_AlterColumnType):
        out.append((ddl.rel_name(node.relation), cmd.name, ddl.type_ref(cmd.def_.typeName), "new type of"))
    return out


KINDS = (ast.CreateStmt, ast.AlterTableStmt)

"""A small model of the schema built from the migrations before a statement.

It answers the questions a single statement cannot: the column's type before ``ALTER COLUMN ... TYPE``
(so the known no-rewrite changes are not reported), whether a validated ``CHECK (col IS NOT NULL)`` exists
(so ``SET NOT NULL`` skips its scan on 12+), whether a partition to attach has a validated CHECK, and the
declared volatility of functions the project created.  What the model does not know stays unknown: the
rules then say "may" instead of guessing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pglast import ast
from pglast.enums import AlterTableType as AT, ConstrType, NullTestType, ObjectType as OT, BoolExprType

from dbtool import ddl


@dataclass
class TableModel:
    columns: dict[str, ddl.TypeRef | None] = field(default_factory=dict)
    not_null: set[str] = field(default_factory=set)
    checks: dict[str, tuple[object, bool]] = field(default_factory=dict)  # name -> (expression, validated)


def not_null_columns(expr) -> set[str]:
    """Columns an expression proves non-null: ``col IS NOT NULL``, possibly inside AND."""
    if isinstance(expr, ast.NullTest) and expr.nulltesttype == NullTestType.IS_NOT_NULL \
            and isinstance(expr.arg, ast.ColumnRef):
        return {expr.arg.fields[-1].sval}
    if isinstance(expr, ast.BoolExpr) and expr.boolop == BoolExprType.AND_EXPR:
        out = set()
        for a in expr.args or ():
            out |= not_null_columns(a)
        return out
    return set()


class SchemaModel:
    """Tables, columns, CHECKs and function volatility, as far as the migrations show them."""

    def __init__(self):
        self.tables: dict[str, TableModel] = {}
        self.functions: dict[str, str] = {}

    def table(self, name: str) -> TableModel | None:
        return self.tables.get(ddl.norm(name))

    def column_type(self, table: str, column: str) -> ddl.TypeRef | None:
        t = self.table(table)
        return t.columns.get(column) if t else None

    def proves_not_null(self, table: str, column: str) -> bool:
        t = self.table(table)
        return bool(t) and any(ok and column in not_null_columns(expr) for expr, ok in t.checks.values())

    def has_validated_check(self, table: str) -> bool:
        t = self.table(table)
        return bool(t) and any(ok for _, ok in t.checks.values())

    # ------------------------------------------------------------------ updates

    def apply(self, node) -> None:
        fn = getattr(self, "_" + type(node).__name__, None)
        if fn is not None:
            fn(node)

    def _CreateStmt(self, node: ast.CreateStmt) -> None:
        name = ddl.rel_name(node.relation)
        t = TableModel()
        for elt in node.tableElts or ():
            if isinstance(elt, ast.ColumnDef):
                t.columns[elt.colname] = ddl.type_ref(elt.typeName)
                if ddl.is_not_null(elt):
                    t.not_null.add(elt.colname)
                for c in ddl.constraints_of(elt, ConstrType.CONSTR_CHECK):
                    t.checks[c.conname or f"{node.relation.relname}_{elt.colname}_check"] = (c.raw_expr, True)
            elif isinstance(elt, ast.Constraint) and elt.contype == ConstrType.CONSTR_CHECK:
                t.checks[elt.conname or f"{node.relation.relname}_check{len(t.checks)}"] = (elt.raw_expr, True)
        self.tables[ddl.norm(name)] = t

    def _CreateTableAsStmt(self, node) -> None:
        self.tables[ddl.norm(ddl.rel_name(node.into.rel))] = TableModel()

    def _AlterTableStmt(self, node: ast.AlterTableStmt) -> None:
        if node.objtype != OT.OBJECT_TABLE:
            return
        t = self.tables.setdefault(ddl.norm(ddl.rel_name(node.relation)), TableModel())
        for cmd in node.cmds or ():
            st, d = cmd.subtype, cmd.def_
            if st == AT.AT_AddColumn:
                t.columns[d.colname] = ddl.type_ref(d.typeName)
                if ddl.is_not_null(d):
                    t.not_null.add(d.colname)
            elif st == AT.AT_DropColumn:
                t.columns.pop(cmd.name, None)
                t.not_null.discard(cmd.name)
            elif st == AT.AT_AlterColumnType:
                t.columns[cmd.name] = ddl.type_ref(d.typeName)
            elif st == AT.AT_SetNotNull:
                t.not_null.add(cmd.name)
            elif st == AT.AT_DropNotNull:
                t.not_null.discard(cmd.name)
            elif st == AT.AT_AddConstraint and isinstance(d, ast.Constraint) and d.contype == ConstrType.CONSTR_CHECK:
                t.checks[d.conname or f"{node.relation.relname}_check{len(t.checks)}"] = (d.raw_expr, not d.skip_validation)
            elif st == AT.AT_ValidateConstraint and cmd.name in t.checks:
                t.checks[cmd.name] = (t.checks[cmd.name][0], True)
            elif st == AT.AT_DropConstraint:
                t.checks.pop(cmd.name, None)

    def _DropStmt(self, node: ast.DropStmt) -> None:
        if node.removeType == OT.OBJECT_TABLE:
            for obj in node.objects or ():
                self.tables.pop(ddl.norm(ddl.qual_name(obj)), None)
        elif node.removeType in (OT.OBJECT_FUNCTION, OT.OBJECT_PROCEDURE, OT.OBJECT_ROUTINE):
            for obj in node.objects or ():
                self.functions.pop(ddl.qual_name(obj).lower(), None)

    def _RenameStmt(self, node: ast.RenameStmt) -> None:
        if node.relation is None:
            return
        key = ddl.norm(ddl.rel_name(node.relation))
        t = self.tables.get(key)
        if t is None:
            return
        if node.renameType == OT.OBJECT_TABLE:
            schema = node.relation.schemaname
            self.tables[ddl.norm(f"{schema}.{node.newname}" if schema else node.newname)] = self.tables.pop(key)
        elif node.renameType == OT.OBJECT_COLUMN and node.subname in t.columns:
            t.columns[node.newname] = t.columns.pop(node.subname)
            if node.subname in t.not_null:
                t.not_null.discard(node.subname)
                t.not_null.add(node.newname)
        elif node.renameType == OT.OBJECT_TABCONSTRAINT and node.subname in t.checks:
            t.checks[node.newname] = t.checks.pop(node.subname)

    def _AlterObjectSchemaStmt(self, node) -> None:
        if node.objectType == OT.OBJECT_TABLE and node.relation is not None:
            t = self.tables.pop(ddl.norm(ddl.rel_name(node.relation)), None)
            if t is not None:
                self.tables[ddl.norm(f"{node.newschema}.{node.relation.relname}")] = t

    def _CreateFunctionStmt(self, node: ast.CreateFunctionStmt) -> None:
        level = "volatile"  # PostgreSQL's default when a function does not say
        for opt in node.options or ():
            if opt.defname == "volatility":
                level = opt.arg.sval
        name = ".".join(p.sval for p in node.funcname).lower()
        self.functions[name] = level

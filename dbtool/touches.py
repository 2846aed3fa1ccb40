"""What a script's statements touch, read from their pglast trees: tables written, created, dropped, renamed.

This is the static half of the checks: it decides, before anything runs, which tables get exact row counts
and which workload queries a migration could break.  The measured half (pg_locks, relfilenode,
pg_stat_xact_user_tables) catches what a parse tree cannot see: a DO block, a function, a trigger.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pglast import ast
from pglast.enums import AlterTableType, ObjectType


@dataclass(frozen=True, order=True)
class Name:
    """A relation as the script spells it; ``schema`` is None when the search_path decides."""

    schema: str | None
    name: str

    def __str__(self) -> str:
        return f"{self.schema}.{self.name}" if self.schema else self.name

    @classmethod
    def of(cls, rv) -> "Name":
        return cls(getattr(rv, "schemaname", None) or None, rv.relname)

    @classmethod
    def parse(cls, text: str) -> "Name":
        schema, _, name = text.strip().strip('"').rpartition(".")
        return cls(schema.strip('"') or None, name.strip('"'))


@dataclass
class Touches:
    """The union of what some statements do to tables."""

    writes: dict[Name, set[str]] = field(default_factory=dict)  # table -> {"insert", "delete", "alter", ...}
    created: set[Name] = field(default_factory=set)
    dropped: set[Name] = field(default_factory=set)
    truncated: set[Name] = field(default_factory=set)
    renamed: dict[Name, str] = field(default_factory=dict)
    dropped_columns: set[tuple[Name, str]] = field(default_factory=set)
    renamed_columns: dict[tuple[Name, str], str] = field(default_factory=dict)
    dropped_indexes: set[Name] = field(default_factory=set)
    constraints: set[Name] = field(default_factory=set)  # tables whose constraints or indexes may change
    disables_triggers: bool = False
    opaque: list[str] = field(default_factory=list)  # statements whose effects no parse tree shows

    def add(self, table: Name, action: str) -> None:
        self.writes.setdefault(table, set()).add(action)

    def merge(self, other: "Touches") -> "Touches":
        for t, acts in other.writes.items():
            self.writes.setdefault(t, set()).update(acts)
        self.created |= other.created
        self.dropped |= other.dropped
        self.truncated |= other.truncated
        self.renamed.update(other.renamed)
        self.dropped_columns |= other.dropped_columns
        self.renamed_columns.update(other.renamed_columns)
        self.dropped_indexes |= other.dropped_indexes
        self.constraints |= other.constraints
        self.disables_triggers |= other.disables_triggers
        self.opaque += other.opaque
        return self

    @property
    def tables(self) -> set[Name]:
        return set(self.writes)


_RELATION_STMTS = {  # statement -> action on its ``relation``
    ast.IndexStmt: "index", ast.ClusterStmt: "cluster", ast.CreateTrigStmt: "trigger",
    ast.RefreshMatViewStmt: "refresh", ast.RuleStmt: "rule", ast.CopyStmt: "copy",
}
_DML = {ast.InsertStmt: "insert", ast.UpdateStmt: "update", ast.DeleteStmt: "delete", ast.MergeStmt: "merge"}
_TABLE_OBJECTS = {ObjectType.OBJECT_TABLE, ObjectType.OBJECT_MATVIEW, ObjectType.OBJECT_FOREIGN_TABLE}
_CONSTRAINT_CMDS = {getattr(AlterTableType, n) for n in (
    "AT_AddConstraint", "AT_ReAddConstraint", "AT_AlterConstraint", "AT_ValidateConstraint", "AT_DropConstraint",
    "AT_AddIndex", "AT_ReAddIndex", "AT_AddIndexConstraint", "AT_AttachPartition", "AT_DetachPartition",
    "AT_AlterColumnType", "AT_ReplicaIdentity") if hasattr(AlterTableType, n)}
_DISABLE_TRIGGERS = {AlterTableType.AT_DisableTrig, AlterTableType.AT_DisableTrigAll, AlterTableType.AT_DisableTrigUser}


_CACHE: dict[int, tuple[object, Touches]] = {}


def of_script(script) -> Touches:
    """What a whole script touches (computed once per script; treat the result as read-only)."""
    hit = _CACHE.get(id(script))
    if hit is not None and hit[0] is script:
        return hit[1]
    out = Touches()
    for stmt in script.statements:
        out.merge(of_statement(stmt.node))
    if len(_CACHE) > 10_000:  # a long-lived process that loads many projects
        _CACHE.clear()
    _CACHE[id(script)] = (script, out)
    return out


def of_statement(node) -> Touches:
    t = Touches()
    for sub in walk(node):
        kind = type(sub)
        if kind in _DML and sub.relation is not None:
            t.add(Name.of(sub.relation), _DML[kind])
        elif kind is ast.AlterTableStmt:
            _alter_table(sub, t)
        elif kind in _RELATION_STMTS and getattr(sub, "relation", None) is not None:
            if kind is ast.CopyStmt and not sub.is_from:
                continue
            t.add(Name.of(sub.relation), _RELATION_STMTS[kind])
            if kind is ast.IndexStmt:
                t.constraints.add(Name.of(sub.relation))
        elif kind is ast.CreateStmt:
            t.created.add(Name.of(sub.relation))
            t.add(Name.of(sub.relation), "create")
        elif kind is ast.CreateTableAsStmt and sub.into is not None:
            t.created.add(Name.of(sub.into.rel))
            t.add(Name.of(sub.into.rel), "create")
        elif kind is ast.TruncateStmt:
            for rv in sub.relations or ():
                t.truncated.add(Name.of(rv))
                t.add(Name.of(rv), "truncate")
        elif kind is ast.DropStmt:
            _drop(sub, t)
        elif kind is ast.RenameStmt:
            _rename(sub, t)
        elif kind is ast.AlterObjectSchemaStmt and sub.relation is not None and sub.objectType in _TABLE_OBJECTS:
            t.add(Name.of(sub.relation), "set-schema")
            t.renamed[Name.of(sub.relation)] = f"{sub.newschema}.{sub.relation.relname}"
        elif kind is ast.VacuumStmt:
            for vr in sub.rels or ():
                if vr.relation is not None:
                    t.add(Name.of(vr.relation), "vacuum" if sub.is_vacuumcmd else "analyze")
        elif kind is ast.ReindexStmt and sub.relation is not None:
            t.add(Name.of(sub.relation), "reindex")
            t.constraints.add(Name.of(sub.relation))
        elif kind is ast.LockStmt:
            for rv in sub.relations or ():
                t.add(Name.of(rv), "lock")
        elif kind is ast.VariableSetStmt and (sub.name or "").lower() == "session_replication_role":
            t.disables_triggers = True
        elif kind in (ast.DoStmt, ast.CallStmt):
            t.opaque.append("DO block" if kind is ast.DoStmt else "CALL")
    return t


def _alter_table(node, t: Touches) -> None:
    if node.relation is None or node.objtype not in _TABLE_OBJECTS:
        return
    table = Name.of(node.relation)
    t.add(table, "alter")
    for cmd in node.cmds or ():
        if cmd.subtype == AlterTableType.AT_DropColumn and cmd.name:
            t.dropped_columns.add((table, cmd.name))
        elif cmd.subtype in _DISABLE_TRIGGERS:
            t.disables_triggers = True
        if cmd.subtype in _CONSTRAINT_CMDS:
            t.constraints.add(table)


def _drop(node, t: Touches) -> None:
    if node.removeType in _TABLE_OBJECTS or node.removeType == ObjectType.OBJECT_VIEW:
        for obj in node.objects or ():
            parts = [s.sval for s in obj]
            name = Name(parts[-2] if len(parts) > 1 else None, parts[-1])
            t.dropped.add(name)
            t.add(name, "drop")
    elif node.removeType == ObjectType.OBJECT_INDEX:
        for obj in node.objects or ():
            parts = [s.sval for s in obj]
            t.dropped_indexes.add(Name(parts[-2] if len(parts) > 1 else None, parts[-1]))
    elif node.removeType == ObjectType.OBJECT_SCHEMA:
        t.opaque.append("DROP SCHEMA")


def _rename(node, t: Touches) -> None:
    if node.relation is None:
        return
    table = Name.of(node.relation)
    if node.renameType == ObjectType.OBJECT_COLUMN:
        t.add(table, "rename-column")
        t.renamed_columns[(table, node.subname)] = node.newname
    elif node.renameType in _TABLE_OBJECTS or node.renameType == ObjectType.OBJECT_VIEW:
        t.add(table, "rename")
        t.renamed[table] = node.newname


def walk(node):
    """Every pglast node below ``node`` (itself included), depth first."""
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, ast.Node):
            yield n
            for attr in type(n).__slots__:
                v = getattr(n, attr, None)
                if isinstance(v, (ast.Node, tuple, list)):
                    stack.append(v)
        elif isinstance(n, (tuple, list)):
            stack.extend(n)


def relations_read(node) -> set[Name]:
    """Tables and views a query reads (CTE names excluded)."""
    ctes = {c.ctename for n in walk(node) if isinstance(n, ast.WithClause) for c in (n.ctes or ())}
    return {Name.of(n) for n in walk(node) if isinstance(n, ast.RangeVar)
            and not (n.schemaname is None and n.relname in ctes)}


def functions_called(node) -> set[str]:
    """Unqualified names of the functions a statement calls (``pg_catalog.`` ones left out)."""
    out = set()
    for n in walk(node):
        if isinstance(n, ast.FuncCall):
            parts = [s.sval for s in n.funcname]
            if not (len(parts) > 1 and parts[0] == "pg_catalog"):
                out.add(parts[-1])
    return out

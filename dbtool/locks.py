"""What a statement locks, rewrites and scans, read from its parse tree (PostgreSQL's documented lock levels).

This is data shared by the validate rules and the performance-impact prediction: ``effects(node, ctx)``
returns one ``Effect`` per table.  When an ``ALTER TABLE`` has several sub-commands, the strongest lock of any
of them is taken for the whole statement (that is what PostgreSQL does), and a rewrite or scan by any of
them makes the statement rewrite or scan.

Statement kinds this module does not know return no effect and ``analyse(...).understood`` is False: the
caller must report them as "not analysed", never treat them as safe.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pglast import ast
from pglast.enums import AlterTableType as AT, ConstrType, ObjectType as OT, ReindexObjectType, TransactionStmtKind

from dbtool import ddl

DEFAULT_TARGET_VERSION = 13

ACCESS_SHARE, ROW_SHARE, ROW_EXCLUSIVE = "ACCESS SHARE", "ROW SHARE", "ROW EXCLUSIVE"
SHARE_UPDATE_EXCLUSIVE, SHARE, SHARE_ROW_EXCLUSIVE = "SHARE UPDATE EXCLUSIVE", "SHARE", "SHARE ROW EXCLUSIVE"
EXCLUSIVE, ACCESS_EXCLUSIVE = "EXCLUSIVE", "ACCESS EXCLUSIVE"
LEVELS = (ACCESS_SHARE, ROW_SHARE, ROW_EXCLUSIVE, SHARE_UPDATE_EXCLUSIVE, SHARE, SHARE_ROW_EXCLUSIVE, EXCLUSIVE,
          ACCESS_EXCLUSIVE)

# What the application sees while the lock is held (plain SELECT; INSERT/UPDATE/DELETE).  SHARE UPDATE
# EXCLUSIVE and weaker only make other DDL, VACUUM and ANALYZE wait.
BLOCKS = {ACCESS_SHARE: "nothing", ROW_SHARE: "nothing", ROW_EXCLUSIVE: "nothing", SHARE_UPDATE_EXCLUSIVE: "nothing",
          SHARE: "writes", SHARE_ROW_EXCLUSIVE: "writes", EXCLUSIVE: "writes", ACCESS_EXCLUSIVE: "reads and writes"}


def stronger(a: str, b: str) -> str:
    return a if LEVELS.index(a) >= LEVELS.index(b) else b


def at_least(lock: str, floor: str) -> bool:
    return LEVELS.index(lock) >= LEVELS.index(floor)


@dataclass(frozen=True)
class Effect:
    """What one statement does to one table.  ``table`` is ``schema.name`` as written, or None when the parse
    tree does not name it (``DROP INDEX``: the index's table; ``REINDEX DATABASE``); ``index`` names the index then.
    """

    table: str | None
    lock: str
    rewrites: bool = False
    scans: bool = False
    blocks: str = ""
    reason: str = ""
    index: str | None = None

    def __post_init__(self):
        if not self.blocks:
            object.__setattr__(self, "blocks", BLOCKS[self.lock])
        if self.rewrites:
            object.__setattr__(self, "scans", True)

    @property
    def target(self) -> str:
        return self.table or (f"the table of index {self.index}" if self.index else "every table concerned")


@dataclass
class Analysis:
    effects: list[Effect] = field(default_factory=list)
    understood: bool = True
    note: str = ""  # for a statement not understood: which part (e.g. an unknown ALTER TABLE sub-command)


class LockContext:
    """What the lock facts depend on besides the statement: the target PostgreSQL version and, where known,
    the schema before the statement.  The validate rules pass a richer subclass."""

    def __init__(self, target_version: int | None = None, *, pg_version: int | None = None):
        self.target_version = int(target_version or pg_version or DEFAULT_TARGET_VERSION)

    def column_type(self, table: str, column: str) -> ddl.TypeRef | None:
        return None

    def function_volatility(self) -> dict[str, str]:
        return {}

    def proves_not_null(self, table: str, column: str) -> bool:
        """A validated CHECK (column IS NOT NULL) exists on the table (lets SET NOT NULL skip its scan on 12+)."""
        return False

    def has_validated_check(self, table: str) -> bool:
        return False


Context = LockContext


def effects(node, ctx: LockContext | None = None) -> list[Effect]:
    """One Effect per table the statement locks; [] for statements with no table lock and for unknown ones."""
    return analyse(node, ctx).effects


def understood(node) -> bool:
    return analyse(node, None).understood


def analyse(node, ctx: LockContext | None = None) -> Analysis:
    ctx = ctx or LockContext()
    handler = _HANDLERS.get(type(node))
    if handler is None:
        if type(node) in _NO_TABLE_LOCK:
            return Analysis()
        return Analysis([], False, type(node).__name__)
    return handler(node, ctx)


def _merge(items: list[Effect]) -> list[Effect]:
    """One Effect per table: the strongest lock, any rewrite, any scan, the reasons together."""
    out: dict[tuple, Effect] = {}
    for e in items:
        key = (ddl.norm(e.table), e.index if e.table is None else None)
        prev = out.get(key)
        if prev is None:
            out[key] = e
            continue
        lock = stronger(prev.lock, e.lock)
        blocks = prev.blocks if LEVELS.index(prev.lock) >= LEVELS.index(e.lock) else e.blocks
        reasons = prev.reason if e.reason in prev.reason else f"{prev.reason}; {e.reason}"
        out[key] = Effect(prev.table, lock, prev.rewrites or e.rewrites, prev.scans or e.scans, blocks, reasons,
                          prev.index)
    return list(out.values())


# ---------------------------------------------------------------------------------------------- ALTER TABLE

_AE_SUBCOMMANDS = {
    AT.AT_DropColumn: "DROP COLUMN", AT.AT_ColumnDefault: "SET/DROP DEFAULT", AT.AT_CookedColumnDefault: "SET DEFAULT",
    AT.AT_DropNotNull: "DROP NOT NULL", AT.AT_DropExpression: "DROP EXPRESSION",
    AT.AT_SetStorage: "SET STORAGE", AT.AT_SetCompression: "SET COMPRESSION", AT.AT_AddIdentity: "ADD IDENTITY",
    AT.AT_SetIdentity: "SET identity option", AT.AT_DropIdentity: "DROP IDENTITY", AT.AT_DropConstraint: "DROP CONSTRAINT",
    AT.AT_AlterConstraint: "ALTER CONSTRAINT", AT.AT_AddInherit: "INHERIT", AT.AT_DropInherit: "NO INHERIT",
    AT.AT_AddOf: "OF type", AT.AT_DropOf: "NOT OF", AT.AT_ReplicaIdentity: "REPLICA IDENTITY",
    AT.AT_EnableRowSecurity: "ENABLE ROW LEVEL SECURITY", AT.AT_DisableRowSecurity: "DISABLE ROW LEVEL SECURITY",
    AT.AT_ForceRowSecurity: "FORCE ROW LEVEL SECURITY", AT.AT_NoForceRowSecurity: "NO FORCE ROW LEVEL SECURITY",
    AT.AT_ChangeOwner: "OWNER TO", AT.AT_GenericOptions: "OPTIONS", AT.AT_AlterColumnGenericOptions: "column OPTIONS",
    AT.AT_EnableRule: "ENABLE RULE", AT.AT_EnableAlwaysRule: "ENABLE ALWAYS RULE",
    AT.AT_EnableReplicaRule: "ENABLE REPLICA RULE", AT.AT_DisableRule: "DISABLE RULE",
    AT.AT_ReplaceRelOptions: "SET options", AT.AT_AddColumnToView: "ADD COLUMN",
}
_SUE_SUBCOMMANDS = {
    AT.AT_SetStatistics: "SET STATISTICS", AT.AT_ClusterOn: "CLUSTER ON", AT.AT_DropCluster: "SET WITHOUT CLUSTER",
    AT.AT_SetOptions: "column SET (...)", AT.AT_ResetOptions: "column RESET (...)",
    AT.AT_DetachPartitionFinalize: "DETACH PARTITION ... FINALIZE",
}
_TRIGGER_SUBCOMMANDS = {
    AT.AT_EnableTrig: "ENABLE TRIGGER", AT.AT_EnableAlwaysTrig: "ENABLE ALWAYS TRIGGER",
    AT.AT_EnableReplicaTrig: "ENABLE REPLICA TRIGGER", AT.AT_EnableTrigAll: "ENABLE TRIGGER ALL",
    AT.AT_EnableTrigUser: "ENABLE TRIGGER USER", AT.AT_DisableTrig: "DISABLE TRIGGER",
    AT.AT_DisableTrigAll: "DISABLE TRIGGER ALL", AT.AT_DisableTrigUser: "DISABLE TRIGGER USER",
}
_REWRITE_SUBCOMMANDS = {
    AT.AT_SetTableSpace: "SET TABLESPACE", AT.AT_SetLogged: "SET LOGGED", AT.AT_SetUnLogged: "SET UNLOGGED",
    AT.AT_SetAccessMethod: "SET ACCESS METHOD", AT.AT_SetExpression: "SET EXPRESSION (of a stored generated column)",
}
# Storage parameters that only need SHARE UPDATE EXCLUSIVE (reloptions.c); any other takes ACCESS EXCLUSIVE.
_SUE_RELOPTIONS = {"fillfactor", "toast_tuple_target", "parallel_workers", "vacuum_index_cleanup", "vacuum_truncate",
                   "log_autovacuum_min_duration", "fastupdate", "gin_pending_list_limit", "deduplicate_items",
                   "pages_per_range", "autosummarize", "buffering", "n_distinct", "n_distinct_inherited"}


def _reloption_lock(defs) -> str:
    for d in defs or ():
        name = (getattr(d, "defname", "") or "").lower()
        ns = (getattr(d, "defnamespace", "") or "").lower()
        if name in _SUE_RELOPTIONS or name.startswith("autovacuum_") or ns == "toast" and name.startswith("autovacuum"):
            continue
        return ACCESS_EXCLUSIVE
    return SHARE_UPDATE_EXCLUSIVE


def add_column_effect(table: str, col, ctx: LockContext) -> tuple[bool, bool, str, list[Effect]]:
    """(rewrites, scans, reason, effects on other tables) of ``ADD COLUMN col`` on an existing table."""
    default = ddl.column_default(col)
    tref = ddl.type_ref(col.typeName)
    others: list[Effect] = []
    rewrites, scans, why = False, False, [f"ADD COLUMN {col.colname}"]
    if tref and tref.name in ddl.SERIAL_TYPES:
        rewrites = True
        why.append(f"{tref.name} fills a sequence value into every row")
    elif ddl.is_identity(col):
        rewrites = True
        why.append("an identity column fills a sequence value into every row")
    elif ddl.stored_generated(col):
        rewrites = True
        why.append("a stored generated column is computed for every row")
    elif default is not None and not ddl.is_null_const(default):
        level, culprit = ddl.volatility(default, ctx.function_volatility())
        if ctx.target_version < 11:
            rewrites = True
            why.append(f"before PostgreSQL 11 any default is written into every row")
        elif level in ("volatile", "unknown"):
            rewrites = True
            why.append(f"the default {culprit or 'expression'} is {'volatile' if level == 'volatile' else 'not known to be STABLE or IMMUTABLE'}, so it is computed for every row")
    if ddl.is_not_null(col) and (default is None or ddl.is_null_const(default)) and not rewrites:
        scans = True
        why.append("NOT NULL without a default is checked against every row")
    for c in ddl.constraints_of(col):
        if c.contype == ConstrType.CONSTR_CHECK:
            scans = True
            why.append("its CHECK is verified against every row")
        elif c.contype in (ConstrType.CONSTR_UNIQUE, ConstrType.CONSTR_PRIMARY):
            scans = True
            why.append("its index is built")
        elif c.contype == ConstrType.CONSTR_FOREIGN and c.pktable is not None:
            ref = ddl.rel_name(c.pktable)
            others.append(Effect(ref, SHARE_ROW_EXCLUSIVE, reason=f"foreign key from {table}.{col.colname} adds triggers to {ref}"))
    return rewrites, scans, ", ".join(why[:1]) + (": " + "; ".join(why[1:]) if len(why) > 1 else ""), others


def constraint_effect(table: str, con, ctx: LockContext) -> tuple[str, bool, list[Effect], str]:
    """(lock, scans, effects on other tables, reason) of ``ADD CONSTRAINT``."""
    name = con.conname or "(unnamed)"
    not_valid = bool(con.skip_validation)
    if con.contype == ConstrType.CONSTR_FOREIGN:
        ref = ddl.rel_name(con.pktable)
        reason = f"ADD FOREIGN KEY {name}" + (" NOT VALID" if not_valid else ": every row is checked against " + ref)
        return SHARE_ROW_EXCLUSIVE, not not_valid, [Effect(ref, SHARE_ROW_EXCLUSIVE, False, not not_valid, "",
                                                           f"foreign key {name} from {table} adds triggers to {ref}")], reason
    if con.contype in (ConstrType.CONSTR_UNIQUE, ConstrType.CONSTR_PRIMARY, ConstrType.CONSTR_EXCLUSION):
        kind = {ConstrType.CONSTR_UNIQUE: "UNIQUE", ConstrType.CONSTR_PRIMARY: "PRIMARY KEY",
                ConstrType.CONSTR_EXCLUSION: "EXCLUDE"}[con.contype]
        if con.indexname:
            return ACCESS_EXCLUSIVE, False, [], f"ADD {kind} USING INDEX {con.indexname}"
        return ACCESS_EXCLUSIVE, True, [], f"ADD {kind} {name}: its index is built"
    if con.contype in (ConstrType.CONSTR_CHECK, ConstrType.CONSTR_NOTNULL):
        kind = "CHECK" if con.contype == ConstrType.CONSTR_CHECK else "NOT NULL"
        return ACCESS_EXCLUSIVE, not not_valid, [], f"ADD {kind} {name}" + (" NOT VALID" if not_valid else ": every row is checked")
    return ACCESS_EXCLUSIVE, False, [], f"ADD CONSTRAINT {name}"


def _alter_table(node: ast.AlterTableStmt, ctx: LockContext) -> Analysis:
    table = ddl.rel_name(node.relation)
    items: list[Effect] = []
    unknown: list[str] = []
    kind = node.objtype
    if kind == OT.OBJECT_TYPE:
        return Analysis()  # ALTER TYPE ... ADD/DROP/ALTER ATTRIBUTE of a composite type: no table
    for cmd in node.cmds or ():
        st = cmd.subtype
        d = cmd.def_
        if kind == OT.OBJECT_INDEX:
            lock = SHARE_UPDATE_EXCLUSIVE if st in (AT.AT_SetRelOptions, AT.AT_ResetRelOptions, AT.AT_AttachPartition,
                                                    AT.AT_SetStatistics) else ACCESS_EXCLUSIVE
            items.append(Effect(None, lock, st == AT.AT_SetTableSpace, False, "", f"ALTER INDEX {table}", index=table))
            continue
        if st == AT.AT_AddColumn:
            rewrites, scans, why, others = add_column_effect(table, d, ctx)
            items.append(Effect(table, ACCESS_EXCLUSIVE, rewrites, scans, "", why))
            items += others
        elif st == AT.AT_AlterColumnType:
            new = ddl.type_ref(d.typeName)
            change = ddl.type_change(ctx.column_type(table, cmd.name), new, using=d.raw_default is not None,
                                     target_version=ctx.target_version)
            items.append(Effect(table, ACCESS_EXCLUSIVE, change.verdict != "none", change.verdict != "none", "",
                                f"ALTER COLUMN {cmd.name} TYPE {new}: " + (change.reason if change.verdict != "unknown"
                                                                         else "may rewrite: " + change.reason)))
        elif st == AT.AT_SetNotNull:
            skip = ctx.target_version >= 12 and ctx.proves_not_null(table, cmd.name)
            items.append(Effect(table, ACCESS_EXCLUSIVE, False, not skip, "", f"SET NOT NULL on {cmd.name}" + (
                ": a validated CHECK proves it, no scan" if skip else ": every row is checked")))
        elif st in (AT.AT_AddConstraint, AT.AT_ReAddConstraint):
            lock, scans, others, why = constraint_effect(table, d, ctx)
            items.append(Effect(table, lock, False, scans, "", why))
            items += others
        elif st == AT.AT_AddIndexConstraint:
            items.append(Effect(table, ACCESS_EXCLUSIVE, False, False, "", "ADD CONSTRAINT ... USING INDEX"))
        elif st == AT.AT_ValidateConstraint:
            items.append(Effect(table, SHARE_UPDATE_EXCLUSIVE, False, True, "", f"VALIDATE CONSTRAINT {cmd.name}: scans the table"))
        elif st in _REWRITE_SUBCOMMANDS:
            items.append(Effect(table, ACCESS_EXCLUSIVE, True, True, "", f"{_REWRITE_SUBCOMMANDS[st]} copies the table"))
        elif st in _TRIGGER_SUBCOMMANDS:
            items.append(Effect(table, SHARE_ROW_EXCLUSIVE, False, False, "", _TRIGGER_SUBCOMMANDS[st]))
        elif st in _SUE_SUBCOMMANDS:
            items.append(Effect(table, SHARE_UPDATE_EXCLUSIVE, False, False, "", _SUE_SUBCOMMANDS[st]))
        elif st in (AT.AT_SetRelOptions, AT.AT_ResetRelOptions):
            items.append(Effect(table, _reloption_lock(d), False, False, "", "SET/RESET storage parameters"))
        elif st == AT.AT_AttachPartition:
            part = ddl.rel_name(d.name)
            parent_lock = SHARE_UPDATE_EXCLUSIVE if ctx.target_version >= 12 else ACCESS_EXCLUSIVE
            checked = ctx.has_validated_check(part)
            items.append(Effect(table, parent_lock, False, False, "", f"ATTACH PARTITION {part}"))
            items.append(Effect(part, ACCESS_EXCLUSIVE, False, not checked, "",
                                f"attached as a partition of {table}" + ("" if checked else ": every row is checked against the bound")))
        elif st == AT.AT_DetachPartition:
            part = ddl.rel_name(d.name)
            lock = SHARE_UPDATE_EXCLUSIVE if d.concurrent else ACCESS_EXCLUSIVE
            verb = "DETACH PARTITION ... CONCURRENTLY" if d.concurrent else "DETACH PARTITION"
            items.append(Effect(table, lock, False, False, "", f"{verb} {part}"))
            items.append(Effect(part, lock, False, False, "", f"detached from {table}"))
        elif st in _AE_SUBCOMMANDS:
            items.append(Effect(table, ACCESS_EXCLUSIVE, False, False, "", _AE_SUBCOMMANDS[st]))
        else:
            # ALTER TABLE takes ACCESS EXCLUSIVE unless documented otherwise; say we did not analyse it.
            items.append(Effect(table, ACCESS_EXCLUSIVE, False, False, "", st.name))
            unknown.append(st.name)
    return Analysis(_merge(items), not unknown, f"AlterTableStmt ({', '.join(unknown)})" if unknown else "")


# ---------------------------------------------------------------------------------------------- other statements

def _create_table(node: ast.CreateStmt, ctx) -> Analysis:
    table = ddl.rel_name(node.relation)
    items = []
    for elt in node.tableElts or ():
        cons = elt.constraints if isinstance(elt, ast.ColumnDef) else [elt]
        for c in cons or ():
            if isinstance(c, ast.Constraint) and c.contype == ConstrType.CONSTR_FOREIGN and c.pktable is not None:
                ref = ddl.rel_name(c.pktable)
                if ddl.norm(ref) != ddl.norm(table):
                    items.append(Effect(ref, SHARE_ROW_EXCLUSIVE, reason=f"foreign key from new table {table} adds triggers to {ref}"))
    if node.partbound is not None:
        for parent in node.inhRelations or ():
            items.append(Effect(ddl.rel_name(parent), ACCESS_EXCLUSIVE, reason=f"CREATE TABLE {table} PARTITION OF it"))
    return Analysis(_merge(items))


def _index(node: ast.IndexStmt, ctx) -> Analysis:
    table = ddl.rel_name(node.relation)
    name = node.idxname or "(unnamed)"
    if node.concurrent:
        return Analysis([Effect(table, SHARE_UPDATE_EXCLUSIVE, False, True, "", f"CREATE INDEX CONCURRENTLY {name}: two scans, waits for older transactions")])
    return Analysis([Effect(table, SHARE, False, True, "", f"CREATE INDEX {name}: the build scans and sorts the table")])


_DROP_RELATION = {OT.OBJECT_TABLE: "table", OT.OBJECT_VIEW: "view", OT.OBJECT_MATVIEW: "materialized view",
                  OT.OBJECT_SEQUENCE: "sequence", OT.OBJECT_FOREIGN_TABLE: "foreign table"}
_DROP_ON_TABLE = {OT.OBJECT_TRIGGER: "trigger", OT.OBJECT_POLICY: "policy", OT.OBJECT_RULE: "rule"}


def _drop(node: ast.DropStmt, ctx) -> Analysis:
    items = []
    for obj in node.objects or ():
        name = ddl.qual_name(obj)
        if node.removeType in _DROP_RELATION:
            items.append(Effect(name, ACCESS_EXCLUSIVE, reason=f"DROP {_DROP_RELATION[node.removeType].upper()} {name}"))
        elif node.removeType == OT.OBJECT_INDEX:
            lock = SHARE_UPDATE_EXCLUSIVE if node.concurrent else ACCESS_EXCLUSIVE
            verb = "DROP INDEX CONCURRENTLY" if node.concurrent else "DROP INDEX"
            items.append(Effect(None, lock, reason=f"{verb} {name}", index=name))
        elif node.removeType in _DROP_ON_TABLE:
            table = name.rpartition(".")[0]
            items.append(Effect(table, ACCESS_EXCLUSIVE, reason=f"DROP {_DROP_ON_TABLE[node.removeType].upper()} {name.rpartition('.')[2]}"))
        elif node.removeType == OT.OBJECT_SCHEMA:
            items.append(Effect(None, ACCESS_EXCLUSIVE, reason=f"DROP SCHEMA {name}: every object in it"))
    return Analysis(items)


def _truncate(node: ast.TruncateStmt, ctx) -> Analysis:
    return Analysis([Effect(ddl.rel_name(r), ACCESS_EXCLUSIVE, reason="TRUNCATE") for r in node.relations or ()])


def _vacuum(node: ast.VacuumStmt, ctx) -> Analysis:
    opts = {(d.defname or "").lower() for d in node.options or ()}
    full = node.is_vacuumcmd and "full" in opts
    verb = "VACUUM FULL" if full else "VACUUM" if node.is_vacuumcmd else "ANALYZE"
    lock = ACCESS_EXCLUSIVE if full else SHARE_UPDATE_EXCLUSIVE
    rels = [ddl.rel_name(r.relation) for r in node.rels or () if getattr(r, "relation", None) is not None] or [None]
    return Analysis([Effect(t, lock, full, True, "", f"{verb}" + (" rewrites the table" if full else " reads the table"))
                     for t in rels])


def _cluster(node: ast.ClusterStmt, ctx) -> Analysis:
    table = ddl.rel_name(node.relation) if node.relation is not None else None
    return Analysis([Effect(table, ACCESS_EXCLUSIVE, True, True, "", "CLUSTER rewrites the table in index order"
                            + ("" if table else " (every previously clustered table)"))])


def _reindex(node: ast.ReindexStmt, ctx) -> Analysis:
    concurrent = any((getattr(p, "defname", "") or "").lower() == "concurrently" for p in node.params or ())
    name = ddl.rel_name(node.relation) if node.relation is not None else (node.name or "")
    is_index = node.kind == ReindexObjectType.REINDEX_OBJECT_INDEX
    is_table = node.kind == ReindexObjectType.REINDEX_OBJECT_TABLE
    if concurrent:
        e = Effect(name if is_table else None, SHARE_UPDATE_EXCLUSIVE, False, True, "", "REINDEX CONCURRENTLY builds new indexes beside the old",
                   index=name if is_index else None)
    else:
        # SHARE on the table, but ACCESS EXCLUSIVE on each index: planning a query opens every index of its
        # table, so reads stall too.
        e = Effect(name if is_table else None, SHARE, False, True, "reads and writes",
                   "REINDEX: SHARE on the table and ACCESS EXCLUSIVE on each index, which planning of every query needs",
                   index=name if is_index else None)
    return Analysis([e])


def _refresh(node: ast.RefreshMatViewStmt, ctx) -> Analysis:
    view = ddl.rel_name(node.relation)
    if node.concurrent:
        return Analysis([Effect(view, EXCLUSIVE, False, True, "writes", "REFRESH MATERIALIZED VIEW CONCURRENTLY: reads continue")])
    return Analysis([Effect(view, ACCESS_EXCLUSIVE, not node.skipData, not node.skipData, "",
                            "REFRESH MATERIALIZED VIEW recomputes the view while readers wait")])


_LOCK_MODES = {1: ACCESS_SHARE, 2: ROW_SHARE, 3: ROW_EXCLUSIVE, 4: SHARE_UPDATE_EXCLUSIVE, 5: SHARE,
               6: SHARE_ROW_EXCLUSIVE, 7: EXCLUSIVE, 8: ACCESS_EXCLUSIVE}


def _lock(node: ast.LockStmt, ctx) -> Analysis:
    mode = _LOCK_MODES.get(node.mode, ACCESS_EXCLUSIVE)
    return Analysis([Effect(ddl.rel_name(r), mode, reason=f"LOCK TABLE IN {mode} MODE, held until commit")
                     for r in node.relations or ()])


def _trigger(node: ast.CreateTrigStmt, ctx) -> Analysis:
    return Analysis([Effect(ddl.rel_name(node.relation), SHARE_ROW_EXCLUSIVE, reason=f"CREATE TRIGGER {node.trigname}")])


def _dml(node, ctx) -> Analysis:
    table = ddl.rel_name(node.relation)
    if isinstance(node, ast.InsertStmt):
        sel = node.selectStmt
        scans = isinstance(sel, ast.SelectStmt) and bool(sel.fromClause)
        return Analysis([Effect(table, ROW_EXCLUSIVE, False, scans, "", "INSERT ... SELECT" if scans else "INSERT")])
    verb = {ast.UpdateStmt: "UPDATE", ast.DeleteStmt: "DELETE", ast.MergeStmt: "MERGE"}[type(node)]
    where = getattr(node, "whereClause", None)
    return Analysis([Effect(table, ROW_EXCLUSIVE, False, where is None, "",
                            f"{verb}" + (" of every row" if where is None and verb != "MERGE" else "") + ": row locks on the rows it changes")])


_COMMENT_ON_RELATION = {OT.OBJECT_TABLE, OT.OBJECT_VIEW, OT.OBJECT_MATVIEW, OT.OBJECT_COLUMN, OT.OBJECT_INDEX,
                        OT.OBJECT_SEQUENCE, OT.OBJECT_FOREIGN_TABLE}


def _comment(node: ast.CommentStmt, ctx) -> Analysis:
    if node.objtype not in _COMMENT_ON_RELATION:
        return Analysis()
    name = ddl.qual_name(node.object)
    if node.objtype == OT.OBJECT_COLUMN:
        name = name.rpartition(".")[0]
    if node.objtype == OT.OBJECT_INDEX:
        return Analysis([Effect(None, SHARE_UPDATE_EXCLUSIVE, reason="COMMENT ON INDEX", index=name)])
    return Analysis([Effect(name, SHARE_UPDATE_EXCLUSIVE, reason="COMMENT ON")])


_RENAME_RELATION = {OT.OBJECT_TABLE, OT.OBJECT_VIEW, OT.OBJECT_MATVIEW, OT.OBJECT_FOREIGN_TABLE, OT.OBJECT_SEQUENCE,
                    OT.OBJECT_COLUMN, OT.OBJECT_TABCONSTRAINT, OT.OBJECT_TRIGGER, OT.OBJECT_POLICY, OT.OBJECT_RULE}


def _rename(node: ast.RenameStmt, ctx) -> Analysis:
    if node.renameType == OT.OBJECT_INDEX:
        lock = SHARE_UPDATE_EXCLUSIVE if ctx.target_version >= 12 else ACCESS_EXCLUSIVE
        name = ddl.rel_name(node.relation)
        return Analysis([Effect(None, lock, reason=f"ALTER INDEX {name} RENAME", index=name)])
    if node.renameType in _RENAME_RELATION and node.relation is not None:
        table = ddl.rel_name(node.relation)
        what = {OT.OBJECT_COLUMN: f"RENAME COLUMN {node.subname}", OT.OBJECT_TABCONSTRAINT: f"RENAME CONSTRAINT {node.subname}",
                OT.OBJECT_TRIGGER: f"ALTER TRIGGER {node.subname} RENAME"}.get(node.renameType, "RENAME TO")
        return Analysis([Effect(table, ACCESS_EXCLUSIVE, reason=f"{what} {node.newname}")])
    return Analysis()


def _set_schema(node: ast.AlterObjectSchemaStmt, ctx) -> Analysis:
    if node.relation is not None and node.objectType in _DROP_RELATION:
        return Analysis([Effect(ddl.rel_name(node.relation), ACCESS_EXCLUSIVE, reason=f"SET SCHEMA {node.newschema}")])
    return Analysis()


def _view(node: ast.ViewStmt, ctx) -> Analysis:
    if node.replace:
        view = ddl.rel_name(node.view)
        return Analysis([Effect(view, ACCESS_EXCLUSIVE, reason="CREATE OR REPLACE VIEW")])
    return Analysis()


def _stats(node: ast.CreateStatsStmt, ctx) -> Analysis:
    out = []
    for r in node.relations or ():
        if isinstance(r, ast.RangeVar):
            out.append(Effect(ddl.rel_name(r), SHARE_UPDATE_EXCLUSIVE, reason="CREATE STATISTICS"))
    return Analysis(out)


def _transaction(node: ast.TransactionStmt, ctx) -> Analysis:
    return Analysis()


_HANDLERS = {
    ast.AlterTableStmt: _alter_table, ast.CreateStmt: _create_table, ast.IndexStmt: _index, ast.DropStmt: _drop,
    ast.TruncateStmt: _truncate, ast.VacuumStmt: _vacuum, ast.ClusterStmt: _cluster, ast.ReindexStmt: _reindex,
    ast.RefreshMatViewStmt: _refresh, ast.LockStmt: _lock, ast.CreateTrigStmt: _trigger, ast.InsertStmt: _dml,
    ast.UpdateStmt: _dml, ast.DeleteStmt: _dml, ast.MergeStmt: _dml, ast.CommentStmt: _comment,
    ast.RenameStmt: _rename, ast.AlterObjectSchemaStmt: _set_schema, ast.ViewStmt: _view,
    ast.CreateStatsStmt: _stats, ast.TransactionStmt: _transaction,
}

# Understood statements that lock no existing table in a way that matters to the application: they create
# new objects, change session settings, or touch catalogs only.  Anything not here and not handled above is
# "not analysed" (DO blocks, CALL, COPY, CREATE POLICY, ALTER DOMAIN ... ADD CONSTRAINT, event triggers, ...).
_NO_TABLE_LOCK = {
    ast.CreateEnumStmt, ast.AlterEnumStmt, ast.CompositeTypeStmt, ast.CreateDomainStmt, ast.CreateRangeStmt,
    ast.CreateFunctionStmt, ast.AlterFunctionStmt, ast.CreateSeqStmt, ast.AlterSeqStmt, ast.CreateSchemaStmt,
    ast.CreateExtensionStmt, ast.AlterExtensionStmt, ast.CreateTableAsStmt, ast.GrantStmt, ast.GrantRoleStmt,
    ast.AlterDefaultPrivilegesStmt, ast.VariableSetStmt, ast.VariableShowStmt, ast.DefineStmt, ast.CreateRoleStmt,
    ast.AlterRoleStmt, ast.AlterRoleSetStmt, ast.DropRoleStmt, ast.AlterOwnerStmt, ast.CreateCastStmt,
    ast.SelectStmt, ast.AlterSystemStmt, ast.CreatedbStmt, ast.DropdbStmt, ast.CreateTableSpaceStmt,
    ast.DropTableSpaceStmt, ast.AlterDatabaseSetStmt, ast.CreateConversionStmt, ast.CreateOpClassStmt,
    ast.CreateOpFamilyStmt,
    ast.CreateTransformStmt, ast.CreateFdwStmt, ast.CreateForeignServerStmt, ast.CreateUserMappingStmt,
    ast.AlterTSConfigurationStmt, ast.AlterTSDictionaryStmt, ast.DropOwnedStmt, ast.ReassignOwnedStmt,
    ast.SecLabelStmt, ast.AlterObjectDependsStmt, ast.AlterCollationStmt, ast.AlterTypeStmt,
    ast.CheckPointStmt, ast.DiscardStmt, ast.NotifyStmt, ast.ListenStmt, ast.UnlistenStmt,
}

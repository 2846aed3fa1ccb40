"""Rule, Finding and the Context a rule sees.

A rule is a small unit with a stable kebab-case id (its module is the snake_case of the id), a default
severity, a category (L lock/rewrite, D destructive, B backward-incompatible, F data-dependent,
T transaction handling, H hygiene), a message that names the lock taken and what it blocks, and a ``help``
line with the safer way.  ``check(stmt, ctx)`` is called for every statement in file order; ``finish(ctx)``
once at the end of the file.

Context facts (documented because verdicts depend on them):

- ``target_version``: the oldest PostgreSQL the migrations must be safe on (dbtool.toml ``target_version``,
  default 13), e.g. a constant default is metadata-only on 11+.
- ``in_transaction(stmt)``: dbtool's runner wraps a file in one transaction unless one of its statements
  must run outside a transaction block (``sql.requires_autocommit``); explicit BEGIN/COMMIT in the file
  change that from that statement on.
- ``is_new(table)``: the table was created earlier in the same file; it is empty and invisible to other
  sessions, so lock and rewrite rules do not apply to it.
- ``runner_sets_lock_timeout`` is always True: the runner does ``SET LOCAL lock_timeout`` from dbtool.toml
  before every migration.  ``lock_timeout_off`` is True only when that setting is "0", or after the file
  itself runs ``SET lock_timeout = 0`` (or ``RESET lock_timeout``); only then does ``missing-lock-timeout`` fire.
- For a rollback, ``up`` holds what its up-script created, so a down-script that drops what its up-script
  made is not reported as data loss.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import ClassVar, Iterable

from pglast import ast
from pglast.enums import AlterTableType as AT, ConstrType, ObjectType as OT, TransactionStmtKind as TK

from dbtool import ddl, locks
from dbtool.config import parse_duration
from dbtool.rules.model import SchemaModel

SEVERITIES = ("error", "warning", "info")
CATEGORIES = {"L": "lock / rewrite", "D": "destructive", "B": "backward-incompatible", "F": "data-dependent",
              "T": "transaction handling", "H": "schema hygiene", "M": "meta"}


@dataclass(frozen=True)
class Finding:
    """One finding of validate, located in a file relative to the project root."""

    rule: str
    severity: str
    file: str
    line: int
    column: int
    version: str | None
    message: str
    help: str = ""
    end_line: int | None = None

    def as_json(self) -> dict:
        return {"rule": self.rule, "severity": self.severity, "file": self.file, "line": self.line,
                "column": self.column, "version": self.version, "message": self.message, "help": self.help,
                "end_line": self.end_line}


@dataclass
class Report:
    """What a rule yields: a message, optionally its own help and the statement it is about."""

    message: str
    help: str | None = None
    stmt: object | None = None
    severity: str | None = None  # a milder verdict than the rule's default (e.g. "may rewrite"); config still wins


@dataclass(frozen=True)
class Example:
    """SQL for the meta-tests and the doc pages.  ``up`` makes the example a rollback of that up-script;
    ``before`` is SQL of earlier migrations (the schema the statement runs on)."""

    sql: str
    target_version: int | None = None
    up: str | None = None
    before: str | None = None
    lock_timeout: str | None = None
    note: str = ""


class Rule:
    """Base class of every rule; subclasses set the class attributes and override ``check``."""

    id: ClassVar[str] = ""
    severity: ClassVar[str] = "warning"
    category: ClassVar[str] = "L"
    summary: ClassVar[str] = ""
    help: ClassVar[str] = ""
    kinds: ClassVar[tuple] = ()  # statement node types the rule looks at; empty: every statement
    bad: ClassVar[tuple[Example, ...]] = ()
    ok: ClassVar[tuple[Example, ...]] = ()

    def check(self, stmt, ctx: "Context") -> Iterable[Report]:
        return ()

    def finish(self, ctx: "Context") -> Iterable[Report]:
        return ()


@dataclass
class UpFacts:
    """What an up-script created or changed, so that its down-script may undo it without a finding."""

    tables: set[str] = field(default_factory=set)
    columns: set[tuple[str, str]] = field(default_factory=set)
    indexes: dict[str, bool] = field(default_factory=dict)  # index -> built concurrently
    constraints: set[tuple[str, str]] = field(default_factory=set)
    not_null: set[tuple[str, str]] = field(default_factory=set)
    renamed_tables: dict[str, str] = field(default_factory=dict)  # new name -> old name
    renamed_columns: dict[tuple[str, str], str] = field(default_factory=dict)  # (table, new) -> old
    schemas: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, script) -> "UpFacts":
        up = cls()
        for s in script.statements:
            n = s.node
            if isinstance(n, ast.CreateStmt):
                t = ddl.norm(ddl.rel_name(n.relation))
                up.tables.add(t)
                for elt in n.tableElts or ():
                    if isinstance(elt, ast.Constraint) and elt.conname:
                        up.constraints.add((t, elt.conname))
                    elif isinstance(elt, ast.ColumnDef):
                        up.columns.add((t, elt.colname))
            elif isinstance(n, ast.CreateTableAsStmt):
                up.tables.add(ddl.norm(ddl.rel_name(n.into.rel)))
            elif isinstance(n, ast.IndexStmt) and n.idxname:
                schema = n.relation.schemaname
                up.indexes[ddl.norm(f"{schema}.{n.idxname}" if schema else n.idxname)] = bool(n.concurrent)
            elif isinstance(n, ast.AlterTableStmt):
                t = ddl.norm(ddl.rel_name(n.relation))
                for cmd in n.cmds or ():
                    if cmd.subtype == AT.AT_AddColumn:
                        up.columns.add((t, cmd.def_.colname))
                    elif cmd.subtype == AT.AT_AddConstraint and getattr(cmd.def_, "conname", None):
                        up.constraints.add((t, cmd.def_.conname))
                    elif cmd.subtype == AT.AT_SetNotNull:
                        up.not_null.add((t, cmd.name))
            elif isinstance(n, ast.RenameStmt) and n.relation is not None:
                t = ddl.norm(ddl.rel_name(n.relation))
                if n.renameType == OT.OBJECT_TABLE:
                    schema = n.relation.schemaname
                    up.renamed_tables[ddl.norm(f"{schema}.{n.newname}" if schema else n.newname)] = t
                elif n.renameType == OT.OBJECT_COLUMN:
                    up.renamed_columns[(t, n.newname)] = n.subname
            elif isinstance(n, ast.CreateSchemaStmt):
                up.schemas.add(n.schemaname)
        return up


_LOCK_TIMEOUT_ZERO = re.compile(r"^\s*0+(\.0+)?\s*(ms|s|min|h)?\s*$")


def _is_zero_duration(value) -> bool:
    try:
        return parse_duration(value, "lock_timeout") == 0
    except Exception:
        return bool(_LOCK_TIMEOUT_ZERO.match(str(value)))


class Context(locks.LockContext):
    """Everything a rule may consult about the file and the project around a statement."""

    runner_sets_lock_timeout = True

    def __init__(self, script, *, file: str = "", version: str | None = None, kind: str = "migration",
                 target_version: int | None = None, lock_timeout: str | int | float = "5s",
                 model: SchemaModel | None = None, up=None):
        super().__init__(target_version)
        self.script = script
        self.file = file
        self.version = version
        self.kind = kind  # "migration" or "rollback"
        self.model = model or SchemaModel()
        self.up: UpFacts | None = UpFacts.of(up) if up is not None else None
        self.wrapped = script.transactional
        self.config_lock_timeout_off = _is_zero_duration(lock_timeout)
        self.lock_timeout_off = self.config_lock_timeout_off
        self.index = 0
        self.state: dict = {}  # per-file memory of rules that need it (keyed by rule id)
        self._analysis: dict[int, locks.Analysis] = {}
        self.created: dict[str, int] = {}
        self.created_indexes: dict[str, int] = {}
        self.tx: list[int | None] = []
        self._prepare()

    # ------------------------------------------------------------------ file facts

    def _prepare(self) -> None:
        tx = 0 if self.wrapped else None
        counter = 0
        for s in self.script.statements:
            n = s.node
            if isinstance(n, ast.TransactionStmt):
                if n.kind in (TK.TRANS_STMT_BEGIN, TK.TRANS_STMT_START):
                    if tx is None:
                        counter += 1
                        tx = counter
                    self.tx.append(tx)
                    continue
                if n.kind in (TK.TRANS_STMT_COMMIT, TK.TRANS_STMT_ROLLBACK, TK.TRANS_STMT_PREPARE):
                    self.tx.append(tx)
                    tx = None
                    continue
            self.tx.append(tx)
            name = None
            if isinstance(n, ast.CreateStmt):
                name = ddl.rel_name(n.relation)
            elif isinstance(n, ast.CreateTableAsStmt):
                name = ddl.rel_name(n.into.rel)
            elif isinstance(n, ast.ViewStmt):
                name = ddl.rel_name(n.view)
            if name and ddl.norm(name) not in self.created:
                self.created[ddl.norm(name)] = s.index
            if isinstance(n, ast.IndexStmt) and n.idxname:
                schema = n.relation.schemaname
                self.created_indexes.setdefault(ddl.norm(f"{schema}.{n.idxname}" if schema else n.idxname), s.index)

    def is_new(self, table: str | None) -> bool:
        """The table was created earlier in this file (so it is empty and nobody else can see it)."""
        if not table:
            return False
        at = self.created.get(ddl.norm(table))
        return at is not None and at < self.index

    def is_new_index(self, name: str) -> bool:
        at = self.created_indexes.get(ddl.norm(name))
        return at is not None and at < self.index

    def created_later(self, table: str) -> bool:
        at = self.created.get(ddl.norm(table))
        return at is not None and at > self.index

    def tx_of(self, stmt) -> int | None:
        return self.tx[stmt.index]

    def in_transaction(self, stmt) -> bool:
        """The statement runs inside a transaction block (the runner's, or an explicit BEGIN)."""
        return self.tx[stmt.index] is not None

    def analysis(self, stmt) -> locks.Analysis:
        a = self._analysis.get(stmt.index)
        if a is None:
            a = self._analysis[stmt.index] = locks.analyse(stmt.node, self)
        return a

    def effects(self, stmt) -> list[locks.Effect]:
        return self.analysis(stmt).effects

    def existing_effects(self, stmt) -> list[locks.Effect]:
        """Effects on tables that exist before this file (a new table's locks bother nobody)."""
        return [e for e in self.effects(stmt) if not self.is_new(e.table)]

    def is_rollback(self) -> bool:
        return self.kind == "rollback"

    # ------------------------------------------------------------------ schema facts (LockContext)

    def column_type(self, table, column):
        return self.model.column_type(table, column)

    def function_volatility(self):
        return self.model.functions

    def proves_not_null(self, table, column):
        return self.model.proves_not_null(table, column)

    def has_validated_check(self, table):
        return self.model.has_validated_check(table)

    # ------------------------------------------------------------------ advancing

    def advance(self, stmt, *, update_model: bool = True) -> None:
        """Called by the runner after every rule has seen ``stmt``."""
        n = stmt.node
        if isinstance(n, ast.VariableSetStmt) and (n.name or "").lower() == "lock_timeout":
            if n.kind.name == "VAR_RESET" or n.kind.name == "VAR_SET_DEFAULT":
                self.lock_timeout_off = True
            elif n.args:
                arg = n.args[0].val
                value = getattr(arg, "ival", getattr(arg, "sval", None))
                self.lock_timeout_off = _is_zero_duration(value)
        if update_model:
            self.model.apply(n)


def lock_text(e: locks.Effect) -> str:
    """``ACCESS EXCLUSIVE lock on orders, which blocks reads and writes`` and the like."""
    if e.blocks == "nothing":
        return f"{e.lock} lock on {e.target}, which lets reads and writes continue"
    return f"{e.lock} lock on {e.target}, which blocks {e.blocks}"


def strongest(effects: list[locks.Effect]) -> locks.Effect | None:
    best = None
    for e in effects:
        if best is None or locks.LEVELS.index(e.lock) > locks.LEVELS.index(best.lock):
            best = e
    return best


def alter_cmds(node, *subtypes):
    """The sub-commands of an ALTER TABLE (on a table) with one of ``subtypes``."""
    if not isinstance(node, ast.AlterTableStmt) or node.objtype != OT.OBJECT_TABLE:
        return []
    return [c for c in node.cmds or () if not subtypes or c.subtype in subtypes]


def added_constraints(node, *contypes):
    """(cmd, Constraint) of ``ADD CONSTRAINT`` sub-commands of the given types."""
    out = []
    for cmd in alter_cmds(node, AT.AT_AddConstraint):
        if isinstance(cmd.def_, ast.Constraint) and (not contypes or cmd.def_.contype in contypes):
            out.append((cmd, cmd.def_))
    return out


def table_of(node) -> str:
    return ddl.rel_name(getattr(node, "relation", None))


def column_defs(node):
    """(table, ColumnDef, new_table) of CREATE TABLE columns and ADD COLUMN sub-commands."""
    if isinstance(node, ast.CreateStmt):
        t = ddl.rel_name(node.relation)
        return [(t, e, True) for e in node.tableElts or () if isinstance(e, ast.ColumnDef)]
    return [(table_of(node), c.def_, False) for c in alter_cmds(node, AT.AT_AddColumn)]


def _key_columns(node, contype, keys: str) -> set[str]:
    """Columns named by ``contype`` constraints in a CREATE TABLE or added by an ALTER TABLE.

    ``keys`` is the constraint's column list: ``keys`` for primary keys, ``fk_attrs`` for foreign keys.
    """
    out = set()
    if isinstance(node, ast.CreateStmt):
        for e in node.tableElts or ():
            if isinstance(e, ast.ColumnDef) and ddl.constraints_of(e, contype):
                out.add(e.colname)
            elif isinstance(e, ast.Constraint) and e.contype == contype:
                out |= {k.sval for k in getattr(e, keys) or ()}
    for _, con in added_constraints(node, contype):
        out |= {k.sval for k in getattr(con, keys) or ()}
    return out


def primary_key_columns(node) -> set[str]:
    """Columns of the PRIMARY KEY declared in a CREATE TABLE (column or table constraint) or added later."""
    return _key_columns(node, ConstrType.CONSTR_PRIMARY, "keys")


def foreign_key_columns(node) -> set[str]:
    """Columns that reference another table, however the foreign key is declared."""
    out = _key_columns(node, ConstrType.CONSTR_FOREIGN, "fk_attrs")
    for _, col, _ in column_defs(node) if isinstance(node, ast.AlterTableStmt) else ():
        if ddl.constraints_of(col, ConstrType.CONSTR_FOREIGN):
            out.add(col.colname)
    return out

"""Facts read from pglast DDL trees: relation names, column types, default volatility, type changes.

Shared by the lock knowledge (dbtool.locks) and the validate rules (dbtool.rules), so that both read a
statement the same way.  Everything here is pure: no database, only the parse tree and PostgreSQL's
documented behaviour.
"""

from __future__ import annotations

from dataclasses import dataclass

from pglast import ast

# Type names as PostgreSQL spells them internally; the parser already maps most SQL spellings
# (integer -> pg_catalog.int4), this covers what authors may write by hand.
_ALIASES = {
    "integer": "int4", "int": "int4", "bigint": "int8", "smallint": "int2",
    "character varying": "varchar", "character": "bpchar", "char": "bpchar", "decimal": "numeric",
    "double precision": "float8", "real": "float4", "boolean": "bool",
    "timestamp with time zone": "timestamptz", "timestamp without time zone": "timestamp",
    "time with time zone": "timetz", "time without time zone": "time",
    "serial4": "serial", "serial8": "bigserial", "serial2": "smallserial",
    "varbit": "varbit", "bit varying": "varbit",
}
SERIAL_TYPES = {"serial", "bigserial", "smallserial"}


def rel_name(rv) -> str:
    """``schema.name`` or ``name`` of a RangeVar, as written (the parser already folded case)."""
    if rv is None:
        return ""
    schema = getattr(rv, "schemaname", None)
    return f"{schema}.{rv.relname}" if schema else rv.relname


def qual_name(parts) -> str:
    """A dotted name from a list of pglast String nodes (DROP/COMMENT objects)."""
    if parts is None:
        return ""
    if isinstance(parts, ast.String):
        return parts.sval
    if isinstance(parts, ast.TypeName):
        return ".".join(p.sval for p in parts.names)
    if isinstance(parts, ast.ObjectWithArgs):
        return ".".join(p.sval for p in parts.objname)
    return ".".join(getattr(p, "sval", str(p)) for p in parts)


def norm(name: str | None) -> str:
    """The key under which a relation is remembered: ``public.`` is the default search path."""
    name = (name or "").strip()
    return name[7:] if name.startswith("public.") else name


@dataclass(frozen=True)
class TypeRef:
    """A column type: canonical name, type modifiers (e.g. length, precision), array or not."""

    name: str
    mods: tuple = ()
    array: bool = False

    def __str__(self) -> str:
        text = self.name + (f"({','.join(str(m) for m in self.mods)})" if self.mods else "")
        return text + ("[]" if self.array else "")


def type_ref(tn) -> TypeRef | None:
    """TypeRef of a pglast TypeName (None when absent)."""
    if tn is None or not getattr(tn, "names", None):
        return None
    parts = [p.sval for p in tn.names]
    name = parts[-1].lower()
    name = _ALIASES.get(name, name)
    mods = []
    for m in tn.typmods or ():
        val = getattr(m, "val", None)
        mods.append(getattr(val, "ival", getattr(val, "sval", None)) if val is not None else None)
    return TypeRef(name, tuple(mods), bool(tn.arrayBounds))


# --------------------------------------------------------------------- volatility of expressions

# Functions whose every call may return a different value: a column default that calls one must be
# computed per existing row, which is a table rewrite.
VOLATILE_FUNCTIONS = {
    "random", "random_normal", "setseed", "clock_timestamp", "timeofday", "gen_random_uuid", "uuidv4", "uuidv7",
    "uuid_generate_v1", "uuid_generate_v1mc", "uuid_generate_v4", "nextval", "setval", "currval", "lastval",
    "txid_current", "pg_current_xact_id", "gen_random_bytes", "gen_salt", "crypt",
}
# Built-ins known to be STABLE or IMMUTABLE that commonly appear in defaults (from pg_proc.provolatile).
NON_VOLATILE_FUNCTIONS = {
    "now", "statement_timestamp", "transaction_timestamp", "current_timestamp", "current_date", "localtimestamp",
    "lower", "upper", "btrim", "trim", "ltrim", "rtrim", "length", "char_length", "substr", "substring", "replace",
    "coalesce", "nullif", "greatest", "least", "concat", "concat_ws", "md5", "to_char", "to_date", "to_timestamp",
    "to_number", "date_trunc", "date_part", "extract", "make_date", "make_time", "make_timestamp",
    "make_timestamptz", "make_interval", "timezone", "abs", "round", "trunc", "floor", "ceil", "ceiling",
    "to_json", "to_jsonb", "json_build_object", "jsonb_build_object", "json_build_array", "jsonb_build_array",
    "jsonb_object", "array_fill", "array_length", "current_setting", "current_user", "session_user",
    "current_schema", "current_database", "inet_server_addr", "pg_backend_pid", "int4range", "int8range",
    "numrange", "tsrange", "tstzrange", "daterange", "format", "left", "right", "repeat", "lpad", "rpad",
    "encode", "decode", "sha256", "sha512", "digest", "gen_random_int",
}
NON_VOLATILE_FUNCTIONS -= VOLATILE_FUNCTIONS

_ORDER = {"immutable": 0, "stable": 1, "unknown": 2, "volatile": 3}


def _worst(*levels: str) -> str:
    return max(levels, key=_ORDER.__getitem__, default="immutable")


def func_name(fc) -> str:
    return ".".join(p.sval for p in fc.funcname).lower()


def volatility(expr, known=None) -> tuple[str, str | None]:
    """(level, culprit): level is immutable/stable/volatile/unknown; culprit names the function that decided.

    ``known`` maps a function name to the volatility declared by a CREATE FUNCTION seen earlier.
    """
    known = known or {}
    if expr is None or isinstance(expr, (ast.A_Const, ast.SQLValueFunction, ast.ParamRef)):
        return ("stable" if isinstance(expr, ast.SQLValueFunction) else "immutable"), None
    if isinstance(expr, ast.TypeCast):
        return volatility(expr.arg, known)
    if isinstance(expr, ast.FuncCall):
        full = func_name(expr)
        short = full.rpartition(".")[2]
        if short in VOLATILE_FUNCTIONS:
            level = "volatile"
        elif full in known or short in known:
            level = known.get(full, known.get(short))
        elif short in NON_VOLATILE_FUNCTIONS and full.partition(".")[0] in (short, "pg_catalog"):
            level = "stable"
        else:
            level = "unknown"
        culprit = f"{full}()" if level in ("volatile", "unknown") else None
        for arg in expr.args or ():
            sub, who = volatility(arg, known)
            if _ORDER[sub] > _ORDER[level]:
                level, culprit = sub, who
        return level, culprit
    children = []
    if isinstance(expr, ast.A_Expr):
        children = [expr.lexpr, expr.rexpr]
    elif isinstance(expr, (ast.BoolExpr, ast.CoalesceExpr, ast.MinMaxExpr)):
        children = list(expr.args or ())
    elif isinstance(expr, ast.A_ArrayExpr):
        children = list(expr.elements or ())
    elif isinstance(expr, ast.RowExpr):
        children = list(expr.args or ())
    elif isinstance(expr, ast.NullTest):
        children = [expr.arg]
    elif isinstance(expr, ast.CaseExpr):
        children = [expr.arg, expr.defresult] + [x for w in expr.args or () for x in (w.expr, w.result)]
    elif isinstance(expr, (list, tuple)):
        children = list(expr)
    else:
        return "unknown", type(expr).__name__
    level, culprit = "immutable", None
    for child in children:
        if child is None:
            continue
        sub, who = volatility(child, known)
        if _ORDER[sub] > _ORDER[level]:
            level, culprit = sub, who
    return level, culprit


def is_null_const(expr) -> bool:
    if isinstance(expr, ast.TypeCast):
        return is_null_const(expr.arg)
    return isinstance(expr, ast.A_Const) and bool(expr.isnull)


# --------------------------------------------------------------------- column definitions

def constraints_of(coldef, *kinds):
    return [c for c in coldef.constraints or () if isinstance(c, ast.Constraint) and (not kinds or c.contype in kinds)]


def column_default(coldef):
    """The DEFAULT expression of a ColumnDef, or None."""
    from pglast.enums import ConstrType

    for c in constraints_of(coldef, ConstrType.CONSTR_DEFAULT):
        return c.raw_expr
    return getattr(coldef, "raw_default", None)


def is_identity(coldef) -> bool:
    from pglast.enums import ConstrType

    return bool(constraints_of(coldef, ConstrType.CONSTR_IDENTITY))


def stored_generated(coldef) -> bool:
    from pglast.enums import ConstrType

    return any(c.generated_kind == "s" for c in constraints_of(coldef, ConstrType.CONSTR_GENERATED))


def is_not_null(coldef) -> bool:
    from pglast.enums import ConstrType

    return bool(coldef.is_not_null) or bool(constraints_of(coldef, ConstrType.CONSTR_NOTNULL, ConstrType.CONSTR_PRIMARY))


# --------------------------------------------------------------------- type changes

_TYPMOD_WIDENING = {"varchar", "varbit", "numeric", "timestamp", "timestamptz", "time", "timetz", "interval", "bit"}
_INT_WIDTH = {"int2": 2, "int4": 4, "int8": 8, "float4": 4, "float8": 8}


@dataclass(frozen=True)
class TypeChange:
    """What ``ALTER COLUMN ... TYPE`` does: ``verdict`` is none / rewrite / unknown; ``narrows`` when values may not fit."""

    verdict: str
    reason: str
    narrows: bool = False


def type_change(old: TypeRef | None, new: TypeRef | None, *, using: bool = False, target_version: int = 13) -> TypeChange:
    """Whether changing a column from ``old`` to ``new`` rewrites the table (PostgreSQL's ALTER TABLE notes)."""
    if new is None:
        return TypeChange("unknown", "the new type is not known")
    if old is None:
        return TypeChange("unknown", "the column's current type is not known from the migrations before it")
    narrows = _narrows(old, new)
    if using:
        return TypeChange("rewrite", "a USING expression recomputes every row", narrows)
    if old == new:
        return TypeChange("none", "the type does not change")
    if old.array != new.array:
        return TypeChange("rewrite", f"{old} and {new} are not binary compatible", narrows)
    if old.name == new.name and old.name in _TYPMOD_WIDENING:
        if not new.mods:
            return TypeChange("none", f"removing the limit of {old} only changes the catalog")
        if old.mods and _mods_wider(old.name, old.mods, new.mods):
            return TypeChange("none", f"{old} -> {new} only relaxes the limit")
        return TypeChange("rewrite", f"{old} -> {new} tightens the limit, so every value is checked and rewritten", narrows)
    if {old.name, new.name} <= {"varchar", "text"}:
        if new.name == "text" or not new.mods:
            return TypeChange("none", f"{old} -> {new} is binary compatible")
        return TypeChange("rewrite", f"{old} -> {new} adds a length limit, so every value is checked", True)
    if old.name == "cidr" and new.name == "inet":
        return TypeChange("none", "cidr -> inet is binary compatible")
    if {old.name, new.name} == {"timestamp", "timestamptz"} and target_version >= 12:
        return TypeChange("unknown", "timestamp <-> timestamptz skips the rewrite only when the session TimeZone is UTC "
                                     "(PostgreSQL 12+), and indexes on the column are rebuilt either way")
    return TypeChange("rewrite", f"{old} -> {new} is not binary compatible", narrows)


def _mods_wider(name: str, old: tuple, new: tuple) -> bool:
    try:
        if name == "numeric":
            op, os_ = (list(old) + [0])[:2]
            np_, ns = (list(new) + [0])[:2]
            return ns == os_ and np_ >= op
        if name == "interval":
            return old == new
        return new[0] >= old[0]
    except (TypeError, IndexError):
        return False


def _narrows(old: TypeRef, new: TypeRef) -> bool:
    """True when some value of ``old`` may not fit ``new`` (so the change can fail on production data)."""
    if old.name in _INT_WIDTH and new.name in _INT_WIDTH and old.name[:3] == new.name[:3]:
        return _INT_WIDTH[new.name] < _INT_WIDTH[old.name]
    if old.name == "int8" and new.name in ("int2", "int4"):
        return True
    if old.name in ("text", "varchar") and new.name in ("varchar", "bpchar") and new.mods:
        return not (old.name == new.name and old.mods and new.mods[0] >= old.mods[0])
    if old.name == new.name and old.mods and new.mods and old.name in _TYPMOD_WIDENING:
        return not _mods_wider(old.name, old.mods, new.mods)
    if old.name == new.name == "numeric" and old.mods == () and new.mods:
        return True
    return False


def walk(node):
    """Every pglast node below ``node`` (depth first), ``node`` included."""
    stack = [node]
    while stack:
        n = stack.pop()
        if n is None:
            continue
        if isinstance(n, (list, tuple)):
            stack.extend(n)
            continue
        if not isinstance(n, ast.Node):
            continue
        yield n
        for slot in n.__slots__:
            v = getattr(n, slot, None)
            if isinstance(v, (ast.Node, list, tuple)):
                stack.append(v)

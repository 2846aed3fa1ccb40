"""Schema snapshots taken from the catalogs, and the differences between two of them.

A snapshot is what validate's round trip (S2 must equal S0), clone (target
must equal source) and backup checks compare.  It is one catalog query (one
round trip), keyed by stable names, never OIDs, so that snapshots of two
databases compare::

    before = snapshot.take(conn)
    ...  # up, then down
    for d in snapshot.diff(before, snapshot.take(conn)):
        print(d.describe("rollbacks/2025.01.003__x.sql"))

Keys are ``"<kind> <qualified name>"``: ``table public.subscriptions``,
``column public.subscriptions.price``, ``index public.subscriptions_status_idx``,
``constraint public.subscriptions.subscriptions_price_check``,
``function public.set_updated_at()``, ``trigger public.subscriptions.t``, ...
Identifiers inside names are quoted as ``quote_ident`` does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable

import psycopg

from dbtool import snapshot_sql
from dbtool.errors import DbtoolError

if TYPE_CHECKING:
    from psycopg import Connection

FORMAT = 1
DEFAULT_LOG_TABLE = "public.migration_log"
# dbtool's own bookkeeping (lock tables, scratch markers, ...) is never part of the user's schema.
ALWAYS_EXCLUDED = ("*.dbtool_*",)

# Logical order for reports: containers before what they contain.
KINDS = (
    "schema", "extension", "type", "sequence", "table", "column", "constraint", "index",
    "view", "materialized view", "function", "procedure", "aggregate", "trigger", "rule",
    "policy", "statistics", "default privileges", "event trigger",
)
_KIND_RANK = {kind: rank for rank, kind in enumerate(KINDS)}
_KINDS_LONGEST_FIRST = sorted(KINDS, key=len, reverse=True)
# Kinds that hang off a relation through their "table" attribute; when that relation
# itself appears or disappears they are folded into its difference.
_RELATIONS = ("table", "view", "materialized view")


@dataclass
class Snapshot:
    """A schema as a plain dict of objects: ``{"<kind> <name>": {attribute: value}}``."""

    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    server_version: int = 0

    def to_json(self, *, indent: int | None = None) -> str:
        return json.dumps({"format": FORMAT, "server_version": self.server_version, "objects": self.objects},
                          sort_keys=True, indent=indent, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> Snapshot:
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("objects"), dict):
            raise DbtoolError(f"not a dbtool schema snapshot (format {FORMAT} expected)")
        return cls(objects=data["objects"], server_version=int(data.get("server_version") or 0))

    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        return self.objects.get(f"{kind} {name}")


def _like_pattern(pattern: str) -> str:
    """``schema.table`` with ``*`` wildcards, as a LIKE pattern."""
    if "." not in pattern:
        pattern = f"*.{pattern}"
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%")


def take(
    conn: Connection,
    *,
    schemas: Iterable[str] | None = None,
    log_table: str = DEFAULT_LOG_TABLE,
    exclude_tables: Iterable[str] = frozenset(),
) -> Snapshot:
    """Snapshot the schema of the connected database in one catalog query.

    :param schemas: only these schemas (and extensions installed in them);
        ``None`` means every user schema plus database-wide objects (extensions,
        event triggers, global default privileges).
    :param log_table: dbtool's log table (``table`` means ``public.table``); it is
        left out with its columns, indexes, constraints, triggers and sequences.
    :param exclude_tables: further tables to leave out, as ``schema.table``
        patterns where ``*`` matches anything; tables named ``dbtool_*`` in any
        schema are always left out.
    :raises DbtoolError: when the catalogs cannot be read.
    """
    log_schema, _, log_name = log_table.rpartition(".")
    patterns = [f"{log_schema or 'public'}.{log_name}", *ALWAYS_EXCLUDED, *exclude_tables]
    version = conn.info.server_version
    params = {
        "schemas": list(schemas) if schemas is not None else None,
        "exclude": [_like_pattern(p) for p in patterns],
    }
    try:
        # Client-side binding sends the settings, the SELECT and the restore as one message.
        with psycopg.ClientCursor(conn) as cur:
            cur.execute(snapshot_sql.build(version), params)
            cur.nextset()
            cur.nextset()
            objects = cur.fetchone()[0]
    except psycopg.Error as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise DbtoolError(f"cannot take a schema snapshot of database {conn.info.dbname}: {reason}") from None
    return Snapshot(objects=objects, server_version=version)


@dataclass(frozen=True)
class Difference:
    """One way in which ``after`` differs from ``before``.

    ``change`` is ``"extra"`` (only in after), ``"missing"`` (only in before) or
    ``"changed"`` (``attribute`` differs; ``before``/``after`` are its values).
    For extra/missing objects ``before``/``after`` hold the object's attributes.
    """

    kind: str
    name: str
    change: str
    attribute: str | None = None
    before: Any = None
    after: Any = None

    @property
    def key(self) -> str:
        return f"{self.kind} {self.name}"

    def describe(self, actor: str | None = None) -> str:
        """A plain sentence, e.g. ``rollbacks/x.sql leaves index public.i behind``."""
        what = f"{self.kind} {self.name}"
        if self.change == "extra":
            return f"{actor} leaves {what} behind" if actor else f"{what} is extra"
        if self.change == "missing":
            return f"{actor} drops {what}, which existed before" if actor else f"{what} is missing"
        detail = _describe_change(self.attribute or "", self.before, self.after)
        return f"{actor} changes {what}: {detail}" if actor else f"{what} differs: {detail}"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "change": self.change, "attribute": self.attribute,
                "before": self.before, "after": self.after, "message": self.describe()}

    def __str__(self) -> str:
        return self.describe()


def split_key(key: str) -> tuple[str, str]:
    """``"materialized view public.v"`` → ``("materialized view", "public.v")``."""
    for kind in _KINDS_LONGEST_FIRST:
        if key.startswith(kind + " "):
            return kind, key[len(kind) + 1:]
    kind, _, name = key.partition(" ")
    return kind, name


def diff(before: Snapshot, after: Snapshot, *, ignore: Iterable[str] = frozenset()) -> list[Difference]:
    """What changed from ``before`` to ``after``, ordered by kind, then name, then attribute.

    :param ignore: attribute names (``"owner"``, ``"acl"``, ``"comment"``,
        ``"column order"``, ...) and/or kinds (``"extension"``) to leave out of the
        comparison.  Owners legitimately differ between databases; ACLs name the
        owner as ``(owner)``, so ignoring owners does not make grants differ.
    """
    ignore = frozenset(ignore)
    found: list[Difference] = []
    for key in before.objects.keys() | after.objects.keys():
        kind, name = split_key(key)
        if kind in ignore:
            continue
        b, a = before.objects.get(key), after.objects.get(key)
        if b is None:
            found.append(Difference(kind, name, "extra", None, None, a))
        elif a is None:
            found.append(Difference(kind, name, "missing", None, b, None))
        else:
            found.extend(_attribute_changes(kind, name, b, a, ignore))
    found = _fold_children(found)
    found.sort(key=lambda d: (_KIND_RANK.get(d.kind, len(KINDS)), d.kind, d.name, d.attribute or ""))
    return found


def _attribute_changes(kind: str, name: str, b: dict, a: dict, ignore: frozenset[str]) -> list[Difference]:
    out = []
    for attribute in sorted(b.keys() | a.keys()):
        if attribute in ignore:
            continue
        bv, av = b.get(attribute), a.get(attribute)
        if kind == "table" and attribute == "columns":
            # Added and dropped columns are reported as columns; here only the relative
            # order of the columns both sides have (a re-added column lands last).
            if "column order" in ignore:
                continue
            common = set(bv or ()) & set(av or ())
            bv = [c for c in bv or () if c in common]
            av = [c for c in av or () if c in common]
            attribute = "column order"
        if bv != av:
            out.append(Difference(kind, name, "changed", attribute, bv, av))
    return out


def _fold_children(found: list[Difference]) -> list[Difference]:
    """Drop columns, indexes, constraints, sequences ... of a relation that is itself extra or missing."""
    gone = {(d.change, d.name) for d in found if d.kind in _RELATIONS and d.change in ("extra", "missing")}
    kept = []
    for d in found:
        if d.change in ("extra", "missing") and d.kind not in _RELATIONS:
            attrs = d.after if d.change == "extra" else d.before
            attrs = attrs or {}
            parent = attrs.get("table") or attrs.get("domain")
            if parent and (d.change, parent) in gone:
                continue
            # A serial's sequence (OWNED BY table.column) comes and goes with its table;
            # names are quote_ident-ed, so "schema.table." cannot match another table's prefix.
            owner_column = attrs.get("owned_by") or ""
            if any(owner_column.startswith(name + ".") for change, name in gone if change == d.change):
                continue
        kept.append(d)
    return kept


def _describe_change(attribute: str, before: Any, after: Any) -> str:
    label = attribute.replace("_", " ")
    if isinstance(before, dict) and isinstance(after, dict):
        parts = [f"{k.replace('_', ' ')} {_show(before.get(k))} → {_show(after.get(k))}"
                 for k in sorted(before.keys() | after.keys()) if before.get(k) != after.get(k)]
        return f"{label}: " + ", ".join(parts)
    if isinstance(before, str) and isinstance(after, str) and ("\n" in before or "\n" in after):
        old, new = before.splitlines(), after.splitlines()
        for number in range(max(len(old), len(new))):
            o = old[number].strip() if number < len(old) else "(end)"
            n = new[number].strip() if number < len(new) else "(end)"
            if o != n:
                return f"{label} differs at line {number + 1}: {o} → {n}"
        return f"{label} differs in whitespace"
    return f"{label} {_show(before)} → {_show(after)}"


def _show(value: Any) -> str:
    if value is None or value == [] or value == {}:
        return "(none)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(_show(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return str(value)

"""Seeded rows: does a down-script destroy data that existed before its up-script ran?

Before an up-script, one made-up row goes into every existing table that the
up- or down-script names (ALTER TABLE, UPDATE, DROP TABLE, CREATE INDEX ON,
...).  After the down-script, the row must still be there with the same values
in the columns that existed before.  Values come from the column types and are
read back as text, so the comparison is the server's own canonical text.

Best effort and honest about it: a table whose row cannot be made up (a
column of a type we do not know, a foreign key to an empty table, a check
constraint the made-up row violates) is reported as skipped, never guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable

import psycopg
from pglast.visitors import Visitor
from psycopg import sql

from dbtool.sql import Script

_TABLE_OBJECTS = {"OBJECT_TABLE", "OBJECT_FOREIGN_TABLE"}


@dataclass
class SeededRow:
    table: str                      # schema-qualified, quoted as quote_ident does
    values: dict[str, str | None]   # column -> the server's text of the value (None for NULL)
    rows_after_seed: int            # count(*) right after the insert
    present: list[str] | None = None  # columns check() found holding their seeded value, for remove()


@dataclass
class Skipped:
    table: str
    reason: str


@dataclass
class Loss:
    table: str
    column: str | None  # None: the table lost its rows
    detail: str

    def describe(self) -> str:
        if self.column is None:
            return f"table {self.table} {self.detail}"
        return f"column {self.column} of {self.table} {self.detail}"


@dataclass
class Seeds:
    rows: list[SeededRow] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.rows)


# ---------------------------------------------------------------- which tables

class _Names(Visitor):
    def __init__(self):
        self.names: list[tuple[str | None, str]] = []

    def visit_RangeVar(self, _ancestors, node):
        if node.relpersistence != "t":
            self.names.append((node.schemaname, node.relname))

    def visit_DropStmt(self, _ancestors, node):
        if getattr(node.removeType, "name", str(node.removeType)) in _TABLE_OBJECTS:
            for obj in node.objects or ():
                parts = [p.sval for p in obj]
                self.names.append((parts[-2] if len(parts) > 1 else None, parts[-1]))


def touched_tables(scripts: Iterable[Script | None]) -> list[tuple[str | None, str]]:
    """Tables named by the statements of ``scripts``, in order of appearance, without repeats."""
    seen: list[tuple[str | None, str]] = []
    for script in scripts:
        if script is None:
            continue
        for stmt in script.statements:
            v = _Names()
            v(stmt.node)
            for name in v.names:
                if name not in seen:
                    seen.append(name)
    return seen


# ---------------------------------------------------------------- planting

# One round trip for everything about the tables: columns with their base types, foreign
# keys (to find a row to point at) and check constraints (to retry a refused row).
_TABLES = """
SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname),
  (SELECT jsonb_agg(jsonb_build_array(a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod),
          a.attnotnull OR COALESCE(t.typnotnull, false), a.attidentity <> '', a.attgenerated <> '', a.atthasdef,
          bt.typname, bt.typcategory, CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END,
          (SELECT e.enumlabel FROM pg_catalog.pg_enum e WHERE e.enumtypid = bt.oid ORDER BY e.enumsortorder LIMIT 1))
          ORDER BY a.attnum)
   FROM pg_catalog.pg_attribute a
   JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
   JOIN pg_catalog.pg_type bt ON bt.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
   WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),
  (SELECT jsonb_agg(jsonb_build_array(quote_ident(pn.nspname) || '.' || quote_ident(pc.relname),
          ARRAY(SELECT a.attname::text FROM unnest(co.conkey) WITH ORDINALITY k(n, o)
                JOIN pg_catalog.pg_attribute a ON a.attrelid = co.conrelid AND a.attnum = k.n ORDER BY k.o),
          ARRAY(SELECT a.attname::text FROM unnest(co.confkey) WITH ORDINALITY k(n, o)
                JOIN pg_catalog.pg_attribute a ON a.attrelid = co.confrelid AND a.attnum = k.n ORDER BY k.o)))
   FROM pg_catalog.pg_constraint co
   JOIN pg_catalog.pg_class pc ON pc.oid = co.confrelid
   JOIN pg_catalog.pg_namespace pn ON pn.oid = pc.relnamespace
   WHERE co.contype = 'f' AND co.conrelid = c.oid),
  (SELECT jsonb_object_agg(co.conname, jsonb_build_array(
          ARRAY(SELECT a.attname::text FROM unnest(co.conkey) k(n)
                JOIN pg_catalog.pg_attribute a ON a.attrelid = co.conrelid AND a.attnum = k.n),
          pg_catalog.pg_get_constraintdef(co.oid)))
   FROM pg_catalog.pg_constraint co WHERE co.contype = 'c' AND co.conrelid = c.oid)
FROM unnest(%s::text[]) WITH ORDINALITY AS x(name, ord)
JOIN pg_catalog.pg_class c ON c.oid = pg_catalog.to_regclass(x.name)
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p')
ORDER BY x.ord"""

CHECK_VIOLATION = "23514"
MAX_ATTEMPTS = 12
MAX_PARENT_DEPTH = 3


class _Cannot(Exception):
    pass


@dataclass
class _Column:
    name: str
    type: str
    not_null: bool
    identity: bool
    generated: bool
    has_default: bool
    base: str
    category: str
    typmod: int
    enum_label: str | None


@dataclass
class _Table:
    qname: str
    columns: list[_Column]
    fkeys: list[tuple[str, list[str], list[str]]]
    checks: dict[str, tuple[list[str], str]]


def plant(conn: psycopg.Connection, names: list[tuple[str | None, str]], *, exclude: Iterable[str] = (),
          counter: int = 1) -> Seeds:
    """Insert one row into each existing table of ``names``; tables in ``exclude`` (qualified) are left alone."""
    return _Planter(conn, set(exclude), counter).plant([sql.Identifier(*[p for p in name if p]).as_string(conn)
                                                        for name in names])


class _Planter:
    def __init__(self, conn: psycopg.Connection, exclude: set[str], counter: int):
        self.conn = conn
        self.exclude = exclude
        self.n = counter
        self.seeds = Seeds()
        self.done: set[str] = set()

    def plant(self, texts: list[str]) -> Seeds:
        if texts:
            for table in self._tables(texts):
                self._seed(table, 0)
        return self.seeds

    def _tables(self, texts: list[str]) -> list[_Table]:
        out = []
        for qname, cols, fkeys, checks in self.conn.execute(_TABLES, [texts]).fetchall():
            if qname in self.exclude:
                continue
            out.append(_Table(qname, [_Column(*c) for c in cols or ()], [tuple(f) for f in fkeys or ()],
                              {k: tuple(v) for k, v in (checks or {}).items()}))
        return out

    def _seed(self, table: _Table, depth: int) -> bool:
        if table.qname in self.done:
            return True
        self.done.add(table.qname)
        self.n += 1
        try:
            row = self._insert(table, depth)
        except _Cannot as why:
            self.seeds.skipped.append(Skipped(table.qname, str(why)))
            return False
        self.seeds.rows.append(row)
        return True

    def _parent_row(self, parent: str, refcols: list[str], depth: int) -> tuple | None:
        q = sql.SQL("SELECT {} FROM {} LIMIT 1").format(
            sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(c)) for c in refcols), sql.SQL(parent))
        ref = self.conn.execute(q).fetchone()
        if ref is None and depth < MAX_PARENT_DEPTH and parent not in self.done:
            # An empty parent gets a seeded row of its own (checked after the rollback like any other).
            for t in self._tables([parent]):
                if self._seed(t, depth + 1):
                    ref = self.conn.execute(q).fetchone()
        return ref

    def _insert(self, table: _Table, depth: int) -> SeededRow:
        by_name = {c.name: c for c in table.columns}
        fixed: dict[str, str | None] = {}
        for parent, cols, refcols in table.fkeys:
            if parent == table.qname:
                ref = None  # a row pointing at itself: NULL where allowed
            else:
                ref = self._parent_row(parent, refcols, depth)
            if ref is None and any(by_name[c].not_null for c in cols):
                raise _Cannot(f"its foreign key to {parent} needs a row there, and dbtool could not make one")
            fixed.update(zip(cols, ref or [None] * len(cols)))
        # Candidate values per column, tried in order when a check constraint refuses the row.
        choices: dict[str, list[str | None]] = {}
        for c in table.columns:
            if c.generated or c.name in fixed:
                continue
            options = _candidates(c, self.n)
            if not c.not_null:
                options.append(None)
            if c.has_default:
                options.append(_DEFAULT)
            if not options:
                raise _Cannot(f"dbtool cannot make up a value of type {c.type} for its column {c.name}")
            choices[c.name] = options
        pick = {name: 0 for name in choices}
        for _ in range(MAX_ATTEMPTS):
            values = dict(fixed)
            values.update({name: choices[name][i] for name, i in pick.items()})
            values = {k: v for k, v in values.items() if v is not _DEFAULT}
            try:
                return self._run_insert(table, by_name, values)
            except psycopg.Error as exc:
                diag = exc.diag
                refused = f"a made-up row was refused: {_primary(exc)}"
                if diag.sqlstate != CHECK_VIOLATION or diag.constraint_name not in table.checks:
                    raise _Cannot(refused) from None
                cols, definition = table.checks[diag.constraint_name]
                moved = False
                for name in cols:
                    if name in pick and pick[name] + 1 < len(choices[name]):
                        if pick[name] == 0:
                            choices[name][1:1] = _literals_in(definition)
                        pick[name] += 1
                        moved = True
                if not moved:
                    raise _Cannot(refused) from None
        raise _Cannot("no made-up row satisfied its check constraints")

    def _run_insert(self, table: _Table, by_name: dict[str, _Column], values: dict[str, str | None]) -> SeededRow:
        names = list(values)
        if names:
            stmt = sql.SQL("WITH ins AS (INSERT INTO {t} ({cols}) OVERRIDING SYSTEM VALUE VALUES ({vals}) RETURNING {texts})"
                           " SELECT ins.*, (SELECT count(*) FROM {t}) FROM ins").format(
                t=sql.SQL(table.qname), cols=sql.SQL(", ").join(map(sql.Identifier, names)),
                vals=sql.SQL(", ").join(sql.SQL("{}::{}").format(sql.Literal(values[c]), sql.SQL(by_name[c].type))
                                        for c in names),
                texts=sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(c)) for c in names))
        else:
            raise _Cannot("it has no column dbtool can fill")
        row = self.conn.execute(stmt).fetchone()  # autocommit: one statement, atomic on its own
        return SeededRow(table.qname, dict(zip(names, row[:-1])), int(row[-1]) + 1)


class _Default:
    def __repr__(self) -> str:
        return "DEFAULT"


_DEFAULT = _Default()
_LITERAL_RE = re.compile(r"'((?:[^']|'')*)'")


def _literals_in(definition: str) -> list[str]:
    """Quoted literals of a check constraint: an IN list's first value satisfies it more often than not."""
    return [m.group(1).replace("''", "'") for m in _LITERAL_RE.finditer(definition)][:2]


def _candidates(c: _Column, n: int) -> list[str | None]:
    first = _literal(c, n)
    if first is None:
        return []
    if c.category == "S" and c.base not in ("char",):
        extra = [f"seed{n}@dbtool.example", f"https://dbtool.example/seed{n}", f"seed-{n}", "SEE"]
        return [first] + [_fit(e, c) for e in extra]
    if c.category == "N":
        return [first, "1", "0"]
    return [first]


def _fit(text: str, c: _Column) -> str:
    return text[:c.typmod - 4] if c.base in ("varchar", "bpchar") and c.typmod >= 5 else text


def _literal(c: _Column, n: int) -> str | None:
    """Text of a value of the column's type, or None when dbtool does not know one."""
    base, cat, mod = c.base, c.category, c.typmod
    if c.enum_label is not None:
        return c.enum_label
    if cat == "A":
        return "{}"
    if base == "int2":
        return str(20000 + n % 10000)
    if base in ("int4", "int8", "oid"):
        return str(900000 + n)
    if base == "numeric":
        if mod >= 4:
            precision, scale = ((mod - 4) >> 16) & 0xFFFF, (mod - 4) & 0xFFFF
            digits = precision - scale
            return str(min(900000 + n, 10 ** digits - 1)) if digits > 0 else "0"
        return f"{900000 + n}.25"
    if base in ("float4", "float8"):
        return f"{9000 + n}.5"
    if base == "money":
        return f"{n}.25"
    if base == "bool":
        return "true"
    if base == "char":
        return "s"
    if cat == "S":
        text = f"dbtool seed {n}"
        return text[:mod - 4] if base in ("varchar", "bpchar") and mod >= 5 else text
    known = {
        "date": "2001-02-03", "timestamp": "2001-02-03 04:05:06", "timestamptz": "2001-02-03 04:05:06+00",
        "time": "04:05:06", "timetz": "04:05:06+00", "interval": "1 day 02:03:04",
        "uuid": f"00000000-0000-4000-8000-{n:012d}", "json": f'{{"dbtool_seed": {n}}}',
        "jsonb": f'{{"dbtool_seed": {n}}}', "bytea": "\\x0102", "xml": "<dbtool_seed/>", "tsvector": "seed", "tsquery": "seed",
        "inet": "10.0.0.1", "cidr": "10.0.0.0/24", "macaddr": "08:00:2b:01:02:03",
        "macaddr8": "08:00:2b:01:02:03:04:05", "point": "(1,2)", "varbit": "1",
    }
    if base in known:
        return known[base]
    if base == "bit":
        return "1" * max(1, mod)
    if cat == "R":
        return "empty"
    return None


# ---------------------------------------------------------------- checking

def check(conn: psycopg.Connection, seeds: Seeds) -> list[Loss]:
    """What of the seeded rows is gone; an empty list when every row survived with its values."""
    losses: list[Loss] = []
    for row in seeds.rows:
        exists, present = conn.execute(
            "SELECT pg_catalog.to_regclass(%s) IS NOT NULL, ARRAY(SELECT a.attname::text FROM pg_catalog.pg_attribute a"
            " WHERE a.attrelid = pg_catalog.to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped)",
            [row.table, row.table]).fetchone()
        row.present = list(present)
        if not exists:
            losses.append(Loss(row.table, None, "lost its rows (the table is gone)"))
            continue
        cols = [c for c in row.values if c in present]
        gone = [c for c in row.values if c not in present]
        matches = [_match(c, row.values[c]) for c in cols]
        q = sql.SQL("SELECT count(*), COALESCE(bool_or({all}), false){each} FROM {t}").format(
            all=sql.SQL(" AND ").join(matches) if matches else sql.SQL("true"),
            each=sql.SQL("").join(sql.SQL(", COALESCE(bool_or({}), false)").format(m) for m in matches),
            t=sql.SQL(row.table))
        count, whole, *each = conn.execute(q).fetchone()
        if count == 0 or (not whole and count < row.rows_after_seed):
            losses.append(Loss(row.table, None, "lost its rows"))
            continue
        for c in gone:
            losses.append(Loss(row.table, c, "lost its values (the column is gone)"))
        if whole:
            continue
        lost = [c for c, ok in zip(cols, each) if not ok]
        row.present = [c for c in present if c not in lost]  # remove() recognises the row by what is left
        for c in lost:
            losses.append(Loss(row.table, c, f"lost values (the seeded {_show(row.values[c])} is not there any more)"))
        if not lost:
            losses.append(Loss(row.table, None, "no longer holds the seeded row as it was"))
    return losses


def remove(conn: psycopg.Connection, seeds: Seeds) -> None:
    """Delete the seeded rows where they can still be recognised, children before parents."""
    for row in reversed(seeds.rows):
        try:
            present = row.present
            if present is None:
                present = conn.execute(
                    "SELECT ARRAY(SELECT a.attname::text FROM pg_catalog.pg_attribute a WHERE a.attrelid = pg_catalog.to_regclass(%s)"
                    " AND a.attnum > 0 AND NOT a.attisdropped)", [row.table]).fetchone()[0]
            cols = [c for c in row.values if c in present]
            if not cols:
                continue
            conn.execute(sql.SQL("DELETE FROM {} WHERE {}").format(
                sql.SQL(row.table), sql.SQL(" AND ").join(_match(c, row.values[c]) for c in cols)))
        except psycopg.Error:
            if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                conn.execute("ROLLBACK")


def _match(column: str, text: str | None) -> sql.Composable:
    return sql.SQL("{}::text IS NOT DISTINCT FROM {}").format(sql.Identifier(column), sql.Literal(text))


def _show(text: str | None) -> str:
    return "NULL" if text is None else repr(text)


def _primary(exc: psycopg.Error) -> str:
    diag = getattr(exc, "diag", None)
    return (diag.message_primary if diag and diag.message_primary else str(exc).strip().splitlines()[0]) if str(exc) else type(exc).__name__

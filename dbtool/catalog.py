"""What the checks read from the system catalogs, in as few round trips as possible.

``snapshot`` runs once per migrate (every user table with its size, file node and constraints);
``CORE_SQL`` runs once per migration, inside its transaction, and looks only at the relations the
migration's backend holds a lock on: nothing can change a table without locking it, so that set is the
exact list of tables a migration touched, whatever statement, function or trigger did it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg

from dbtool.touches import Name

FIRST_USER_OID = 16384  # FirstNormalObjectId: everything below is the system's own
LOCK_ORDER = ["AccessShareLock", "RowShareLock", "RowExclusiveLock", "ShareUpdateExclusiveLock", "ShareLock",
              "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock"]
# Modes that mean the statement may have changed the relation's rows or definition.
WRITE_MODES = set(LOCK_ORDER[2:])
# Modes of the statements that can add constraints or indexes (FOREIGN KEY's SHARE ROW EXCLUSIVE on the
# referenced table is left out: it changes nothing there).
_DDL_MODES = {"ShareUpdateExclusiveLock", "ShareLock", "ExclusiveLock", "AccessExclusiveLock"}
USER_NS = "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp)'"


def lock_name(mode: str) -> str:
    """``AccessExclusiveLock`` -> ``ACCESS EXCLUSIVE`` (the words of the LOCK command)."""
    words, cur = [], ""
    for ch in mode.removesuffix("Lock"):
        if ch.isupper() and cur:
            words.append(cur)
            cur = ""
        cur += ch
    words.append(cur)
    return " ".join(w.upper() for w in words if w)


def strongest(modes) -> str | None:
    modes = [m for m in modes if m in LOCK_ORDER]
    return max(modes, key=LOCK_ORDER.index) if modes else None


@dataclass
class Rel:
    oid: int
    schema: str
    name: str
    kind: str
    filenode: int
    reltuples: float
    relpages: int
    size: int | None  # heap bytes (pg_relation_size)
    total: int | None = None  # heap, indexes and TOAST (pg_total_relation_size)
    source: str | None = None  # sizes of another database (a clone's source), for predictions only

    @property
    def qname(self) -> str:
        return f"{self.schema}.{self.name}"

    def estimate(self) -> tuple[float | None, str]:
        """Rows as the planner would guess them without reading the table, and how."""
        if self.source and self.reltuples >= 0:
            return self.reltuples, f"estimate from pg_class.reltuples of {self.source}"
        if self.reltuples >= 0 and self.relpages > 0 and self.size is not None:
            pages = self.size / 8192
            return round(self.reltuples / self.relpages * pages), "estimate from pg_class.reltuples scaled to the current size"
        if self.reltuples >= 0 and self.relpages > 0:
            return self.reltuples, "estimate from pg_class.reltuples"
        if self.size == 0:
            return 0, "empty heap (pg_relation_size = 0)"
        if self.size is not None:
            # Never analysed: assume narrow rows (~40 bytes each), so a big table is never taken for a small one.
            return round(self.size / 40), "estimate from the table's size (never analysed)"
        return None, "unknown"

    def small(self, limit: int) -> bool:
        rows, _ = self.estimate()
        return rows is not None and rows <= limit


@dataclass
class Snapshot:
    rels: dict[int, Rel] = field(default_factory=dict)
    search_path: list[str] = field(default_factory=lambda: ["public"])
    constraints: dict[int, dict[str, tuple[str, bool]]] = field(default_factory=dict)  # table -> name -> (type, valid)
    invalid_indexes: dict[int, set[str]] = field(default_factory=dict)
    user_functions: set[str] = field(default_factory=set)
    track_counts: bool = True
    server_version: int = 150000

    def __post_init__(self):
        self._by_name = {(r.schema, r.name): r.oid for r in self.rels.values()}

    def put(self, rel: Rel) -> None:
        old = self.rels.get(rel.oid)
        if old is not None:
            self._by_name.pop((old.schema, old.name), None)
        self.rels[rel.oid] = rel
        self._by_name[(rel.schema, rel.name)] = rel.oid

    def drop(self, oid: int) -> None:
        old = self.rels.pop(oid, None)
        if old is not None:
            self._by_name.pop((old.schema, old.name), None)
        self.constraints.pop(oid, None)
        self.invalid_indexes.pop(oid, None)

    def resolve(self, name: Name) -> Rel | None:
        """The relation a name means, by the search_path as PostgreSQL would resolve it."""
        for schema in ([name.schema] if name.schema else self.search_path):
            oid = self._by_name.get((schema, name.name))
            if oid is not None:
                return self.rels[oid]
        return None

    def resolve_text(self, text: str) -> Rel | None:
        return self.resolve(Name.parse(text))

    def after(self, touched: dict[int, "Touched"]) -> "Snapshot":
        """The snapshot as it is after a migration: the relations it locked replaced by their new state."""
        new = Snapshot(dict(self.rels), self.search_path, dict(self.constraints), dict(self.invalid_indexes),
                       self.user_functions, self.track_counts, self.server_version)
        for t in touched.values():
            if t.rel is None:
                new.drop(t.oid)
            elif t.rel.kind in ("r", "p", "m", "v", "f"):
                old = self.rels.get(t.oid)
                if old is not None and t.rel.size is None:
                    t.rel.size, t.rel.total = old.size, old.total
                new.put(t.rel)
                if t.details:
                    new.constraints[t.oid] = dict(t.constraints)
                    new.invalid_indexes[t.oid] = set(t.invalid_indexes)
        return new


def snapshot(conn: psycopg.Connection, *, in_transaction: bool = False) -> Snapshot:
    """Every user table, view and materialized view with sizes, file nodes and constraints: one round trip.

    JIT is off for it: the correlated subqueries can push the estimate past jit_above_cost, and compiling
    would cost more than the query.
    """
    query = f"""
        SELECT (SELECT coalesce(json_agg(json_build_array(c.oid::int8, n.nspname, c.relname, c.relkind, c.relfilenode::int8,
                        c.reltuples, c.relpages,
                        CASE WHEN c.relkind IN ('r', 'm') THEN pg_relation_size(c.oid) END,
                        CASE WHEN c.relkind IN ('r', 'm') THEN pg_total_relation_size(c.oid) END)), '[]')
                  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE c.relkind IN ('r', 'p', 'm', 'v', 'f') AND {USER_NS}),
               (SELECT coalesce(json_agg(json_build_array(k.conrelid::int8, k.conname, k.contype, k.convalidated)), '[]')
                  FROM pg_constraint k WHERE k.conrelid >= {FIRST_USER_OID} AND k.contype IN ('c', 'f', 'u', 'p', 'x')),
               (SELECT coalesce(json_agg(json_build_array(i.indrelid::int8, ic.relname)), '[]')
                  FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid WHERE NOT i.indisvalid),
               (SELECT coalesce(json_agg(DISTINCT p.proname), '[]') FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                 WHERE {USER_NS}),
               current_schemas(false)::text[], current_setting('track_counts')::bool,
               current_setting('server_version_num')::int,
               {flush_sql(conn)}
    """
    if in_transaction:
        row = results(conn.execute("SELECT set_config('jit', 'off', true);\n" + query))[1][0]
    else:
        row = results(conn.execute("BEGIN;\nSET LOCAL jit = off;\n" + query + ";\nCOMMIT"))[0][0]
    rels = {r[0]: Rel(*r) for r in row[0]}
    snap = Snapshot(rels, list(row[4]) or ["public"], {}, {}, set(row[3]), bool(row[5]), int(row[6]))
    for oid, name, typ, valid in row[1]:
        snap.constraints.setdefault(oid, {})[name] = (typ, valid)
    for oid, name in row[2]:
        snap.invalid_indexes.setdefault(oid, set()).add(name)
    return snap


# Objects below FirstNormalObjectId (the catalogs, information_schema) are left out by their oid, index
# and TOAST locks by their kind: they follow the table's lock, which is what the application feels.
LOCKS_SQL = f"""
SELECT l.relation::int8, l.mode, n.nspname, c.relname, c.relkind::text, c.relfilenode::int8
  FROM pg_locks l LEFT JOIN pg_class c ON c.oid = l.relation LEFT JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation' AND l.granted AND l.relation >= {FIRST_USER_OID}::oid
   AND (c.oid IS NULL OR c.relkind IN ('r', 'p', 'm', 'f', 'v', 'S'))"""


class Prepared:
    """CORE_SQL and LOCKS_SQL as prepared statements of the migration's session, planned once per run.

    Planning them again in every migration cost more than running them (the DDL before them has just
    invalidated the caches the planner reads).  psycopg's own prepared statements would not do: psycopg
    drops all of them after any ALTER or DROP, and migrations are made of those.  These are named, so
    they are ours; should one disappear all the same (DISCARD ALL in a script), it is prepared again.
    """

    def __init__(self, conn: psycopg.Connection):
        import uuid

        tag = uuid.uuid4().hex[:8]
        self.core, self.locks = f"dbtool_core_{tag}", f"dbtool_locks_{tag}"
        self._prepare(conn)

    def _prepare(self, conn: psycopg.Connection) -> None:
        conn.execute(f"PREPARE {self.core} AS {CORE_SQL.split(';')[0]};\nPREPARE {self.locks} AS {LOCKS_SQL}",
                     prepare=False)

    def run(self, conn: psycopg.Connection, body: str) -> list[list[tuple]]:
        """``body`` with EXECUTE of these statements, under a savepoint; prepared again if they are gone."""
        try:
            return guarded(conn, body, True)
        except psycopg.errors.InvalidSqlStatementName:
            self._prepare(conn)
            return guarded(conn, body, True)

    def core_sql(self, conn: psycopg.Connection) -> str:
        return f"EXECUTE {self.core};\n" + CORE_SQL.split(";", 1)[1].strip().format(flush=flush_sql(conn))

    def locks_now(self, conn: psycopg.Connection) -> list[tuple]:
        """Relation locks this backend holds: (oid, mode, schema, name, relkind, relfilenode)."""
        return self.run(conn, f"EXECUTE {self.locks}")[0]

    def close(self, conn: psycopg.Connection) -> None:
        if not conn.closed and not conn.broken:
            try:
                conn.execute(f"DEALLOCATE {self.core}; DEALLOCATE {self.locks}", prepare=False)
            except psycopg.Error:
                pass


@dataclass
class ForeignKey:
    name: str
    valid: bool
    child: str  # regclass text: quoted and qualified as needed, fit to paste into SQL
    child_cols: list[str]
    parent: str
    parent_cols: list[str]


@dataclass
class Touched:
    """A relation the migration's backend holds a lock on, as it is now, inside the transaction."""

    oid: int
    modes: list[str]
    rel: Rel | None  # None: the relation no longer exists (dropped by this transaction)
    inserted: int = 0
    deleted: int = 0
    updated: int = 0
    constraints: dict[str, tuple[str, bool]] = field(default_factory=dict)
    invalid_indexes: set[str] = field(default_factory=set)
    sequences: list[dict] = field(default_factory=list)  # owned sequences: column, sequence, indexed
    table_oid: int | None = None  # for an owned sequence, the table that owns it
    foreign_keys: list["ForeignKey"] = field(default_factory=list)  # its own and those referencing it
    fk_validity: dict[str, bool] = field(default_factory=dict)  # the same keys, by name: validated?
    details: bool = False  # constraints and invalid indexes were read

    @property
    def needs_details(self) -> bool:
        """Could this migration have changed its constraints, indexes or sequence use?"""
        return self.rel is not None and self.rel.kind in ("r", "p", "m") and (
            self.inserted + self.updated + self.deleted > 0 or any(m in _DDL_MODES for m in self.modes))

    @property
    def written(self) -> bool:
        return any(m in WRITE_MODES for m in self.modes)


# The relations the migration's backend holds a lock on, with their statistics in this transaction (run
# through Prepared below; the second statement's {flush} is filled in for the server's version).
CORE_SQL = f"""
SELECT l.oid::int8, l.modes, n.nspname, c.relname, c.relkind::text, c.relfilenode::int8, c.reltuples, c.relpages,
       CASE WHEN c.relkind IN ('r', 'm') THEN pg_relation_size(c.oid) END,
       pg_stat_get_xact_tuples_inserted(l.oid), pg_stat_get_xact_tuples_deleted(l.oid),
       pg_stat_get_xact_tuples_updated(l.oid),
       CASE WHEN c.relkind = 'S' THEN (SELECT d.refobjid::int8 FROM pg_depend d WHERE d.objid = l.oid
                                          AND d.classid = 'pg_class'::regclass AND d.deptype IN ('a', 'i') LIMIT 1) END
  FROM (SELECT relation AS oid, array_agg(mode::text) AS modes FROM pg_locks
         WHERE pid = pg_backend_pid() AND locktype = 'relation' AND granted AND relation >= {FIRST_USER_OID}::oid
         GROUP BY relation) l
  LEFT JOIN pg_class c ON c.oid = l.oid LEFT JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.oid IS NULL OR c.relkind IN ('r', 'p', 'm', 'f', 'v', 'S');
SELECT current_setting('session_replication_role'), {{flush}}::text"""


def flush_sql(conn: psycopg.Connection) -> str:
    """Ask the backend to flush its statistics at its next idle moment (after COMMIT), so that the next
    migration's pg_stat_xact counters start from zero.  PostgreSQL 15+; before it, see STATS_BASELINE_SQL."""
    return "pg_stat_force_next_flush()" if can_flush_stats(conn) else "NULL"


def can_flush_stats(conn: psycopg.Connection) -> bool:
    return conn.info.server_version >= 150000


# Before PostgreSQL 15 a backend keeps the counts of its earlier transactions until it reports them (every
# 500 ms at most) and pg_stat_xact_* include them: on those servers they are read at the start of each
# migration and subtracted.
STATS_BASELINE_SQL = """
SELECT relid::int8, n_tup_ins, n_tup_del, n_tup_upd FROM pg_stat_xact_user_tables
 WHERE n_tup_ins + n_tup_del + n_tup_upd > 0"""


def details_sql(rel: str) -> str:
    """One table's constraints (its own, and the foreign keys that reference it) and invalid indexes, as
    JSON; ``rel`` is an SQL expression of type regclass (``to_regclass('t')``, ``16421``).  Kept light: it
    is planned in every migration that changes constraints or indexes."""
    return f"""(SELECT json_build_array(r::int8,
    (SELECT json_agg(json_build_array(k.conname, k.contype, k.convalidated, k.conrelid = r))
       FROM pg_constraint k WHERE (k.conrelid = r AND k.contype IN ('c', 'f', 'u', 'p', 'x'))
                               OR (k.confrelid = r AND k.contype = 'f')),
    (SELECT json_agg(ic.relname) FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
      WHERE i.indrelid = r AND NOT i.indisvalid))
  FROM (SELECT {rel}::oid AS r) AS t WHERE r IS NOT NULL)"""


def rows_sql(oid: int) -> str:
    """What the sequence and orphan checks of one table need: its foreign keys (both directions) with their
    columns, and its owned sequences; asked only for tables that got rows or have a key worth checking."""
    return f"""(SELECT json_build_array({oid},
    (SELECT json_agg(json_build_array(k.conname, k.convalidated, k.conrelid::regclass::text,
        (SELECT array_agg(a.attname ORDER BY x.i) FROM unnest(k.conkey) WITH ORDINALITY x(n, i)
           JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = x.n),
        k.confrelid::regclass::text,
        (SELECT array_agg(a.attname ORDER BY x.i) FROM unnest(k.confkey) WITH ORDINALITY x(n, i)
           JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = x.n)))
       FROM pg_constraint k WHERE k.contype = 'f' AND (k.conrelid = {oid} OR k.confrelid = {oid})),
    (SELECT json_agg(json_build_array(a.attname, d.objid::regclass::text, q.seqincrement,
            EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = {oid} AND i.indkey[0] = a.attnum AND i.indisvalid)))
       FROM pg_depend d JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
       JOIN pg_sequence q ON q.seqrelid = d.objid
      WHERE d.refobjid = {oid} AND d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
        AND d.deptype IN ('a', 'i'))))"""


def parse_core(rows) -> dict[int, Touched]:
    out: dict[int, Touched] = {}
    for r in rows:
        oid = int(r[0])
        rel = Rel(oid, r[2], r[3], r[4], r[5] or 0, r[6], r[7], r[8]) if r[3] is not None else None
        out[oid] = Touched(oid, list(r[1]), rel, int(r[9] or 0), int(r[10] or 0), int(r[11] or 0), table_oid=r[12])
    return out


def attach_details(touched: dict[int, Touched], value) -> None:
    """Put one details_sql() value on its Touched entry."""
    if not value or value[0] not in touched:
        return
    t = touched[value[0]]
    t.details = True
    for name, typ, valid, own in (value[1] or []):
        if own:
            t.constraints[name] = (typ, valid)
        if typ == "f":
            t.fk_validity[name] = valid
    t.invalid_indexes = set(value[2] or [])


def attach_rows(touched: dict[int, Touched], value) -> None:
    """Put one rows_sql() value on its Touched entry."""
    if not value or value[0] not in touched:
        return
    t = touched[value[0]]
    t.foreign_keys = [ForeignKey(*fk) for fk in (value[1] or [])]
    t.sequences = [{"column": a, "sequence": s, "increment": inc, "indexed": ix} for a, s, inc, ix in (value[2] or [])]


SOURCE_STATS_TABLE = "dbtool_source_stats"  # written by `dbtool clone` (targetdb.write_stats)


def with_source_sizes(conn: psycopg.Connection, snap: Snapshot) -> Snapshot:
    """For predictions on a clone: the snapshot with the sizes of the clone's source, when `dbtool clone` left
    them in dbtool_source_stats, so that a rehearsal predicts with production's sizes, not the sample's."""
    stats = [r for r in snap.rels.values() if r.name == SOURCE_STATS_TABLE and r.kind == "r"]
    if not stats:
        return snap
    from psycopg import sql

    rows = conn.execute(sql.SQL("SELECT schema_name, table_name, bytes, total_bytes, reltuples, relpages, source_env, "
                                "taken_at FROM {}").format(sql.Identifier(stats[0].schema, stats[0].name))).fetchall()
    out = Snapshot(dict(snap.rels), snap.search_path, snap.constraints, snap.invalid_indexes, snap.user_functions,
                   snap.track_counts, snap.server_version)
    for schema, table, size, total, reltuples, relpages, env, taken in rows:
        rel = out.resolve(Name(schema, table))
        if rel is not None:
            out.rels[rel.oid] = Rel(rel.oid, rel.schema, rel.name, rel.kind, rel.filenode, reltuples, relpages, size,
                                    total, f"{env} ({taken:%Y-%m-%d})" if taken else env)
    out.__post_init__()
    return out


def results(cur) -> list[list[tuple]]:
    """The rows of every result of a multi-statement execute (commands without rows left out)."""
    out = []
    while True:
        if cur.description is not None:
            out.append(cur.fetchall())
        if not cur.nextset():
            return out


def guarded(conn: psycopg.Connection, body: str, savepoint: bool) -> list[list[tuple]]:
    """Run ``body`` (one or more statements) in one round trip; inside a transaction, under a savepoint
    so that an error leaves the migration's transaction usable."""
    if not savepoint:
        return results(conn.execute(body, prepare=False))
    try:
        return results(conn.execute(f"SAVEPOINT dbtool_check;\n{body};\nRELEASE SAVEPOINT dbtool_check", prepare=False))
    except psycopg.Error:
        if not conn.closed and not conn.broken:
            conn.execute("ROLLBACK TO SAVEPOINT dbtool_check; RELEASE SAVEPOINT dbtool_check")
        raise


def batch(conn: psycopg.Connection, probes: dict[str, str], savepoint: bool) -> dict[str, object]:
    """Evaluate scalar SQL expressions in one statement; each value, or the psycopg.Error of a broken one.

    The statement fails as a whole when one expression fails; only then is each run alone (rare path).
    """
    if not probes:
        return {}
    keys = list(probes)
    try:
        row = guarded(conn, "SELECT " + ",\n".join(probes[k] for k in keys), savepoint)[0][0]
        return dict(zip(keys, row))
    except psycopg.Error:
        if conn.closed or conn.broken:
            raise
    out: dict[str, object] = {}
    for k in keys:
        try:
            out[k] = guarded(conn, "SELECT " + probes[k], savepoint)[0][0][0]
        except psycopg.Error as exc:
            if conn.closed or conn.broken:
                raise
            out[k] = exc
    return out

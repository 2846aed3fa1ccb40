"""The database a clone or a restore writes into: what it holds, emptying it, its roles, and dbtool's tables in it.

Everything here runs on the *target*; the source is only ever read (clone.py).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import psycopg
from psycopg import sql

USER_NS = "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)'"


def not_member(catalog: str, oid: str) -> str:
    """SQL: the object is not part of an extension (those come back with CREATE EXTENSION)."""
    return (f"NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = '{catalog}'::regclass"
            f" AND d.objid = {oid} AND d.deptype = 'e')")


INVENTORY = f"""
WITH ns AS (SELECT n.oid, n.nspname FROM pg_catalog.pg_namespace n WHERE {USER_NS})
SELECT
 (SELECT count(*) FROM ns WHERE nspname <> 'public' AND {not_member('pg_namespace', 'ns.oid')}),
 (SELECT count(*) FROM pg_catalog.pg_class c JOIN ns ON ns.oid = c.relnamespace
   WHERE c.relkind IN ('r', 'p', 'f') AND {not_member('pg_class', 'c.oid')}),
 (SELECT count(*) FROM pg_catalog.pg_class c JOIN ns ON ns.oid = c.relnamespace
   WHERE c.relkind IN ('v', 'm') AND {not_member('pg_class', 'c.oid')}),
 (SELECT count(*) FROM pg_catalog.pg_class c JOIN ns ON ns.oid = c.relnamespace
   WHERE c.relkind = 'S' AND {not_member('pg_class', 'c.oid')}),
 (SELECT count(*) FROM pg_catalog.pg_proc p JOIN ns ON ns.oid = p.pronamespace WHERE {not_member('pg_proc', 'p.oid')}),
 (SELECT count(*) FROM pg_catalog.pg_type t JOIN ns ON ns.oid = t.typnamespace
   WHERE (t.typtype IN ('e', 'd', 'r', 'm')
          OR (t.typtype = 'c' AND (SELECT c.relkind FROM pg_catalog.pg_class c WHERE c.oid = t.typrelid) = 'c'))
     AND {not_member('pg_type', 't.oid')}),
 (SELECT count(*) FROM pg_catalog.pg_extension WHERE extname <> 'plpgsql'),
 (SELECT count(*) FROM pg_catalog.pg_event_trigger),
 (SELECT count(*) FROM pg_catalog.pg_publication),
 (SELECT count(*) FROM pg_catalog.pg_foreign_data_wrapper w WHERE {not_member('pg_foreign_data_wrapper', 'w.oid')})
"""
INVENTORY_NAMES = ("schemas", "tables", "views", "sequences", "functions", "types", "extensions", "event triggers",
                   "publications", "foreign data wrappers")


def inventory(conn: psycopg.Connection) -> dict[str, int]:
    """What the database holds beyond a fresh one, e.g. ``{"tables": 12, "functions": 3}`` ({} when empty)."""
    row = conn.execute(INVENTORY).fetchone()
    return {name: n for name, n in zip(INVENTORY_NAMES, row) if n}


def _names(conn: psycopg.Connection, query: str) -> list[str]:
    return [r[0] for r in conn.execute(query)]


def empty(conn: psycopg.Connection, batch: int = 100) -> None:
    """Drop every user object, leaving the database as CREATE DATABASE made it (``public`` as it was).

    Tables go in batches, each its own transaction: one DROP SCHEMA ... CASCADE
    over thousands of tables would hold a lock per object at once and can
    exhaust the server's lock table (max_locks_per_transaction).
    """
    for name in _names(conn, "SELECT quote_ident(evtname) FROM pg_catalog.pg_event_trigger"):
        conn.execute(sql.SQL("DROP EVENT TRIGGER IF EXISTS {}").format(sql.SQL(name)))
    for name in _names(conn, "SELECT quote_ident(pubname) FROM pg_catalog.pg_publication"):
        conn.execute(sql.SQL("DROP PUBLICATION IF EXISTS {}").format(sql.SQL(name)))
    for kind, relkinds in (("TABLE", "'r', 'p'"), ("FOREIGN TABLE", "'f'"), ("MATERIALIZED VIEW", "'m'"), ("VIEW", "'v'")):
        names = _names(conn, f"""
            SELECT format('%I.%I', n.nspname, c.relname) FROM pg_catalog.pg_class c
            JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind IN ({relkinds}) AND NOT c.relispartition AND {USER_NS} AND {not_member('pg_class', 'c.oid')}""")
        for i in range(0, len(names), batch):
            conn.execute(sql.SQL("DROP {} IF EXISTS {} CASCADE").format(
                sql.SQL(kind), sql.SQL(", ").join(sql.SQL(n) for n in names[i:i + batch])))
    for name in _names(conn, "SELECT quote_ident(extname) FROM pg_catalog.pg_extension WHERE extname <> 'plpgsql'"):
        conn.execute(sql.SQL("DROP EXTENSION IF EXISTS {} CASCADE").format(sql.SQL(name)))
    for name in _names(conn, f"""SELECT quote_ident(n.nspname) FROM pg_catalog.pg_namespace n
                                 WHERE {USER_NS} AND n.nspname <> 'public'"""):
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.SQL(name)))
    for name in _names(conn, f"""SELECT quote_ident(w.fdwname) FROM pg_catalog.pg_foreign_data_wrapper w
                                 WHERE {not_member('pg_foreign_data_wrapper', 'w.oid')}"""):
        conn.execute(sql.SQL("DROP FOREIGN DATA WRAPPER IF EXISTS {} CASCADE").format(sql.SQL(name)))
    _recreate_public(conn)


def _recreate_public(conn: psycopg.Connection) -> None:
    """DROP SCHEMA public CASCADE, then public again with its owner, privileges and comment as they were."""
    row = conn.execute("SELECT quote_ident(pg_catalog.pg_get_userbyid(nspowner)), nspacl IS NULL,"
                       " pg_catalog.obj_description(oid, 'pg_namespace') FROM pg_catalog.pg_namespace"
                       " WHERE nspname = 'public'").fetchone()
    if row is None:
        return
    owner, default_acl, comment = row
    grants = conn.execute("""
        SELECT CASE WHEN e.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_catalog.pg_get_userbyid(e.grantee)) END,
               e.privilege_type, e.is_grantable
        FROM pg_catalog.pg_namespace n, pg_catalog.aclexplode(n.nspacl) e WHERE n.nspname = 'public'""").fetchall()
    with conn.transaction():
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")
        conn.execute(sql.SQL("ALTER SCHEMA public OWNER TO {}").format(sql.SQL(owner)))
        if not default_acl:
            conn.execute(sql.SQL("REVOKE ALL ON SCHEMA public FROM {}").format(sql.SQL(owner)))
            for grantee, privilege, grantable in grants:
                conn.execute(sql.SQL("GRANT {} ON SCHEMA public TO {}{}").format(
                    sql.SQL(privilege), sql.SQL(grantee), sql.SQL(" WITH GRANT OPTION" if grantable else "")))
        conn.execute(sql.SQL("COMMENT ON SCHEMA public IS {}").format(sql.Literal(comment)))


# ---------------------------------------------------------------- roles

@dataclass
class Roles:
    existing: set[str]
    assignable: set[str] | None  # None: a superuser, who can give objects to anyone
    superuser: bool


def roles(conn: psycopg.Connection) -> Roles:
    """The target server's roles, and which of them the connected user may make owners."""
    mode = "SET" if conn.info.server_version >= 160000 else "MEMBER"
    rows = conn.execute(f"SELECT rolname, pg_catalog.pg_has_role(current_user, oid, '{mode}') FROM pg_catalog.pg_roles").fetchall()
    superuser = conn.execute("SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user").fetchone()[0]
    return Roles({r for r, _ in rows}, None if superuser else {r for r, ok in rows if ok}, bool(superuser))


def create_roles(conn: psycopg.Connection, names: list[str]) -> None:
    """Roles the schema names, created without login or password (a scratch server's stand-ins)."""
    for name in names:
        with contextlib.suppress(psycopg.errors.DuplicateObject):
            conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(name)))


def same_database(a: psycopg.Connection, b: psycopg.Connection) -> bool:
    q = "SELECT pg_catalog.pg_postmaster_start_time(), current_database(), pg_catalog.inet_server_port()"
    return a.execute(q).fetchone() == b.execute(q).fetchone()


# ---------------------------------------------------------------- dbtool's tables on the target

def copy_log(conn: psycopg.Connection, log_table: str, data: bytes | None, columns: list[str]) -> int:
    """The source's migration_log rows (binary COPY) into the log table pg_dump created; its identity moved past them."""
    if data is None:
        return 0
    schema, _, table = log_table.rpartition(".")
    ident = sql.Identifier(schema or "public", table)
    with conn.transaction():
        cur = conn.cursor()
        with cur.copy(sql.SQL("COPY {} ({}) FROM STDIN (FORMAT binary)").format(
                ident, sql.SQL(", ").join(map(sql.Identifier, columns)))) as cp:
            cp.write(data)
        n = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(ident)).fetchone()[0]
        if "id" in columns:
            conn.execute(sql.SQL("SELECT pg_catalog.setval(seq, m) FROM (SELECT pg_catalog.pg_get_serial_sequence({}, 'id') AS seq,"
                                 " max(id) AS m FROM {}) s WHERE seq IS NOT NULL AND m IS NOT NULL").format(
                sql.Literal(ident.as_string(conn)), ident))
    return n


STATS_DDL = """
CREATE TABLE {table} (
  schema_name text NOT NULL,
  table_name text NOT NULL,
  kind text NOT NULL,
  bytes bigint NOT NULL,
  index_bytes bigint NOT NULL,
  total_bytes bigint NOT NULL,
  reltuples double precision NOT NULL,
  relpages bigint NOT NULL,
  source_env text NOT NULL,
  source_database text NOT NULL,
  taken_at timestamptz NOT NULL,
  PRIMARY KEY (schema_name, table_name)
)"""
STATS_COMMENT = ("dbtool: sizes and row estimates of the tables of the clone's source (source_env), taken at taken_at; "
                 "impact predictions on this database use them instead of its own. bytes = pg_table_size (heap, TOAST, "
                 "maps), index_bytes = pg_indexes_size, total_bytes = pg_total_relation_size, reltuples = the planner's "
                 "row estimate (-1: never analysed); partitioned tables hold the sums of their partitions.")


def write_stats(conn: psycopg.Connection, where: tuple[str, str], rows: list[tuple], source_env: str,
                source_database: str, taken_at) -> int:
    """(Re)create ``dbtool_source_stats`` and fill it with the source's sizes."""
    ident = sql.Identifier(*where)
    with conn.transaction():
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(where[0])))
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(ident))
        conn.execute(sql.SQL(STATS_DDL).format(table=ident))
        conn.execute(sql.SQL("COMMENT ON TABLE {} IS {}").format(ident, sql.Literal(STATS_COMMENT)))
        with conn.cursor().copy(sql.SQL("COPY {} FROM STDIN").format(ident)) as cp:
            for r in rows:
                cp.write_row((*r, source_env, source_database, taken_at))
    return len(rows)


def set_sequences(conn: psycopg.Connection, values: list[tuple[str, int]]) -> None:
    """Sequences where the source's are, so that rows inserted after sampled ones do not collide."""
    if values:
        conn.execute("SELECT pg_catalog.setval(s::regclass, v) FROM unnest(%s::text[], %s::bigint[]) AS t(s, v)",
                     [[s for s, _ in values], [v for _, v in values]])


def refresh_matviews(conn: psycopg.Connection, names: list[str]) -> tuple[int, list[tuple[str, str]]]:
    """REFRESH the materialized views populated on the source; one on top of another waits for it.

    Returns (refreshed, [(name, reason)] that could not be).
    """
    pending, done, failed = list(names), 0, []
    while pending:
        waiting: list[tuple[str, str]] = []
        for name in pending:
            try:
                conn.execute(sql.SQL("REFRESH MATERIALIZED VIEW {}").format(sql.SQL(name)))
                done += 1
            except psycopg.errors.ObjectNotInPrerequisiteState as exc:
                waiting.append((name, exc.diag.message_primary or str(exc)))
            except psycopg.Error as exc:
                failed.append((name, exc.diag.message_primary or str(exc)))
        if len(waiting) == len(pending):
            failed += waiting
            break
        pending = [n for n, _ in waiting]
    return done, failed

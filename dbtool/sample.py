"""``clone --data sample``: up to N rows per table, foreign keys kept consistent.

Rows are copied after the tables exist and before pg_dump's post-data section
(keys, indexes, foreign keys, triggers, policies) is loaded, so no trigger
fires and nothing is checked row by row.  A sample of a child table may point
at parent rows the parent's sample lacks: those child rows are deleted,
repeatedly, until every foreign key holds, and only then are the constraints
created, validated as on the source.

The source is read in the clone's exported snapshot, in a read-only
transaction; text COPY, because binary COPY carries type OIDs (arrays and
composites of user types) that differ between two databases.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterable

import psycopg
from psycopg import sql

from dbtool import db, targetdb

Progress = Callable[..., None]

TABLES = f"""
SELECT n.nspname, c.relname, format('%I.%I', n.nspname, c.relname),
       array_agg(quote_ident(a.attname) ORDER BY a.attnum)
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
WHERE c.relkind = 'r' AND {targetdb.USER_NS} AND {targetdb.not_member('pg_class', 'c.oid')}
GROUP BY n.nspname, c.relname, c.oid ORDER BY c.oid"""

# One row per foreign key (not the copies PostgreSQL makes on each partition).
FOREIGN_KEYS = """
SELECT format('%I.%I', cn.nspname, cc.relname), cc.relkind = 'p',
       (SELECT array_agg(quote_ident(a.attname) ORDER BY k.i) FROM unnest(con.conkey) WITH ORDINALITY k(n, i)
        JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n),
       format('%I.%I', pn.nspname, pc.relname), pc.relkind = 'p',
       (SELECT array_agg(quote_ident(a.attname) ORDER BY k.i) FROM unnest(con.confkey) WITH ORDINALITY k(n, i)
        JOIN pg_catalog.pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n)
FROM pg_catalog.pg_constraint con
JOIN pg_catalog.pg_class cc ON cc.oid = con.conrelid JOIN pg_catalog.pg_namespace cn ON cn.oid = cc.relnamespace
JOIN pg_catalog.pg_class pc ON pc.oid = con.confrelid JOIN pg_catalog.pg_namespace pn ON pn.oid = pc.relnamespace
WHERE con.contype = 'f' AND con.conparentid = 0 AND con.convalidated"""


def copy(source_url: str, snapshot_id: str, dst: psycopg.Connection, rows: int, *, exclude: Iterable[str] = (),
         progress: Progress = lambda *a, **k: None) -> dict:
    """Copy up to ``rows`` rows of every table; returns {"tables", "rows", "orphans_removed"}."""
    skip = set(exclude)
    src = db.connect(db.read_only(source_url), autocommit=False, label="clone source (read-only)")
    try:
        src.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        src.read_only = True
        src.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot_id)))
        tables = [t for t in src.execute(TABLES).fetchall() if f"{t[0]}.{t[1]}" not in skip]
        fks = src.execute(FOREIGN_KEYS).fetchall()
        progress("task", key="sample", description="sample rows", total=len(tables))
        copied = 0
        for i, (_schema, _name, qualified, columns) in enumerate(tables, 1):
            cols = sql.SQL(", ").join(sql.SQL(c) for c in columns)
            out = sql.SQL("COPY (SELECT {} FROM ONLY {} LIMIT {}) TO STDOUT").format(cols, sql.SQL(qualified), sql.Literal(rows))
            into = sql.SQL("COPY {} ({}) FROM STDIN").format(sql.SQL(qualified), cols)
            with dst.transaction():
                cur = dst.cursor()
                with src.cursor().copy(out) as reader, cur.copy(into) as writer:
                    for block in reader:
                        writer.write(block)
                copied += max(cur.rowcount, 0)
            progress("advance", key="sample", completed=i)
        progress("done", key="sample")
        removed = make_consistent(dst, fks)
    finally:
        with contextlib.suppress(psycopg.Error):
            src.rollback()
        src.close()
    return {"tables": len(tables), "rows": copied - removed, "orphans_removed": removed}


def make_consistent(dst: psycopg.Connection, fks: list[tuple]) -> int:
    """Delete child rows whose parent is not in the sample, until every foreign key holds; returns rows deleted.

    MATCH SIMPLE semantics: a key with a NULL column references nothing.  A
    partitioned table is one table here; a plain table's inheritance children
    are not (``ONLY``), as in PostgreSQL's own check.
    """
    removed = 0
    while True:
        this_round = 0
        for child, child_partitioned, ccols, parent, parent_partitioned, pcols in fks:
            match = sql.SQL(" AND ").join(sql.SQL("p.{} = c.{}").format(sql.SQL(p), sql.SQL(c)) for p, c in zip(pcols, ccols))
            present = sql.SQL(" AND ").join(sql.SQL("c.{} IS NOT NULL").format(sql.SQL(c)) for c in ccols)
            q = sql.SQL("DELETE FROM {}{} c WHERE {} AND NOT EXISTS (SELECT 1 FROM {}{} p WHERE {})").format(
                sql.SQL("" if child_partitioned else "ONLY "), sql.SQL(child), present,
                sql.SQL("" if parent_partitioned else "ONLY "), sql.SQL(parent), match)
            this_round += max(dst.execute(q).rowcount, 0)
        removed += this_round
        if this_round == 0:
            return removed

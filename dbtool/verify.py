"""``dbtool verify``: integrity checks, verify scripts of applied versions and drift detection; changes nothing.

Everything runs in one transaction that is rolled back at the end, each verify script under its own
savepoint, so a verify script that writes (to prove a constraint rejects a bad row, say) leaves no trace.
The built-in checks are the state ones (no before/after here): invalid indexes, NOT VALID constraints,
sequences behind their column's max value, orphans of NOT VALID foreign keys and of keys whose triggers
are disabled.  Tables above ``exact_count_limit`` rows are only scanned with ``exact_counts``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dbtool import api, catalog, invariants
from dbtool.config import Config
from dbtool.execute import StatementFailure, run_statements
from dbtool.integrity import ident

DRIFT_STATES = ("drifted", "missing", "interrupted")


@dataclass
class VerifyResult:
    env: str
    database: str
    drift: list[dict] = field(default_factory=list)
    integrity: list[dict] = field(default_factory=list)
    builtin: list[dict] = field(default_factory=list)
    verify: list[dict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (not any(d["state"] in DRIFT_STATES for d in self.drift)
                and not any(r["status"] in ("fail", "error") for r in self.integrity)
                and not any(f["status"] == "fail" for f in self.builtin)
                and not any(v["status"] == "fail" for v in self.verify))

    def as_json(self) -> dict:
        return {"env": self.env, "database": self.database, "ok": self.ok, "drift": self.drift,
                "integrity": self.integrity, "builtin": self.builtin, "verify": self.verify}


STATE_SQL = f"""
SELECT (SELECT json_agg(json_build_array(d.refobjid::regclass::text, a.attname, d.objid::regclass::text, q.seqincrement,
               EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = d.refobjid AND i.indkey[0] = a.attnum AND i.indisvalid),
               d.refobjid::int8))
          FROM pg_depend d JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
          JOIN pg_sequence q ON q.seqrelid = d.objid
         WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
           AND d.refobjid >= {catalog.FIRST_USER_OID}),
       (SELECT json_agg(json_build_array(k.conname, k.convalidated, k.conrelid::regclass::text,
               (SELECT array_agg(a.attname ORDER BY x.i) FROM unnest(k.conkey) WITH ORDINALITY x(n, i)
                  JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = x.n),
               k.confrelid::regclass::text,
               (SELECT array_agg(a.attname ORDER BY x.i) FROM unnest(k.confkey) WITH ORDINALITY x(n, i)
                  JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = x.n),
               EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgconstraint = k.oid AND t.tgenabled = 'D'),
               k.conrelid::int8))
          FROM pg_constraint k WHERE k.contype = 'f' AND k.conrelid >= {catalog.FIRST_USER_OID})
"""


def verify(config: Config, env_name: str | None = None, *, target=None, exact_counts: bool = False) -> VerifyResult:
    project = api.load_project(config, strict=False)
    queries = invariants.load(project.integrity, "integrity check")
    limit = int(config.settings.get("exact_count_limit", 100_000))
    with api.connect(config, env_name, target=target) as (tgt, conn):
        hist = api.history_for(config, conn)
        states = hist.states()
        status = api._status_from(project, states, tgt, hist.qualified)
        res = VerifyResult(tgt.env.name, tgt.display)
        res.drift = [m.as_json() for m in status.migrations if m.state in (*DRIFT_STATES, "failed")]
        snap = catalog.snapshot(conn)
        conn.execute("BEGIN")
        try:
            res.integrity = [r.as_json() for r in invariants.run(conn, queries, snap, savepoint=True).values()]
            res.builtin = _builtin(conn, snap, limit, exact_counts)
            for m in project.migrations:
                st = states.get(m.version)
                if m.verify is None or st is None or not st.applied:
                    continue
                res.verify.append(_run_verify(conn, m))
        finally:
            conn.execute("ROLLBACK")
    return res


def _run_verify(conn, m) -> dict:
    conn.execute("SAVEPOINT dbtool_verify")
    try:
        run_statements(conn, m.verify.script, path=m.verify.rel)
    except StatementFailure as f:
        conn.execute("ROLLBACK TO SAVEPOINT dbtool_verify")
        return {"version": m.version, "file": m.verify.rel, "status": "fail", "line": f.line, "message": f.message}
    conn.execute("RELEASE SAVEPOINT dbtool_verify")
    return {"version": m.version, "file": m.verify.rel, "status": "pass"}


def _builtin(conn, snap: catalog.Snapshot, limit: int, exact: bool) -> list[dict]:
    out = []
    for oid, names in sorted(snap.invalid_indexes.items()):
        table = snap.rels[oid].qname if oid in snap.rels else str(oid)
        for name in sorted(names):
            out.append({"check": "invalid-indexes", "status": "fail", "table": table,
                        "message": f"index {name} on {table} is INVALID (a failed concurrent build): drop it and build it again"})
    for oid, cons in sorted(snap.constraints.items()):
        for name, (typ, valid) in sorted(cons.items()):
            if not valid and oid in snap.rels:
                out.append({"check": "not-valid-constraints", "status": "warn", "table": snap.rels[oid].qname,
                            "message": f"constraint {name} on {snap.rels[oid].qname} is NOT VALID: rows older than it are not checked"})
    seqs, fks = conn.execute(STATE_SQL).fetchone()
    probes, about = {}, {}

    def big(oid: int) -> bool:
        rel = snap.rels.get(oid)
        return not exact and rel is not None and not rel.small(limit)

    for table, col, seq, inc, indexed, oid in seqs or ():
        if not inc or inc < 0 or (not indexed and big(oid)):
            continue
        key = f"seq:{table}.{col}"
        probes[key] = f"(SELECT json_build_array((SELECT max({ident(col)}) FROM {table}), last_value, is_called) FROM {seq})"
        about[key] = (table, col)
    for name, valid, child, ccols, parent, pcols, disabled, oid in fks or ():
        if valid and not disabled:
            continue  # PostgreSQL guarantees it
        if big(oid):
            out.append({"check": "fk-orphans", "status": "warn", "table": child,
                        "message": f"orphans of foreign key {name} not checked: {child} is above exact_count_limit "
                                   f"({limit:,} rows); use --exact-counts"})
            continue
        cond = " AND ".join(f"c.{ident(c)} IS NOT NULL" for c in ccols)
        join = " AND ".join(f"p.{ident(p)} = c.{ident(c)}" for p, c in zip(pcols, ccols))
        key = f"fk:{name}"
        probes[key] = f"(SELECT count(*) FROM {child} c WHERE {cond} AND NOT EXISTS (SELECT 1 FROM {parent} p WHERE {join}))"
        about[key] = (child, "triggers disabled" if disabled else "NOT VALID")
    for key, value in catalog.batch(conn, probes, True).items():
        kind, _, name = key.partition(":")
        if isinstance(value, Exception):
            out.append({"check": "sequences" if kind == "seq" else "fk-orphans", "status": "warn",
                        "message": f"could not check {name}: {str(value).splitlines()[0]}"})
        elif kind == "seq":
            mx, last, called = value
            nxt = last + 1 if called else last
            if mx is not None and nxt <= mx:
                table, col = about[key]
                out.append({"check": "sequences", "status": "fail", "table": table,
                            "message": f"the sequence of {table}.{col} would hand out {nxt}, but max({col}) is {mx}: "
                                       "the next INSERT without an explicit id fails; setval() it"})
        elif value:
            child, why = about[key]
            out.append({"check": "fk-orphans", "status": "fail", "table": child,
                        "message": f"{value} row(s) of {child} violate foreign key {name} ({why})"})
    return out

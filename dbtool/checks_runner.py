"""Checks before and after every migration: the factory the CLI hands to api.migrate/rollback, and its observer.

Round trips per transactional migration, on top of the runner's own: at most one before the first
statement (exact counts of the small tables it touches), one after each statement but the last (pg_locks),
one after the last (the locked relations, their statistics and the row counts), one for the checks that
need re-running (project invariants, sequences, orphans, all in one statement) and one for the workload
plans.  A project check or a workload query runs again only when the migration took a write-level lock on
a relation it reads (or when it cannot be known what it reads): otherwise its result cannot have changed.
"""

from __future__ import annotations


import psycopg

from dbtool import catalog, impact, integrity, invariants, touches, workload
from dbtool.errors import ConfigError, MigrationError
from dbtool.runner import Observer

OK_STATUSES = ("pass", "skipped")


def threshold_of(value) -> float:
    """``cost_threshold`` as a fraction: 0.1, or "10%"."""
    try:
        if isinstance(value, str) and value.strip().endswith("%"):
            out = float(value.strip()[:-1]) / 100.0
        elif isinstance(value, bool):
            raise ValueError
        else:
            out = float(value)
    except (TypeError, ValueError):
        out = -1.0
    if out < 0:
        raise ConfigError(f"dbtool.cost_threshold = {value!r} is not a cost growth: write a fraction such as 0.1 "
                          "or a percentage such as \"10%\"")
    return out


def factory(cfg, strict: bool = False, exact_counts: bool = False) -> "Checks":
    return Checks(cfg, strict=strict, exact_counts=exact_counts)


class Checks:
    """What api.migrate/rollback call: ``observer()`` for a run, ``predict()`` for a dry run."""

    def __init__(self, cfg, *, strict: bool = False, exact_counts: bool = False):
        self.cfg = cfg
        self.strict = strict
        self.exact_counts = exact_counts
        self.threshold = threshold_of(cfg.settings.get("cost_threshold", 0.10))
        self.limit = int(cfg.settings.get("exact_count_limit", 100_000))

    def observer(self, config, conn, plan, project) -> "ChecksObserver":
        return ChecksObserver(self, conn, plan, project)

    def predict(self, config, conn, plan) -> dict:
        out = []
        for step, stmts in predict_plan(conn, catalog.snapshot(conn), plan.steps):
            worst = [e["estimate"] for s in stmts for e in s["effects"]
                     if (e["rewrites"] or e["scans"]) and not e.get("new_table")]
            summary = (f"{len(stmts)} statement(s); " + ("; ".join(worst) if worst else "no rewrite or scan predicted"))
            out.append({"version": step.version, "direction": step.direction, "summary": summary, "statements": stmts})
        return {"impact": out}


def predict_plan(conn, snap: catalog.Snapshot, steps) -> list[tuple]:
    """(step, per-statement prediction) for every step, with the target's types and (a clone's source's) sizes;
    a table an earlier step creates is a new table for the later ones."""
    ctx = impact.target_context(conn, snap, steps)
    sized = catalog.with_source_sizes(conn, snap)
    out, created = [], set()
    for step in steps:
        out.append((step, impact.predict_step(step, sized, created, ctx)))
        created |= {str(n) for n in touches.of_script(step.file.script).created}
    return out


class StepState:
    def __init__(self, step, snap, static, checker, measure):
        self.step, self.snap, self.static, self.checker, self.measure = step, snap, static, checker, measure
        self.before_counts: dict[int, int] = {}
        self.count_targets: dict[int, tuple] = {}
        self.pending_last = None
        self.rewrites: list[str] | None = None
        self.stats_baseline: dict[int, tuple] = {}
        self.record: dict = {"version": step.version, "name": step.migration.name, "direction": step.direction,
                             "file": step.file.rel, "status": "running"}


class ChecksObserver(Observer):
    def __init__(self, checks: Checks, conn: psycopg.Connection, plan, project):
        self.c = checks
        self.plan = plan
        self.records: list[dict] = []
        self.invariants = invariants.load(project.integrity, "integrity check")
        self.queries = invariants.load(project.queries, "workload query")
        self.snap = catalog.snapshot(conn)
        self.results = {k: self._as_before(v) for k, v in
                        invariants.run(conn, self.invariants, self.snap, savepoint=False).items()}
        self.run_before = {k: v.as_json() for k, v in self.results.items()}
        self.plans: dict[str, workload.Plan | str] = workload.explain(
            conn, [q for q in self.queries if not q.missing(self.snap)], self.snap.server_version, savepoint=False)
        self.workload_before = {k: (v.as_json() if isinstance(v, workload.Plan) else {"error": v}) for k, v in self.plans.items()}
        self.predictions = {(step.version, step.direction): p for step, p in predict_plan(conn, self.snap, plan.steps)}
        self.sampler = impact.LockWaitSampler(conn)
        self.prepared = catalog.Prepared(conn)
        self.cur: StepState | None = None

    @staticmethod
    def _as_before(r: invariants.Result) -> invariants.Result:
        if r.status == "error":  # e.g. a column a pending migration adds: not runnable yet, not a failure
            return invariants.Result(r.check, "skipped", message=f"does not run yet: {r.message}")
        return r

    # ------------------------------------------------------------ hooks

    def before_migration(self, conn, step) -> None:
        static = touches.of_script(step.file.script)
        checker = integrity.StepIntegrity(self.snap, static, integrity.declared_tables(step, self.snap), self.c.limit,
                                          self.c.exact_counts, integrity.expected_not_valid(step))
        st = self.cur = StepState(step, self.snap, static, checker, impact.StepMeasure(self.snap))
        st.record["predicted"] = self.predictions.get((step.version, step.direction), [])
        last = self.records[-1] if self.records else None
        if last is not None and (last["version"], last["direction"]) == (step.version, step.direction):
            self.records[-1] = st.record  # a retry after lock_timeout: the new attempt replaces the old one
        else:
            self.records.append(st.record)
        breaking = workload.breaking_changes(static, self._reads(conn, static), self.snap) if step.direction == "up" else []
        if breaking:
            st.record["blue_green"] = breaking
            more = f" (and {len(breaking) - 1} more)" if len(breaking) > 1 else ""
            raise MigrationError(f"{step.file.rel}: migration {step.version} {breaking[0]}{more}: the running version of "
                                 "the application would break; keep the column until no deployed version reads it, "
                                 "then drop it in a later migration", path=step.file.rel, version=step.version)
        if not step.transactional:
            return
        if not catalog.can_flush_stats(conn):
            st.stats_baseline = {r[0]: r[1:] for r in self._q(conn, catalog.STATS_BASELINE_SQL, step)[0]}
        st.count_targets = checker.count_targets()
        before = [o for o, (sql_before, _) in st.count_targets.items() if sql_before]
        if before:
            sets = self._q(conn, "SELECT " + ", ".join(st.count_targets[o][0] for o in before) + ";\n" + _LOCKS_SQL, step)
            st.before_counts = dict(zip(before, sets[0][0]))
            st.measure.baseline(sets[1])

    def before_statement(self, conn, stmt) -> None:
        self.sampler.start()

    def after_statement(self, conn, stmt, duration_ms: float) -> None:
        wait = self.sampler.stop()
        st = self.cur
        if st is None:
            return
        if not st.step.transactional:
            st.measure.record(stmt, duration_ms, None, wait)
        elif stmt.index == len(st.step.file.script.statements) - 1:
            st.pending_last = (stmt, duration_ms, wait)  # its locks come with the after-state query
        else:
            st.measure.record(stmt, duration_ms, self._catalog(conn, self.prepared.locks_now, st.step), wait)

    def before_commit(self, conn, step) -> dict:
        st = self.cur
        if not step.transactional:
            return self._after_autocommit(conn, st)
        touched, role, first = self._after_state(conn, st)
        named = st.static.tables | {touches.Name(None, n.rpartition(".")[2]) for n in st.static.renamed.values()}
        # Tables changed behind the statements' back (a DO block, a function, a trigger) get their details late.
        late = {f"detail:{t.oid}": catalog.details_sql(str(t.oid)) for t in touched.values()
                if t.needs_details and not t.details and touches.Name(t.rel.schema, t.rel.name) not in named
                and touches.Name(None, t.rel.name) not in named}
        for value in catalog.batch(conn, late, True).values():
            if not isinstance(value, Exception):
                catalog.attach_details(touched, value)
        for t in list(touched.values()):  # setval() on a table's sequence locks the sequence, not the table
            if t.rel is not None and t.rel.kind == "S" and t.table_oid in self.snap.rels and t.table_oid not in touched:
                touched[t.table_oid] = catalog.Touched(t.table_oid, [], self.snap.rels[t.table_oid])
        need = st.checker.rows_wanted(touched, role)
        for value in catalog.batch(conn, {f"rows:{o}": catalog.rows_sql(o) for o in need}, True).values():
            if not isinstance(value, Exception):
                catalog.attach_rows(touched, value)
        if st.pending_last is not None:
            st.measure.record(st.pending_last[0], st.pending_last[1], impact.touched_rows(touched), st.pending_last[2])
        written = {t.table_oid or t.oid for t in touched.values() if t.written}
        after_snap = self.snap.after(touched)
        probes = st.checker.probes(touched, role, st.count_targets)
        rerun = [q for q in self.invariants if self._affected(q, written, after_snap, self.results.get(q.rel))]
        exprs, skipped = invariants.probes(rerun, after_snap)
        values = catalog.batch(conn, {**probes, **{"inv:" + k: v for k, v in exprs.items()}}, True)
        rows, findings = st.checker.evaluate(touched, role, st.before_counts,
                                             {**first, **{k: v for k, v in values.items() if not k.startswith("inv:")}})
        results = dict(skipped)
        results.update({k[4:]: invariants.result(k[4:], v) for k, v in values.items() if k.startswith("inv:")})
        self._finish_step(conn, st, after_snap, written, rows, findings, results)
        return {"checks": st.record["checks"], "impact": st.record["impact"]}

    def _after_state(self, conn, st: StepState):
        """One round trip: the locked relations, the replication role, exact counts and static details."""
        first = st.checker.first_probes(st.count_targets)
        core = self.prepared.core_sql(conn)
        body = core + (";\nSELECT " + ",\n".join(first.values()) if first else "")
        try:
            sets = self.prepared.run(conn, body)
            values = dict(zip(first, sets[2][0])) if first else {}
        except psycopg.Error:
            if conn.closed or conn.broken:
                raise
            # Rare: a named table went away behind the statements' back. Ask again, one probe at a time.
            sets = self._catalog(conn, lambda c: self.prepared.run(c, core), st.step)
            values = catalog.batch(conn, first, True)
        touched = catalog.parse_core(sets[0])
        for oid, (ins, dele, upd) in st.stats_baseline.items():  # PostgreSQL < 15: earlier transactions' counts
            if oid in touched:
                t = touched[oid]
                t.inserted, t.deleted, t.updated = t.inserted - ins, t.deleted - dele, t.updated - upd
        for key, value in values.items():
            if key.startswith("detail:") and not isinstance(value, Exception):
                catalog.attach_details(touched, value)
        return touched, sets[1][0][0], values

    def after_failure(self, step) -> dict:
        wait = self.sampler.stop()
        st = self.cur
        if st is None:
            return {}
        st.record["status"] = "failed"
        if wait.get("ms") or wait.get("blocked_by"):
            st.record["lock_wait_of_failed_statement"] = wait  # e.g. the lock_timeout: who held the lock
        if "impact" not in st.record:
            st.record["impact"] = self._impact(st)
        return {k: st.record[k] for k in ("checks", "impact", "blue_green", "lock_wait_of_failed_statement")
                if k in st.record}

    def finish(self, conn) -> dict:
        from dbtool import checks_report

        self.sampler.close()
        self.prepared.close(conn)
        data = {"before": {"integrity": list(self.run_before.values()), "workload": self.workload_before},
                "migrations": self.records, "cost_threshold": self.c.threshold, "strict": self.c.strict,
                "lock_wait_method": impact.WAIT_METHOD}
        return {"checks": data, "report_text": checks_report.run_report(data)}

    # ------------------------------------------------------------ helpers

    def _reads(self, conn, static, queries=None) -> dict[str, workload.Reads]:
        """What workload queries read.  sqlglot (with the target's columns, to resolve unqualified names and
        ``*``) gives tables and columns; it is asked only where columns matter: a migration that drops or
        renames a column, a query that got slower.  Otherwise the tables of PostgreSQL's own parse do."""
        if static is not None and not (static.dropped_columns or static.renamed_columns):
            return {q.rel: workload.Reads(tables={*q.reads, *q.requires}) for q in self.queries}
        queries = self.queries if queries is None else queries
        names = {n for q in queries for n in (*q.reads, *q.requires)}
        schema = workload.columns_of(conn, self.snap, names) if queries else {}
        return {q.rel: workload.reads(q.sql, schema) for q in queries}

    def _q(self, conn, body: str, step) -> list:
        try:
            return catalog.guarded(conn, body, True)
        except psycopg.Error as exc:
            if conn.closed or conn.broken:
                raise
            raise MigrationError(f"{step.file.rel}: the checks of {step.version} could not read the catalog: "
                                 f"{invariants._first_line(exc)}", path=step.file.rel, version=step.version) from None

    def _catalog(self, conn, fn, step):
        try:
            return fn(conn)
        except psycopg.Error as exc:
            if conn.closed or conn.broken:
                raise
            raise MigrationError(f"{step.file.rel}: the checks of {step.version} could not read the catalog: "
                                 f"{invariants._first_line(exc)}", path=step.file.rel, version=step.version) from None

    def _affected(self, q, written: set[int], snap, previous) -> bool:
        if previous is None or previous.status not in ("pass", "fail"):
            return True  # skipped before: try again, its tables may exist now
        oids = q.oids(snap)
        return oids is None or bool(oids & written)

    def _replan(self, written: set[int], snap) -> list:
        out = []
        for q in self.queries:
            prev = self.plans.get(q.rel)
            if q.missing(snap):
                continue
            if not isinstance(prev, workload.Plan):
                out.append(q)
                continue
            oids = q.oids(snap)
            plan_oids = {r.oid for r in snap.rels.values() if r.name in prev.relations}
            if oids is None or (oids | plan_oids) & written:
                out.append(q)
        return out

    def _finish_step(self, conn, st: StepState, after_snap, written, rows, findings, results) -> None:
        """The verdict of one migration: the record for the log row, or a MigrationError naming the first failure."""
        step = st.step
        failures = [f"built-in check {f.check}: {f.message}" for f in findings if f.status == "fail"]
        integrity_out = self._integrity(step, results, failures)
        wl, plans = self._workload(conn, step, written, after_snap, failures)
        warn = any(f.status in ("fail", "warn") for f in findings) or any(e["status"] in ("slower", "broken") for e in wl)
        st.record["checks"] = {"status": "fail" if failures else "warn" if warn else "pass",
                               "rows": [r.as_json() for r in rows], "builtin": [f.as_json() for f in findings],
                               "integrity": integrity_out, "workload": wl}
        st.record["impact"] = self._impact(st)
        if failures:
            more = f" (and {len(failures) - 1} more, see the log row's details)" if len(failures) > 1 else ""
            raise MigrationError(f"{step.file.rel}: check failed: {failures[0]}{more}", path=step.file.rel,
                                 version=step.version)
        st.record["status"] = "completed"
        self.results.update(results)
        self.plans.update({k: v for k, v in plans.items() if not _waited(v)})
        self.snap = after_snap

    def _integrity(self, step, results: dict, failures: list[str]) -> list[dict]:
        out = []
        for q in self.invariants:
            before = self.results.get(q.rel)
            if q.rel not in results:
                out.append({**(before.as_json() if before else {"check": q.rel, "status": "skipped"}),
                            "rerun": False, "note": "not re-run: the migration wrote to none of its tables"})
                continue
            res = invariants.compare(before, results[q.rel])
            if res.status == "error" and before is not None and before.status in ("pass", "fail"):
                res = invariants.Result(q.rel, "fail", message=f"no longer runs: {res.message}")
                failures.append(f"{q.rel} no longer runs after {step.version}: {results[q.rel].message}")
            elif res.status == "error":
                res = invariants.Result(q.rel, "skipped", message=f"does not run yet: {res.message}")
            elif res.status == "fail" and not res.message:
                failures.append(f"{q.rel} returns {res.violations} violating row(s) after {step.version}: "
                                f"{invariants.describe_rows(res.rows)}")
            out.append({**res.as_json(), "rerun": True})
            results[q.rel] = res
        return out

    def _workload(self, conn, step, written: set[int], after_snap, failures: list[str]) -> tuple[list[dict], dict]:
        replan = self._replan(written, after_snap)
        plans = workload.explain(conn, replan, after_snap.server_version, savepoint=True)

        def worse(q) -> bool:
            before, after = self.plans.get(q.rel), plans[q.rel]
            if not isinstance(before, workload.Plan):
                return False
            return after.cost > before.cost * (1 + self.c.threshold) if isinstance(after, workload.Plan) else not _waited(after)

        flagged = [q for q in replan if worse(q)]
        columns = self._reads(conn, None, flagged) if flagged else {}
        if step.transactional:
            written_names = {after_snap.rels[o].name for o in written if o in after_snap.rels}
        else:  # no locks to read afterwards: the tables its statements name, and those the prediction names
            written_names = {n.name for n in touches.of_script(step.file.script).tables} | {
                e["table"].rpartition(".")[2] for s in self.predictions.get((step.version, step.direction), ())
                for e in s["effects"]}
        out = []
        for q in replan:
            entry = workload.compare(q.rel, self.plans.get(q.rel), plans[q.rel], self.c.threshold)
            entry["tables"] = sorted(str(n) for n in q.reads)
            if q.rel in columns:  # slower or broken: which columns it reads, and which of its tables this migration changed
                entry["columns"] = sorted(f"{t.name}.{c}" for t, c in columns[q.rel].columns)
                entry["changed_by_this_migration"] = sorted(t.name for t in columns[q.rel].tables if t.name in written_names)
            out.append(entry)
            if entry["status"] == "broken" and step.direction == "up":
                failures.append(f"workload query {q.rel} no longer plans after {step.version} ({plans[q.rel]}): "
                                "the running version of the application would break")
            elif entry["status"] == "slower" and self.c.strict:
                failures.append(f"workload query {q.rel} is slower after {step.version}: {entry['message']} (--strict)")
        return out, plans

    def _impact(self, st: StepState) -> dict:
        measured = st.measure.statements
        rewrote = st.rewrites if st.rewrites is not None else sorted({t for s in measured for t in (s.get("rewrote") or ())})
        predicted = {e["table"] for s in st.record.get("predicted", []) for e in s["effects"]
                     if e["rewrites"] and not e.get("new_table")}
        return {"statements": measured, "rewrites": rewrote, "predicted_rewrites": sorted(predicted),
                "lock_wait_ms": round(sum(s.get("lock_wait_ms") or 0 for s in measured), 1)}

    def _after_autocommit(self, conn, st: StepState) -> dict:
        """Non-transactional: no per-transaction locks or statistics; compare catalog snapshots instead."""
        new = catalog.snapshot(conn, in_transaction=True)
        findings = []
        for oid, idx in new.invalid_indexes.items():
            for name in sorted(idx - self.snap.invalid_indexes.get(oid, set())):
                findings.append(integrity.Finding("invalid-indexes", "fail", f"index {name} on {new.rels[oid].qname if oid in new.rels else oid} "
                                                  "is INVALID after the migration: drop it and build it again"))
        rewrote = sorted(r.qname for oid, r in new.rels.items() if oid in self.snap.rels and r.kind in ("r", "m")
                         and self.snap.rels[oid].filenode not in (r.filenode, 0))
        for s in st.measure.statements:
            s["rewrote"] = None
        results = {k: v for k, v in invariants.run(conn, self.invariants, new, savepoint=True).items()}
        written = set(new.rels) | set(self.snap.rels)
        st.rewrites = rewrote  # from the file nodes of the two snapshots: no per-statement attribution here
        rows = [integrity.RowCount(self.snap.rels[o].qname, None, None, "not counted: a non-transactional migration "
                                   "has no single transaction to measure", lost=None, note="dropped")
                for o in self.snap.rels if o not in new.rels and self.snap.rels[o].kind in integrity.TABLE_KINDS]
        for r in rows:
            findings.append(integrity.Finding("row-counts", "warn", f"{r.table} disappeared while a non-transactional "
                                              "migration ran (its statements cannot drop tables: another session?)", r.table))
        self._finish_step(conn, st, new, written, rows, findings, results)
        return {"checks": st.record["checks"], "impact": st.record["impact"]}


_LOCKS_SQL = catalog.LOCKS_SQL


def _waited(plan) -> bool:
    return isinstance(plan, str) and plan.startswith(workload.WAITED_PREFIX)

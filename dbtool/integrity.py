"""Built-in integrity checks of one migration, measured inside its transaction before COMMIT.

Row counts.  A touched table that the catalog says is small (``exact_count_limit`` rows) is counted
exactly before and after.  A large one is never scanned: its count is the planner's estimate
(pg_class.reltuples), stated as such.  Whether rows were *lost* does not depend on either: it is read
from pg_stat_xact_user_tables, which counts exactly the rows this transaction inserted and deleted, in
every table, whoever did it (a statement, a function, a trigger, an ON DELETE CASCADE), and nothing that
concurrent sessions do.  TRUNCATE does not show there, so a table whose file node changed is checked
for having been emptied, and a table that disappeared lost all its rows.

The other checks look at the relations the migration's backend locked: new invalid indexes, constraints
left NOT VALID that were valid before, sequences behind their column's max value (tables that got rows),
foreign-key orphans where PostgreSQL does not guarantee there are none (a NOT VALID key, or triggers
disabled / session_replication_role = replica during the migration).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dbtool.catalog import Rel, Snapshot, Touched
from dbtool.touches import Name, Touches

TABLE_KINDS = {"r", "p", "m", "f"}
_ROW_ACTIONS = {"insert", "update", "delete", "merge", "copy"}


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass
class Finding:
    check: str  # row-counts, invalid-indexes, not-valid-constraints, sequences, fk-orphans
    status: str  # fail, warn, info
    message: str
    table: str | None = None

    def as_json(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass
class RowCount:
    table: str
    before: float | None
    after: float | None
    method: str
    inserted: int = 0
    deleted: int = 0
    lost: float | None = 0
    declared: str | None = None
    note: str | None = None

    def as_json(self) -> dict:
        return {k: (round(v) if isinstance(v, float) else v) for k, v in self.__dict__.items() if v is not None}


def declared_tables(step, snap: Snapshot) -> dict[str, str]:
    """Tables whose rows this step may lose, with why: ``-- dbtool: deletes/rewrites t``; for a rollback,
    also the tables its up-script created (dropping them is the rollback's job)."""
    from dbtool.touches import of_script
    from dbtool.invariants import SPLIT_RE

    out: dict[str, str] = {}
    script = step.file.script
    for word in ("deletes", "rewrites"):
        for value in script.directive_values(word):
            for part in SPLIT_RE.split(value):
                if part:
                    rel = snap.resolve(Name.parse(part))
                    out[rel.qname if rel else _plain(Name.parse(part))] = f"declared: -- dbtool: {word} {part}"
    if step.direction == "down" and step.migration.up is not None:
        for name in of_script(step.migration.up.script).created:
            rel = snap.resolve(name)
            out[rel.qname if rel else _plain(name)] = f"created by {step.migration.up.rel}"
    return out


def _plain(name: Name) -> str:
    return f"{name.schema or 'public'}.{name.name}"


def expected_not_valid(step) -> set[str]:
    """Constraints a rollback may leave NOT VALID: those its up-script validated (there is no 'unvalidate')."""
    if step.direction != "down" or step.migration.up is None:
        return set()
    from pglast import ast
    from pglast.enums import AlterTableType

    from dbtool.touches import walk

    out = set()
    for stmt in step.migration.up.script.statements:
        for n in walk(stmt.node):
            if isinstance(n, ast.AlterTableCmd) and n.subtype == AlterTableType.AT_ValidateConstraint and n.name:
                out.add(n.name)
    return out


@dataclass
class StepIntegrity:
    """The built-in checks of one step: what to count before, what to probe after, and the verdict."""

    snap: Snapshot
    static: Touches
    declared: dict[str, str]
    limit: int
    exact_counts: bool = False
    allowed_not_valid: set[str] = field(default_factory=set)

    def count_targets(self) -> dict[int, tuple[str | None, str | None]]:
        """Existing tables the statements touch and that are small: oid -> (SQL before, SQL after).

        Counting before is needed only where the statements empty or drop the table: for every other one
        the count before is the count after minus this transaction's own inserts plus its deletes."""
        out = {}
        for name in self.static.tables:
            rel = self.snap.resolve(name)
            if rel is None or rel.kind not in ("r", "m") or not (self.exact_counts or rel.small(self.limit)):
                continue
            before = None
            if name in self.static.truncated or name in self.static.dropped:
                before = f"(SELECT count(*) FROM {ident(rel.schema)}.{ident(rel.name)})"
            after = None
            if name not in self.static.dropped:
                new = self.static.renamed.get(name)
                if new and "." in new:
                    schema, table = new.split(".", 1)
                else:
                    schema, table = rel.schema, new or rel.name
                after = f"(SELECT count(*) FROM {ident(schema)}.{ident(table)})"
            out[rel.oid] = (before, after)
        return out

    # ------------------------------------------------------------ after: what to ask the database

    def first_probes(self, targets: dict) -> dict[str, str]:
        """What goes with the after-state query: exact counts, and the details (constraints, invalid indexes,
        sequences) of the tables the statements name, which need no answer from that query to be asked."""
        from dbtool.catalog import details_sql

        out = {f"count:{oid}": after for oid, (_, after) in targets.items() if after}
        rows = {n for n, acts in self.static.writes.items() if acts & _ROW_ACTIONS}
        wanted = self.static.constraints | rows | (self.static.tables if self.static.disables_triggers else set())
        for name in sorted(wanted - self.static.dropped):
            new = self.static.renamed.get(name)
            if new:
                schema, _, table = new.rpartition(".")
                name = Name(schema or name.schema, table)
            text = ".".join(ident(p) for p in (name.schema, name.name) if p).replace("'", "''")
            out[f"detail:{name}"] = details_sql(f"to_regclass('{text}')")
        return out

    def _moved_sequences(self, touched: dict[int, Touched]) -> set[int]:
        """Existing tables whose owned sequence this migration used or changed (nextval, setval, ALTER)."""
        return {t.table_oid for t in touched.values() if t.rel is not None and t.rel.kind == "S"
                and t.table_oid in self.snap.rels and any(m != "AccessShareLock" for m in t.modes)}

    def rows_wanted(self, touched: dict[int, Touched], role: str) -> list[int]:
        """Tables whose sequences or foreign keys must be looked at: they got rows, their sequence moved,
        or a key of theirs is NOT VALID or had its triggers bypassed."""
        bypass = self.static.disables_triggers or role == "replica"
        moved = self._moved_sequences(touched)
        out = []
        for t in touched.values():
            if t.rel is None or t.rel.kind not in ("r", "p"):
                continue
            keys = t.fk_validity.values()
            if (t.inserted + t.updated > 0 or t.oid in moved
                    or (t.written and keys and (bypass or not all(keys)))):
                out.append(t.oid)
        return out

    def probes(self, touched: dict[int, Touched], role: str, targets: dict) -> dict[str, str]:
        """SQL expressions that need the after-state: sequences, orphans, recounts of emptied tables."""
        out = {}
        counted = {oid for oid, (_, after) in targets.items() if after}
        moved = self._moved_sequences(touched)
        self.not_checked: list[Finding] = []
        for t in touched.values():
            rel, old = t.rel, self.snap.rels.get(t.oid)
            if rel is None or rel.kind not in TABLE_KINDS:
                continue
            small = t.oid in counted or self.exact_counts or (rel.kind == "r" and rel.small(self.limit))
            # Emptied behind our back (TRUNCATE ... CASCADE, a function): the new heap is small, so count it.
            if old is not None and old.filenode != rel.filenode and t.oid not in counted and rel.small(self.limit):
                out[f"recount:{t.oid}"] = f"(SELECT count(*) FROM {ident(rel.schema)}.{ident(rel.name)})"
            for s in t.sequences:
                # Behind only if rows came in (explicit ids) or the sequence itself was changed (setval, ALTER).
                if (t.inserted + t.updated > 0 or t.oid in moved) and s["increment"] and s["increment"] > 0 and (s["indexed"] or small):
                    out[f"seq:{t.oid}:{s['column']}"] = (
                        f"(SELECT json_build_array((SELECT max({ident(s['column'])}) FROM {ident(rel.schema)}.{ident(rel.name)}),"
                        f" last_value, is_called) FROM {s['sequence']})")
            for fk in self._orphan_candidates(t, role):
                child = self.snap.resolve_text(fk.child)
                if not (self.exact_counts or child is None or child.small(self.limit) or child.oid == t.oid and small):
                    rows, _ = child.estimate()
                    self.not_checked.append(Finding(
                        "fk-orphans", "warn", f"orphans of foreign key {fk.name} not checked: {child.qname} has about "
                        f"{_n(rows)} rows, above exact_count_limit ({self.limit:,}); raise it to scan", child.qname))
                    continue
                cond = " AND ".join(f"c.{ident(c)} IS NOT NULL" for c in fk.child_cols)
                join = " AND ".join(f"p.{ident(p)} = c.{ident(c)}" for p, c in zip(fk.parent_cols, fk.child_cols))
                out[f"fk:{fk.name}:{fk.child}"] = (f"(SELECT count(*) FROM {fk.child} c WHERE {cond} AND NOT EXISTS "
                                                   f"(SELECT 1 FROM {fk.parent} p WHERE {join}))")
        return out

    def _orphan_candidates(self, t: Touched, role: str):
        bypass = self.static.disables_triggers or role == "replica"
        if not t.written:
            return []
        return [fk for fk in t.foreign_keys if not fk.valid or bypass]

    # ------------------------------------------------------------ after: the verdict

    def evaluate(self, touched: dict[int, Touched], role: str, before_counts: dict[int, int],
                 values: dict[str, object]) -> tuple[list[RowCount], list[Finding]]:
        after_counts = {int(k[6:]): v for k, v in values.items() if k.startswith("count:") and not isinstance(v, Exception)}
        rows, findings = [], []
        named = {r.oid for n in self.static.tables if (r := self.snap.resolve(n)) is not None}
        for t in sorted(touched.values(), key=lambda t: (t.rel.qname if t.rel else "")):
            old = self.snap.rels.get(t.oid)
            kind = (t.rel or old).kind if (t.rel or old) else None
            if kind not in TABLE_KINDS:
                continue
            rc = self._rows(t, old, before_counts, after_counts, values)
            # A table only locked (the other side of a new foreign key, say) is not worth a line.
            if (t.oid in named or old is None or t.rel is None or rc.lost or rc.note or t.inserted or t.deleted
                    or t.updated):
                rows.append(rc)
            if rc.lost and rc.lost > 0:
                if rc.declared:
                    findings.append(Finding("row-counts", "info", f"{rc.table} lost {_n(rc.lost)} row(s), {rc.declared}", rc.table))
                else:
                    findings.append(Finding("row-counts", "fail", f"{rc.table} lost {_n(rc.lost)} row(s) ({rc.method}) and the "
                                            f"migration does not declare it (add `-- dbtool: deletes {rc.table}` if intended)",
                                            rc.table))
            if t.rel is not None:
                findings += self._catalog_findings(t, old)
        findings += self._probe_findings(touched, values, role)
        findings += list({f.message: f for f in getattr(self, "not_checked", [])}.values())
        return rows, findings

    def _rows(self, t: Touched, old: Rel | None, before_counts, after_counts, values) -> RowCount:
        rel = t.rel or old
        name = rel.qname if t.rel is not None or old is None else old.qname
        declared = self.declared.get(name) or (self.declared.get(old.qname) if old else None)
        stats = self.snap.track_counts
        ins, dele = t.inserted, t.deleted
        if old is None:  # created by this migration: it started empty
            after = after_counts.get(t.oid, ins - dele if stats else None)
            return RowCount(name, 0, after, "new table: rows inserted by this migration", ins, dele, 0, declared)
        if t.oid in before_counts:
            before, method = before_counts[t.oid], "exact count(*)"
        elif t.oid in after_counts and t.rel is not None and old.filenode == t.rel.filenode and stats:
            # Exact: the count after, less what this transaction inserted, plus what it deleted.
            before, method = after_counts[t.oid] - ins + dele, "exact count(*)"
        else:
            before, method = old.estimate()
            method = method.replace("estimate", "estimate before") + "; exact change from pg_stat_xact_user_tables"
        if t.rel is None:
            return RowCount(name, before, 0, method, ins, dele, before or 0, declared, "dropped")
        after = after_counts.get(t.oid, values.get(f"recount:{t.oid}"))
        if isinstance(after, Exception):
            after = None
        truncated = any(self.snap.resolve(n) is old for n in self.static.truncated)
        if not truncated and old.filenode != t.rel.filenode and after is not None and stats:
            # After a TRUNCATE the statistics count only what was inserted since: nothing older survived.
            truncated = after == ins - dele and (before or 0) > after
        if truncated:
            return RowCount(name, before, after, method, ins, dele, before or 0, declared,
                            "emptied (TRUNCATE or equivalent: new file node)")
        if not stats:
            return RowCount(name, before, after, method, note="rows lost not measured: track_counts is off", lost=None,
                            declared=declared)
        if after is None and before is not None:
            after = before + ins - dele
        return RowCount(name, before, after, method, ins, dele, max(dele - ins, 0), declared,
                        "rewritten (new file node)" if old.filenode != t.rel.filenode else None)

    def _catalog_findings(self, t: Touched, old: Rel | None) -> list[Finding]:
        out = []
        name = t.rel.qname
        new_invalid = t.invalid_indexes - self.snap.invalid_indexes.get(t.oid, set())
        for idx in sorted(new_invalid):
            out.append(Finding("invalid-indexes", "fail", f"index {idx} on {name} is INVALID after the migration (a failed "
                               "concurrent build): it slows writes and serves no query; drop it and build it again", name))
        before = self.snap.constraints.get(t.oid, {}) if old is not None else {}
        for con, (typ, valid) in sorted(t.constraints.items()):
            if valid:
                continue
            if before.get(con, (None, False))[1]:
                if con in self.allowed_not_valid:
                    out.append(Finding("not-valid-constraints", "info", f"constraint {con} on {name} is NOT VALID again, "
                                       "as before its up-script validated it", name))
                else:
                    out.append(Finding("not-valid-constraints", "fail", f"constraint {con} on {name} was valid before the "
                                       "migration and is left NOT VALID: existing rows are no longer guaranteed to satisfy it", name))
            elif con not in before:
                out.append(Finding("not-valid-constraints", "info", f"constraint {con} on {name} was added NOT VALID: "
                                   "validate it in a later migration (VALIDATE CONSTRAINT)", name))
        return out

    def _probe_findings(self, touched: dict[int, Touched], values: dict[str, object], role: str) -> list[Finding]:
        out = []
        names = {t.oid: t.rel.qname for t in touched.values() if t.rel is not None}
        for key, value in values.items():
            kind, _, rest = key.partition(":")
            if kind in ("count", "detail"):
                continue
            if isinstance(value, Exception):
                out.append(Finding(_CHECK[kind], "warn", f"could not check {rest}: {str(value).splitlines()[0]}"))
            elif kind == "seq":
                oid, _, column = rest.partition(":")
                mx, last, called = value
                nxt = last + 1 if called else last
                if mx is not None and nxt <= mx:
                    table = names.get(int(oid), oid)
                    out.append(Finding("sequences", "fail", f"the sequence of {table}.{column} would hand out {nxt}, but "
                                       f"max({column}) is {mx}: the next INSERT fails with a duplicate key; call "
                                       f"setval() in the migration after inserting explicit ids", table))
            elif kind == "fk" and value:
                name, _, child = rest.partition(":")
                status = "fail" if (self.static.disables_triggers or role == "replica") else "warn"
                why = ("its triggers were bypassed during the migration" if status == "fail"
                       else "the key is NOT VALID; VALIDATE CONSTRAINT will fail until they are fixed")
                out.append(Finding("fk-orphans", status, f"{value} row(s) of {child} violate foreign key {name}: {why}", child))
        return out


_CHECK = {"seq": "sequences", "fk": "fk-orphans", "recount": "row-counts"}


def _n(x: float) -> str:
    return f"{round(x):,}"

"""The rules of ``dbtool validate`` (static part): an explicit registry, the runner and ``-- dbtool:`` directives.

``run(script, ctx)`` shows every statement of a file to every rule in order, then applies the file's
``-- dbtool: ignore RULE-ID[, RULE-ID] -- reason`` acknowledgements.  An acknowledgement needs a reason
(``ignore-without-reason``), must name known rules (``unknown-rule``), and must suppress something
(``unused-ignore``).  Other directive keywords of dbtool (``requires``, ``deletes``, ``rewrites``) are
accepted; any other keyword is an ``unknown-directive`` finding.
"""

from __future__ import annotations

from dataclasses import dataclass

from dbtool.rules import (
    add_check_without_not_valid, add_column_required_no_default, add_column_serial_or_identity,
    add_column_stored_generated, add_column_volatile_default, add_exclusion_constraint,
    add_foreign_key_without_not_valid, add_primary_key, add_unique_constraint, alter_column_type_narrowing,
    alter_column_type_rewrite, attach_partition_without_check, ban_char_n, concurrent_index_failure_leftover,
    concurrently_in_transaction, create_index_non_concurrently, detach_partition_non_concurrently, disable_triggers,
    drop_column, drop_constraint_integrity, drop_index_non_concurrently, drop_not_null, drop_schema_or_database,
    drop_table, enum_add_value_in_transaction, enum_rename_or_reorder, explicit_lock_table, missing_lock_timeout,
    mixed_transactional_statements, non_idempotent_outside_transaction, not_analysed, prefer_bigint_keys,
    prefer_identity_over_serial, prefer_jsonb_over_json, prefer_text_over_varchar_n, prefer_timestamptz,
    refresh_matview_blocking, reindex_non_concurrently, rename_column, rename_table_or_schema, rewriting_alter_table,
    set_not_null, transaction_control_mismatch, truncate_table, unbatched_backfill, validate_in_same_transaction,
    vacuum_full_or_cluster, work_after_exclusive_lock,
)
from dbtool.rules.base import Context, Finding, Report, Rule, SEVERITIES

_MODULES = (
    # lock / rewrite
    add_column_volatile_default, add_column_serial_or_identity, add_column_stored_generated,
    alter_column_type_rewrite, set_not_null, add_check_without_not_valid, add_foreign_key_without_not_valid,
    add_unique_constraint, add_primary_key, add_exclusion_constraint, create_index_non_concurrently,
    drop_index_non_concurrently, reindex_non_concurrently, detach_partition_non_concurrently,
    attach_partition_without_check, vacuum_full_or_cluster, rewriting_alter_table, refresh_matview_blocking,
    explicit_lock_table, missing_lock_timeout, work_after_exclusive_lock, unbatched_backfill,
    # data-dependent
    add_column_required_no_default, alter_column_type_narrowing, concurrent_index_failure_leftover,
    # transaction handling
    concurrently_in_transaction, validate_in_same_transaction, enum_add_value_in_transaction,
    non_idempotent_outside_transaction, transaction_control_mismatch, mixed_transactional_statements,
    # destructive
    truncate_table, disable_triggers, drop_table, drop_column, drop_schema_or_database, drop_constraint_integrity,
    # backward-incompatible
    enum_rename_or_reorder, rename_column, rename_table_or_schema, drop_not_null,
    # hygiene
    prefer_identity_over_serial, prefer_bigint_keys, prefer_text_over_varchar_n, prefer_timestamptz, ban_char_n,
    prefer_jsonb_over_json,
    # what was not understood
    not_analysed,
)
RULES: list[Rule] = [m.RULE for m in _MODULES]
BY_ID: dict[str, Rule] = {r.id: r for r in RULES}


@dataclass(frozen=True)
class Check:
    """A finding id that is not a SQL rule: file layout, parsing, directives."""

    id: str
    severity: str
    summary: str
    help: str


# Findings produced by lint() and the directive handling rather than by a Rule; each has a doc page too.
CHECKS: dict[str, Check] = {c.id: c for c in (
    Check("syntax-error", "error", "A script does not parse with PostgreSQL's own grammar",
          "fix the SQL at the reported line and column"),
    Check("missing-rollback", "error", "A migration has no rollback file",
          "create rollbacks/<same file name> with the statements that undo it"),
    Check("rollback-name", "error", "A rollback pairs with a migration by version but has another name",
          "rename the rollback to the migration's file name"),
    Check("duplicate-version", "error", "Two files use the same version", "give one of them the next free version"),
    Check("file-name", "error", "A file name is not YYYY.MM.NNN__snake_case_name.sql",
          "rename it, e.g. 2025.01.001__create_platforms.sql"),
    Check("file-encoding", "error", "A file is not valid UTF-8 (error); has a byte order mark (warning) or CRLF line endings (info)",
          "save it as UTF-8 without BOM, with LF line endings"),
    Check("empty-file", "error", "A script has no statement", "write the statements, or delete the file"),
    Check("unreadable-file", "error", "A file cannot be read", "check its permissions"),
    Check("orphan-rollback", "error", "A rollback has no migration", "delete it or restore the migration"),
    Check("orphan-verify", "error", "A verify script names a version that has no migration",
          "rename it to an existing version or delete it"),
    Check("ignore-without-reason", "error", "A -- dbtool: ignore directive gives no reason",
          "write -- dbtool: ignore RULE-ID -- why this is safe here"),
    Check("unknown-rule", "warning", "A -- dbtool: ignore directive names a rule that does not exist",
          "use an id from docs/rules/ (dbtool validate prints the id of every finding)"),
    Check("unused-ignore", "warning", "A -- dbtool: ignore directive suppressed no finding",
          "remove it (the statement is no longer risky), or move it to the statement it belongs to"),
    Check("unknown-directive", "warning", "A -- dbtool: comment with a keyword dbtool does not know",
          "use ignore, requires, deletes or rewrites; transactionality is inferred from the statements"),
)}

KNOWN_DIRECTIVES = {"ignore", "requires", "deletes", "rewrites"}
ALL_IDS = set(BY_ID) | set(CHECKS)


def default_severity(rule_id: str) -> str:
    if rule_id in BY_ID:
        return BY_ID[rule_id].severity
    return CHECKS[rule_id].severity


@dataclass
class Ignore:
    directive: object
    ids: list[str]
    reason: str
    used: set


def parse_ignore(body: str) -> tuple[list[str], str]:
    """``ignore a, b -- reason`` -> (["a", "b"], "reason")."""
    rest = body.split(None, 1)[1] if len(body.split(None, 1)) > 1 else ""
    ids_text, sep, reason = rest.partition("--")
    ids = [i.strip() for i in ids_text.replace(",", " ").split() if i.strip()]
    return ids, reason.strip()


def run(script, ctx: Context, *, rules: list[Rule] | None = None, severities: dict[str, str] | None = None,
        update_model: bool = True) -> list[Finding]:
    """Every rule on every statement of ``script``, then the file's ignore directives; findings in file order."""
    rules = RULES if rules is None else rules
    severities = severities or {}
    active = [r for r in rules if severities.get(r.id) != "off"]
    by_kind: dict[type, list[Rule]] = {}
    generic = [r for r in active if not r.kinds]
    raw: list[tuple[Rule, Report, object]] = []
    for stmt in script.statements:
        ctx.index = stmt.index
        kind = type(stmt.node)
        todo = by_kind.get(kind)
        if todo is None:
            todo = by_kind[kind] = [r for r in active if r.kinds and kind in r.kinds] + generic
        for rule in todo:
            for rep in rule.check(stmt, ctx):
                raw.append((rule, rep, rep.stmt or stmt))
        ctx.advance(stmt, update_model=update_model)
    ctx.index = len(script.statements)
    for rule in active:
        for rep in rule.finish(ctx):
            raw.append((rule, rep, rep.stmt or (script.statements[-1] if script.statements else None)))
    return _apply_directives(script, ctx, raw, severities)


def _finding(ctx: Context, rule_id: str, severity: str, message: str, help: str, line: int, column: int,
             end_line: int | None = None) -> Finding:
    return Finding(rule_id, severity, ctx.file, line, column, ctx.version, message, help, end_line)


def _apply_directives(script, ctx: Context, raw, severities) -> list[Finding]:
    out: list[Finding] = []
    ignores: dict[int, list[Ignore]] = {}  # statement index -> its ignore directives
    attached = {id(d) for s in script.statements for d in s.directives}
    owner = {id(d): s for s in script.statements for d in s.directives}

    def meta(rule_id: str, message: str, d) -> None:
        sev = severities.get(rule_id, CHECKS[rule_id].severity)
        if sev != "off":
            out.append(_finding(ctx, rule_id, sev, message, CHECKS[rule_id].help, d.line, d.column))

    for d in script.directives:
        keyword = (d.body.split(None, 1) or [""])[0].lower()
        if keyword not in KNOWN_DIRECTIVES:
            extra = (" (dbtool infers transactionality from the statements; remove it)" if keyword == "no-transaction"
                     else "")
            meta("unknown-directive", f"unknown directive -- dbtool: {keyword or '(empty)'}{extra}; known: "
                                      + ", ".join(sorted(KNOWN_DIRECTIVES)), d)
            continue
        if keyword != "ignore":
            continue
        ids, reason = parse_ignore(d.body)
        if not ids:
            meta("unknown-rule", "-- dbtool: ignore names no rule; write -- dbtool: ignore RULE-ID -- reason", d)
            continue
        known = []
        for rid in ids:
            if rid in BY_ID:
                known.append(rid)
            else:
                close = [k for k in BY_ID if rid.strip("-") in k or k in rid]
                hint = f" (did you mean {close[0]}?)" if close else ""
                meta("unknown-rule", f"-- dbtool: ignore names unknown rule {rid!r}{hint}", d)
        if not reason:
            meta("ignore-without-reason", f"-- dbtool: ignore {', '.join(ids)} gives no reason; write the reason after "
                                          "a second --, e.g. -- dbtool: ignore drop-column -- unused since release 12", d)
        if id(d) not in attached:
            if known:
                meta("unused-ignore", f"-- dbtool: ignore {', '.join(known)} is not attached to any statement (put it on "
                                      "the line before the statement, or at the end of its line)", d)
            continue
        if known:
            ignores.setdefault(owner[id(d)].index, []).append(Ignore(d, known, reason, set()))

    for rule, rep, stmt in raw:
        sev = severities.get(rule.id) or rep.severity or rule.severity
        hit = None
        if stmt is not None:
            for ig in ignores.get(stmt.index, ()):
                if rule.id in ig.ids:
                    hit = ig
                    break
        if hit is not None:
            hit.used.add(rule.id)
            continue
        line, col, end = (stmt.line, stmt.column, stmt.end_line) if stmt is not None else (1, 1, None)
        out.append(_finding(ctx, rule.id, sev, rep.message, rep.help or rule.help, line, col, end))

    for igs in ignores.values():
        for ig in igs:
            unused = [rid for rid in ig.ids if rid not in ig.used and severities.get(rid) != "off"]
            if unused:
                meta("unused-ignore", f"-- dbtool: ignore {', '.join(unused)} suppressed nothing on this statement; "
                                      "remove it", ig.directive)
    out.sort(key=lambda f: (f.line, f.column, f.rule))
    return out


__all__ = ["RULES", "BY_ID", "CHECKS", "ALL_IDS", "Context", "Finding", "Rule", "run", "default_severity", "SEVERITIES"]

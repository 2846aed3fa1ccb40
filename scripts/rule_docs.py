"""Write docs/rules/<rule-id>.md for every rule and check of dbtool validate.

Usage: python scripts/rule_docs.py [--check]

The pages are built from the registry (summary, severity, category, help, the bad and ok examples) plus the
version notes below, so that a page cannot drift from the rule it documents; --check exits 1 when a page on
disk differs from what would be written (the meta-tests run it).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dbtool.rules import BY_ID, CHECKS, RULES  # noqa: E402
from dbtool.rules.base import CATEGORIES  # noqa: E402

DOCS = ROOT / "docs" / "rules"

VERSIONS = {
    "add-column-volatile-default": "PostgreSQL 10 and older rewrite the table for any non-NULL default. From 11 on, a "
        "constant or STABLE default (`'web'`, `now()`) is stored in the catalog and costs nothing; only volatile "
        "defaults (`random()`, `gen_random_uuid()`, `clock_timestamp()`, `nextval()`, a function not declared "
        "STABLE/IMMUTABLE) still rewrite. dbtool reads the volatility of functions created by earlier migrations.",
    "add-column-serial-or-identity": "All versions (identity columns exist from 10).",
    "add-column-stored-generated": "Stored generated columns exist from 12. PostgreSQL 18 adds VIRTUAL generated "
        "columns (the default kind there), which are computed on read and do not rewrite.",
    "add-column-required-no-default": "All versions. From 11 a constant default makes the NOT NULL column cheap.",
    "alter-column-type-rewrite": "Known no-rewrite changes (all supported versions): raising or removing a "
        "varchar/varbit limit, varchar <-> text, raising numeric precision with the same scale, widening "
        "timestamp/time/interval precision, cidr -> inet. timestamp <-> timestamptz skips the rewrite on 12+ only "
        "when the session TimeZone is UTC (reported as 'may rewrite'). dbtool knows the old type when an earlier "
        "migration created the column; otherwise it reports 'may rewrite' as the same rule, as a warning.",
    "alter-column-type-narrowing": "All versions.",
    "set-not-null": "From 12, SET NOT NULL skips the scan when a validated CHECK (col IS NOT NULL) exists; dbtool "
        "recognises one added and validated by earlier migrations. From 18, ADD CONSTRAINT ... NOT NULL col NOT VALID "
        "followed by VALIDATE CONSTRAINT is the native online path.",
    "add-check-without-not-valid": "NOT VALID for CHECK exists in every supported version; from 18 also for NOT "
        "NULL constraints.",
    "add-foreign-key-without-not-valid": "All versions. Older releases did not allow NOT VALID foreign keys on "
        "partitioned tables.",
    "validate-in-same-transaction": "All versions (VALIDATE takes only SHARE UPDATE EXCLUSIVE since 9.4).",
    "add-unique-constraint": "All versions. USING INDEX needs a plain b-tree index with default ordering; not on "
        "partitioned tables.",
    "add-primary-key": "All versions.",
    "add-exclusion-constraint": "All versions: there is no online form.",
    "create-index-non-concurrently": "All versions. Avoid concurrent builds on 14.0-14.3 (an index corruption bug "
        "fixed in 14.4).",
    "drop-index-non-concurrently": "DROP INDEX CONCURRENTLY exists in every supported version.",
    "reindex-non-concurrently": "REINDEX CONCURRENTLY exists from 12; with a lower target_version the help names the "
        "CREATE INDEX CONCURRENTLY + swap alternative.",
    "concurrently-in-transaction": "All versions. dbtool needs no directive: a file with such a statement runs "
        "outside a transaction; only an explicit BEGIN in the file puts it back in one.",
    "concurrent-index-failure-leftover": "All versions.",
    "detach-partition-non-concurrently": "DETACH PARTITION ... CONCURRENTLY exists from 14 (not with a default "
        "partition, not in a transaction).",
    "attach-partition-without-check": "From 12 ATTACH PARTITION takes only SHARE UPDATE EXCLUSIVE on the parent "
        "(ACCESS EXCLUSIVE before). dbtool accepts any validated CHECK on the attached table that earlier "
        "migrations added; it does not prove that the CHECK implies the bound.",
    "vacuum-full-or-cluster": "All versions. PostgreSQL 19 is expected to add REPACK (CONCURRENTLY).",
    "rewriting-alter-table": "SET ACCESS METHOD exists from 15, ALTER COLUMN ... SET EXPRESSION from 17.",
    "refresh-matview-blocking": "All versions.",
    "explicit-lock-table": "All versions.",
    "truncate-table": "All versions.",
    "disable-triggers": "All versions.",
    "missing-lock-timeout": "lock_timeout exists in every supported version. dbtool's runner always runs SET LOCAL "
        "lock_timeout from dbtool.toml (default \"5s\") and retries on timeout, so this rule fires only when that "
        "setting is \"0\" or when the file itself sets lock_timeout to 0 (or RESETs it).",
    "work-after-exclusive-lock": "All versions.",
    "unbatched-backfill": "All versions. The check is a heuristic: a WHERE clause with a key range, BETWEEN, a "
        "LIMIT sub-select or an equality on an id column counts as a batch.",
    "enum-add-value-in-transaction": "PostgreSQL 11 and older refuse ALTER TYPE ... ADD VALUE in a transaction block "
        "unless the type was created in the same transaction (dbtool runs such a file in a transaction). From 12 it "
        "is allowed, but the new label cannot be used until the transaction commits.",
    "enum-rename-or-reorder": "RENAME VALUE exists from 10.",
    "drop-table": "All versions.",
    "drop-column": "All versions.",
    "drop-schema-or-database": "All versions.",
    "drop-constraint-integrity": "All versions.",
    "rename-column": "All versions.",
    "rename-table-or-schema": "All versions.",
    "drop-not-null": "All versions.",
    "prefer-identity-over-serial": "Identity columns exist from 10.",
    "prefer-bigint-keys": "All versions.",
    "prefer-text-over-varchar-n": "Raising a varchar limit no longer rewrites since 9.2, but it still takes ACCESS "
        "EXCLUSIVE.",
    "prefer-timestamptz": "All versions.",
    "ban-char-n": "All versions.",
    "prefer-jsonb-over-json": "All versions.",
    "non-idempotent-outside-transaction": "All versions.",
    "transaction-control-mismatch": "All versions.",
    "mixed-transactional-statements": "All versions.",
    "not-analysed": "All versions.",
}

CHECK_DOCS = {
    "syntax-error": ("Every script (migrations, rollbacks, verify scripts, integrity and workload queries) is parsed "
                     "with libpg_query, PostgreSQL's own parser, through pglast. The finding gives file:line:col "
                     "and PostgreSQL's message.", "CREATE TABLE t (id bigint,);", "CREATE TABLE t (id bigint);"),
    "missing-rollback": ("Every migration needs a down-script under rollbacks/ with the same file name; migrate and "
                         "validate refuse a migration without one.", None, None),
    "rollback-name": ("A rollback is paired with its migration by version; a different name after the version is "
                      "almost always a copy-paste mistake.", None, None),
    "duplicate-version": ("A version (YYYY.MM.NNN) identifies one migration; two files with the same version "
                          "would be applied in an undefined order.", None, None),
    "file-name": ("Files are named YYYY.MM.NNN__snake_case_name.sql with a month 01-12; other names are not "
                  "picked up as migrations.", None, None),
    "file-encoding": ("Scripts must be UTF-8. A byte order mark is stripped before parsing (warning); CRLF line "
                      "endings run fine but change the checksum when an editor converts them (info).", None, None),
    "empty-file": ("An empty migration or rollback does nothing and hides a missing step; a file with only "
                   "comments counts as empty.", None, None),
    "unreadable-file": ("The file could not be read (permissions, a broken link).", None, None),
    "orphan-rollback": ("A rollback without its migration is dead code, or its migration was renamed.", None, None),
    "orphan-verify": ("A verify script under checks/ names a version that has no migration.", None, None),
    "ignore-without-reason": ("An acknowledgement must say why the finding is safe here, so that reviewers can "
                              "judge it: -- dbtool: ignore RULE-ID -- reason.",
                              "-- dbtool: ignore drop-column\nALTER TABLE customers DROP COLUMN fax_number;",
                              "-- dbtool: ignore drop-column -- unused since release 12\n"
                              "ALTER TABLE customers DROP COLUMN fax_number;"),
    "unknown-rule": ("An acknowledgement that names no existing rule suppresses nothing; usually a typo.",
                     "-- dbtool: ignore drop-colum -- unused since release 12\nALTER TABLE customers DROP COLUMN fax;",
                     "-- dbtool: ignore drop-column -- unused since release 12\nALTER TABLE customers DROP COLUMN fax;"),
    "unused-ignore": ("An acknowledgement that suppressed nothing is stale: the statement changed or the "
                      "directive stands before the wrong statement.",
                      "-- dbtool: ignore drop-table -- old\nALTER TABLE customers ADD COLUMN note text;",
                      "ALTER TABLE customers ADD COLUMN note text;"),
    "unknown-directive": ("dbtool knows the directives ignore, requires (tables an integrity query or workload "
                          "query needs), deletes and rewrites (a migration declaring intended data loss, for the "
                          "checks around migrate). There is no no-transaction directive: dbtool infers it.",
                          "-- dbtool: no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (a);",
                          "CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (a);"),
}


def _sql(text: str) -> str:
    return f"```sql\n{text.strip()}\n```\n"


def rule_page(rule) -> str:
    out = [f"# {rule.id}\n", f"**Severity:** {rule.severity} · **Category:** {CATEGORIES[rule.category]}\n",
           f"{rule.summary}.\n", "## Problem\n"]
    for ex in rule.bad:
        if ex.note or ex.target_version or ex.up or ex.before:
            out.append(_context(ex))
        out.append(_sql(ex.sql))
    out.append("## Safer alternative\n")
    out.append(f"{rule.help[0].upper()}{rule.help[1:]}.\n")
    for ex in rule.ok:
        if ex.note or ex.target_version or ex.up or ex.before:
            out.append(_context(ex))
        out.append(_sql(ex.sql))
    out.append("## Version notes\n")
    out.append(VERSIONS.get(rule.id, "All supported versions.") + "\n")
    out.append("## Acknowledging\n")
    out.append(f"When the statement is safe in your situation, say why on the line before it:\n\n"
               f"```sql\n-- dbtool: ignore {rule.id} -- <why this is safe here>\n```\n")
    return "\n".join(out)


def _context(ex) -> str:
    settings = []
    if ex.target_version:
        settings.append(f"target_version = {ex.target_version}")
    if ex.lock_timeout is not None:
        settings.append(f'lock_timeout = "{ex.lock_timeout}"')
    head = (ex.note[0].upper() + ex.note[1:]) if ex.note else ""
    if settings:
        head = (head + " " if head else "") + f"({', '.join(settings)})"
    out = [f"*{head}*\n"] if head else []
    if ex.before:
        out.append("After an earlier migration that ran:\n\n" + _sql(ex.before) + "\nthis migration:\n")
    if ex.up:
        out.append("As the rollback of the up-script:\n\n" + _sql(ex.up) + "\nthis down-script:\n")
    return "\n".join(out)


def check_page(check) -> str:
    text, bad, ok = CHECK_DOCS[check.id]
    out = [f"# {check.id}\n", f"**Severity:** {check.severity} · **Category:** project layout, parsing and directives\n",
           f"{check.summary}.\n", "## Problem\n", text + "\n"]
    if bad:
        out.append(_sql(bad))
    out.append("## Safer alternative\n")
    out.append(f"{check.help[0].upper()}{check.help[1:]}.\n")
    if ok:
        out.append(_sql(ok))
    out.append("## Version notes\n")
    out.append("Independent of the PostgreSQL version.\n")
    return "\n".join(out)


def pages() -> dict[Path, str]:
    out = {DOCS / f"{r.id}.md": rule_page(r) for r in RULES}
    out.update({DOCS / f"{c.id}.md": check_page(c) for c in CHECKS.values()})
    return out


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for path, text in pages().items():
        if check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(path.name)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    if stale:
        print("out of date: " + ", ".join(stale) + " (run python scripts/rule_docs.py)")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

"""-- dbtool: ignore RULE-ID -- reason, and the other directives."""

from __future__ import annotations

from dbtool.lint import lint_sql

DROP = "ALTER TABLE customers DROP COLUMN fax_number;"


def pairs(sql, **kw):
    return [(f.rule, f.line) for f in lint_sql(sql, **kw)]


def test_ignore_with_reason_on_the_line_before_suppresses_only_that_rule():
    sql = f"-- dbtool: ignore drop-column -- unused since release 12\n{DROP}"
    assert pairs(sql) == []
    sql = "-- dbtool: ignore drop-column -- unused since release 12\nALTER TABLE t DROP COLUMN a, ALTER COLUMN b SET NOT NULL;"
    assert pairs(sql) == [("set-not-null", 2)]


def test_trailing_ignore_on_the_statement_line():
    assert pairs(f"{DROP} -- dbtool: ignore drop-column -- unused since release 12") == []


def test_ignore_applies_to_one_statement_only():
    sql = f"-- dbtool: ignore drop-column -- unused\n{DROP}\nALTER TABLE customers DROP COLUMN pager;"
    assert pairs(sql) == [("drop-column", 3)]


def test_several_rules_in_one_directive():
    sql = ("-- dbtool: ignore drop-column, set-not-null -- both reviewed with the DBA\n"
           "ALTER TABLE t DROP COLUMN a, ALTER COLUMN b SET NOT NULL;")
    assert pairs(sql) == []


def test_ignore_without_reason_is_an_error_finding():
    found = lint_sql(f"-- dbtool: ignore drop-column\n{DROP}")
    assert [(f.rule, f.severity, f.line) for f in found] == [("ignore-without-reason", "error", 1)]
    found = lint_sql(f"-- dbtool: ignore drop-column --   \n{DROP}")
    assert [f.rule for f in found] == ["ignore-without-reason"]


def test_unknown_rule_is_reported_with_a_suggestion_and_does_not_suppress():
    found = lint_sql(f"-- dbtool: ignore drop-colum -- typo\n{DROP}")
    assert sorted((f.rule, f.line) for f in found) == [("drop-column", 2), ("unknown-rule", 1)]
    unknown = next(f for f in found if f.rule == "unknown-rule")
    assert "'drop-colum'" in unknown.message and "did you mean drop-column" in unknown.message


def test_ignore_that_suppresses_nothing_is_unused():
    found = lint_sql("-- dbtool: ignore drop-table -- left over\nALTER TABLE customers ADD COLUMN note text;")
    assert [(f.rule, f.severity, f.line) for f in found] == [("unused-ignore", "warning", 1)]
    assert "drop-table" in found[0].message


def test_partly_used_ignore_reports_the_unused_part():
    found = lint_sql(f"-- dbtool: ignore drop-column, drop-table -- cleanup\n{DROP}")
    assert [(f.rule, f.line) for f in found] == [("unused-ignore", 1)]
    assert "drop-table" in found[0].message and "drop-column" not in found[0].message


def test_dangling_ignore_after_the_last_statement():
    found = lint_sql(f"{DROP}\n\n-- dbtool: ignore drop-column -- too late\n")
    assert sorted(f.rule for f in found) == ["drop-column", "unused-ignore"]


def test_other_dbtool_directives_are_known_and_unknown_ones_are_warned():
    sql = ("-- dbtool: requires customers\n-- dbtool: deletes customers\n-- dbtool: rewrites customers\n"
           "ALTER TABLE customers ADD COLUMN note text;")
    assert lint_sql(sql) == []
    found = lint_sql("-- dbtool: no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (a);")
    assert [(f.rule, f.severity) for f in found] == [("unknown-directive", "warning")]
    assert "infers transactionality" in found[0].message
    assert [f.rule for f in lint_sql("-- dbtool: skip-everything\nSELECT 1;")] == ["unknown-directive"]


def test_not_analysed_can_be_acknowledged():
    sql = "-- dbtool: ignore not-analysed -- only sets a comment-like flag\nDO $$ BEGIN PERFORM 1; END $$;"
    assert lint_sql(sql) == []


def test_finding_reported_at_file_end_can_be_ignored_on_its_statement():
    sql = "-- dbtool: ignore transaction-control-mismatch -- left open on purpose for a demo\nBEGIN;\nSELECT 1;"
    found = pairs(sql)
    # BEGIN in a wrapped file is reported on BEGIN itself, and the ignore covers it
    assert ("transaction-control-mismatch", 2) not in found


def test_severity_override_and_off():
    assert [(f.rule, f.severity) for f in lint_sql(DROP, severities={"drop-column": "warning"})] == [
        ("drop-column", "warning")]
    assert lint_sql(DROP, severities={"drop-column": "off"}) == []
    # an ignore for a rule that is switched off is not reported as unused
    assert lint_sql(f"-- dbtool: ignore drop-column -- x\n{DROP}", severities={"drop-column": "off"}) == []


def test_ignore_inside_a_multi_line_statement_belongs_to_it():
    sql = "ALTER TABLE customers  -- dbtool: ignore drop-column -- unused since release 12\n  DROP COLUMN fax;\nSELECT 1;"
    assert pairs(sql) == []

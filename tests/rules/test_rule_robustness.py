"""Every rule copes with every statement form PostgreSQL has (no crash), alone, in one file, and as a rollback."""

from __future__ import annotations

from pathlib import Path

import pytest

from dbtool.lint import lint_sql
from dbtool.sql import parse

FORMS = (Path(__file__).resolve().parents[1] / "data" / "statement_forms.sql").read_text(encoding="utf-8")
STATEMENTS = [s.text for s in parse(FORMS).statements]


def test_the_corpus_is_broad():
    assert len(STATEMENTS) >= 150


@pytest.mark.parametrize("target", [10, 13, 18])
def test_each_statement_alone(target):
    for sql in STATEMENTS:
        for f in lint_sql(sql + ";", target_version=target):
            assert f.message and f.line == 1, (sql, f)


def test_all_statements_in_one_file_and_as_a_rollback():
    up = lint_sql(FORMS)
    down = lint_sql(FORMS, up=FORMS)
    assert up and down
    # the same drops are reported either way (the corpus drops nothing it creates); hygiene only for up-scripts
    assert [f.line for f in down if f.rule.startswith("drop-")] == [f.line for f in up if f.rule.startswith("drop-")]
    hygiene = {"prefer-timestamptz", "prefer-jsonb-over-json", "ban-char-n", "prefer-text-over-varchar-n"}
    assert {f.rule for f in up} >= hygiene
    assert not [f for f in down if f.rule in hygiene]

"""The three renderings of static findings."""

from __future__ import annotations

import json

import pytest

from dbtool.findings import render
from dbtool.lint import LintResult
from dbtool.rules import Finding


def result():
    return LintResult(findings=[
        Finding("drop-table", "error", "migrations/2025.01.001__a.sql", 3, 1, "2025.01.001",
                "DROP TABLE old deletes, for good: 100%", "park it first, then drop", 4),
        Finding("prefer-timestamptz", "warning", "migrations/2025.01.001__a.sql", 7, 5, "2025.01.001",
                "column t.c is timestamp", "timestamptz"),
        Finding("not-analysed", "info", "rollbacks/2025.01.001__a.sql", 1, 1, "2025.01.001", "DO block: opaque", "review it"),
    ], files_checked=2, statements=5, not_analysed=1)


def test_text_groups_per_file_without_colours_by_default():
    out = render(result(), "text")
    lines = out.splitlines()
    assert lines[0] == "migrations/2025.01.001__a.sql"
    assert lines[1].split() [:3] == ["3:1", "error", "drop-table"]
    assert lines[2].strip() == "safer: park it first, then drop"
    assert lines[3].split()[:3] == ["7:5", "warning", "prefer-timestamptz"]
    assert "rollbacks/2025.01.001__a.sql" in lines
    assert lines[-1].startswith("1 error(s), 1 warning(s), 1 info(s) in 2 file(s), 5 statement(s), 1 not analysed")
    assert "\x1b[" not in out


def test_text_colours_when_asked():
    out = render(result(), "text", color=True)
    assert "\x1b[31m" in out  # red error


def test_json_is_the_documented_shape():
    data = json.loads(render(result(), "json"))
    assert data["ok"] is False
    assert data["findings"][0] == {"rule": "drop-table", "severity": "error", "file": "migrations/2025.01.001__a.sql",
                                   "line": 3, "column": 1, "version": "2025.01.001",
                                   "message": "DROP TABLE old deletes, for good: 100%",
                                   "help": "park it first, then drop", "end_line": 4}
    assert data["summary"]["errors"] == 1 and data["summary"]["not_analysed"] == 1


def test_github_annotations_escape_and_map_severities():
    lines = render(result(), "github").splitlines()
    assert lines[0] == ("::error file=migrations/2025.01.001__a.sql,line=3,endLine=4,col=1,title=drop-table::"
                        "DROP TABLE old deletes, for good: 100%25%0Asafer: park it first, then drop")
    assert lines[1].startswith("::warning file=migrations/2025.01.001__a.sql,line=7,col=5,title=prefer-timestamptz::")
    assert lines[2].startswith("::notice file=rollbacks/2025.01.001__a.sql,line=1,col=1,title=not-analysed::")
    assert all("\n" not in l for l in lines)
    assert lines[-1] == "dbtool validate: 1 error(s), 1 warning(s), 1 info(s) in 2 file(s)"


def test_unknown_format():
    with pytest.raises(ValueError):
        render(result(), "xml")

"""lint(): layout, encodings and syntax errors as findings, the rules on every pair, ordering and config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import ROOT, write_project
from dbtool import config as config_mod, files
from dbtool.errors import ConfigError
from dbtool.lint import lint

OK = ("CREATE TABLE t (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY);\n", "DROP TABLE t;\n")


def run(root: Path, toml: str | None = None, **kw):
    if toml is not None:
        (root / "dbtool.toml").write_text(toml, encoding="utf-8")
    cfg = config_mod.load(cwd=root) if (root / "dbtool.toml").exists() else config_mod.Config(root=root, path=None)
    return lint(files.discover(root), cfg, **kw)


def keyed(res):
    return [(f.rule, f.severity, f.file, f.line) for f in res.findings]


def test_clean_project(tmp_path):
    root = write_project(tmp_path / "p", {"2025.01.001__create_t": OK})
    res = run(root)
    assert res.findings == [] and res.ok and res.exit_code == 0
    assert (res.files_checked, res.statements, res.not_analysed, res.target_version) == (2, 2, 0, 13)


def test_layout_problems_become_findings(tmp_path):
    root = write_project(tmp_path / "p", {"2025.01.001__create_t": (OK[0], None), "2025.01.002__b": OK})
    (root / "migrations" / "2025.13.001__bad_month.sql").write_text("SELECT 1;")
    (root / "migrations" / "v2_Oops.sql").write_text("SELECT 1;")
    (root / "rollbacks" / "2025.03.001__gone.sql").write_text("SELECT 1;")
    (root / "checks" / "2025.04.001__nothing.sql").write_text("SELECT 1;")
    (root / "migrations" / "2025.01.002__dup.sql").write_text("SELECT 1;")
    res = run(root)
    got = {(f.rule, f.file) for f in res.findings}
    assert got >= {
        ("missing-rollback", "migrations/2025.01.001__create_t.sql"),
        ("file-name", "migrations/2025.13.001__bad_month.sql"),
        ("file-name", "migrations/v2_Oops.sql"),
        ("orphan-rollback", "rollbacks/2025.03.001__gone.sql"),
        ("orphan-verify", "checks/2025.04.001__nothing.sql"),
        ("duplicate-version", "migrations/2025.01.002__dup.sql"),
    }, got
    assert not res.ok and res.exit_code == 1
    missing = next(f for f in res.findings if f.rule == "missing-rollback")
    assert missing.message.startswith("2025.01.001__create_t.sql has no rollback: create rollbacks/")
    assert missing.version == "2025.01.001"


def test_encodings(tmp_path):
    root = write_project(tmp_path / "p", {"2025.01.001__a": OK, "2025.01.002__b": OK, "2025.01.003__c": OK})
    (root / "migrations" / "2025.01.001__a.sql").write_bytes("SELECT 'caf\xe9';\n".encode("latin-1"))
    (root / "migrations" / "2025.01.002__b.sql").write_bytes(b"\xef\xbb\xbf" + OK[0].encode())
    (root / "migrations" / "2025.01.003__c.sql").write_bytes(b"CREATE TABLE c (id bigint);\r\nSELECT 1;\r\n")
    res = run(root)
    enc = {f.file: (f.severity, f.line, f.message) for f in res.findings if f.rule == "file-encoding"}
    assert enc["migrations/2025.01.001__a.sql"][0] == "error"
    assert "not valid UTF-8 (byte 0xe9" in enc["migrations/2025.01.001__a.sql"][2]
    assert enc["migrations/2025.01.002__b.sql"][:2] == ("warning", 1)
    assert "byte order mark" in enc["migrations/2025.01.002__b.sql"][2]
    assert enc["migrations/2025.01.003__c.sql"][0] == "info" and "CRLF" in enc["migrations/2025.01.003__c.sql"][2]
    # the BOM and CRLF files still parse; the undecodable one is left out, so its rollback is an orphan
    assert res.statements == 1 + 2 + 2
    assert ("orphan-rollback", "rollbacks/2025.01.001__a.sql") in {(f.rule, f.file) for f in res.findings}


def test_empty_and_comment_only_files(tmp_path):
    root = write_project(tmp_path / "p", {"2025.01.001__a": ("  \n", "DROP TABLE t;"),
                                          "2025.01.002__b": ("-- nothing yet\n", "SELECT 1;")})
    res = run(root)
    assert [(f.rule, f.severity, f.file) for f in res.findings if f.rule == "empty-file"] == [
        ("empty-file", "error", "migrations/2025.01.001__a.sql"),
        ("empty-file", "error", "migrations/2025.01.002__b.sql"),
    ]


def test_syntax_error_position_with_multibyte_characters_before_it(tmp_path):
    up = "-- Größe: ünïcödé ✓✓✓\nCREATE TABLE größen (wert text);\nCREATE TABLE t (id bigint,);\n"
    root = write_project(tmp_path / "p", {"2025.01.001__a": (up, "DROP TABLE t;")})
    res = run(root)
    (f,) = [f for f in res.findings if f.rule == "syntax-error"]
    assert (f.file, f.line, f.column, f.severity) == ("migrations/2025.01.001__a.sql", 3, 27, "error")
    assert f.message == 'syntax error: syntax error at or near ")"'
    assert up.splitlines()[f.line - 1][f.column - 1] == ")"


def test_syntax_errors_in_every_kind_of_file(tmp_path):
    root = write_project(tmp_path / "p", {"2025.01.001__a": ("SELEC 1;", "DROP TABL t;")},
                         verify={"2025.01.001__a": "SELECT FROM WHERE;"})
    (root / "checks" / "integrity").mkdir()
    (root / "checks" / "queries").mkdir()
    (root / "checks" / "integrity" / "x.sql").write_text("SELECT id FROM t WHERE;\n")
    (root / "checks" / "queries" / "q.sql").write_text("\n\nSELECT (1;\n")
    res = run(root)
    got = [(f.file, f.line, f.version) for f in res.findings if f.rule == "syntax-error"]
    assert got == [("checks/2025.01.001__a.sql", 1, "2025.01.001"), ("checks/integrity/x.sql", 1, None),
                   ("checks/queries/q.sql", 3, None), ("migrations/2025.01.001__a.sql", 1, "2025.01.001"),
                   ("rollbacks/2025.01.001__a.sql", 1, "2025.01.001")]


def test_rules_run_on_migrations_and_rollbacks_with_the_project_model(tmp_path):
    root = write_project(tmp_path / "p", {
        "2025.01.001__create": ("CREATE TABLE p (amount int, note varchar(20));\n", "DROP TABLE p;\n"),
        "2025.01.002__widen": ("ALTER TABLE p ALTER COLUMN note TYPE varchar(40);\n"
                               "ALTER TABLE p ALTER COLUMN amount TYPE bigint;\n",
                               "ALTER TABLE p ALTER COLUMN amount TYPE int;\nALTER TABLE p DROP COLUMN note;\n"),
    })
    res = run(root)
    assert [k for k in keyed(res) if k[1] != "info"] == [
        ("alter-column-type-rewrite", "error", "migrations/2025.01.002__widen.sql", 2),
        ("alter-column-type-narrowing", "error", "rollbacks/2025.01.002__widen.sql", 1),
        ("alter-column-type-rewrite", "error", "rollbacks/2025.01.002__widen.sql", 1),
        ("drop-column", "error", "rollbacks/2025.01.002__widen.sql", 2),
    ]
    assert [k for k in keyed(res) if k[1] == "info"] == [
        ("prefer-text-over-varchar-n", "info", "migrations/2025.01.001__create.sql", 1),
        ("prefer-text-over-varchar-n", "info", "migrations/2025.01.002__widen.sql", 1)]
    msg = next(f.message for f in res.findings if f.rule == "alter-column-type-rewrite")
    assert "int4 -> int8" in msg and "ACCESS EXCLUSIVE" in msg and "blocks reads and writes" in msg


def test_findings_are_sorted_by_file_then_line(tmp_path):
    root = write_project(tmp_path / "p", {
        "2025.01.001__b": ("DROP TABLE b;\nDROP TABLE a;\n", "SELECT 1;"),
        "2025.01.002__a": ("TRUNCATE x;\n", "SELECT 1;"),
    })
    res = run(root)
    assert [(f.file, f.line) for f in res.findings] == sorted((f.file, f.line) for f in res.findings)
    assert len(res.findings) == 3


def test_target_version_from_config_and_argument(tmp_path):
    root = write_project(tmp_path / "p", {
        "2025.01.001__a": ("ALTER TABLE t ADD COLUMN c text DEFAULT 'x';\n", "ALTER TABLE t DROP COLUMN c;\n")})
    assert run(root).findings == []
    assert [f.rule for f in run(root, target_version=10).findings] == ["add-column-volatile-default"]
    res = run(root, toml="[dbtool]\ntarget_version = 10\n")
    assert res.target_version == 10 and [f.rule for f in res.findings] == ["add-column-volatile-default"]


def test_rules_table_overrides_severities(tmp_path):
    root = write_project(tmp_path / "p", {"2025.01.001__a": ("CREATE INDEX i ON t (a);\nDROP TABLE old;\n", "SELECT 1;")})
    res = run(root, toml='[rules]\ndrop-table = "warning"\ncreate-index-non-concurrently = "off"\n')
    assert [(f.rule, f.severity) for f in res.findings] == [("drop-table", "warning")]
    assert res.ok


@pytest.mark.parametrize("toml, words", [
    ('[rules]\ndrop-tabel = "off"\n', "unknown rule 'drop-tabel'"),
    ('[rules]\ndrop-table = "fatal"\n', "must be"),
    ('[rules]\nmissing-rollback = "off"\n', "cannot be changed"),
    ("[dbtool]\ntarget_version = 3\n", "not a PostgreSQL major version"),
])
def test_bad_configuration_is_a_config_error(tmp_path, toml, words):
    root = write_project(tmp_path / "p", {"2025.01.001__a": OK})
    with pytest.raises(ConfigError) as exc:
        run(root, toml=toml)
    assert words in str(exc.value) and exc.value.exit_code == 2


def test_json_of_the_result(tmp_path):
    root = write_project(tmp_path / "p", {"2025.01.001__a": ("DROP TABLE old;\n", "SELECT 1;")})
    data = json.loads(json.dumps(run(root).as_json()))
    assert data["ok"] is False
    assert list(data["findings"][0])[:7] == ["rule", "severity", "file", "line", "column", "version", "message"]
    assert data["summary"] == {"errors": 1, "warnings": 0, "infos": 0, "files": 2, "statements": 2,
                               "not_analysed": 0, "target_version": 13}


def test_the_repository_example_project_has_no_error(example_project):
    assert (example_project / "migrations").is_dir()
    res = lint(files.discover(example_project), config_mod.load(ROOT / "dbtool.toml"))
    assert res.errors == [], [(f.rule, f.file, f.line, f.message) for f in res.errors]
    assert res.files_checked >= 3 * len(list((example_project / "migrations").glob("*.sql")))


def test_lint_never_touches_the_database(tmp_path, monkeypatch):
    import psycopg

    def refuse(*a, **k):
        raise AssertionError("lint connected to a database")

    monkeypatch.setattr(psycopg, "connect", refuse)
    root = write_project(tmp_path / "p", {"2025.01.001__a": OK})
    assert run(root).ok

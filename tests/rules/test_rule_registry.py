"""Meta-tests over the registry: every rule is a well-formed unit, documented, and proven both ways."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from dbtool.lint import lint_sql
from dbtool.rules import BY_ID, CHECKS, RULES
from dbtool.rules.base import CATEGORIES, SEVERITIES

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "rules"
HELPERS = {"__init__", "base", "model", "hygiene"}


def _examples(kind: str):
    for rule in RULES:
        for i, ex in enumerate(getattr(rule, kind)):
            yield pytest.param(rule, ex, id=f"{rule.id}-{kind}{i}")


def _lint(ex):
    return lint_sql(ex.sql, target_version=ex.target_version or 13, up=ex.up, before=ex.before,
                    lock_timeout=ex.lock_timeout if ex.lock_timeout is not None else "5s")


def test_ids_are_unique_kebab_case_and_match_their_module():
    ids = [r.id for r in RULES]
    assert len(ids) == len(set(ids))
    assert not set(ids) & set(CHECKS)
    for rule in RULES:
        module = type(rule).__module__
        assert module == "dbtool.rules." + rule.id.replace("-", "_"), (rule.id, module)
        assert rule.id == rule.id.lower() and " " not in rule.id and "_" not in rule.id
        assert importlib.import_module(module).RULE is rule


def test_every_rule_module_is_registered():
    folder = ROOT / "dbtool" / "rules"
    modules = {p.stem for p in folder.glob("*.py")} - HELPERS
    assert modules == {r.id.replace("-", "_") for r in RULES}


def test_at_least_25_rules_with_sane_attributes():
    assert len(RULES) >= 25
    for rule in RULES:
        assert rule.severity in SEVERITIES, rule.id
        assert rule.category in CATEGORIES, rule.id
        assert rule.summary and rule.help, rule.id
        assert rule.bad and rule.ok, f"{rule.id} needs a bad and an ok example"


def test_every_rule_and_check_has_a_doc_page_with_the_three_sections():
    for rule_id in list(BY_ID) + list(CHECKS):
        page = DOCS / f"{rule_id}.md"
        assert page.is_file(), f"missing {page}"
        text = page.read_text(encoding="utf-8")
        assert text.startswith(f"# {rule_id}\n")
        for section in ("## Problem", "## Safer alternative", "## Version notes"):
            assert section in text, (rule_id, section)
    documented = {p.stem for p in DOCS.glob("*.md")}
    assert documented == set(BY_ID) | set(CHECKS), documented ^ (set(BY_ID) | set(CHECKS))


def test_doc_pages_are_up_to_date_with_the_registry():
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "rule_docs.py"), "--check"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("rule, ex", list(_examples("bad")))
def test_bad_example_triggers_its_rule(rule, ex):
    found = [f for f in _lint(ex) if f.rule == rule.id]
    assert found, f"{rule.id} did not fire on:\n{ex.sql}"
    for f in found:
        assert f.severity == ("warning" if "(a warning)" in ex.note else rule.severity)
        assert f.message and f.help
        assert f.line >= 1 and f.column >= 1


@pytest.mark.parametrize("rule, ex", list(_examples("ok")))
def test_ok_example_does_not_trigger_its_rule(rule, ex):
    found = [f.message for f in _lint(ex) if f.rule == rule.id]
    assert not found, found


LOCK_NAMES = ("ACCESS EXCLUSIVE", "SHARE ROW EXCLUSIVE", "SHARE UPDATE EXCLUSIVE", "SHARE lock", "EXCLUSIVE", "ROW EXCLUSIVE")


@pytest.mark.parametrize("rule", [r for r in RULES if r.category == "L"], ids=lambda r: r.id)
def test_lock_rule_messages_name_the_lock_and_what_it_blocks(rule):
    for ex in rule.bad:
        for f in _lint(ex):
            if f.rule != rule.id:
                continue
            assert any(name in f.message for name in LOCK_NAMES), f.message
            assert "block" in f.message or "wait" in f.message or "queue" in f.message, f.message


def test_every_layout_problem_of_discovery_has_a_documented_check():
    import re as _re

    source = (ROOT / "dbtool" / "files.py").read_text(encoding="utf-8")
    codes = set(_re.findall(r'Problem\("([a-z-]+)"', source))
    assert codes and codes <= set(CHECKS), codes - set(CHECKS)


def test_the_scaffold_of_a_new_rule_is_a_working_rule(tmp_path):
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "new_rule.py"), "ban-something-risky", "--dry-run",
                        "--severity", "error"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    namespace: dict = {}
    exec(compile(r.stdout, "ban_something_risky.py", "exec"), namespace)
    rule = namespace["RULE"]
    assert (rule.id, rule.severity, type(rule).__name__) == ("ban-something-risky", "error", "BanSomethingRisky")
    from dbtool.rules import Context, run
    from dbtool.sql import parse

    script = parse("ALTER TABLE t ADD COLUMN a text;")
    assert run(script, Context(script), rules=[rule]) == []  # runs in the real runner; reports nothing until filled in

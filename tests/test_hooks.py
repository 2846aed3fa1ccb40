"""The pre-commit hook definition and the example GitHub workflow, exercised as far as possible here."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, write_project

CLEAN = {"2025.01.001__create_t": ("CREATE TABLE t (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY);\n",
                                   "DROP TABLE t;\n")}
BROKEN = {**CLEAN, "2025.01.002__add_index": ("CREATE INDEX t_id_idx ON t (id);\n", None)}


def _executable(cmd: list[str]) -> list[str]:
    """The command as installed in this environment (the venv's console script), else through python -m."""
    exe = Path(sys.executable).with_name(cmd[0])
    if exe.exists():
        return [str(exe), *cmd[1:]]
    found = shutil.which(cmd[0])
    return [found, *cmd[1:]] if found else [sys.executable, "-m", "dbtool", *cmd[1:]]


def hook() -> dict:
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    assert isinstance(hooks, list) and len(hooks) == 1
    return hooks[0]


def test_pre_commit_hook_definition():
    h = hook()
    assert h["id"] == "dbtool-validate"
    assert h["entry"] == "dbtool validate --static"
    assert h["language"] == "python" and h["pass_filenames"] is False
    files = re.compile(h["files"])
    for path in ("migrations/2025.01.001__a.sql", "rollbacks/2025.01.001__a.sql", "checks/integrity/x.sql"):
        assert files.search(path), path
    for path in ("dbtool/cli.py", "docs/migrations/x.md", "README.md"):
        assert not files.search(path), path
    # language: python installs this repository, whose console script provides the entry's command
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r'^dbtool = "dbtool\.cli:main"$', pyproject, re.M)


def test_pre_commit_entry_runs_in_a_fresh_project(tmp_path):
    cmd = _executable(shlex.split(hook()["entry"]))
    clean = write_project(tmp_path / "clean", CLEAN)
    r = subprocess.run(cmd, cwd=clean, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    broken = write_project(tmp_path / "broken", BROKEN)
    r = subprocess.run(cmd, cwd=broken, capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "missing-rollback" in r.stdout and "create-index-non-concurrently" in r.stdout


def workflow() -> dict:
    return yaml.safe_load((ROOT / ".github" / "workflows" / "validate.yml").read_text(encoding="utf-8"))


def test_workflow_definition():
    wf = workflow()
    on = wf.get("on", wf.get(True))  # YAML 1.1 reads a bare `on` key as true
    assert "pull_request" in on
    (job,) = wf["jobs"].values()
    steps = job["steps"]
    uses = [s.get("uses", "") for s in steps]
    assert any(u.startswith("actions/checkout@") for u in uses)
    assert any(u.startswith("actions/setup-python@") for u in uses)
    runs = [s["run"] for s in steps if "run" in s]
    assert "pip install ." in runs
    validate = [r for r in runs if r.startswith("dbtool validate")]
    assert len(validate) == 1 and "--format github" in validate[0]
    # the scratch URL the step passes is the service the job starts
    service = job["services"]["postgres"]
    assert service["image"].startswith("postgres:") and "5432:5432" in service["ports"]
    assert "localhost:5432" in validate[0]


def test_workflow_command_runs_on_the_example_project(example_project, pg_admin_url):
    (job,) = workflow()["jobs"].values()
    (command,) = [s["run"] for s in job["steps"] if s.get("run", "").startswith("dbtool validate")]
    args = shlex.split(command)
    args[args.index("--scratch-url") + 1] = pg_admin_url  # this machine's server instead of the job's service
    r = subprocess.run(_executable(args), cwd=example_project, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert not [l for l in r.stdout.splitlines() if l.startswith("::error ")]

"""Running the real command line the way a user does."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner

from dbtool.cli import cli


@dataclass
class Run:
    code: int
    out: str
    err: str


def dbtool(*args: str, cwd: Path, env: dict | None = None, input: str | None = None) -> Run:
    """In-process, through click (fast)."""
    runner = CliRunner()
    old = os.getcwd()
    os.chdir(cwd)
    try:
        res = runner.invoke(cli, list(args), input=input, env=env, catch_exceptions=False)
    except SystemExit as exc:  # pragma: no cover - click converts these already
        return Run(int(exc.code or 0), "", "")
    finally:
        os.chdir(old)
    return Run(res.exit_code, res.stdout, res.stderr)


def dbtool_proc(*args: str, cwd: Path, env: dict | None = None, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    """As a separate process, exactly as on a terminal-less CI runner."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "dbtool", *args], cwd=cwd, env=full_env, capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL, **kw)

"""Every command explains itself: help text with an example, and a README entry."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from dbtool.cli import cli

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def commands(group: click.Group, prefix=()):
    for name, cmd in group.commands.items():
        if isinstance(cmd, click.Group):
            yield from commands(cmd, prefix + (name,))
        else:
            yield prefix + (name,), cmd


@pytest.mark.parametrize("path, cmd", list(commands(cli)), ids=lambda v: " ".join(v) if isinstance(v, tuple) else "")
def test_every_command_has_help_and_is_documented(path, cmd):
    assert cmd.help and len(cmd.help.strip()) > 20, f"dbtool {' '.join(path)} has no help text"
    if path[0] != "embedded":
        assert "Example:" in cmd.help, f"dbtool {' '.join(path)} --help shows no example"
    assert f"dbtool {' '.join(path)}" in README, f"README does not mention dbtool {' '.join(path)}"
    for param in cmd.params:
        if isinstance(param, click.Option) and not param.hidden:
            assert param.help, f"dbtool {' '.join(path)} {param.opts[0]} has no help"

"""``pytest --dbtool-roundtrip``: each migration's round trip as a test of its own.

The items are ``dbtool::roundtrip[<version>]``.  They share one run of dbtool's round trip
(dbtool/roundtrip.py, the same check as ``dbtool validate``) over the versions that were
selected, so N migrations cost N round trips, not N²/2 applications.  Each item then reports
the findings of its own version: an error fails it with the findings as the message (file,
line, object); warnings pass it with a warning in pytest's summary.

When a version stops the round trip (its up, down or second up failed), the versions after it
are round-tripped again on a new database where the earlier ones are only applied, so a broken
rollback fails exactly its own item.  A version that cannot be reached at all (an earlier
up-script fails) is skipped with the reason.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field

import pytest

from dbtool import roundtrip
from dbtool.config import Config
from dbtool.files import Migration, discover, version_key
from dbtool.testdb import Server

_LATER = re.compile(r"; \d+ later version\(s\) were not tested: .*$", re.S)
# The round trip's own summary of a stop; the items say it better, each for itself.
_PLUGIN_HANDLES = {"roundtrip-stopped"}


class RoundtripWarning(UserWarning):
    """A round trip that passed with a warning finding (e.g. a rollback that would destroy data)."""


class RoundtripFailure(Exception):
    """Error findings of one version; the message is the whole report."""


class Unreachable(Exception):
    """The version cannot be round-tripped because an earlier version stops every attempt."""


def make_items(session: pytest.Session, config: Config) -> list[RoundtripItem]:
    collector = RoundtripCollector.from_parent(session, name="dbtool", nodeid="dbtool")
    collector.dbtool_config = config
    items = list(collector.collect())
    # Reported like any collected node, so "collected N items" and --collect-only count and show them.
    session.ihook.pytest_collectreport(report=pytest.CollectReport(collector.nodeid, "passed", None, items))
    return items


class RoundtripCollector(pytest.Collector):
    """Parent of the round-trip items; its node id ``dbtool`` is their JUnit class name."""

    dbtool_config: Config

    def collect(self):
        for m in discover(self.dbtool_config.root).migrations:
            yield RoundtripItem.from_parent(self, name=f"roundtrip[{m.version}]", callobj=_uses_fixtures, migration=m)


def _uses_fixtures(dbtool_roundtrip_run):
    """The round-trip items' test function as pytest sees it: its parameters are the fixtures they need."""


class RoundtripItem(pytest.Function):
    """The round trip of one migration: up + verify, down (schema as before), up again (schema as after)."""

    def __init__(self, *, migration: Migration, **kw):
        super().__init__(**kw)
        self.migration = migration

    def runtest(self) -> None:
        run: RoundtripRun = self.funcargs["dbtool_roundtrip_run"]
        try:
            findings = run.findings(self.migration.version)
        except Unreachable as why:
            # Reported at the migration's file (as a skip mark would be), not at this line of the plugin.
            raise pytest.skip.Exception(str(why), _use_item_location=True) from None
        errors = [f for f in findings if f.severity == "error"]
        if errors:
            raise RoundtripFailure("\n".join(_line(f) for f in findings))
        for f in findings:
            if f.severity == "warning":
                warnings.warn(RoundtripWarning(_line(f)), stacklevel=1)

    def reportinfo(self):
        return self.migration.up.path, 0, f"round trip of {self.migration.label}"

    def repr_failure(self, excinfo, style=None):
        from dbtool.errors import DbtoolError

        if isinstance(excinfo.value, RoundtripFailure):
            return f"round trip of {self.migration.label} failed:\n{excinfo.value}"
        if isinstance(excinfo.value, DbtoolError):  # e.g. the scratch database could not be created
            return f"round trip of {self.migration.label} could not run: {excinfo.value}"
        return super().repr_failure(excinfo, style=style)


def _line(f) -> str:
    where = f"{f.file}:{f.line}" if f.line else f.file
    text = f"  {where}: {f.severity}: {f.message} [{f.rule}]"
    help_ = getattr(f, "help", "")
    return f"{text}\n    {help_}" if help_ else text


@dataclass
class RoundtripRun:
    """The round trips of the selected versions, computed on first use and shared by the items."""

    server: Server
    config: Config
    selected: list[str]
    _findings: dict[str, list] = field(default_factory=dict)
    _unreachable: dict[str, str] = field(default_factory=dict)
    _done: bool = False

    def findings(self, version: str) -> list:
        if not self._done:
            self._run()
        if version in self._unreachable:
            raise Unreachable(self._unreachable[version])
        return self._findings.get(version, [])

    def _run(self) -> None:
        self._done = True
        project = discover(self.config.root)
        todo = sorted(set(self.selected), key=version_key)
        while todo:
            name = self.server.create("dbtool_roundtrip")
            try:
                result = roundtrip.roundtrip(project, self.config, self.server.url(name), versions=todo)
            finally:
                self.server.drop(name)
            for f in result.findings:
                # Versions only applied on the way to a selected one were reported by an earlier pass.
                if f.version in todo and f.rule not in _PLUGIN_HANDLES:
                    self._findings.setdefault(f.version, []).append(f)
            stop = result.stopped_at
            if stop is None:
                return
            rest = [v for v in todo if version_key(v) > version_key(stop)]
            if stop in result.tested:
                todo = rest  # its own item reports why; the later ones get a new database
                continue
            # Stopped before its round trip began (no rollback, a script that does not parse, an up-script
            # that fails while only applied): nothing after it can be reached.
            why = _stop_reason(result, stop)
            if stop in todo:
                self._findings.setdefault(stop, []).append(roundtrip.Finding(
                    rule="roundtrip-stopped", severity="error", file=project.get(stop).up.rel, line=0, column=0,
                    version=stop, message=why))
            for v in rest:
                self._unreachable[v] = f"not tested: the round trip cannot get past {stop} ({why})"
            return


def _stop_reason(result: roundtrip.RoundTripResult, stop: str) -> str:
    for f in result.findings:
        if f.version == stop and f.severity == "error":
            return f"{f.file}:{f.line}: {f.message}"
    for f in result.findings:
        if f.version == stop and f.rule == "roundtrip-stopped":
            # "the round trip stopped at V: <why>; N later version(s) were not tested: ..."
            text = _LATER.sub("", f.message)
            return text.split(": ", 1)[-1] if text.startswith("the round trip stopped at") else text
    return f"{stop} stopped the round trip"

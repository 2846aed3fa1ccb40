"""The result of ``dbtool validate``: the static findings (lint) and the round trip's, rendered as one.

The renderings are findings.py's (text grouped per file, JSON, GitHub workflow
annotations), given a result that offers what they read: ``findings`` sorted
by file, ``summary()`` and ``as_json()``.  The round trip adds its own line to
the text and GitHub summaries and its own object to the JSON:

``{"ok", "findings": [...], "summary": {... lint's keys ..., "migrations", "roundtrip"}, "roundtrip": {...} | null}``
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dbtool import findings as _render

_ORDER = {"error": 0, "warning": 1, "info": 2}


@dataclass
class ValidateResult:
    static: Any                      # lint.LintResult
    findings: list = field(default_factory=list)
    migrations: int = 0
    static_only: bool = False
    roundtrip: Any = None            # roundtrip.RoundTripResult when it ran
    scratch: str | None = None       # where it ran: a label, never a password

    def add(self, more) -> None:
        # Sorted by file and line for the per-file grouping; within a line the order of discovery stays.
        self.findings = sorted([*self.findings, *more], key=lambda f: (f.file or "", f.line or 0, f.column or 0))

    @property
    def ok(self) -> bool:
        return not any(f.severity == "error" for f in self.findings)

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    @property
    def roundtrip_state(self) -> str:
        """``passed``, ``failed`` (findings, every version tested), ``stopped``, ``skipped`` (--static)."""
        if self.static_only or self.roundtrip is None:
            return "skipped"
        if self.roundtrip.stopped_at:
            return "stopped"
        return "passed" if self.roundtrip.ok else "failed"

    def summary(self) -> dict:
        s = dict(self.static.summary())
        for key, severity in (("errors", "error"), ("warnings", "warning"), ("infos", "info")):
            s[key] = sum(1 for f in self.findings if f.severity == severity)
        s["migrations"] = self.migrations
        s["roundtrip"] = self.roundtrip_state
        return s

    def as_json(self) -> dict:
        rt = None
        if self.roundtrip is not None:
            rt = {"scratch": self.scratch, **self.roundtrip.as_json()}
        return {"ok": self.ok, "findings": [f.as_json() for f in self.findings], "summary": self.summary(),
                "roundtrip": rt}


def roundtrip_line(res: ValidateResult) -> str:
    if res.static_only:
        return "round trip: skipped (--static)"
    rt = res.roundtrip
    if rt is None:
        return "round trip: not run"
    where = f" on {res.scratch}" if res.scratch else ""
    if rt.stopped_at:
        return (f"round trip: stopped at {rt.stopped_at}; {len(rt.tested)} of {res.migrations} migration(s) tested"
                f"{where}")
    verdict = "passed" if rt.ok else "failed"
    return f"round trip: {verdict} for {len(rt.tested)} migration(s){where} in {rt.duration_ms / 1000:.1f} s"


def render(res: ValidateResult, fmt: str, *, color: bool = False) -> str:
    out = _render.render(res, fmt, color=color)
    if fmt == "json":
        return out
    line = roundtrip_line(res)
    if fmt == "text" and color:
        import click

        line = click.style(line, fg="green" if res.roundtrip_state in ("passed", "skipped") else "red")
    return f"{out}\n{line}"

"""The result of ``dbtool validate`` (static rules + round trip) and its three renderings.

JSON (``as_json``) is the stable contract of design.md: ``ok``, ``findings``
(rule, severity, file, line, column, version, message), plus ``summary`` and
``roundtrip``.  Text groups the findings per file for people; ``github``
prints workflow commands that GitHub Actions turns into annotations on the
pull request's lines.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SEVERITIES = ("error", "warning", "info")
_ORDER = {s: i for i, s in enumerate(SEVERITIES)}
_COLOUR = {"error": "red", "warning": "yellow", "info": "cyan"}
_GITHUB = {"error": "error", "warning": "warning", "info": "notice"}


def finding_json(f: Any) -> dict:
    return {"rule": f.rule, "severity": f.severity, "file": f.file, "line": f.line, "column": f.column,
            "version": f.version, "message": f.message}


@dataclass
class ValidateResult:
    findings: list = field(default_factory=list)
    migrations: int = 0
    static_only: bool = False
    roundtrip: Any = None           # roundtrip.RoundTripResult when it ran
    scratch: str | None = None      # where it ran (a label without password)

    @property
    def ok(self) -> bool:
        return not any(f.severity == "error" for f in self.findings)

    @property
    def counts(self) -> dict[str, int]:
        c = {s: 0 for s in SEVERITIES}
        for f in self.findings:
            c[f.severity] = c.get(f.severity, 0) + 1
        return c

    def sorted_findings(self) -> list:
        """By file, then line, then severity; the round trip's own order within a line."""
        return sorted(self.findings, key=lambda f: (f.file or "", f.line or 0, f.column or 0, _ORDER.get(f.severity, 9)))

    def as_json(self) -> dict:
        c = self.counts
        rt = None
        if self.roundtrip is not None:
            rt = {"scratch": self.scratch, **self.roundtrip.as_json()}
        return {
            "ok": self.ok,
            "findings": [finding_json(f) for f in self.sorted_findings()],
            "summary": {"errors": c["error"], "warnings": c["warning"], "info": c["info"],
                        "migrations": self.migrations, "roundtrip": self.roundtrip_state},
            "roundtrip": rt,
        }

    @property
    def roundtrip_state(self) -> str:
        if self.static_only:
            return "skipped"
        if self.roundtrip is None:
            return "not run"
        if self.roundtrip.stopped_at:
            return "stopped"
        return "passed" if self.roundtrip.ok else "failed"


# ---------------------------------------------------------------- text

def text(res: ValidateResult, color: bool = False) -> str:
    def style(s: str, **kw) -> str:
        if not color:
            return s
        import click

        return click.style(s, **kw)

    lines: list[str] = []
    current = None
    for f in res.sorted_findings():
        if f.file != current:
            if current is not None:
                lines.append("")
            current = f.file
            lines.append(style(f.file or "(project)", bold=True))
        where = f"{f.line}:{f.column}" if f.column else f"{f.line or ''}"
        sev = style(f"{f.severity:<7}", fg=_COLOUR.get(f.severity))
        lines.append(f"  {where:>7}  {sev}  {f.message}  {style('[' + f.rule + ']', dim=True)}")
    if lines:
        lines.append("")
    lines.append(summary_line(res))
    return "\n".join(lines)


def summary_line(res: ValidateResult) -> str:
    c = res.counts
    counts = f"{c['error']} error(s), {c['warning']} warning(s), {c['info']} info"
    if res.static_only:
        trip = "round trip skipped (--static)"
    elif res.roundtrip is None:
        trip = "round trip not run"
    else:
        rt = res.roundtrip
        n = len(rt.tested)
        where = f" on {res.scratch}" if res.scratch else ""
        if rt.stopped_at:
            trip = f"round trip stopped at {rt.stopped_at} ({n} of {res.migrations} migration(s) tested{where})"
        else:
            trip = f"round trip of {n} migration(s) {'passed' if rt.ok else 'failed'}{where} in {rt.duration_ms / 1000:.1f} s"
    verdict = "ok" if res.ok else "FAILED"
    return f"validate {verdict}: {counts}; {trip}"


# ---------------------------------------------------------------- github

def _escape_data(s: str) -> str:
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(s: str) -> str:
    return _escape_data(s).replace(":", "%3A").replace(",", "%2C")


def github(res: ValidateResult) -> str:
    """``::error file=…,line=…,col=…,title=…::message`` per finding, then the summary as a notice-free line."""
    out = []
    for f in res.sorted_findings():
        props = [f"file={_escape_property(f.file)}"] if f.file else []
        if f.line:
            props.append(f"line={f.line}")
        if f.column:
            props.append(f"col={f.column}")
        props.append(f"title={_escape_property(f.rule)}")
        out.append(f"::{_GITHUB.get(f.severity, 'notice')} {','.join(props)}::{_escape_data(f.message)}")
    out.append(summary_line(res))
    return "\n".join(out)

"""Renderings of validate findings: text for people, JSON for tools, GitHub workflow annotations for CI.

Every function returns a string; the CLI prints it.  The JSON shape is part of the contract (design.md):
``{"ok": bool, "findings": [{"rule", "severity", "file", "line", "column", "version", "message", "help",
"end_line"}], "summary": {"errors", "warnings", "infos", "files", "statements", "not_analysed",
"target_version"}}``; keys are only ever added.
"""

from __future__ import annotations

import json
from itertools import groupby

FORMATS = ("text", "json", "github")
_STYLE = {"error": "red", "warning": "yellow", "info": "cyan"}
_GITHUB = {"error": "error", "warning": "warning", "info": "notice"}


def render(result, fmt: str = "text", *, color: bool = False) -> str:
    """``result`` is a lint.LintResult (or anything with ``findings``, ``summary()`` and ``as_json()``)."""
    if fmt == "json":
        return render_json(result)
    if fmt == "github":
        return render_github(result)
    if fmt == "text":
        return render_text(result, color=color)
    raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")


def render_json(result) -> str:
    return json.dumps(result.as_json(), indent=2, ensure_ascii=False)


def _style(text: str, color: bool, **kw) -> str:
    if not color:
        return text
    import click

    return click.style(text, **kw)


def render_text(result, *, color: bool = False) -> str:
    """Findings grouped per file, each with its position, severity, rule id, message and the safer way."""
    lines: list[str] = []
    for file, group in groupby(result.findings, key=lambda f: f.file):
        lines.append(_style(file, color, bold=True))
        for f in group:
            where = f"{f.line}:{f.column}"
            sev = _style(f"{f.severity:<7}", color, fg=_STYLE.get(f.severity))
            lines.append(f"  {where:>7}  {sev}  {_style(f.rule, color, dim=True)}  {f.message}")
            if f.help:
                lines.append(f"  {'':>7}  {'':<7}  safer: {f.help}")
        lines.append("")
    s = result.summary()
    verdict = "no error" if not s["errors"] else f"{s['errors']} error(s)"
    tail = (f"{verdict}, {s['warnings']} warning(s), {s['infos']} info(s) in {s['files']} file(s), "
            f"{s['statements']} statement(s), {s['not_analysed']} not analysed; target PostgreSQL {s['target_version']}")
    lines.append(_style(tail, color, fg="red" if s["errors"] else "green"))
    return "\n".join(lines)


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render_github(result) -> str:
    """One ``::error file=F,line=L,col=C,title=RULE::message`` workflow command per finding (warning / notice for
    the other severities), then a plain summary line."""
    out = []
    for f in result.findings:
        props = [f"file={_escape_property(f.file)}", f"line={f.line}"]
        if f.end_line and f.end_line != f.line:
            props.append(f"endLine={f.end_line}")
        props += [f"col={f.column}", f"title={_escape_property(f.rule)}"]
        message = f.message + (f"\nsafer: {f.help}" if f.help else "")
        out.append(f"::{_GITHUB.get(f.severity, 'notice')} {','.join(props)}::{_escape_data(message)}")
    s = result.summary()
    out.append(f"dbtool validate: {s['errors']} error(s), {s['warnings']} warning(s), {s['infos']} info(s) in "
               f"{s['files']} file(s)")
    return "\n".join(out)

"""Text renderings of results for people; JSON is each result's ``as_json()``."""

from __future__ import annotations

from dbtool.api import LogResult, RunResult, StatusResult

STATE_STYLE = {"applied": "green", "pending": "yellow", "failed": "red", "interrupted": "red", "drifted": "red",
               "missing": "red"}


def status_text(res: StatusResult, color: bool = False) -> str:
    lines = [f"env {res.env}: {res.database}  (log {res.log_table})"]
    if not res.migrations:
        lines.append("no migrations found (migrations/ is empty)")
    width = max((len(m.name) for m in res.migrations), default=4)
    for m in res.migrations:
        state = m.state
        if color:
            import click

            state = click.style(f"{m.state:<11}", fg=STATE_STYLE[m.state])
        else:
            state = f"{m.state:<11}"
        when = m.applied_at[:19].replace("T", " ") if m.applied_at else ""
        note = f"  {m.note}" if m.note and m.state != "applied" else ""
        lines.append(f"  {m.version}  {m.name:<{width}}  {state} {when}{note}".rstrip())
    c = res.counts
    summary = ", ".join(f"{n} {s}" for s, n in c.items() if n)
    lines.append(f"current version: {res.current or '(none)'}; {summary or 'nothing'}")
    return "\n".join(lines)


def run_text(res: RunResult, as_plan: bool = False) -> str:
    """A run's report; ``as_plan`` shows a dry run as the plan about to be confirmed."""
    verb = "migrate" if res.direction == "up" else "rollback"
    lines = []
    if res.dry_run:
        if not res.plan.steps:
            lines.append(f"{verb} on {res.env} ({res.database}): nothing to do")
        else:
            lines.append(f"{verb} plan for {res.env} ({res.database}):")
            for s in res.plan.steps:
                tx = "" if s.transactional else "  [outside a transaction]"
                lines.append(f"  {s.direction:<4} {s.version}  {s.file.rel}{tx}")
        impact = res.extra.get("impact")
        if impact:
            lines.append("predicted impact:")
            for entry in impact:
                lines.append(f"  {entry.get('version')}: {entry.get('summary')}")
                for stmt in entry.get("statements", ()):
                    if any(not e.get("new_table") for e in stmt.get("effects", ())) or \
                            stmt.get("estimate", "").startswith("not analysed"):
                        lines.append(f"    line {stmt['line']}: {stmt['estimate']}")
        if res.plan.steps and not as_plan:
            lines.append("dry run: nothing was changed")
        return "\n".join(lines)
    if not res.results and "error" in res.extra:
        return ""
    if not res.results:
        return f"{verb} on {res.env} ({res.database}): nothing to do, already up to date" if res.direction == "up" \
            else f"{verb} on {res.env}: nothing to do"
    done = "applied" if res.direction == "up" else "rolled back"
    lines.append(f"{done} {len(res.results)} migration(s) on {res.env} ({res.database}):")
    for r in res.results:
        retry = f", {r.attempts} attempts" if r.attempts > 1 else ""
        lines.append(f"  {r.direction:<4} {r.version}  {r.name}  {r.duration_ms:.0f} ms{retry}")
    if "backup" in res.extra:
        lines.append(f"backup: {res.extra['backup'].get('path')}")
    report = res.extra.get("report_text")
    if report:
        lines.append(report)
    return "\n".join(lines)


def log_text(res: LogResult) -> str:
    lines = [f"migration_log of {res.env} ({res.database}):"]
    if not res.rows:
        lines.append("  (empty)")
    for r in res.rows:
        when = r.started_at.strftime("%Y-%m-%d %H:%M:%S") if r.started_at else ""
        dur = f"{r.duration_ms} ms" if r.duration_ms is not None else ""
        err = f"  error: {r.error.splitlines()[0]}" if r.error else ""
        lines.append(f"  #{r.id:<5} {when}  {r.direction:<4} {r.version}  {r.status:<9} {dur:>9}  {r.applied_by}{err}")
    return "\n".join(lines)

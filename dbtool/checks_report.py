"""Text of the checks: the report after migrate and rollback, the predicted impact of a dry run, verify.

The same data is in ``--format json`` and in each migration_log row's details; this only lays it out.
"""

from __future__ import annotations

from collections import Counter


def _num(x) -> str:
    return "?" if x is None else f"{round(x):,}"


def _ms(ms) -> str:
    if ms is None:
        return "-"
    return f"{ms / 1000:.1f} s" if ms >= 1000 else f"{ms:.1f} ms"


def _counts(statuses) -> str:
    c = Counter(statuses)
    return ", ".join(f"{n} {s}" for s, n in c.items()) or "none"


def run_report(data: dict) -> str:
    lines = [f"checks before and after (workload cost threshold {data['cost_threshold'] * 100:.0f}%"
             f"{', strict' if data.get('strict') else ''}; locks: table locks the migration holds after each "
             "statement; lock wait n/s: not sampled, the statement took under 0.2 s):"]
    before = data["before"]
    if before["integrity"]:
        lines.append(f"  before: integrity checks {_counts(r['status'] for r in before['integrity'])}")
        for r in before["integrity"]:
            if r["status"] == "fail":
                lines.append(f"    already failing: {r['check']} ({r['violations']} row(s)); a migration fails only "
                             "if it adds violations")
    if before["workload"]:
        planned = sum(1 for v in before["workload"].values() if "cost" in v)
        lines.append(f"  before: {planned} of {len(before['workload'])} workload queries planned")
    for rec in data["migrations"]:
        lines += _migration(rec)
    return "\n".join(lines)


def _migration(rec: dict) -> list[str]:
    checks = rec.get("checks", {})
    status = checks.get("status", rec.get("status", "?"))
    lines = ["", f"  {rec['direction']:<4} {rec['version']} {rec['name']}: {status.upper() if status == 'fail' else status}"]
    imp = rec.get("impact", {})
    stmts = imp.get("statements", [])
    predicted = {p["line"]: p for p in rec.get("predicted", [])}
    if stmts:
        width = min(max(len(s["text"]) for s in stmts), 52)
        lines.append(f"    {'line':>4}  {'statement':<{width}}  {'time':>9}  {'lock wait':>9}  locks taken / rewrote")
        for s in stmts:
            text = s["text"] if len(s["text"]) <= width else s["text"][: width - 1] + "…"
            if s.get("locks") is None:
                locks = "not measured (outside a transaction)"
            else:
                locks = ", ".join(f"{lk['mode']} {lk['relation']}{' (new)' if lk.get('new') else ''}"
                                  f"{' (held since line %s)' % lk['held_since_line'] if lk.get('held_since_line') else ''}"
                                  for lk in s["locks"]) or "no new table lock"
            if s.get("rewrote"):
                locks += f"; REWROTE {', '.join(s['rewrote'])}"
            wait = "n/s" if s.get("lock_wait_ms") is None else _ms(s["lock_wait_ms"])
            lines.append(f"    {s['line']:>4}  {text:<{width}}  {_ms(s['duration_ms']):>9}  {wait:>9}  {locks}")
            p = predicted.get(s["line"])
            if p and any((e["rewrites"] or e["scans"]) and not e.get("new_table") for e in p["effects"]):
                lines.append(f"    {'':>4}  predicted: {p['estimate']}")
    missed = set(imp.get("rewrites", [])) ^ set(imp.get("predicted_rewrites", []))
    if missed:
        lines.append(f"    rewrites predicted {sorted(imp.get('predicted_rewrites', [])) or 'none'}, "
                     f"measured {sorted(imp.get('rewrites', [])) or 'none'}")
    for r in checks.get("rows", []):
        change = f"{_num(r.get('before'))} → {_num(r.get('after'))}"
        extra = f", lost {_num(r['lost'])}" if r.get("lost") else ""
        extra += f", {r['declared']}" if r.get("declared") and r.get("lost") else ""
        extra += f", {r['note']}" if r.get("note") else ""
        lines.append(f"    rows {r['table']}: {change} ({r['method']}{extra})")
    integ = checks.get("integrity", [])
    if integ:
        rerun = [i for i in integ if i.get("rerun")]
        lines.append(f"    integrity: {_counts(i['status'] for i in rerun) if rerun else 'nothing re-run'}"
                     f"{f', {len(integ) - len(rerun)} not re-run (their tables were not written)' if len(integ) > len(rerun) else ''}")
        for i in integ:
            if i["status"] == "fail" and not i.get("rerun"):
                continue  # failing since before the run, listed at the top, and this migration did not touch it
            if i["status"] == "fail":
                from dbtool.invariants import describe_rows

                lines.append(f"      FAIL {i['check']}: {i.get('message') or str(i['violations']) + ' violating row(s): ' + describe_rows(i.get('rows', []))}")
            elif i.get("message") and i.get("rerun") and i["status"] != "skipped":
                lines.append(f"      {i['status']} {i['check']}: {i['message']}")
    for f in checks.get("builtin", []):
        lines.append(f"    {f['status']}: {f['message']}")
    for w in checks.get("workload", []):
        if w["status"] in ("ok",):
            continue
        wrote = w.get("changed_by_this_migration")
        cols = [c for c in w.get("columns", []) if c.partition(".")[0] in (wrote or ())]
        reads = ", ".join(cols or w.get("tables", []))
        link = f"; this migration changed {', '.join(wrote)}" if wrote else ""
        lines.append(f"    workload {w['query']} {w['status']}: {w.get('message', '')} (reads {reads}{link})")
    for b in rec.get("blue_green", []):
        lines.append(f"    blue-green: {b}")
    return lines


def impact_text(impact: list[dict]) -> str:
    """The predicted impact of a dry run, one line per statement that takes a lock that matters."""
    lines = ["predicted impact (from the statements and the target's table sizes):"]
    for entry in impact:
        lines.append(f"  {entry.get('direction', 'up'):<4} {entry['version']}")
        for s in entry["statements"]:
            if s["effects"] or s["estimate"].startswith("no prediction"):
                lines.append(f"    line {s['line']}: {s['estimate']}")
    return "\n".join(lines)


def verify_text(res) -> str:
    d = res.as_json()
    lines = [f"verify on {d['env']} ({d['database']}): {'ok' if d['ok'] else 'FAILED'}"]
    drift = [m for m in d["drift"]]
    lines.append(f"  drift: {'none' if not drift else ''}")
    for m in drift:
        lines.append(f"    {m['version']} {m['name']}: {m['state']}{' (' + m['note'] + ')' if m.get('note') else ''}")
    lines.append(f"  integrity checks: {_counts(r['status'] for r in d['integrity']) if d['integrity'] else 'none'}")
    for r in d["integrity"]:
        if r["status"] != "pass":
            from dbtool.invariants import describe_rows

            detail = r.get("message") or f"{r['violations']} violating row(s): {describe_rows(r.get('rows', []))}"
            lines.append(f"    {r['status']} {r['check']}: {detail}")
    lines.append(f"  built-in checks: {'pass' if not d['builtin'] else ''}")
    for f in d["builtin"]:
        lines.append(f"    {f['status']}: {f['message']}")
    lines.append(f"  verify scripts: {_counts(v['status'] for v in d['verify']) if d['verify'] else 'none'}")
    for v in d["verify"]:
        if v["status"] != "pass":
            lines.append(f"    {v['status']} {v['file']}: {v.get('message', '')}")
    return "\n".join(lines)

"""The static half of ``dbtool validate``: layout, exact parsing and the rules, with no database.

``lint(project, config)`` reports, as findings:

1. layout problems found by discovery (missing rollback, duplicate version, bad file name, encoding, ...);
2. syntax errors of every script (migrations, rollbacks, verify scripts, integrity and workload queries) at
   ``file:line:col`` with PostgreSQL's own message;
3. the rules of dbtool.rules on every migration and rollback, in version order, each statement seeing the
   schema the migrations before it built (see dbtool.rules.model).

Findings are sorted by file and line; files are relative to the project root.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from dbtool.config import Config
from dbtool.errors import ConfigError, SqlSyntaxError
from dbtool.rules import BY_ID, CHECKS, Context, Finding, run
from dbtool.rules.model import SchemaModel
from dbtool.sql import parse

# Severity overrides in dbtool.toml ([rules] id = "error" | "warning" | "info" | "off") apply to the SQL rules
# and to the directive checks; layout and syntax errors cannot be switched off (migrate refuses them anyway).
OVERRIDABLE = set(BY_ID) | {"unused-ignore", "unknown-rule", "unknown-directive", "ignore-without-reason"}


@dataclass
class LintResult:
    """What the static validation found."""

    findings: list[Finding] = field(default_factory=list)
    files_checked: int = 0
    statements: int = 0
    not_analysed: int = 0
    target_version: int = 13

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def summary(self) -> dict:
        count = {s: sum(1 for f in self.findings if f.severity == s) for s in ("error", "warning", "info")}
        return {"errors": count["error"], "warnings": count["warning"], "infos": count["info"],
                "files": self.files_checked, "statements": self.statements, "not_analysed": self.not_analysed,
                "target_version": self.target_version}

    def as_json(self) -> dict:
        return {"ok": self.ok, "findings": [f.as_json() for f in self.findings], "summary": self.summary()}


def severity_overrides(config: Config) -> dict[str, str]:
    """The ``[rules]`` table of dbtool.toml, checked against the registry."""
    table = (config.raw or {}).get("rules", {}) or {}
    where = config.path.name if config.path else "dbtool.toml"
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: [rules] must be a table of rule-id = \"error\" | \"warning\" | \"info\" | \"off\"")
    out = {}
    for rule_id, value in table.items():
        if rule_id not in BY_ID and rule_id not in CHECKS:
            raise ConfigError(f"{where}: [rules] names unknown rule {rule_id!r}; the ids are listed in docs/rules/")
        if rule_id not in OVERRIDABLE:
            raise ConfigError(f"{where}: [rules] {rule_id} cannot be changed: it is a layout or syntax error")
        if value not in ("error", "warning", "info", "off"):
            raise ConfigError(f"{where}: [rules] {rule_id} = {value!r} must be \"error\", \"warning\", \"info\" or \"off\"")
        out[rule_id] = value
    return out


def _target(config: Config, target_version: int | None) -> int:
    value = target_version if target_version is not None else config.settings.get("target_version", 13)
    if not isinstance(value, int) or isinstance(value, bool) or not 9 <= value <= 99:
        raise ConfigError(f"target_version = {value!r} is not a PostgreSQL major version such as 13")
    return value


def lint(project, config: Config, *, target_version: int | None = None,
         progress: Callable[..., None] | None = None) -> LintResult:
    """Static validation of ``project`` (a files.Project): layout, syntax and rules; never touches a database.

    Raises ConfigError for a bad ``[rules]`` table or target_version (exit code 2).
    """
    severities = severity_overrides(config)
    target = _target(config, target_version)
    lock_timeout = config.settings.get("lock_timeout", "5s")
    res = LintResult(target_version=target)
    out = res.findings

    for p in project.problems:
        name = Path(p.path).name
        message = f"{name} {p.message}"
        out.append(Finding(p.code, p.severity, p.path, p.line or 1, p.column or 1, p.version, message,
                           CHECKS[p.code].help if p.code in CHECKS else ""))

    scripts: dict[str, object] = {}

    def parsed(sql_file, version, required: bool):
        if sql_file is None:
            return None
        res.files_checked += 1
        try:
            script = parse(sql_file.text, sql_file.rel)
        except SqlSyntaxError as exc:
            out.append(Finding("syntax-error", "error", sql_file.rel, exc.line, exc.column, version,
                               f"syntax error: {exc.detail}", CHECKS["syntax-error"].help))
            return None
        res.statements += len(script.statements)
        if not script.statements and sql_file.text.strip():
            out.append(Finding("empty-file", "error" if required else "warning", sql_file.rel, 1, 1, version,
                               f"{Path(sql_file.rel).name} has only comments, no statement", CHECKS["empty-file"].help))
        scripts[sql_file.rel] = script
        return script

    model = SchemaModel()
    for m in project.migrations:
        if progress:
            progress("lint", version=m.version)
        up = parsed(m.up, m.version, True)
        down = parsed(m.down, m.version, True)
        verify = parsed(m.verify, m.version, False)
        if up is not None:
            ctx = Context(up, file=m.up.rel, version=m.version, kind="migration", target_version=target,
                          lock_timeout=lock_timeout, model=model)
            out += run(up, ctx, severities=severities)
        if down is not None:
            ctx = Context(down, file=m.down.rel, version=m.version, kind="rollback", target_version=target,
                          lock_timeout=lock_timeout, model=model, up=up)
            out += run(down, ctx, severities=severities, update_model=False)
        if verify is not None:
            out += run(verify, Context(verify, file=m.verify.rel, version=m.version, target_version=target),
                       rules=[], severities=severities)
    for f in list(project.integrity) + list(project.queries):
        script = parsed(f, None, False)
        if script is not None:
            out += run(script, Context(script, file=f.rel, target_version=target), rules=[], severities=severities)

    res.not_analysed = sum(1 for f in out if f.rule == "not-analysed")
    out.sort(key=lambda f: (f.file, f.line, f.column, f.rule))
    return res


def lint_sql(sql: str, *, target_version: int = 13, up: str | None = None, before: str | None = None,
             lock_timeout: str = "5s", file: str = "migrations/2025.01.002__example.sql",
             severities: dict[str, str] | None = None) -> list[Finding]:
    """Findings of one script, as a migration (or as the rollback of ``up``), after the migrations ``before``.

    For tests, doc examples and editors; raises SqlSyntaxError when the SQL does not parse.
    """
    model = SchemaModel()
    for text in (before, up):
        if text:
            for s in parse(text).statements:
                model.apply(s.node)
    script = parse(sql, file)
    up_script = parse(up) if up else None
    ctx = Context(script, file=file, version=Path(file).name.partition("__")[0] or None,
                  kind="rollback" if up is not None else "migration", target_version=target_version,
                  lock_timeout=lock_timeout, model=model, up=up_script)
    return run(script, ctx, severities=severities, update_model=up is None)

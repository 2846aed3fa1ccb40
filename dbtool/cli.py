"""The command line: flags → Config → api call → rendering → exit code. Nothing more."""

from __future__ import annotations

import contextlib
import functools
import json
import sys
import traceback

import click

from dbtool import __version__, api, config as config_mod, render
from dbtool.errors import DbtoolError

FORMATS = ("text", "json")


def _load(ctx_obj: dict):
    return config_mod.load(ctx_obj.get("config"))


def common(formats=FORMATS, env=True, yes=False):
    """Options every command takes: --config, --env, --format, and --yes where it changes things."""

    def deco(f):
        @click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
                      help="Path to dbtool.toml (default: found from the current folder upward).")
        @click.option("--format", "fmt", type=click.Choice(formats), default="text", show_default=True,
                      help="Output format.")
        @click.option("--traceback", is_flag=True, hidden=True, help="Show the Python traceback of an error.")
        @functools.wraps(f)
        def wrapper(*args, config_path=None, fmt="text", traceback=False, **kwargs):
            return _guard(lambda: f(*args, cfg=config_mod.load(config_path), fmt=fmt, **kwargs), traceback)

        if env:
            wrapper = click.option("--env", "-e", "env", default=None, metavar="ENV",
                                   help="Environment from dbtool.toml (default: $DBTOOL_ENV, then dev).")(wrapper)
        if yes:
            wrapper = click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation on a protected environment.")(wrapper)
        return wrapper

    return deco


def _guard(fn, show_traceback: bool):
    try:
        code = fn()
    except DbtoolError as exc:
        if show_traceback:
            traceback.print_exc()
        click.echo(f"Error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("Error: interrupted; a transactional migration in progress was rolled back by the server", err=True)
        sys.exit(130)
    sys.exit(code or 0)


def emit(fmt: str, data, text: str) -> None:
    if fmt == "json":
        click.echo(json.dumps(data, indent=2, default=str))
    elif text:
        click.echo(text)


@contextlib.contextmanager
def partial_result(fmt: str):
    """On failure, show what completed before it (and in JSON, the error too), then fail."""
    try:
        yield
    except DbtoolError as exc:
        res = getattr(exc, "result", None)
        if res is not None:
            emit(fmt, res.as_json(), render.run_text(res) if res.results else "")
        raise


def _tty() -> bool:
    return sys.stderr.isatty()


def progress_printer(fmt: str):
    """Progress lines on a terminal, silence otherwise (design.md)."""
    if not _tty():
        return api._noop

    def progress(event, **data):
        if event == "lock_wait":
            click.echo(f"waiting for the migration lock held by {data['holder']} (up to {data['wait_s']:.0f}s)...", err=True)
        elif event == "lock_retry":
            step = data["step"]
            click.echo(f"  {step.version}: lock_timeout hit ({data['message']}); retry {data['attempt']} in {data['wait_s']:.1f}s", err=True)
        elif event == "step_done":
            r = data["result"]
            click.echo(f"  {r.direction:<4} {r.version} {r.name} ... done ({r.duration_ms:.0f} ms)", err=True)
        elif event == "message":
            click.echo(data["text"], err=True)

    return progress


def _confirm():
    if not sys.stdin.isatty():
        return None
    return lambda question: click.confirm(question, default=False, err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="dbtool")
def cli():
    """dbtool: PostgreSQL migrations paired with tested rollbacks, checked before and after.

    \b
    Typical day:
      dbtool new add_subscription_status     # up, down and verify stubs
      dbtool validate                        # rules + round trip of every pair
      dbtool migrate --env staging           # apply pending, logged and checked
      dbtool rollback 2025.01.003 -e staging # revert it and everything after
    """


@cli.command()
@click.argument("folder", type=click.Path(file_okay=False), default=".")
def init(folder):
    """Write dbtool.toml and the project folders (idempotent).

    Example: dbtool init
    """
    def run():
        from pathlib import Path

        res = api.init(Path(folder))
        if res.created:
            for c in res.created:
                click.echo(f"created {c}")
        else:
            click.echo("nothing to do: dbtool.toml and the folders exist")
    _guard(run, False)


@cli.command()
@click.argument("name")
@common(env=False)
def new(name, cfg, fmt):
    """Create the next version's up, down and verify stubs.

    Example: dbtool new add_subscription_status
    """
    res = api.new(cfg, name)
    rels = [str(p.relative_to(cfg.root)) for p in res.paths]
    emit(fmt, {"version": res.version, "files": rels}, "\n".join(f"created {r}" for r in rels))


@cli.command()
@click.option("--exit-code", is_flag=True, help="Exit 1 when anything is pending, failed, interrupted, drifted or missing.")
@common()
def status(env, cfg, fmt, exit_code):
    """Every version: applied, pending, failed, interrupted, drifted or missing.

    Example: dbtool status --env staging --exit-code
    """
    res = api.status(cfg, env)
    emit(fmt, res.as_json(), render.status_text(res, color=sys.stdout.isatty()))
    if exit_code and any(m.state != "applied" for m in res.migrations):
        return 1
    return 0


def _checks_factory(cfg, no_checks: bool, strict: bool):
    if no_checks or not cfg.settings.get("checks", True):
        return None
    try:
        from dbtool import checks_runner
    except ImportError:
        return None
    return checks_runner.factory(cfg, strict=strict)


@cli.command()
@click.option("--to", "to", metavar="VERSION", help="Stop after this version.")
@click.option("--dry-run", is_flag=True, help="Show the plan (and predicted impact); change nothing.")
@click.option("--allow-out-of-order", is_flag=True, help="Apply pending versions older than the newest applied one.")
@click.option("--retry-interrupted", is_flag=True, help="Run again a non-transactional migration that was interrupted.")
@click.option("--no-checks", is_flag=True, help="Skip integrity and performance checks.")
@click.option("--strict", is_flag=True, help="A slower workload query is an error, not a warning.")
@common(yes=True)
def migrate(env, cfg, fmt, to, dry_run, allow_out_of_order, retry_interrupted, yes, no_checks, strict):
    """Apply pending migrations in order, each in its own transaction.

    Example: dbtool migrate --env staging
    """
    with partial_result(fmt):
        res = api.migrate(cfg, env, to=to, dry_run=dry_run, yes=yes, confirm=_confirm(), progress=progress_printer(fmt),
                          allow_out_of_order=allow_out_of_order, retry_interrupted=retry_interrupted,
                          checks=_checks_factory(cfg, no_checks, strict))
    emit(fmt, res.as_json(), render.run_text(res))
    return 0


@cli.command()
@click.argument("version")
@click.option("--dry-run", is_flag=True, help="Show the plan; change nothing.")
@click.option("--no-checks", is_flag=True, help="Skip integrity and performance checks.")
@common(yes=True)
def rollback(version, env, cfg, fmt, dry_run, yes, no_checks):
    """Revert VERSION and every applied version after it, newest first.

    Example: dbtool rollback 2025.01.003 --env staging
    """
    confirm = _confirm()
    if not dry_run and not yes and confirm is not None:
        plan = api.rollback(cfg, version, env, dry_run=True)
        click.echo(render.run_text(plan, as_plan=True), err=True)
        if plan.plan.steps and not plan_is_protected(cfg, env):
            if not click.confirm("Roll back these migrations?", default=False, err=True):
                click.echo("Error: rollback cancelled; nothing was changed", err=True)
                return 1
            yes = True
    with partial_result(fmt):
        res = api.rollback(cfg, version, env, dry_run=dry_run, yes=yes, confirm=confirm, progress=progress_printer(fmt),
                           checks=_checks_factory(cfg, no_checks, False))
    emit(fmt, res.as_json(), render.run_text(res))
    return 0


@cli.command()
@click.option("--exact-counts", is_flag=True, help="Also scan tables above exact_count_limit (orphans, sequences).")
@common()
def verify(env, cfg, fmt, exact_counts):
    """Re-run integrity checks, the verify scripts of applied versions and drift detection; change nothing.

    Exit 1 when a check fails or a version drifted. Example: dbtool verify --env staging
    """
    from dbtool import checks_report, verify as verify_mod

    res = verify_mod.verify(cfg, env, exact_counts=exact_counts)
    emit(fmt, res.as_json(), checks_report.verify_text(res))
    return 0 if res.ok else 1


def plan_is_protected(cfg, env) -> bool:
    return cfg.env(env).protected


@cli.command()
@click.option("--limit", type=int, default=None, help="Only the newest N entries.")
@click.option("--version", "version", default=None, help="Only this version's entries.")
@common()
def log(env, cfg, fmt, limit, version):
    """The history from the migration_log, oldest first.

    Example: dbtool log --limit 20
    """
    res = api.log(cfg, env, limit=limit, version=version)
    emit(fmt, res.as_json(), render.log_text(res))


@cli.command()
@click.option("--static", is_flag=True, help="Only the static rules; no database, no round trip.")
@click.option("--scratch-url", metavar="URL", default=None,
              help="A server for the round trip: a fresh database is created there and dropped after.")
@click.option("--scratch", "scratch_spec", metavar="docker[:IMAGE]", default=None,
              help="Run the round trip in a PostgreSQL container (testcontainers; needs Docker).")
@click.option("--target-version", type=int, default=None, metavar="N",
              help="PostgreSQL major version the rules judge for (default: the env's, else dbtool.target_version).")
@common(formats=("text", "json", "github"))
def validate(env, cfg, fmt, static, scratch_url, scratch_spec, target_version):
    """Static rules over every script, then the round trip of every pair on a scratch database.

    For every migration in order: up, verify, down (the schema must be as before, seeded rows
    still there), up again (the schema must be as after the first up). Exit 0 with no
    error-level finding, 1 with one, 2 on usage or configuration errors.

    Example: dbtool validate --format github
    """
    from dbtool import validation

    res = api.validate(cfg, static=static, scratch_url=scratch_url, scratch=scratch_spec, target_version=target_version,
                       env_name=env, progress=_validate_progress())
    click.echo(validation.render(res, fmt, color=fmt == "text" and sys.stdout.isatty()))
    return res.exit_code


def _validate_progress():
    """One line per round-tripped migration on a terminal; nothing otherwise."""
    if not _tty():
        return api._noop

    def progress(event, **data):
        if event == "roundtrip_scratch":
            click.echo(f"round trip on {data['label']}", err=True)
        elif event == "roundtrip_version":
            click.echo(f"  [{data['index'] + 1}/{data['total']}] {data['version']} {data['name']}", err=True)
        elif event in ("lock_wait", "lock_retry"):
            progress_printer("text")(event, **data)

    return progress


def _staging_progress(fmt: str):
    from dbtool import progressbar

    return progressbar.bars(progress_printer(fmt), enabled=_tty())


def _clone_options(cfg, data, sample_rows, owners, no_grants, create_roles):
    from dbtool import clone

    return clone.Options.from_config(cfg, data=data, sample_rows=sample_rows, owners=owners,
                                     grants=False if no_grants else None, create_roles=True if create_roles else None)


_data_option = click.option("--data", type=click.Choice(["none", "sample"]), default=None,
                            help="Rows to copy besides the schema and the log: none (default) or sample.")
_sample_option = click.option("--sample-rows", type=click.IntRange(min=1), default=None, metavar="N",
                              help="With --data sample: at most N rows per table (default 100).")


@cli.command("clone")
@click.option("--from", "source", required=True, metavar="ENV", help="Environment to copy; only ever read.")
@click.option("--to", "target", required=True, metavar="ENV", help="Environment to copy into; never a protected one.")
@_data_option
@_sample_option
@click.option("--owners", type=click.Choice(["keep", "drop"]), default=None,
              help="keep the source's owners where the roles exist (default), or drop them all.")
@click.option("--no-grants", is_flag=True, help="Leave out GRANTs and default privileges.")
@click.option("--create-roles", is_flag=True, help="Create the roles the target server lacks (NOLOGIN).")
@click.option("--yes", "-y", is_flag=True, help="Empty a target that holds objects without asking.")
@common(env=False)
def clone_cmd(cfg, fmt, source, target, data, sample_rows, owners, no_grants, create_roles, yes):
    """Copy an environment's schema and migration_log into another, then check they are equal.

    Example: dbtool clone --from production --to staging --yes
    """
    from dbtool import clone

    opts = _clone_options(cfg, data, sample_rows, owners, no_grants, create_roles)
    with _staging_progress(fmt) as progress:
        res = clone.clone(cfg, source, target, options=opts, yes=yes, confirm=_confirm(), progress=progress)
    emit(fmt, res.as_json(), clone.describe(res))
    return 0 if res.ok else 1


@cli.command()
@click.option("--from", "source", required=True, metavar="ENV", help="Environment whose pending migrations to rehearse.")
@click.option("--scratch", "scratch_env", default=None, metavar="ENV",
              help="Use a fresh database on this (unprotected) environment's server instead of the embedded one.")
@click.option("--scratch-url", default=None, metavar="URL", help="Use a fresh database on this server instead.")
@click.option("--to", "to", default=None, metavar="VERSION", help="Stop after this version.")
@_data_option
@_sample_option
@click.option("--no-checks", is_flag=True, help="Skip integrity and performance checks.")
@click.option("--no-roundtrip", is_flag=True, help="Skip the round trip (up, down, up) of the pending migrations.")
@click.option("--strict", is_flag=True, help="A slower workload query is an error, not a warning.")
@common(env=False)
def rehearse(cfg, fmt, source, scratch_env, scratch_url, to, data, sample_rows, no_checks, no_roundtrip, strict):
    """Clone an environment into a scratch database, run its pending migrations there, report, discard.

    Example: dbtool rehearse --from production
    """
    from dbtool import rehearse as rehearse_mod

    opts = _clone_options(cfg, data, sample_rows, None, False, False)
    with _staging_progress(fmt) as progress:
        res = rehearse_mod.rehearse(cfg, source, scratch_env=scratch_env, scratch_url=scratch_url, to=to, options=opts,
                                    checks=not no_checks, strict=strict, roundtrip=not no_roundtrip, progress=progress)
    emit(fmt, res.as_json(), rehearse_mod.describe(res))
    return 0 if res.ok else 1


@cli.command()
@common()
def backup(env, cfg, fmt):
    """Write a pg_dump archive (custom format, mode 0600) and its manifest into backup_dir.

    Example: dbtool backup --env production
    """
    from dbtool import backup as backup_mod

    with _staging_progress(fmt) as progress:
        res = backup_mod.backup(cfg, env, progress=progress)
    emit(fmt, res.as_json(), backup_mod.describe_backup(res))


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--owners", type=click.Choice(["keep", "drop"]), default="keep", show_default=True,
              help="keep the archive's owners where the roles exist, or drop them all.")
@click.option("--no-grants", is_flag=True, help="Leave out GRANTs and default privileges.")
@click.option("--yes", "-y", is_flag=True, help="Replace a protected or non-empty environment's contents without asking.")
@common()
def restore(file, env, cfg, fmt, owners, no_grants, yes):
    """Load a backup into an environment (emptied first, after confirmation) and check its schema.

    Example: dbtool restore .dbtool/backups/production-app-20250101T000000Z-2025.01.003.dump --env staging
    """
    from dbtool import backup as backup_mod

    with _staging_progress(fmt) as progress:
        res = backup_mod.restore(cfg, file, env, yes=yes, confirm=_confirm(), progress=progress, owners=owners,
                                 grants=not no_grants)
    emit(fmt, res.as_json(), backup_mod.describe_restore(res))
    return 0 if res.ok else 1


@cli.group()
def embedded():
    """The private PostgreSQL server behind url = "embedded"."""


@embedded.command("status")
@common(env=False)
def embedded_status(cfg, fmt):
    """Whether the embedded server runs, where, and which version."""
    st = api.embedded_status(cfg)
    text = "\n".join(f"{k}: {v}" for k, v in st.items())
    emit(fmt, st, text)


@embedded.command("stop")
@common(env=False)
def embedded_stop(cfg, fmt):
    """Stop the embedded server (it starts again on demand)."""
    stopped = api.embedded_stop(cfg)
    emit(fmt, {"stopped": stopped}, "embedded server stopped" if stopped else "embedded server was not running")


def main():
    cli(prog_name="dbtool")


if __name__ == "__main__":
    main()

"""`dbtool validate`: static rules + round trip, its three formats and its exit codes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from cli_util import dbtool, dbtool_proc
from conftest import ROOT

CLEAN = {
    "2025.01.001__create_subscriptions": (
        "CREATE TABLE subscriptions (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, status text NOT NULL);\n",
        "DROP TABLE subscriptions;\n"),
    "2025.01.002__status_default": (
        "ALTER TABLE subscriptions ALTER COLUMN status SET DEFAULT 'active';\n",
        "ALTER TABLE subscriptions ALTER COLUMN status DROP DEFAULT;\n"),
}
BROKEN = {
    **CLEAN,
    "2025.01.002__status_default": (
        "ALTER TABLE subscriptions ALTER COLUMN status SET DEFAULT 'active';\n",
        "-- forgets to drop the default\nCOMMENT ON TABLE subscriptions IS NULL;\n"),
    "2025.01.003__invoice_numbers": ("CREATE SEQUENCE IF NOT EXISTS invoice_number_seq;\n", "COMMENT ON TABLE subscriptions IS NULL;\n"),
}
FINDING_KEYS = {"rule", "severity", "file", "line", "column", "version", "message"}


def scratch_dbs(url):
    with psycopg.connect(url, autocommit=True) as c:
        return {r[0] for r in c.execute("SELECT datname FROM pg_database WHERE datname LIKE 'dbtool\\_scratch\\_%'")}


def with_password(url: str, password: str) -> str:
    return make_conninfo(**{**conninfo_to_dict(url), "password": password})


def test_clean_project_exits_0(project_factory, pg_admin_url):
    root = project_factory(CLEAN, url=pg_admin_url)
    r = dbtool("validate", "--scratch-url", pg_admin_url, cwd=root)
    assert r.code == 0, r.out + r.err
    last = r.out.strip().splitlines()
    assert last[-2].startswith("no error, 0 warning(s)")
    assert last[-1].startswith("round trip: passed for 2 migration(s) on postgres@")
    used = last[-1].split("database ")[1].split()[0]
    assert used.startswith("dbtool_scratch_") and used not in scratch_dbs(pg_admin_url)


def test_broken_pairs_exit_1_text_grouped_per_file(project_factory, pg_admin_url):
    root = project_factory(BROKEN, url=pg_admin_url)
    r = dbtool("validate", "--scratch-url", pg_admin_url, cwd=root)
    assert r.code == 1, r.out + r.err
    lines = r.out.splitlines()
    i = lines.index("rollbacks/2025.01.002__status_default.sql")
    assert lines[i + 1].split()[1:3] == ["error", "roundtrip-down-differs"]
    assert "column public.subscriptions.status" in lines[i + 1]
    assert lines[i + 2].strip().startswith("safer: ")
    j = lines.index("rollbacks/2025.01.003__invoice_numbers.sql")
    assert "leaves sequence public.invoice_number_seq behind" in lines[j + 1]
    assert "\x1b[" not in r.out  # no colours when stdout is not a terminal
    assert lines[-1].startswith("round trip: failed for 3 migration(s)")


def test_json_shape_and_no_password(project_factory, pg_admin_url):
    root = project_factory(BROKEN, url=pg_admin_url)
    r = dbtool("validate", "--scratch-url", with_password(pg_admin_url, "s3cret-pw"), "--format", "json", cwd=root)
    assert r.code == 1, r.err
    assert "s3cret-pw" not in r.out + r.err
    data = json.loads(r.out)
    assert data["ok"] is False
    assert all(FINDING_KEYS <= set(f) for f in data["findings"])
    trip = [f for f in data["findings"] if f["rule"].startswith("roundtrip-")]
    assert [(f["rule"], f["file"], f["version"], f["severity"]) for f in trip] == [
        ("roundtrip-down-differs", "rollbacks/2025.01.002__status_default.sql", "2025.01.002", "error"),
        ("roundtrip-down-differs", "rollbacks/2025.01.003__invoice_numbers.sql", "2025.01.003", "error"),
    ]
    assert data["summary"]["errors"] >= 2 and data["summary"]["migrations"] == 3
    assert data["summary"]["roundtrip"] == "failed"
    assert data["roundtrip"]["tested"] == ["2025.01.001", "2025.01.002", "2025.01.003"]
    assert data["roundtrip"]["stopped_at"] is None
    assert [t["version"] for t in data["roundtrip"]["timings"]] == data["roundtrip"]["tested"]
    assert "dbtool_scratch_" in data["roundtrip"]["scratch"]


def test_github_annotations(project_factory, pg_admin_url):
    root = project_factory(BROKEN, url=pg_admin_url)
    r = dbtool("validate", "--scratch-url", pg_admin_url, "--format", "github", cwd=root)
    assert r.code == 1
    ann = [l for l in r.out.splitlines() if l.startswith("::error ") and "roundtrip-down-differs" in l]
    assert len(ann) == 2
    assert ann[0].startswith("::error file=rollbacks/2025.01.002__status_default.sql,line=1,col=1,"
                             "title=roundtrip-down-differs::rollbacks/2025.01.002__status_default.sql changes column")
    assert r.out.splitlines()[-1].startswith("round trip: failed")


def test_static_needs_no_database(project_factory):
    root = project_factory(CLEAN, url="postgresql://nobody@127.0.0.1:1/none")
    r = dbtool("validate", "--static", "--format", "json", cwd=root)
    data = json.loads(r.out)
    assert data["summary"]["roundtrip"] == "skipped" and data["roundtrip"] is None
    assert not any(f["rule"].startswith("roundtrip-") for f in data["findings"])
    assert r.code == (0 if data["ok"] else 1)


def test_usage_and_configuration_errors_exit_2(project_factory, pg_admin_url):
    root = project_factory(CLEAN, url=pg_admin_url)
    r = dbtool("validate", "--format", "xml", cwd=root)
    assert r.code == 2
    r = dbtool("validate", "--scratch", "podman", cwd=root)
    assert r.code == 2 and "docker or docker:IMAGE" in r.err
    r = dbtool("validate", "--scratch", "docker", "--scratch-url", pg_admin_url, cwd=root)
    assert r.code == 2 and "pass one of them" in r.err
    bad = with_password("postgresql://nobody@127.0.0.1:1/none", "hunter22")
    r = dbtool("validate", "--scratch-url", bad, cwd=root)
    assert r.code == 2 and r.err.startswith("Error: cannot connect to nobody@127.0.0.1:1/none")
    assert "hunter22" not in r.err and "Traceback" not in r.err


def _docker_usable() -> bool:
    try:
        import docker

        docker.from_env().ping()
        return True
    except Exception:  # noqa: BLE001
        return False


@pytest.mark.skipif(_docker_usable(), reason="Docker is usable here; the unusable case cannot be shown")
def test_docker_without_docker_is_one_sentence_exit_2(project_factory, pg_admin_url):
    root = project_factory(CLEAN, url=pg_admin_url)
    r = dbtool("validate", "--scratch", "docker:postgres:15", cwd=root)
    assert r.code == 2
    assert r.err.count("\n") == 1 and "Docker is not usable here" in r.err


def test_the_repository_example_project_validates(example_project, pg_admin_url):
    assert (example_project / "migrations").is_dir()
    r = dbtool("validate", "--scratch-url", pg_admin_url, "--format", "json", cwd=example_project)
    data = json.loads(r.out)
    problems = [f"{f['severity']} {f['rule']} {f['file']}:{f['line']}: {f['message']}"
                for f in data["findings"] if f["severity"] != "info"]
    assert r.code == 0, problems
    assert data["ok"] is True and data["summary"]["roundtrip"] == "passed"
    assert len(data["roundtrip"]["tested"]) == len(list((example_project / "migrations").glob("*.sql")))


def test_default_scratch_is_the_embedded_server(project_factory, pg_admin_url):
    from dbtool import embedded

    folder = Path(os.environ.get("DBTOOL_TEST_EMBEDDED_DIR", ROOT / ".dbtool" / "test-embedded"))
    root = project_factory(CLEAN, url=pg_admin_url, toml_extra=f'embedded_dir = "{folder}"')
    r = dbtool("validate", "--format", "json", cwd=root)
    assert r.code == 0, r.out + r.err
    data = json.loads(r.out)
    assert data["roundtrip"]["scratch"].startswith("embedded server, database dbtool_scratch_")
    assert scratch_dbs(embedded.ensure(folder)) == set()


def test_ctrl_c_drops_the_scratch_database(project_factory, pg_admin_url):
    root = project_factory({
        **CLEAN,
        "2025.01.003__slow": ("SELECT pg_sleep(60);\n", "SELECT 1;\n"),
    }, url=pg_admin_url)
    used = None
    proc = subprocess.Popen([sys.executable, "-m", "dbtool", "validate", "--scratch-url", pg_admin_url], cwd=root,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with psycopg.connect(pg_admin_url, autocommit=True) as c:
                row = c.execute("SELECT datname FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(60)%'"
                                " AND datname LIKE 'dbtool\\_scratch\\_%' AND pid <> pg_backend_pid()"
                                " AND backend_start >= now() - interval '1 minute'").fetchone()
            if row:
                used = row[0]
                break
            time.sleep(0.1)
        assert used, "the slow migration never started"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted" in err
    assert used not in scratch_dbs(pg_admin_url)


def test_terminal_less_run_prints_no_progress(project_factory, pg_admin_url):
    root = project_factory(CLEAN, url=pg_admin_url)
    p = dbtool_proc("validate", "--scratch-url", pg_admin_url, cwd=root)
    assert p.returncode == 0, p.stderr
    assert p.stderr == ""
    assert p.stdout.startswith("no error") and "\x1b[" not in p.stdout


def test_target_version_from_flag_env_or_the_env_server(project_factory, pg_admin_url):
    root = project_factory(CLEAN, url=pg_admin_url)
    toml = root / "dbtool.toml"
    toml.write_text(toml.read_text() + f'\n[env.old]\nurl = "{pg_admin_url}"\ntarget_version = 11\n', encoding="utf-8")

    def target(*args):
        r = dbtool("validate", "--static", "--format", "json", *args, cwd=root)
        assert r.code == 0, r.out + r.err
        return json.loads(r.out)["summary"]["target_version"]

    assert target() == 13  # dbtool.target_version's default
    assert target("--target-version", "15") == 15
    assert target("--env", "old") == 11
    with psycopg.connect(pg_admin_url) as c:
        major = c.info.server_version // 10000
    assert target("--env", "dev") == major  # no target_version there: the env's server says
    assert target("--env", "old", "--target-version", "14") == 14
    r = dbtool("validate", "--static", "--env", "nowhere", cwd=root)
    assert r.code == 2 and "unknown environment 'nowhere'" in r.err

"""The version matrix: the suite's server switch, and the example project on PostgreSQL 13 to 17.

The example project's migrations and rollbacks round-trip on the suite's server (whichever
DBTOOL_TEST_SERVER chose) and, where Docker exists, on a container of every major version from
13 to 17; without Docker those are skipped with the reason.
"""

from __future__ import annotations

import contextlib
import shutil

import psycopg
import pytest

from conftest import ROOT, chosen_server, docker_unavailable
from dbtool import config, files, roundtrip, scratch

pytestmark = pytest.mark.pgversion

MAJORS = (13, 14, 15, 16, 17)


def example_roundtrip(tmp_path, server_url: str) -> roundtrip.RoundTripResult:
    for sub in ("migrations", "rollbacks", "checks"):
        shutil.copytree(ROOT / sub, tmp_path / sub)
    (tmp_path / "dbtool.toml").write_text('[dbtool]\nlock_timeout = "5s"\n')
    cfg = config.load(tmp_path / "dbtool.toml")
    with scratch.database(cfg, scratch_url=server_url) as s:
        return roundtrip.roundtrip(files.discover(tmp_path), cfg, s.url)


def test_example_project_round_trips_on_the_suite_server(tmp_path, pg_admin_url):
    result = example_roundtrip(tmp_path, pg_admin_url)
    assert [f.message for f in result.findings if f.severity == "error"] == []
    assert result.tested == [m.version for m in files.discover(ROOT).migrations]


@pytest.mark.parametrize("major", MAJORS)
def test_example_project_round_trips_on_each_major_in_docker(tmp_path, major):
    reason = docker_unavailable()
    if reason:
        pytest.skip(f"postgres:{major} through testcontainers: {reason}")
    import conftest

    url, _how = chosen_server(f"docker:postgres:{major}")
    try:
        with psycopg.connect(url) as c:
            assert c.info.server_version // 10000 == major
        result = example_roundtrip(tmp_path, url)
        assert [f.message for f in result.findings if f.severity == "error"] == []
    finally:
        while conftest._containers:
            with contextlib.suppress(Exception):
                conftest._containers.pop().stop()


def test_docker_choice_without_docker_skips_with_the_reason():
    reason = docker_unavailable()
    if reason is None:
        pytest.skip("Docker is available here, so the choice starts a container instead")
    with pytest.raises(pytest.skip.Exception, match=r"DBTOOL_TEST_SERVER=docker:postgres:16: .*(Docker|testcontainers)"):
        chosen_server("docker:postgres:16")


@pytest.mark.parametrize("choice", ["bogus", "docker", "docker:"])
def test_unknown_choice_stops_the_run_with_the_choices(choice):
    with pytest.raises(pytest.exit.Exception, match="expected local, embedded, url or docker:IMAGE"):
        chosen_server(choice)


def test_url_choice_needs_the_url(monkeypatch):
    monkeypatch.delenv("DBTOOL_TEST_URL", raising=False)
    with pytest.raises(pytest.exit.Exception, match="DBTOOL_TEST_URL is not set"):
        chosen_server("url")

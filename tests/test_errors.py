"""Bad input: one clear sentence, the right exit code, no traceback, no password."""

from __future__ import annotations

import pytest

from dbtool import config
from dbtool.errors import ConfigError

from cli_util import dbtool, dbtool_proc

ONE = {"2025.01.001__create_t": ("CREATE TABLE t (id int);\n", "DROP TABLE t;\n")}


def assert_clean(err: str):
    assert err.startswith("Error: ")
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err


def test_malformed_toml(project_factory, db_url):
    root = project_factory(ONE, url=db_url)
    (root / "dbtool.toml").write_text("[dbtool\nlock_timeout = 5s\n")
    r = dbtool_proc("status", cwd=root)
    assert r.returncode == 2
    assert_clean(r.stderr)
    assert "dbtool.toml" in r.stderr and "not valid TOML" in r.stderr


@pytest.mark.parametrize("body, needle", [
    ('[dbtool]\nlock_timout = "5s"\n', "unknown setting dbtool.lock_timout"),
    ('[dbtool]\nlock_timeout = "soon"\n', "lock_timeout = 'soon' is not a duration"),
    ('[dbtool]\nlock_retries = "3"\n', "dbtool.lock_retries must be a whole number"),
    ('[env.dev]\nprotected = true\n', "env.dev.url is missing"),
    ('[env.dev]\nurl = "x"\nprotect = true\n', "unknown setting env.dev.protect"),
    ('[enviroment.dev]\nurl = "x"\n', "unknown table [enviroment]"),
])
def test_config_mistakes_name_the_setting(tmp_path, body, needle):
    (tmp_path / "dbtool.toml").write_text(body)
    r = dbtool("status", cwd=tmp_path)
    assert r.code == 2
    assert_clean(r.err)
    assert needle in r.err


def test_unknown_env(project_factory, db_url):
    root = project_factory(ONE, url=db_url)
    r = dbtool("migrate", "--env", "prodution", cwd=root)
    assert r.code == 2
    assert_clean(r.err)
    assert "unknown environment 'prodution'" in r.err and "defines dev" in r.err


def test_env_var_not_set(project_factory, db_url, monkeypatch):
    root = project_factory(ONE, url=db_url)
    (root / "dbtool.toml").write_text((root / "dbtool.toml").read_text() + '\n[env.staging]\nurl = "${STAGING_URL_FOR_TEST}"\n')
    monkeypatch.delenv("STAGING_URL_FOR_TEST", raising=False)
    r = dbtool("status", "-e", "staging", cwd=root)
    assert r.code == 2
    assert "environment variable STAGING_URL_FOR_TEST is not set (used by env.staging.url in dbtool.toml)" in r.err


def test_dbtool_env_variable_selects_the_environment(project_factory, db_url):
    root = project_factory(ONE, url=db_url)
    r = dbtool("status", cwd=root, env={"DBTOOL_ENV": "nope"})
    assert r.code == 2 and "unknown environment 'nope'" in r.err


def test_unreachable_server_never_shows_the_password(project_factory):
    url = "postgresql://deployer:s3cr3t-pw@127.0.0.1:1/app"
    root = project_factory(ONE, url=url)
    r = dbtool_proc("migrate", cwd=root)
    assert r.returncode == 2
    assert_clean(r.stderr)
    assert "s3cr3t-pw" not in r.stderr + r.stdout
    assert "cannot connect to deployer@127.0.0.1:1/app" in r.stderr


def test_wrong_password_style_failure_is_one_sentence(project_factory, db_url):
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    url = make_conninfo(**{**conninfo_to_dict(db_url), "user": "no_such_role_x", "password": "pw123"})
    root = project_factory(ONE, url=url)
    r = dbtool_proc("status", cwd=root)
    assert r.returncode == 2
    assert_clean(r.stderr)
    assert "pw123" not in r.stderr
    assert "no_such_role_x" in r.stderr


def test_malformed_url(project_factory):
    root = project_factory(ONE, url="postgresql://[broken")
    r = dbtool("status", cwd=root)
    assert r.code == 2
    assert_clean(r.err)


def test_missing_rollback_file(project_factory, db_url):
    root = project_factory({"2025.01.001__create_t": ("CREATE TABLE t (id int);\n", None)}, url=db_url)
    r = dbtool("migrate", cwd=root)
    assert r.code == 2
    assert_clean(r.err)
    assert "migrations/2025.01.001__create_t.sql: has no rollback: create rollbacks/2025.01.001__create_t.sql" in r.err


def test_duplicate_version(project_factory, db_url):
    root = project_factory({"2025.01.001__create_t": ("CREATE TABLE t (id int);\n", "DROP TABLE t;\n"),
                            "2025.01.001__create_u": ("CREATE TABLE u (id int);\n", "DROP TABLE u;\n")}, url=db_url)
    r = dbtool("migrate", cwd=root)
    assert r.code == 2
    assert_clean(r.err)
    assert "version 2025.01.001 is used twice" in r.err


def test_non_utf8_file(project_factory, db_url):
    root = project_factory(ONE, url=db_url)
    (root / "migrations" / "2025.01.002__latin1.sql").write_bytes(b"-- caf\xe9\nCREATE TABLE x (id int);\n")
    (root / "rollbacks" / "2025.01.002__latin1.sql").write_text("DROP TABLE x;\n")
    r = dbtool("migrate", cwd=root)
    assert r.code == 2
    assert_clean(r.err)
    assert "migrations/2025.01.002__latin1.sql:1: is not valid UTF-8 (byte 0xe9" in r.err


def test_bad_file_name(project_factory, db_url):
    root = project_factory(ONE, url=db_url)
    (root / "migrations" / "2025.13.001__bad_month.sql").write_text("SELECT 1;\n")
    r = dbtool("migrate", cwd=root)
    assert r.code == 2
    assert "2025.13.001" in r.err and "YYYY.MM.NNN" in r.err


def test_rollback_version_must_be_well_formed(project_factory, db_url):
    root = project_factory(ONE, url=db_url)
    r = dbtool("rollback", "latest", "--yes", cwd=root)
    assert r.code == 2 and "'latest' is not a version" in r.err


def test_bad_flag_is_a_usage_error(project_factory, db_url):
    root = project_factory(ONE, url=db_url)
    r = dbtool("migrate", "--dry", cwd=root)
    assert r.code == 2


def test_config_without_file_is_embedded_dev(tmp_path, monkeypatch):
    monkeypatch.delenv("DBTOOL_ENV", raising=False)
    cfg = config.load(cwd=tmp_path)
    assert cfg.path is None and cfg.env().embedded
    with pytest.raises(ConfigError):
        cfg.env("staging")


def test_config_is_found_from_a_subfolder(project_factory, db_url):
    root = project_factory(ONE, url=db_url)
    sub = root / "migrations"
    r = dbtool("migrate", cwd=sub)
    assert r.code == 0, r.err

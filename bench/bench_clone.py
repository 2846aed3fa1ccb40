"""dbtool clone of a 1000-table schema against the floor ``pg_dump --schema-only | psql``, and rehearse of the example project.

Usage: python bench/bench_clone.py [TABLES] [REPEATS]   (default 1000 tables, 5 repeats; DBTOOL_BENCH_URL picks the server)

The source is tests/staging_schema.py's production-like schema (extensions, enums, domains, functions, triggers,
views, a materialized view, a partitioned table, RLS policies, grants, comments) with TABLES generated tables, and a
migration_log written by dbtool (the example project migrated).  Both contenders load into a fresh database and use
the same pg_dump and psql (pgtools' choice).  dbtool's time is the whole command as a user runs it: Python start,
the read-only snapshot, pg_dump | psql, the log and size copies, and the schema comparison of target and source.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from common import ROOT, dbtool_cmd, machine, scratch_db, server_url, timed  # noqa: E402

import staging_schema  # noqa: E402

from dbtool import pgtools  # noqa: E402


def floor(tools: pgtools.Toolset, src: str, dst: str, env: dict | None = None) -> float:
    t0 = time.perf_counter()
    dump = subprocess.Popen([str(tools.pg_dump.path), "--schema-only", f"--dbname={src}"], stdout=subprocess.PIPE)
    subprocess.run([str(tools.psql.path), "-q", "-X", "-v", "ON_ERROR_STOP=1", f"--dbname={dst}"], stdin=dump.stdout,
                   stdout=subprocess.DEVNULL, check=True, env=env)
    dump.stdout.close()
    if dump.wait() != 0:
        raise SystemExit("pg_dump failed")
    return time.perf_counter() - t0


def project(root: Path, production: str, staging: str | None = None) -> Path:
    for sub in ("migrations", "rollbacks", "checks"):
        if (root / sub).exists():
            shutil.rmtree(root / sub)
        shutil.copytree(ROOT / sub, root / sub)
    text = f'[env.production]\nurl = "{production}"\nprotected = true\nbackup = false\n'
    if staging:
        text += f'[env.staging]\nurl = "{staging}"\n'
    (root / "dbtool.toml").write_text(text)
    return root


def clone_bench(tables: int, repeats: int) -> None:
    role = f"bench_reader_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(server_url(), autocommit=True) as c:
        c.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(role)))
    try:
        with scratch_db("bench_src") as src, tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            staging_schema.build(src, role=role, tables=tables)
            root = project(Path(tmp), src)
            subprocess.run(dbtool_cmd("migrate", "--env", "production", "--yes", "--no-checks"), cwd=root, check=True,
                           stdout=subprocess.DEVNULL)
            with psycopg.connect(src) as c:
                server = c.info.server_version // 10000
                n = c.execute("SELECT count(*) FROM pg_class WHERE relkind IN ('r', 'p') AND relnamespace::regnamespace::text"
                              " NOT IN ('pg_catalog', 'information_schema')").fetchone()[0]
            print(f"source: {n} tables built in {time.perf_counter() - t0:.1f}s")
            tools = pgtools.toolset(server)
            floors, async_floors, dbtools, phases, refresh = [], [], [], [], []
            no_fsync = {**os.environ, "PGOPTIONS": "-c synchronous_commit=off"}
            # Interleaved so that a noisy neighbour hurts all alike.
            for _ in range(repeats):
                with scratch_db("bench_dst") as dst:
                    floors.append(floor(tools, src, dst))
                with scratch_db("bench_dst") as dst:
                    async_floors.append(floor(tools, src, dst, no_fsync))
                with scratch_db("bench_dst") as dst:
                    project(Path(tmp), src, dst)
                    t = time.perf_counter()
                    out = subprocess.run(dbtool_cmd("clone", "--from", "production", "--to", "staging", "--format", "json"),
                                         cwd=root, check=True, capture_output=True, text=True).stdout
                    dbtools.append(time.perf_counter() - t)
                    res = json.loads(out)
                    assert res["ok"] and res["schema_equal"], res["differences"][:3]
                    phases.append(res["timings_ms"])
                    # the everyday refresh: staging already holds yesterday's clone and is emptied first
                    refresh.append(timed(dbtool_cmd("clone", "--from", "production", "--to", "staging", "--yes"), cwd=root))
    finally:
        with psycopg.connect(server_url(), autocommit=True) as c:
            c.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
    f_med, d_med = statistics.median(floors), statistics.median(dbtools)
    print(f"clone of {n} tables ({tools.pg_dump}), {repeats} interleaved runs, seconds min / median:")
    print(f"  pg_dump --schema-only | psql          : {min(floors):6.2f} / {f_med:6.2f}")
    a_med = statistics.median(async_floors)
    print(f"  the same, psql with synchronous_commit=off: {min(async_floors):6.2f} / {a_med:6.2f}")
    print(f"  dbtool clone (fresh target)           : {min(dbtools):6.2f} / {d_med:6.2f}   ratio {min(dbtools) / min(floors):4.2f}x / {d_med / f_med:4.2f}x")
    print(f"  dbtool vs the synchronous_commit=off pipe: {min(dbtools) / min(async_floors):4.2f}x / {d_med / a_med:4.2f}x")
    print(f"  dbtool clone --yes (emptying first)   : {min(refresh):6.2f} / {statistics.median(refresh):6.2f}")
    med = {k: statistics.median(p.get(k, 0) for p in phases) for k in phases[0]}
    print("  dbtool phases (median ms): " + ", ".join(f"{k} {v:.0f}" for k, v in med.items()))


def rehearse_bench(repeats: int) -> None:
    """The example project (9 migrations): production at the 5th, four pending, with checks and the round trip."""
    with scratch_db("bench_prod") as src, tempfile.TemporaryDirectory() as tmp:
        root = project(Path(tmp), src)
        (root / "dbtool.toml").write_text((root / "dbtool.toml").read_text() +
                                          f'[dbtool]\nembedded_dir = "{ROOT / ".dbtool" / "embedded"}"\n')
        subprocess.run(dbtool_cmd("migrate", "--env", "production", "--to", "2025.01.005", "--yes", "--no-checks"),
                       cwd=root, check=True, stdout=subprocess.DEVNULL)
        for label, extra in (("embedded scratch (default)", []), ("scratch on the same server", ["--scratch-url", server_url()])):
            runs, last = [], None
            for _ in range(repeats):
                t = time.perf_counter()
                out = subprocess.run(dbtool_cmd("rehearse", "--from", "production", "--format", "json", *extra), cwd=root,
                                     capture_output=True, text=True)
                runs.append(time.perf_counter() - t)
                if out.returncode != 0:
                    raise SystemExit(f"rehearse failed: {out.stderr}{out.stdout[-2000:]}")
                last = json.loads(out.stdout)
            assert last["ok"] and last["applied"] == last["pending"] and len(last["pending"]) == 4
            t = last["timings_ms"]
            print(f"rehearse of the example project, {label}: {min(runs):.2f} / {statistics.median(runs):.2f} s min / median "
                  f"(clone {t.get('clone', 0) / 1000:.2f}, migrate with checks {t.get('migrate', 0) / 1000:.2f}, "
                  f"round trip {t.get('roundtrip', 0) / 1000:.2f})")


def main() -> None:
    tables = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    print(f"machine: {machine()}")
    clone_bench(tables, repeats)
    rehearse_bench(max(1, repeats // 2))


if __name__ == "__main__":
    main()

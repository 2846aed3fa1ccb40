"""Overhead of the checks: dbtool migrate with the default checks against dbtool migrate --no-checks.

Two projects: the Digital Manager example (9 migrations, 4 integrity checks, 4 workload queries) and N
generated migrations (default 200; tables, columns, indexes, NOT VALID checks in rotation).  Each run
is a fresh database and a fresh `python -m dbtool` process, so the figures include start-up, imports
and the connection, as a deploy pipeline sees them; runs are interleaved and the best of each is kept.

Then a table of BIG rows (default 10 million): a migration that adds a column to it, with and without
checks, and whether the checks scanned it (pg_stat_user_tables.seq_scan; they must not, unless asked).

Usage: python bench/bench_checks.py [N] [REPEATS] [BIG]   (BIG=0 skips the big table)
       DBTOOL_BENCH_URL picks the server (default 127.0.0.1:5432).  Target: ratio under 1.5x.
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, dbtool_cmd, generate, machine, scratch_db, timed, write_config  # noqa: E402

MODES = (("--no-checks", ["--no-checks"]), ("default checks", []))


def example_project(dest: Path) -> Path:
    for sub in ("migrations", "rollbacks", "checks"):
        shutil.copytree(ROOT / sub, dest / sub)
    return dest


def measure(root: Path, repeats: int) -> tuple[dict[str, float], float]:
    """Best time of each mode, and the median of the ratios of runs made back to back (less sensitive to
    a neighbour's load on a shared machine than a ratio of two bests)."""
    best: dict[str, float] = {}
    ratios = []
    for _ in range(repeats):
        pair = {}
        for label, flags in MODES:
            with scratch_db("bench_checks") as url:
                write_config(root, url)
                pair[label] = timed(dbtool_cmd("migrate", *flags), cwd=root)
            best[label] = min(best.get(label, float("inf")), pair[label])
        ratios.append(pair["default checks"] / pair["--no-checks"])
    return best, statistics.median(ratios)


def seq_scans(url: str, above: int | None = None) -> int:
    deadline = time.monotonic() + 5
    while True:
        with psycopg.connect(url) as c:
            n = c.execute("SELECT seq_scan FROM pg_stat_user_tables WHERE relname = 'big'").fetchone()[0]
        if above is None or n > above or time.monotonic() > deadline:
            return n
        time.sleep(0.2)


def big_table(tmp: Path, rows: int) -> None:
    root = tmp / "big"
    (root / "migrations").mkdir(parents=True)
    (root / "rollbacks").mkdir()
    (root / "migrations" / "2030.01.001__big_note.sql").write_text("ALTER TABLE big ADD COLUMN note text;\n")
    (root / "rollbacks" / "2030.01.001__big_note.sql").write_text("ALTER TABLE big DROP COLUMN note;\n")
    with scratch_db("bench_checks_big") as url:
        t0 = time.perf_counter()
        with psycopg.connect(url, autocommit=True) as c:
            c.execute(f"CREATE TABLE big AS SELECT g::bigint AS id, g % 1000 AS v FROM generate_series(1, {rows}) g")
            c.execute("ANALYZE big")
            size = c.execute("SELECT pg_size_pretty(pg_table_size('big'))").fetchone()[0]
        built = time.perf_counter() - t0
        write_config(root, url)
        times = {}
        for label, flags in MODES:
            before = seq_scans(url)
            times[label] = timed(dbtool_cmd("migrate", *flags), cwd=root)
            scanned = seq_scans(url) - before
            if label == "default checks":
                with psycopg.connect(url) as c:
                    details = c.execute("SELECT details FROM migration_log WHERE status = 'completed' "
                                        "ORDER BY id DESC LIMIT 1").fetchone()[0]
                row = next(r for r in details["checks"]["rows"] if r["table"] == "public.big")
            timed(dbtool_cmd("rollback", "2030.01.001", "--yes", "--no-checks"), cwd=root)
            times[label + " scans"] = scanned
    print(f"  a table of {rows:,} rows ({size}, built in {built:.1f} s), one migration adding a column")
    print(f"    migrate --no-checks      {times['--no-checks']:6.2f} s")
    print(f"    migrate (default checks) {times['default checks']:6.2f} s   sequential scans of the table by the checks: "
          f"{times['default checks scans']}")
    print(f"    row count reported: {row['before']:,} ({row['method']})")
    print("    " + json.dumps(row))


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    big = int(sys.argv[3]) if len(sys.argv) > 3 else 10_000_000
    print(f"machine: {machine()}")
    print(f"best of {repeats}, each run a fresh database and a fresh process")
    with tempfile.TemporaryDirectory() as tmp:
        projects = {"example project (9 migrations, 4 checks, 4 queries)": example_project(Path(tmp) / "example")}
        gen = Path(tmp) / "generated"
        generate(gen, n)
        projects[f"{n} generated migrations"] = gen
        for name, root in projects.items():
            best, median = measure(root, repeats)
            off, on = best["--no-checks"], best["default checks"]
            print(f"  {name}")
            print(f"    migrate --no-checks      {off:6.2f} s")
            print(f"    migrate (default checks) {on:6.2f} s   ratio of bests {on / off:4.2f}x, median of paired ratios "
                  f"{median:4.2f}x  (target < 1.5x)")
        if big:
            big_table(Path(tmp), big)


if __name__ == "__main__":
    main()

"""Overhead of the checks: dbtool migrate with the default checks against dbtool migrate --no-checks.

Two projects: the Digital Manager example (9 migrations, 4 integrity checks, 4 workload queries) and N
generated migrations (default 200; tables, columns, indexes, NOT VALID checks in rotation).  Each run
is a fresh database and a fresh `python -m dbtool` process, so the figures include start-up, imports
and the connection, as a deploy pipeline sees them; runs are interleaved and the best of each is kept.

Usage: python bench/bench_checks.py [N] [REPEATS]   (DBTOOL_BENCH_URL picks the server; default 127.0.0.1:5432)
Target: ratio under 1.5x with the default checks.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, dbtool_cmd, generate, machine, scratch_db, timed, write_config  # noqa: E402

MODES = (("--no-checks", ["--no-checks"]), ("default checks", []))


def example_project(dest: Path) -> Path:
    for sub in ("migrations", "rollbacks", "checks"):
        shutil.copytree(ROOT / sub, dest / sub)
    return dest


def measure(root: Path, repeats: int) -> dict[str, float]:
    best: dict[str, float] = {}
    for _ in range(repeats):
        for label, flags in MODES:
            with scratch_db("bench_checks") as url:
                write_config(root, url)
                secs = timed(dbtool_cmd("migrate", *flags), cwd=root)
            best[label] = min(best.get(label, float("inf")), secs)
    return best


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    print(f"machine: {machine()}")
    print(f"best of {repeats}, each run a fresh database and a fresh process")
    with tempfile.TemporaryDirectory() as tmp:
        projects = {"example project (9 migrations, 4 checks, 4 queries)": example_project(Path(tmp) / "example")}
        gen = Path(tmp) / "generated"
        generate(gen, n)
        projects[f"{n} generated migrations"] = gen
        for name, root in projects.items():
            best = measure(root, repeats)
            off, on = best["--no-checks"], best["default checks"]
            print(f"  {name}")
            print(f"    migrate --no-checks      {off:6.2f} s")
            print(f"    migrate (default checks) {on:6.2f} s   ratio {on / off:4.2f}x  (target < 1.5x)")


if __name__ == "__main__":
    main()

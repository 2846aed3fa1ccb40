"""dbtool migrate of N generated migrations against the floor: psql, one transaction per file.

Usage: python bench/bench_migrate.py [N] [REPEATS]   (default 1000 and 5; DBTOOL_BENCH_URL picks the server)

Each repeat runs the three contenders back to back on fresh databases, so a noisy neighbour
(or a slow fsync) hurts them alike; the report gives the best of each and the median of the
per-repeat ratios. A second pass runs everything with synchronous_commit=off (through PGOPTIONS,
for psql and dbtool alike): commit fsyncs dominate a run of tiny migrations, and that pass shows
the cost of the tool itself.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import dbtool_cmd, generate, machine, scratch_db, timed, write_config  # noqa: E402


def psql_floor(root: Path, url: str, env: dict) -> float:
    """One psql process, each file wrapped in its own BEGIN/COMMIT, as a hand-run deploy would do."""
    stream = "".join(f"BEGIN;\n{f.read_text()}COMMIT;\n" for f in sorted((root / "migrations").glob("*.sql")))
    t0 = time.perf_counter()
    subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", "-d", url], input=stream, text=True, check=True,
                   stdout=subprocess.DEVNULL, env=env)
    return time.perf_counter() - t0


CONTENDERS = (("dbtool migrate --no-checks", ["--no-checks"]), ("dbtool migrate (default checks)", []))


def one_pass(root: Path, repeats: int, env: dict) -> tuple[dict[str, list[float]], float]:
    times: dict[str, list[float]] = {"psql": []}
    status_s = float("inf")
    for _ in range(repeats):
        with scratch_db() as url:
            times["psql"].append(psql_floor(root, url, env))
        for label, flags in CONTENDERS:
            with scratch_db() as url:
                write_config(root, url)
                times.setdefault(label, []).append(timed(dbtool_cmd("migrate", *flags), cwd=root, env=env))
                if "--no-checks" in flags:
                    status_s = min(status_s, timed(dbtool_cmd("status"), cwd=root, env=env))
    return times, status_s


def report(title: str, times: dict[str, list[float]]) -> None:
    floor = times["psql"]
    print(f"  {title}")
    print(f"    psql floor (one process, one transaction per file): best {min(floor):5.2f} s, median {statistics.median(floor):5.2f} s")
    for label, _ in CONTENDERS:
        secs = times[label]
        paired = statistics.median(s / f for s, f in zip(secs, floor))
        print(f"    {label:<32}: best {min(secs):5.2f} s  ratio of bests {min(secs) / min(floor):4.2f}x, "
              f"median of paired ratios {paired:4.2f}x  (target <= 1.5x)")


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    print(f"machine: {machine()}")
    print(f"{n} migrations, {repeats} interleaved repeats")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        generate(root, n)
        base = dict(os.environ)
        times, status_s = one_pass(root, repeats, base)
        report("server defaults (an fsync per commit)", times)
        nosync = dict(base, PGOPTIONS=(base.get("PGOPTIONS", "") + " -c synchronous_commit=off").strip())
        times, _ = one_pass(root, repeats, nosync)
        report("synchronous_commit=off for both (the tools' own cost)", times)
    print(f"  dbtool status with {n} applied: {status_s:5.2f} s (target < 1 s)")


if __name__ == "__main__":
    main()

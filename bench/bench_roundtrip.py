"""dbtool validate's round trip of N generated migrations against applying them once with psql.

A round trip applies every migration up, down and up again, with three schema
snapshots and a seeded row per touched table, so the target is at most 4x the
floor.  Two floors are printed, both one transaction per file:

  * psql -1 -f per file: what a hand-run deploy script does (a process per file);
  * one psql process, each file between BEGIN and COMMIT: the bare server work.

Usage: python bench/bench_roundtrip.py [N] [REPEATS]   (default 200, 3; DBTOOL_BENCH_URL picks the server)
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import dbtool_cmd, generate, machine, scratch_db, server_url, write_config  # noqa: E402

TARGET = 4.0


def psql_per_file(root: Path, url: str) -> float:
    t0 = time.perf_counter()
    for f in sorted((root / "migrations").glob("*.sql")):
        subprocess.run(["psql", "-X", "-q", "-1", "-v", "ON_ERROR_STOP=1", "-d", url, "-f", str(f)], check=True,
                       stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def psql_one_process(root: Path, url: str) -> float:
    stream = "".join(f"BEGIN;\n{f.read_text()}COMMIT;\n" for f in sorted((root / "migrations").glob("*.sql")))
    t0 = time.perf_counter()
    subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url], input=stream, text=True, check=True,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def validate(root: Path) -> tuple[float, dict]:
    """`dbtool validate` with the round trip on a fresh database of the bench server, as a user runs it."""
    t0 = time.perf_counter()
    proc = subprocess.run(dbtool_cmd("validate", "--scratch-url", server_url(), "--format", "json"), cwd=root,
                          capture_output=True, text=True)
    secs = time.perf_counter() - t0
    # Exit 1 is expected: the generated files break static rules (plain CREATE INDEX on an existing table).
    # What is measured must be a complete, clean round trip.
    if proc.returncode not in (0, 1):
        raise SystemExit(f"dbtool validate failed ({proc.returncode}): {proc.stderr or proc.stdout[:2000]}")
    report = json.loads(proc.stdout)
    if report["summary"]["roundtrip"] != "passed":
        raise SystemExit(f"the round trip did not pass: {report['summary']}")
    return secs, report


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    per_file, one_proc, runs = [], [], []
    report: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        generate(root, n)
        write_config(root, server_url())
        # Interleaved, best of each: a noisy neighbour hurts every contender alike.
        for _ in range(repeats):
            with scratch_db() as url:
                per_file.append(psql_per_file(root, url))
            with scratch_db() as url:
                one_proc.append(psql_one_process(root, url))
            secs, report = validate(root)
            runs.append(secs)
    best, floor_file, floor_one = min(runs), min(per_file), min(one_proc)
    rt = report.get("roundtrip") or {}
    timings = rt.get("timings") or []
    phases = {k: sum(t.get(k, 0) for t in timings) / 1000.0 for k in ("up_ms", "down_ms", "reapply_ms", "snapshot_ms", "seed_ms")}
    print(f"machine: {machine()}")
    print(f"{n} migrations, best of {repeats}")
    print(f"  psql -1 -f per file             : {floor_file:6.2f} s")
    print(f"  one psql, BEGIN/COMMIT per file : {floor_one:6.2f} s")
    print(f"  dbtool validate (round trip)    : {best:6.2f} s   "
          f"ratio {best / floor_file:5.2f}x the per-file floor, {best / floor_one:5.2f}x the one-process floor "
          f"(target <= {TARGET:.0f}x)")
    print("  inside the round trip (last run): " + ", ".join(f"{k[:-3]} {v:.2f} s" for k, v in phases.items()))


if __name__ == "__main__":
    main()

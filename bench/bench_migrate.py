"""dbtool migrate of N generated migrations against the floor: psql, one transaction per file.

Usage: python bench/bench_migrate.py [N]   (default 1000; DBTOOL_BENCH_URL picks the server)
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import dbtool_cmd, generate, machine, scratch_db, timed, write_config  # noqa: E402


def psql_floor(root: Path, url: str) -> float:
    """One psql process, each file wrapped in its own BEGIN/COMMIT, as a hand-run deploy would do."""
    stream = []
    for f in sorted((root / "migrations").glob("*.sql")):
        stream.append(f"BEGIN;\n{f.read_text()}COMMIT;\n")
    t0 = time.perf_counter()
    subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", "-d", url], input="".join(stream), text=True, check=True,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    floors, results, status_s = [], {}, float("inf")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        generate(root, n)
        # Interleave the runs so that a noisy neighbour hurts every contender alike; keep the best of each.
        for _ in range(repeats):
            with scratch_db() as url:
                floors.append(psql_floor(root, url))
            for label, flags in (("dbtool migrate --no-checks", ["--no-checks"]), ("dbtool migrate (default checks)", [])):
                with scratch_db() as url:
                    write_config(root, url)
                    results.setdefault(label, []).append(timed(dbtool_cmd("migrate", *flags), cwd=root))
                    if label.endswith("--no-checks"):
                        status_s = min(status_s, timed(dbtool_cmd("status"), cwd=root))
    floor = min(floors)
    results = {k: min(v) for k, v in results.items()}
    print(f"machine: {machine()}")
    print(f"{n} migrations, best of {repeats}")
    print(f"  psql floor (one process, one transaction per file): {floor:6.2f} s")
    for label, secs in results.items():
        print(f"  {label:<34}: {secs:6.2f} s  ratio {secs / floor:4.2f}x")
    print(f"  dbtool status with {n} applied: {status_s:6.2f} s")


if __name__ == "__main__":
    main()

"""Per-test cost of the pytest plugin's ``dbtool_db`` fixture on the example project.

Runs pytest in a subprocess on a copy of the repository's migrations with N tests that each
use ``dbtool_db`` and reads every test's setup and teardown durations from pytest's own reports.
The first test also pays for the session's template (migrated once); it is reported apart.

Usage: python bench/bench_plugin.py [N]
       (default 50 tests; DBTOOL_BENCH_URL picks the server, default the local one)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, machine, server_url  # noqa: E402

RECORDER = '''
import json, os
_durations = {}

def pytest_runtest_logreport(report):
    _durations.setdefault(report.nodeid, {})[report.when] = report.duration

def pytest_sessionfinish(session):
    with open(os.environ["BENCH_OUT"], "w") as f:
        json.dump(_durations, f)
'''

TEST = '''
def test_{i}(dbtool_db):
    dbtool_db.execute("SELECT count(*) FROM subscriptions").fetchone()
'''


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("n", nargs="?", type=int, default=50)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for sub in ("migrations", "rollbacks", "checks"):
            if (ROOT / sub).is_dir():
                shutil.copytree(ROOT / sub, root / sub)
        (root / "dbtool.toml").write_text(f'[env.dev]\nurl = "{server_url()}"\n')
        (root / "conftest.py").write_text(RECORDER)
        (root / "test_bench.py").write_text("".join(TEST.format(i=i) for i in range(args.n)))
        out = root / "durations.json"
        env = {**os.environ, "BENCH_OUT": str(out)}
        env.pop("DBTOOL_TEST_URL", None)
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly"],
                              cwd=root, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            sys.exit(f"pytest failed:\n{proc.stdout}\n{proc.stderr}")
        durations = json.loads(out.read_text())
    per_test = [sum(d.values()) * 1000 for d in durations.values()]
    first, rest = per_test[0], per_test[1:]
    rest_sorted = sorted(rest)
    phase = {when: statistics.median(d[when] * 1000 for d in list(durations.values())[1:]) for when in ("setup", "call", "teardown")}
    print(f"machine: {machine()}")
    print(f"dbtool_db on the example project, {args.n} tests (setup + call + teardown of each)")
    print(f"  first test (template migrated once for the session): {first:7.1f} ms")
    print(f"  other tests: median {statistics.median(rest):6.1f} ms, "
          f"p90 {rest_sorted[int(len(rest) * 0.9) - 1]:6.1f} ms, min {rest_sorted[0]:6.1f} ms, max {rest_sorted[-1]:6.1f} ms")
    print("  medians by phase: " + ", ".join(f"{k} {v:5.1f} ms" for k, v in phase.items()))


if __name__ == "__main__":
    main()

"""Static `dbtool validate` of N generated migrations (with rollbacks): the library call and the whole command.

Usage: python bench/bench_validate_static.py [N]   (default 1000; target: under 2 s on the machine of record)

The migrations are small and varied like real ones: new tables with indexes and comments, added columns,
constraints added NOT VALID then validated, concurrent indexes, backfills in batches, and in every fifth
migration a column type change that draws findings (so the run renders findings too).  No database is used.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _pair(i: int) -> tuple[str, str]:
    t = f"table_{i // 5}"
    kind = i % 5
    if kind == 0:
        up = (f"CREATE TABLE {t} (\n    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n    name text NOT NULL,\n"
              f"    owner_id bigint REFERENCES table_0 (id),\n    created_at timestamptz NOT NULL DEFAULT now()\n);\n"
              f"CREATE INDEX {t}_owner_idx ON {t} (owner_id);\n"
              f"COMMENT ON TABLE {t} IS 'generated table {i}';\n")
        down = f"DROP TABLE {t};\n"
    elif kind == 1:
        up = (f"ALTER TABLE {t} ADD COLUMN note_{i} text;\n"
              f"ALTER TABLE {t} ALTER COLUMN note_{i} SET DEFAULT 'n/a';\n"
              f"ALTER TABLE {t} ADD CONSTRAINT {t}_note_{i}_len CHECK (char_length(note_{i}) < 500) NOT VALID;\n")
        down = f"ALTER TABLE {t} DROP CONSTRAINT {t}_note_{i}_len;\nALTER TABLE {t} DROP COLUMN note_{i};\n"
    elif kind == 2:
        up = f"ALTER TABLE {t} VALIDATE CONSTRAINT {t}_note_{i - 1}_len;\n"
        down = f"-- nothing to undo: validation cannot be reverted\nSELECT 1;\n"
    elif kind == 3:
        up = (f"-- the index lives alone in its file: it runs outside a transaction\n"
              f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {t}_name_idx ON {t} (name);\n")
        down = f"DROP INDEX CONCURRENTLY IF EXISTS {t}_name_idx;\n"
    else:
        up = (f"UPDATE {t} SET note_{i - 3} = 'x'\nWHERE id IN (SELECT id FROM {t} WHERE note_{i - 3} IS NULL LIMIT 5000);\n"
              f"ALTER TABLE {t} ALTER COLUMN note_{i - 3} TYPE varchar(40);\n")
        down = f"ALTER TABLE {t} ALTER COLUMN note_{i - 3} TYPE text;\n"
    return up, down


def generate(root: Path, n: int) -> None:
    for sub in ("migrations", "rollbacks", "checks"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        label = f"{2000 + i // 999:04d}.01.{i % 999 + 1:03d}__step_{i}"
        up, down = _pair(i)
        (root / "migrations" / f"{label}.sql").write_text(up, encoding="utf-8")
        (root / "rollbacks" / f"{label}.sql").write_text(down, encoding="utf-8")


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    from dbtool import config, files
    from dbtool.lint import lint

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        generate(root, n)
        t0 = time.perf_counter()
        project = files.discover(root)
        res = lint(project, config.Config(root=root, path=None))
        library = time.perf_counter() - t0
        s = res.summary()
        print(f"lint(): {n} migrations + rollbacks, {s['statements']} statements, {len(res.findings)} findings "
              f"({s['errors']} errors): {library:.2f} s (discover + parse + rules)")
        cmd = [sys.executable, "-m", "dbtool", "validate", "--static", "--format", "json"]
        t0 = time.perf_counter()
        r = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
        command = time.perf_counter() - t0
        if r.returncode not in (0, 1) or "Usage" in r.stderr:
            print(f"whole command not available ({r.stderr.strip().splitlines()[-1:]}); library figure only")
        else:
            print(f"python -m dbtool validate --static: {command:.2f} s (process start, imports, output included)")
        target = 2.0
        worst = max(library, command if r.returncode in (0, 1) else 0)
        print(f"target < {target:.1f} s: {'met' if worst < target else 'MISSED'}")


if __name__ == "__main__":
    main()

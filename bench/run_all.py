"""`make bench`: run every CPU benchmark in bench/ one after another and print each one's ratio line.

Each script compares against its named reference in the same run and prints its own table; results and the
exact commands are recorded in docs/benchmarks.md. Benchmarks whose reference lives in a separate
environment (datatrove, datasketch, rensa in `.venv-bench`) say so and are skipped when it is missing.
GPU checks (`bench/*.sh`) need CUDA and are not run here.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent


def main() -> int:
    scripts = sorted(p for p in BENCH_DIR.glob("bench_*.py"))
    failures = []
    for script in scripts:
        print(f"\n=== {script.name} ===", flush=True)
        started = time.perf_counter()
        result = subprocess.run([sys.executable, str(script)], cwd=BENCH_DIR.parent)
        print(f"--- {script.name}: exit {result.returncode} in {time.perf_counter() - started:.0f} s", flush=True)
        if result.returncode != 0:
            failures.append(script.name)
    if failures:
        print(f"failed: {', '.join(failures)}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

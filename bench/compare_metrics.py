"""Two runs' per-step metrics, compared bit for bit: did a change of code change any number training produces?

    python -m bench.compare_metrics RUN_A/metrics.jsonl RUN_B/metrics.jsonl [--keys loss,lr,grad_norm,...]

Each step's record (after a stop and resume too: a step logged twice is compared as logged) must carry the same
values under the keys: floats by their IEEE-754 bits, everything else by equality. Prints one line per step that
differs (the first 10) and a summary; exit status 1 when anything differs or the runs logged different steps.
Timings (step_seconds, tokens_per_s, mfu, ...) differ from run to run and are not compared.
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
from pathlib import Path

KEYS = ("loss", "lr", "grad_norm", "data_fingerprint", "consumed_samples", "consumed_tokens", "skipped")


def same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return struct.pack("<d", a) == struct.pack("<d", b)  # NaN == NaN, 0.0 != -0.0: the bits decide
    return a == b


def step_records(path: Path) -> list[dict]:
    return [record for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
            for record in [json.loads(line)] if "step" in record and "loss" in record]


def differences(a: list[dict], b: list[dict], keys: tuple[str, ...]) -> list[str]:
    found = []
    if [r["step"] for r in a] != [r["step"] for r in b]:
        found.append(f"steps differ: {[r['step'] for r in a]} vs {[r['step'] for r in b]}")
    for ra, rb in zip(a, b):
        diff = [f"{key} {ra.get(key)!r} != {rb.get(key)!r}" for key in keys if not same(ra.get(key), rb.get(key))]
        if diff:
            found.append(f"step {ra['step']}: " + ", ".join(diff))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.compare_metrics", description=__doc__.split("\n")[0])
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    parser.add_argument("--keys", default=",".join(KEYS), help=f"comma-separated (default {','.join(KEYS)})")
    args = parser.parse_args(argv)
    keys = tuple(k for k in args.keys.split(",") if k)
    a, b = step_records(args.a), step_records(args.b)
    found = differences(a, b, keys)
    for line in found[:10]:
        print(line)
    verdict = "differ" if found else "bit-identical"
    print(f"{len(a)} and {len(b)} step records, keys {','.join(keys)}: {verdict}"
          + (f" ({len(found)} differences)" if found else ""))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())

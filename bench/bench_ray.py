"""Ray executor scaling: the same pipeline (filters + dedup) on the same input with 2 workers vs 1 worker.

    .venv/bin/python bench/bench_ray.py [--variants 4] [--shards 8]

Input: ../shared/data/corpus plus `--variants` generated near-duplicates per document, split into `--shards`
jsonl shards. Each configuration gets a fresh local Ray started with exactly `workers` CPUs before the clock
starts (Ray start-up is reported apart), then data_pipeline.executors.ray.run_pipeline runs the default
pipeline config. The local executor is timed the same way for reference, and kept ids are checked equal.
A control measures what a second process can gain on this machine at all (a shared box may give nothing).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from data_pipeline.config import compose_pipeline_config  # noqa: E402
from data_pipeline.dedup.near_duplicates import with_near_duplicates  # noqa: E402
from data_pipeline.executors import run_pipeline_for  # noqa: E402
from data_pipeline.formats.jsonl import read_jsonl  # noqa: E402
from data_pipeline.readers import discover_sources  # noqa: E402
from data_pipeline.run import build_stages  # noqa: E402

CORPUS = REPO / ".." / "shared" / "data" / "corpus"


def kept_ids(out: Path) -> list[str]:
    return sorted(r["id"] for path in (out / "kept").glob("*.jsonl.gz") for r in read_jsonl(path))


def timed_run(kind: str, workers: int, cfg, sources, out: Path) -> tuple[float, float]:
    """(start-up seconds, pipeline seconds)."""
    startup = 0.0
    if kind == "ray":
        import ray

        start = time.perf_counter()
        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, configure_logging=False)
        startup = time.perf_counter() - start
    try:
        start = time.perf_counter()
        run_pipeline_for(kind)(build_stages(cfg), sources, out, workers=workers, progress=False)
        return startup, time.perf_counter() - start
    finally:
        if kind == "ray":
            import ray

            ray.shutdown()


def _spin(_: int) -> int:
    total = 0
    for i in range(30_000_000):
        total += i & 7
    return total


def machine_parallelism() -> float:
    """Control: how much faster two processes finish two equal pure-Python loops than one process finishes
    one — the most any executor can gain from a second worker on this machine right now."""
    from multiprocessing import get_context

    start = time.perf_counter()
    _spin(0)
    one = time.perf_counter() - start
    with get_context("fork").Pool(2) as pool:
        start = time.perf_counter()
        pool.map(_spin, [0, 1])
        two = time.perf_counter() - start
    return 2 * one / two


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--variants", type=int, default=4)
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("overrides", nargs="*", help="pipeline config overrides, e.g. filters.enabled=false")
    args = parser.parse_args()
    records = [json.loads(line) for path in sorted(CORPUS.glob("*.jsonl")) for line in path.open(encoding="utf-8")]
    records = with_near_duplicates(records, args.variants, seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for shard in range(args.shards):
            with open(root / f"in{shard:03d}.jsonl", "w", encoding="utf-8") as out:
                out.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in records[shard::args.shards])
        cfg = compose_pipeline_config([f"input.paths=[{root}/in*.jsonl]", f"output.dir={root}/unused",
                                       *args.overrides])
        sources = discover_sources(cfg.input)
        print(f"{len(records)} docs in {args.shards} shards, {len(build_stages(cfg))} stages")
        seconds, ids = {}, {}
        for kind, workers in (("ray", 1), ("ray", 2), ("local", 1), ("local", 2)):
            out = root / f"{kind}{workers}"
            startup, seconds[kind, workers] = timed_run(kind, workers, cfg, sources, out)
            ids[kind, workers] = kept_ids(out)
            print(f"{kind:<6} workers={workers}: {seconds[kind, workers]:6.1f} s"
                  + (f" (+ {startup:.1f} s Ray start-up)" if kind == "ray" else "")
                  + f", kept {len(ids[kind, workers])}")
        assert len({tuple(v) for v in ids.values()}) == 1, "executors disagree on kept ids"
        print(f"ray 2 workers / 1 worker speed-up: {seconds['ray', 1] / seconds['ray', 2]:.2f}x")
        print(f"local 2 workers / 1 worker speed-up: {seconds['local', 1] / seconds['local', 2]:.2f}x")
        print(f"ray 2 workers vs local 2 workers: {seconds['local', 2] / seconds['ray', 2]:.2f}x")
        print(f"control, 2 processes / 1 process on a pure-Python loop: {machine_parallelism():.2f}x")


if __name__ == "__main__":
    main()

"""Memory, disk and time slope of the corpus-wide dedup stages (exact + MinHash + sentence) with corpus size.

    .venv/bin/python bench/bench_dedup_scale.py --docs 10000 40000 [--workers 2] [--shard-docs 5000] [--merge-memory-mb 256]

Each size runs in a fresh process through the local executor (`run_pipeline` with `build_dedup_stages`, default
config but `merge_memory_mb`). Generated English documents of 20 sentences (12 words each from a
20k vocabulary); a third of them carry one of 50 three-sentence boilerplate blocks (~5 % of sentences), and 5 %
are 1 %-edited copies of an earlier document. Reported per size: peak RSS of the driver (it loops over the
fit passes and runs a pass of one task itself) and its peak anonymous RSS (sampled every 20 ms: without the
file pages a memory map leaves resident), of the largest worker (RUSAGE_CHILDREN: the largest child; shard
workers and fit-task workers), an upper bound of the sum (driver + workers x the largest worker), bytes left
under `_work/` per document (the stages' state: band, shingle, span and id files) and wall seconds per
document; then the per-document slope between the two largest sizes, projected to 2e9 documents.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SENTENCES, WORDS = 20, 12


def generate(directory: Path, docs: int, shard_docs: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    vocabulary = np.array([f"w{i}" for i in range(20_000)])

    def sentence() -> str:
        return " ".join(vocabulary[rng.integers(0, len(vocabulary), WORDS)]).capitalize() + "."

    blocks = [[sentence() for _ in range(3)] for _ in range(50)]
    paths, written, previous = [], 0, []
    while written < docs:
        path = directory / f"part{len(paths):05d}.jsonl"
        with path.open("w") as out:
            for _ in range(min(shard_docs, docs - written)):
                if previous and rng.random() < 0.05:
                    words = rng.choice(previous).split(" ")
                    for k in np.flatnonzero(rng.random(len(words)) < 0.01):
                        words[k] = str(vocabulary[rng.integers(len(vocabulary))])
                    text = " ".join(words)
                else:
                    sentences = [sentence() for _ in range(SENTENCES)]
                    if rng.random() < 1 / 3:
                        at = int(rng.integers(0, SENTENCES - 3))
                        sentences[at:at + 3] = blocks[int(rng.integers(len(blocks)))]
                    text = " ".join(sentences)
                    if len(previous) < 1000:
                        previous.append(text)
                    else:
                        previous[int(rng.integers(1000))] = text
                out.write(json.dumps({"id": f"d{written:09d}", "text": text, "meta": {"lang": "en"}}) + "\n")
                written += 1
        paths.append(str(path))
    return paths


def _anonymous_peak() -> tuple[dict, threading.Event]:
    """Sample this process's RssAnon (MiB) every 20 ms into peak["mib"] until the event is set."""
    peak, stop = {"mib": 0.0}, threading.Event()

    def sample() -> None:
        while not stop.wait(0.02):
            with open("/proc/self/status") as status:
                for line in status:
                    if line.startswith("RssAnon:"):
                        peak["mib"] = max(peak["mib"], int(line.split()[1]) / 1024)

    threading.Thread(target=sample, daemon=True).start()
    return peak, stop


def one(docs: int, workers: int, shard_docs: int, merge_memory_mb: int, sentence: bool = True) -> dict:
    from data_pipeline.dedup import DedupConfig, build_dedup_stages
    from data_pipeline.executors.local import run_pipeline
    from data_pipeline.readers import InputConfig, discover_sources

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "in").mkdir()
        sources = discover_sources(InputConfig(paths=generate(tmp / "in", docs, shard_docs)))
        cfg = DedupConfig(merge_memory_mb=merge_memory_mb)
        cfg.sentence.enabled = sentence
        anonymous, stop = _anonymous_peak()
        start = time.perf_counter()
        stats = run_pipeline(build_dedup_stages(cfg), sources, tmp / "out", workers=workers, progress=False)
        wall = time.perf_counter() - start
        stop.set()
        work = sum(p.stat().st_size for p in (tmp / "out" / "_work").rglob("*") if p.is_file())
    driver = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    worker = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    stages = stats.get("stages", {})
    return {"docs": docs, "workers": workers, "merge_memory_mb": cfg.merge_memory_mb,
            "driver_peak_mib": round(driver, 1), "driver_anon_peak_mib": round(anonymous["mib"], 1),
            "largest_worker_peak_mib": round(worker, 1),
            "sum_bound_mib": round(driver + workers * worker, 1),
            "state_bytes_per_doc": round(work / docs, 1),
            "wall_s": round(wall, 1), "wall_ms_per_doc": round(1000 * wall / docs, 3),
            "removed": {name: s.get("docs_rejected") for name, s in stages.items() if isinstance(s, dict)},
            "sentence_fit": stats.get("corpus_fit", {}).get("sentence_dedup")}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", type=int, nargs="+", default=[10_000, 40_000])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--shard-docs", type=int, default=5000)
    parser.add_argument("--merge-memory-mb", type=int, default=256)  # dedup.merge_memory_mb
    parser.add_argument("--no-sentence", action="store_true", help="document dedup only")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.workers, args.shard_docs, args.merge_memory_mb,
                                   not args.no_sentence)))
        return
    rows = []
    for docs in args.docs:
        result = subprocess.run([sys.executable, __file__, "--one", str(docs), "--workers", str(args.workers),
                                 "--shard-docs", str(args.shard_docs), "--merge-memory-mb",
                                 str(args.merge_memory_mb)] + ["--no-sentence"] * args.no_sentence, capture_output=True, text=True, check=True)
        rows.append(json.loads(result.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    if len(rows) >= 2:
        a, b = rows[-2], rows[-1]
        largest = [max(r["driver_peak_mib"], r["largest_worker_peak_mib"]) for r in (a, b)]
        per_doc = (largest[1] - largest[0]) / (b["docs"] - a["docs"])
        print(json.dumps({"largest_process_growth_mib": round(largest[1] - largest[0], 1),
                          "largest_process_mib_per_million_docs": round(per_doc * 1e6, 2),
                          "largest_process_mib_at_2e9_if_linear": round(largest[1] + per_doc * (2e9 - b["docs"])),
                          "state_tib_at_2e9": round(b["state_bytes_per_doc"] * 2e9 / 2**40, 2),
                          "core_hours_at_2e9": round(b["wall_ms_per_doc"] * b["workers"] * 2e9 / 3.6e6)}))


if __name__ == "__main__":
    main()

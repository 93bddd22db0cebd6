"""Does the pipeline keep the same text for every id whatever the input order and worker count? (issue 27)

    .venv/bin/python bench/check_order_independence.py [--workers 2] [key=value overrides...]

Runs the real `data_pipeline.run` on ../shared/data/corpus as given (1 worker), then on the same records with
the file list and every file's lines reversed, and with all lines shuffled into 3 new files, each with 1 and
`--workers` workers; compares kept text and reject reason per id with the first run. Prints one line per run
and exits 1 on any difference.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

from data_pipeline.config import compose_pipeline_config
from data_pipeline.formats.jsonl import read_jsonl
from data_pipeline.run import run

CORPUS = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "corpus"


def layouts(files: dict[str, list[str]], seed: int = 0) -> dict[str, dict[str, list[str]]]:
    """{layout: {file name: lines}}, the input files in the order the run reads them."""
    reversed_files = {f"r{i}-{name}": lines[::-1] for i, (name, lines) in enumerate(reversed(files.items()))}
    every = [line for lines in files.values() for line in lines]
    random.Random(seed).shuffle(every)
    return {"original": files, "reversed": reversed_files,
            "shuffled": {f"s{i}.jsonl": every[i::3] for i in range(3)}}


def outcome(out_dir: Path) -> dict[str, tuple]:
    """{id: (kept text or None, reject reason or None)} of a finished run."""
    result = {r["id"]: (r["text"], None) for p in sorted((out_dir / "kept").glob("*.jsonl.gz")) for r in read_jsonl(p)}
    for path in sorted((out_dir / "rejected").glob("*.jsonl.gz")):
        for record in read_jsonl(path):
            result[str(record.get("id"))] = (None, record["reject_reason"])
    return result


def run_layout(name: str, files: dict[str, list[str]], workers: int, work: Path, overrides: list[str]) -> tuple:
    folder = work / f"{name}-in"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for file_name, lines in files.items():
        (folder / file_name).write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        paths.append(str(folder / file_name))
    out = work / f"{name}-w{workers}"
    cfg = compose_pipeline_config([f"input.paths=[{','.join(paths)}]", f"output.dir={out}",
                                   f"executor.workers={workers}", "executor.progress=false", *overrides])
    stats = run(cfg)
    return outcome(out), stats.get("corpus_fit", {}).get("sentence_dedup", {})


def check(files: dict[str, list[str]], work: Path, workers: int, overrides: list[str]) -> list[tuple]:
    """[(run, documents, documents differing from the first run, what sentence dedup cut)] over every layout x
    {1, workers}."""
    runs, reference = [], None
    for name, layout in layouts(files).items():
        for count in ([1] if name == "original" else sorted({1, workers})):
            result, sentence = run_layout(name, layout, count, work, overrides)
            reference = reference or result
            differing = sum(result.get(i) != v for i, v in reference.items()) + len(set(result) - set(reference))
            runs.append((f"{name}, {count} worker(s)", len(result), differing, sentence))
    return runs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    files = {p.name: p.read_text(encoding="utf-8").splitlines() for p in sorted(CORPUS.glob("*.jsonl"))}
    start = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        runs = check(files, Path(tmp), args.workers, args.overrides)
    for name, docs, differing, sentence in runs:
        print(json.dumps({"run": name, "documents": docs, "differing_from_original": differing,
                          "sentence_dedup": sentence}))
    print(f"{time.time() - start:.0f} s", file=sys.stderr)
    return 1 if any(run[2] for run in runs) else 0


if __name__ == "__main__":
    sys.exit(main())

"""Tokenize-to-shards throughput vs raw SentencePiece batch encode of the same files with the same parallelism.

`data_pipeline.tokenize` (P spawned worker processes: read jsonl → decode JSON → encode → write
.bin/.idx/manifest) against two references that read the same files, decode every line with ``json.loads``
inside the clock and encode with SentencePiece's batch API, alternating so machine-load drift hits all equally:
  * spm-threads: this process reads the files, then ``encode(all_texts, num_threads=P)`` — sentencepiece's own
    thread pool, no process start-up;
  * spm-procs:   P spawned processes, each reading its files and calling ``encode(texts)`` — ours minus the
    shard writing (and minus the per-record checks, language fallback and rejection counting).
Both ask for the ids in the form ``data_pipeline.tokenize`` does: numpy arrays when this sentencepiece offers
them (``return_type="numpy"``, the cheaper way to take ids out of it), else lists. The goal ratio is ours / the
better of the two. For information it also times the tokenizer alone, ``encode(texts_already_in_memory,
num_threads=P)`` (no reading, no JSON, no start-up), and prints ours / that.
Rates are content tokens per wall second and per CPU second (this process, its threads and its reaped children —
a measure that holds on a machine shared with other jobs). Goal: >= 0.9 (the tokenizer itself is the limit).

    .venv/bin/python bench/bench_tokenize.py [--copies 48] [--workers 2] [--repeats 3] [--vocab 32000]

Spawned workers (ours and spm-procs alike) re-import this module, so it imports nothing heavy at the top.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import tempfile
import time
from multiprocessing import get_context
from pathlib import Path

CORPUS = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "corpus"
REFERENCES = ("spm-threads", "spm-procs")  # the goal's references; "spm-encode-only" is information
_PROCESSOR = None  # this process's SentencePieceProcessor
_OUTPUT: dict = {}  # encode(..., **_OUTPUT): the id output type data_pipeline.tokenize uses


def _load(model: str, output: dict) -> None:
    import sentencepiece as spm

    global _PROCESSOR
    _PROCESSOR = spm.SentencePieceProcessor(model_file=model)
    _OUTPUT.update(output)


def _read_texts(path: Path) -> list[str]:
    return [json.loads(line)["text"] for line in path.open(encoding="utf-8") if line.strip()]


def _encode_file(path: Path) -> int:
    return sum(len(ids) for ids in _PROCESSOR.encode(_read_texts(path), num_threads=1, **_OUTPUT))


class Stopwatch:
    """Wall seconds and CPU seconds (this process's threads plus reaped child processes) of a block."""

    def __enter__(self) -> Stopwatch:
        self._wall, self._cpu = time.perf_counter(), self._cpu_now()
        return self

    def __exit__(self, *exc) -> None:
        self.wall = time.perf_counter() - self._wall
        self.cpu = self._cpu_now() - self._cpu

    @staticmethod
    def _cpu_now() -> float:
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return time.process_time() + children.ru_utime + children.ru_stime


def _train_tokenizer(corpus: Path, out: Path, vocab: int) -> str:
    from data_pipeline.train_tokenizer import COMMAND as TRAIN_TOKENIZER_COMMAND
    from data_pipeline.train_tokenizer import train_tokenizer

    overrides = [f"input={corpus}", f"output={out}", f"vocab_size={vocab}"]
    train_tokenizer(TRAIN_TOKENIZER_COMMAND.build_config(overrides))
    return str(out / "tokenizer.model")


def _measure(args: argparse.Namespace, files: list[Path], model: str, work: Path) -> tuple[dict, dict, int]:
    """Wall and CPU seconds per contender and repeat, and the content token count they all agree on."""
    from data_pipeline.tokenize import TokenizeConfig, tokenize

    texts = [t for f in files for t in _read_texts(f)]  # for spm-encode-only, read before any clock starts
    wall: dict[str, list[float]] = {name: [] for name in ("ours", *REFERENCES, "spm-encode-only")}
    cpu: dict[str, list[float]] = {name: [] for name in wall}
    tokens: dict[str, int] = {}

    def timed(name: str, run) -> None:
        with Stopwatch() as watch:
            tokens[name] = run()
        wall[name].append(watch.wall)
        cpu[name].append(watch.cpu)

    out = work / "shards"

    def ours() -> int:
        config = TokenizeConfig(
            input=str(files[0].parent), tokenizer=model, output=str(out), num_workers=args.workers
        )
        summary = tokenize(config)
        return sum(summary["tokens_per_group"].values()) - summary["documents"]  # minus one EOS per document

    def encode_all(texts: list[str]) -> int:
        return sum(len(ids) for ids in _PROCESSOR.encode(texts, num_threads=args.workers, **_OUTPUT))

    def spm_procs() -> int:
        with get_context("spawn").Pool(args.workers, initializer=_load, initargs=(model, _OUTPUT)) as pool:
            return sum(pool.imap_unordered(_encode_file, files))

    for _ in range(args.repeats):
        timed("ours", ours)
        shutil.rmtree(out)  # outside the clock: removing the output is not part of making it
        timed("spm-threads", lambda: encode_all([t for f in files for t in _read_texts(f)]))
        timed("spm-procs", spm_procs)
        timed("spm-encode-only", lambda: encode_all(texts))
    assert len(set(tokens.values())) == 1, f"token counts differ: {tokens}"  # the same text, the same tokens
    return wall, cpu, tokens["ours"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument(
        "--copies", type=int, default=48, help="copies of each corpus file (more, larger work)"
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--vocab", type=int, default=32000)
    parser.add_argument(
        "--raw-records",
        action="store_true",
        help="copy the corpus records as they are (no source/meta.lang: each copy its own group, languages guessed)",
    )
    args = parser.parse_args()
    if not args.corpus.is_dir():  # make bench runs everything: say why this one is skipped
        print(f"skipped: corpus {args.corpus} not found — pass --corpus DIR of .jsonl files")
        return
    import sentencepiece as spm

    from data_pipeline.tokenizer.shard_writing import numpy_encoding_supported

    work = Path(tempfile.mkdtemp(prefix="bench_tokenize-"))
    try:
        inputs = work / "in"
        inputs.mkdir()
        for path in sorted(args.corpus.glob("*.jsonl")):
            lines = path.read_text(encoding="utf-8").splitlines()
            if not args.raw_records:  # as the pipeline's kept/ records: a source and a language label
                labels = {"source": path.stem, "meta": {"lang": path.stem.split("_")[0]}}
                lines = [
                    json.dumps({**json.loads(line), **labels}, ensure_ascii=False) for line in lines if line
                ]
            for copy in range(args.copies):
                (inputs / f"{path.stem}-{copy:03d}.jsonl").write_text(
                    "\n".join(lines) + "\n", encoding="utf-8"
                )
        files = sorted(inputs.iterdir())
        model = _train_tokenizer(args.corpus, work / "tokenizer", args.vocab)
        _load(model, {})
        if numpy_encoding_supported(_PROCESSOR):
            _OUTPUT["return_type"] = "numpy"
        wall, cpu, n = _measure(args, files, model, work)
        documents = sum(1 for f in files for line in f.open(encoding="utf-8") if line.strip())
        print(
            f"{len(files)} files ({'raw records' if args.raw_records else 'with source and meta.lang'}), "
            f"{documents:,} documents, {n:,} tokens, {args.workers} processes, "
            f"median of {args.repeats}; sentencepiece {spm.__version__}, ids as "
            f"{_OUTPUT.get('return_type', 'lists')}"
        )
        for label, table in (("wall", wall), ("CPU", cpu)):
            rate = {name: n / statistics.median(s) for name, s in table.items()}
            print(f"tokens per {label} second: " + ", ".join(f"{name} {r:,.0f}" for name, r in rate.items()))
            print(
                f"  {label} ratio ours / best reference: {rate['ours'] / max(rate[r] for r in REFERENCES):.2f} "
                f"(goal >= 0.9); ours / spm-encode-only: {rate['ours'] / rate['spm-encode-only']:.2f}"
            )
        # CPU seconds per wall second: below the worker count, a contender waited (I/O, fsync) or the machine
        # was busy with other jobs; compare contenders of one run, not runs.
        cores = {name: statistics.median(cpu[name]) / statistics.median(wall[name]) for name in wall}
        print("cores busy on average: " + ", ".join(f"{name} {c:.2f}" for name, c in cores.items()))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

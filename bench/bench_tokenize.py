"""Tokenize-to-shards throughput vs raw SentencePiece batch encode of the same text with the same parallelism.

`data_pipeline.tokenize` (read jsonl → decode JSON → encode → write .bin/.idx/manifest, P worker processes)
against three references in the same run, alternating so machine-load drift hits all equally:
  * spm-threads:      ``SentencePieceProcessor.encode(all_texts, num_threads=P, return_type=R)`` on texts decoded
    before the clock starts — the tokenizer alone, its own batch API, no file reading or JSON in the clock;
  * spm-threads-list: the same with sentencepiece's default output, a list of Python ints per document;
  * spm-procs:        P spawned processes, each reading its files, decoding each line with ``json.loads`` and
    calling ``encode(texts, return_type=R)`` (no writing) — ours minus the shard writing, JSON inside the clock.
R is the output ``data_pipeline.tokenize`` uses: numpy arrays when this sentencepiece offers them (the faster way
to take ids out of it), else lists. Prints content tokens per wall second and per CPU second (this process, its
threads and its reaped children — a measure that holds on a machine shared with other jobs) of each, and
ours / best reference for both. Goal: >= 0.9 (the tokenizer itself is the limit).

    .venv/bin/python bench/bench_tokenize.py [--copies 24] [--workers 2] [--repeats 3] [--vocab 32000]
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

import sentencepiece as spm

from data_pipeline.hydra_cli import compose_cli_config
from data_pipeline.tokenize import TokenizeConfig, tokenize
from data_pipeline.tokenizer.shard_writing import numpy_encoding_supported
from data_pipeline.train_tokenizer import TrainTokenizerConfig, train_tokenizer

CORPUS = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "corpus"
_PROCESSOR: spm.SentencePieceProcessor | None = None
_OUTPUT: dict = {}  # encode(..., **_OUTPUT): the id output type data_pipeline.tokenize uses


def _load(model: str) -> None:
    global _PROCESSOR
    _PROCESSOR = spm.SentencePieceProcessor(model_file=model)
    if numpy_encoding_supported(_PROCESSOR):
        _OUTPUT["return_type"] = "numpy"


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument(
        "--copies", type=int, default=24, help="copies of each corpus file (more, larger work)"
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--vocab", type=int, default=32000)
    args = parser.parse_args()
    if not args.corpus.is_dir():  # make bench runs everything: say why this one is skipped
        print(f"skipped: corpus {args.corpus} not found — pass --corpus DIR of .jsonl files")
        return
    work = Path(tempfile.mkdtemp(prefix="bench_tokenize-"))
    try:
        inputs = work / "in"
        inputs.mkdir()
        for path in sorted(args.corpus.glob("*.jsonl")):
            for copy in range(args.copies):
                shutil.copyfile(path, inputs / f"{path.stem}-{copy:03d}.jsonl")
        files = sorted(inputs.iterdir())
        tok_dir = work / "tokenizer"
        train_tokenizer(
            compose_cli_config(
                TrainTokenizerConfig,
                "train_tokenizer",
                [f"input={args.corpus}", f"output={tok_dir}", f"vocab_size={args.vocab}"],
            )
        )
        model = str(tok_dir / "tokenizer.model")
        texts = [t for f in files for t in _read_texts(f)]
        _load(model)
        print(f"sentencepiece {spm.__version__}, ids returned as {_OUTPUT.get('return_type', 'lists')}")
        wall: dict[str, list[float]] = {
            "ours": [],
            "spm-threads": [],
            "spm-threads-list": [],
            "spm-procs": [],
        }
        cpu: dict[str, list[float]] = {name: [] for name in wall}
        tokens: dict[str, int] = {}
        for repeat in range(args.repeats):
            out = work / f"shards-{repeat}"
            with Stopwatch() as watch:
                config = TokenizeConfig(
                    input=str(inputs), tokenizer=model, output=str(out), num_workers=args.workers
                )
                summary = tokenize(config)
            wall["ours"].append(watch.wall)
            cpu["ours"].append(watch.cpu)
            tokens["ours"] = (
                sum(summary["tokens_per_group"].values()) - summary["documents"]
            )  # minus one EOS per doc

            for name, output in (("spm-threads", _OUTPUT), ("spm-threads-list", {})):
                with Stopwatch() as watch:
                    encoded = _PROCESSOR.encode(texts, num_threads=args.workers, **output)
                wall[name].append(watch.wall)
                cpu[name].append(watch.cpu)
                tokens[name] = sum(len(ids) for ids in encoded)  # counted after the clock stops
                del encoded

            with Stopwatch() as watch:
                with get_context("spawn").Pool(args.workers, initializer=_load, initargs=(model,)) as pool:
                    tokens["spm-procs"] = sum(pool.imap_unordered(_encode_file, files))
            wall["spm-procs"].append(watch.wall)
            cpu["spm-procs"].append(watch.cpu)
            shutil.rmtree(out)
        assert len(set(tokens.values())) == 1, (
            f"token counts differ: {tokens}"
        )  # the same text, the same tokens
        n = tokens["ours"]
        print(
            f"{len(files)} files, {len(texts):,} documents, {n:,} tokens, {args.workers} processes, "
            f"median of {args.repeats}"
        )
        ratios = {}
        for label, table in (("wall", wall), ("CPU", cpu)):
            rate = {name: n / statistics.median(s) for name, s in table.items()}
            print(f"tokens per {label} second: " + ", ".join(f"{name} {r:,.0f}" for name, r in rate.items()))
            ratios[label] = rate["ours"] / max(rate[name] for name in rate if name != "ours")
        print(
            f"ratio ours / best reference: wall {ratios['wall']:.2f}, CPU {ratios['CPU']:.2f}  (goal >= 0.9)"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

"""PretrainDataLoader batches/s at seq 4096, micro-batch 8, against what a Baichuan-7B step consumes on one GPU;
with `--docs N`, what opening N documents costs a rank (memory, first-open and reopen time).

Default mode: builds two synthetic token-shard sources (uint16, vocab 64,000, log-normal document lengths, a 0.6/0.4 mixture
with document boundaries and the 1,024-window shuffle), warms the page cache, then times `--batches` micro-batches
on one rank. The consumer: one Baichuan-7B micro-batch of 8 x 4096 tokens costs flops_per_token(7B, 4096) x 32,768
FLOPs (pretrain.model.flops, PaLM convention); at a GPU's dense bf16 peak (100% MFU: no real run is faster) that
bounds how many micro-batches per second one GPU can consume. Goal: loader >= 100x that.

    .venv/bin/python bench/bench_loader.py [--batches 300] [--tokens 20000000]

`--docs N` mode: writes N short documents (8-56 tokens: the document count is what costs memory, so the disk
holds ~70 bytes per document) as a 0.6/0.4 zh/en mixture in shards of 250,000 documents, then opens it twice
in fresh processes as rank 3 of 8 — the first open builds the document index, the reopen maps it — and prints
for each the RSS the loader added (after the first micro-batch and after `--batches`; private and file-backed
parts), the time to the first micro-batch, micro-batches/s, the index files' size per document (the page cache
a node shares) and the first-open time projected to 2e9 documents (proportional to the documents).

    .venv/bin/python bench/bench_loader.py --docs 24000000 [--work /tmp/loader-24m] [--keep]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from data_pipeline.formats.token_shards import TokenShardWriter, write_manifest
from pretrain.data import DataConfig, PretrainDataLoader, SourceConfig
from pretrain.model.config import ModelConfig
from pretrain.model.flops import GPU_PEAK_TFLOPS, flops_per_token

VOCAB = 64_000
SEQ, MICRO_BATCH = 4096, 8
CONF = Path(__file__).resolve().parents[1] / "conf" / "model" / "baichuan_7b.yaml"
DOCS_PER_SHARD = 250_000
PROJECT_TO = 2e9


def write_synthetic_source(directory: Path, tokens: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    entries, written, shard = [], 0, 0
    while written < tokens:
        with TokenShardWriter(directory, f"part-{shard:05d}", vocab_size=VOCAB, eos_id=2) as writer:
            shard_tokens = 0
            while shard_tokens < 5_000_000 and written < tokens:
                lengths = np.clip(rng.lognormal(6.5, 1.0, size=256).astype(np.int64), 8, 32_000)
                docs = np.split(
                    rng.integers(3, VOCAB, size=int(lengths.sum()), dtype=np.int64), np.cumsum(lengths)[:-1]
                )
                writer.add_documents(docs, sources=[directory.name] * len(docs), languages=["xx"] * len(docs))
                shard_tokens += int(lengths.sum()) + len(docs)
                written += int(lengths.sum()) + len(docs)
        entries.append(writer.entry)
        shard += 1
    write_manifest(directory, entries, vocab_size=VOCAB, eos_id=2, tokenizer_sha256="0" * 64)


def write_short_documents(directory: Path, documents: int, seed: int) -> None:
    """`documents` documents of 8-56 random ids, DOCS_PER_SHARD to a shard, through the real writer."""
    rng = np.random.default_rng(seed)
    entries = []
    for shard, first in enumerate(range(0, documents, DOCS_PER_SHARD)):
        count = min(DOCS_PER_SHARD, documents - first)
        lengths = rng.integers(8, 57, size=count)
        pool = rng.integers(3, VOCAB, size=int(lengths.sum()), dtype=np.uint16)
        docs = np.split(pool, np.cumsum(lengths)[:-1])
        with TokenShardWriter(directory, f"part-{shard:05d}", vocab_size=VOCAB, eos_id=2) as writer:
            writer.add_documents(docs, sources=[directory.name] * count, languages=["xx"] * count)
        entries.append(writer.entry)
    write_manifest(directory, entries, vocab_size=VOCAB, eos_id=2, tokenizer_sha256="0" * 64)


def mixture(work: Path) -> DataConfig:
    return DataConfig(
        sources=[
            SourceConfig("zh", str(work / "zh"), target_fraction=0.6),
            SourceConfig("en", str(work / "en"), target_fraction=0.4),
        ]
    )


def memory_mib() -> dict[str, float]:
    """This process's resident memory (MiB): total, private (anonymous), file-backed (page cache it maps), peak."""
    fields = {"VmRSS": "rss", "RssAnon": "anon", "RssFile": "file", "VmHWM": "peak"}
    values = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in fields:
            values[fields[key]] = int(rest.split()[0]) / 1024
    return values


def measure_open(work: Path, batches: int) -> dict:
    """One rank's open (rank 3 of 8) in this process: RSS added and times, as a dict."""
    import torch  # noqa: F401 - imported before the baseline, as in a training process

    before = memory_mib()
    start = time.perf_counter()
    loader = PretrainDataLoader(mixture(work), seq_len=SEQ, micro_batch_size=MICRO_BATCH, dp_rank=3, dp_size=8)
    opened = time.perf_counter() - start
    stream = iter(loader)
    next(stream)
    first = time.perf_counter() - start
    after_first = memory_mib()
    start = time.perf_counter()
    for _ in range(batches):
        next(stream)
    rate = batches / (time.perf_counter() - start)
    after = memory_mib()
    added = {f"{key}_first": after_first[key] - before[key] for key in ("rss", "anon", "file")}
    added.update({f"{key}_after": after[key] - before[key] for key in ("rss", "anon", "file")})
    return {"open_s": opened, "first_batch_s": first, "batches_per_s": rate, "added_mib": added,
            "peak_added_mib": after["peak"] - before["rss"], "documents": sum(s.index.num_documents for s in loader.sources)}


def open_in_fresh_process(work: Path, batches: int) -> dict:
    command = [sys.executable, __file__, "--measure-open", str(work), "--batches", str(batches)]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def scale_run(args) -> None:
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="bench_loader-docs-"))
    try:
        if not (work / "en" / "manifest.json").is_file():
            start = time.perf_counter()
            write_short_documents(work / "zh", int(args.docs * 0.6), seed=1)
            write_short_documents(work / "en", args.docs - int(args.docs * 0.6), seed=2)
            print(f"wrote {args.docs:,} documents in {time.perf_counter() - start:.0f} s to {work}", flush=True)
        for stale in work.glob("*/_loader_index"):
            shutil.rmtree(stale)  # the first open below must build
        for label in ("first open (builds the index)", "reopen (reads the index)"):
            r = open_in_fresh_process(work, args.batches)
            a = r["added_mib"]
            print(
                f"{label}: {r['documents']:,} documents, rank 3 of 8, seq {SEQ} x mb {MICRO_BATCH}: first micro-batch "
                f"after {r['first_batch_s']:.2f} s (loader built in {r['open_s']:.2f} s); RSS added "
                f"{a['rss_first']:.1f} MiB after it (private {a['anon_first']:.1f}, file-backed {a['file_first']:.1f}), "
                f"{a['rss_after']:.1f} MiB after {args.batches} more (private {a['anon_after']:.1f}, file-backed "
                f"{a['file_after']:.1f}); peak +{r['peak_added_mib']:.1f} MiB; {r['batches_per_s']:,.1f} micro-batches/s",
                flush=True,
            )
            if label.startswith("first"):
                per_doc_s = r["open_s"] / r["documents"]
                print(f"  first open projected to {PROJECT_TO:.0e} documents: {per_doc_s * PROJECT_TO / 60:,.1f} min "
                      f"(at {per_doc_s * 1e6:.3f} us per document, one process)")
        index = list(work.glob("*/_loader_index/*.i64"))
        fixed = sum(p.stat().st_size for p in index if p.name.endswith("chunk-ends.i64"))  # <= 512 KiB a source
        per_document = sum(p.stat().st_size for p in index) - fixed
        print(
            f"page cache a node's ranks share (besides the tokens): index {per_document / args.docs:.2f} B/document + "
            f"{fixed / 2**10:,.0f} KiB of chunk tables ({(per_document + fixed) / 2**20:,.0f} MiB here, "
            f"{per_document / args.docs * PROJECT_TO / 2**30:,.1f} GiB at {PROJECT_TO:.0e}), only the pages read "
            "resident; the shards' .idx (8 B/document) is read by the build and by validation only"
        )
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=300)
    parser.add_argument("--tokens", type=int, default=20_000_000, help="synthetic tokens over both sources")
    parser.add_argument("--docs", type=int, help="scale mode: open a mixture of this many documents (see above)")
    parser.add_argument("--work", help="--docs mode: where the synthetic shards go (reused when present)")
    parser.add_argument("--keep", action="store_true", help="--docs mode: keep the shards afterwards")
    parser.add_argument("--measure-open", help=argparse.SUPPRESS)  # the child process of the --docs mode
    args = parser.parse_args()
    if args.measure_open:
        print(json.dumps(measure_open(Path(args.measure_open), args.batches)))
        return
    if args.docs:
        scale_run(args)
        return
    work = Path(tempfile.mkdtemp(prefix="bench_loader-"))
    try:
        write_synthetic_source(work / "zh", int(args.tokens * 0.6), seed=1)
        write_synthetic_source(work / "en", int(args.tokens * 0.4), seed=2)
        start = time.perf_counter()
        loader = PretrainDataLoader(mixture(work), seq_len=SEQ, micro_batch_size=MICRO_BATCH, dp_rank=0, dp_size=8)
        setup = time.perf_counter() - start
        for path in work.rglob("*.bin"):  # page cache warm, as in steady-state training
            path.read_bytes()
        batches = iter(loader)
        for _ in range(10):
            next(batches)
        start = time.perf_counter()
        for _ in range(args.batches):
            batch = next(batches)
        elapsed = time.perf_counter() - start
        assert batch["input_ids"].shape == (MICRO_BATCH, SEQ)
        rate = args.batches / elapsed
        print(
            f"loader: {rate:,.1f} micro-batches/s of {MICRO_BATCH}x{SEQ} ({rate * MICRO_BATCH * SEQ / 1e6:,.1f}M tokens/s), "
            f"one CPU thread, {args.tokens / 1e6:.0f}M-token mixture opened in {setup:.2f}s"
        )
        model = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(ModelConfig), OmegaConf.load(CONF)))
        flops_per_batch = flops_per_token(model, SEQ) * MICRO_BATCH * SEQ
        for gpu in ("A800", "H100-SXM", "H200"):
            consume = GPU_PEAK_TFLOPS[gpu] * 1e12 / flops_per_batch
            print(
                f"  7B on one {gpu} at 100% MFU consumes {consume:.3f} micro-batches/s -> loader is {rate / consume:,.0f}x "
                f"(goal >= 100x)"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

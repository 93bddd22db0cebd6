"""PretrainDataLoader batches/s at seq 4096, micro-batch 8, against what a Baichuan-7B step consumes on one GPU.

Builds two synthetic token-shard sources (uint16, vocab 64,000, log-normal document lengths, a 0.6/0.4 mixture
with document boundaries and the 1,024-window shuffle), warms the page cache, then times `--batches` micro-batches
on one rank. The consumer: one Baichuan-7B micro-batch of 8 x 4096 tokens costs flops_per_token(7B, 4096) x 32,768
FLOPs (pretrain.model.flops, PaLM convention); at a GPU's dense bf16 peak (100% MFU: no real run is faster) that
bounds how many micro-batches per second one GPU can consume. Goal: loader >= 100x that.

    .venv/bin/python bench/bench_loader.py [--batches 300] [--tokens 20000000]
"""

from __future__ import annotations

import argparse
import shutil
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=300)
    parser.add_argument("--tokens", type=int, default=20_000_000, help="synthetic tokens over both sources")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench_loader-"))
    try:
        write_synthetic_source(work / "zh", int(args.tokens * 0.6), seed=1)
        write_synthetic_source(work / "en", int(args.tokens * 0.4), seed=2)
        config = DataConfig(
            sources=[
                SourceConfig("zh", str(work / "zh"), target_fraction=0.6),
                SourceConfig("en", str(work / "en"), target_fraction=0.4),
            ]
        )
        start = time.perf_counter()
        loader = PretrainDataLoader(config, seq_len=SEQ, micro_batch_size=MICRO_BATCH, dp_rank=0, dp_size=8)
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

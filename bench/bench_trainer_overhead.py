"""Trainer overhead: tokens/s of the full trainer ÷ tokens/s of a bare DeepSpeed loop, in one run.

    python -m bench.bench_trainer_overhead [--steps 20] [--warmup 3] [--rounds 3] [--hidden 256] [--layers 4]
                                           [--precision bf16|fp32]

Both sides run in the same 2-rank process group (DeepSpeed's CPU accelerator and gloo here, NCCL on GPUs),
with the same model (BaichuanForCausalLM), the same ZeRO-2 DeepSpeed dict (rendered once by
`pretrain.engine.render_deepspeed_config` and handed to both) and the same batch geometry:

  bare     model + torch AdamW + deepspeed.initialize(config=that dict); batches pre-built in memory;
           `loss = engine(x, labels=y); engine.backward(loss); engine.step()` — no framework code at all.
  trainer  `pretrain.training.build_trainer(config, rank, world).fit()`: data loader over token shards, loss guard and its
           all-reduces, metrics (console + JSONL, throughput, model-state report), heartbeat, stop-signal
           agreement, callbacks. Checkpoints are left out (save_interval past the run; the final save comes
           after the timed window).

Timing: the wall-clock interval between consecutive step ends after `warmup`, on rank 0, for both sides (the
trainer's is taken by a callback, so everything the loop does between two steps is inside the interval). The
median interval of a round gives its tokens/s — a median, because on a shared machine single steps are
stretched by other processes' bursts. Rounds alternate bare/trainer to share slow phases of the machine out;
the ratio compares the medians over all rounds' intervals. The goal is ≥ 0.97.
The data are random token ids in the shard format: throughput does not depend on text.
--precision fp32 is for CPUs without native bf16 (AVX2 only: `lscpu` lists no avx512_bf16/amx), where a bf16
matmul runs ~100x slower than fp32 and a step takes seconds, so the framework's milliseconds drown in it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[1]
VOCAB = 2000


def write_shards(root: Path) -> Path:
    from data_pipeline.formats.token_shards import TokenShardWriter, write_manifest

    rng = np.random.default_rng(0)
    directory = root / "random"
    with TokenShardWriter(directory, "part-00000", vocab_size=VOCAB, eos_id=2) as writer:
        for _ in range(400):
            writer.add_document(rng.integers(3, VOCAB, size=int(rng.integers(200, 2000))), source="random",
                                language="en")
    write_manifest(directory, [writer.entry], vocab_size=VOCAB, eos_id=2, tokenizer_sha256="0" * 64)
    return directory


def overrides(args, shards: Path, run_dir: Path) -> list[str]:
    return [
        "model=tiny", f"model.hidden_size={args.hidden}", f"model.num_layers={args.layers}",
        f"model.intermediate_size={args.hidden * 11 // 4}", f"model.max_seq_len={args.seq_len}",
        f"data.sources=[{{name: random, path: {shards}}}]", "data.tokenizer=",
        "deepspeed=zero2", f"train.seq_len={args.seq_len}", f"train.micro_batch_size={args.micro_batch}",
        f"train.max_steps={args.warmup + args.steps}", "train.save_interval=1000000", "train.resume=none",
        "train.warmup_steps=2", f"train.precision={args.precision}", "logging.console=false",
        f"logging.run_dir={run_dir}",
        f"train.checkpoint_dir={run_dir}/checkpoints",
    ]


# ---- inside the 2-rank process group ---------------------------------------------------------------------
def bare_loop(config, world_size: int, ds_config: dict, warmup: int, steps: int) -> list[float]:
    """Wall-clock intervals between consecutive step ends after `warmup`: nothing but DeepSpeed and the model."""
    import deepspeed
    import torch

    from pretrain.model import BaichuanForCausalLM

    torch.manual_seed(config.train.seed)
    model = BaichuanForCausalLM(config.model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.train.lr, betas=(0.9, 0.95), foreach=True)
    engine, *_ = deepspeed.initialize(model=model, optimizer=optimizer, config=ds_config)
    generator = torch.Generator().manual_seed(int(os.environ["RANK"]))
    shape = (config.train.micro_batch_size, config.train.seq_len + 1)
    batches = [torch.randint(3, VOCAB, shape, generator=generator) for _ in range(8)]
    batches = [(b[:, :-1].contiguous(), b[:, 1:].contiguous()) for b in batches]  # as the loader hands them out
    stamps = []
    for step in range(warmup + steps):
        input_ids, labels = batches[step % len(batches)]
        loss = engine(input_ids.to(engine.device), labels=labels.to(engine.device))
        engine.backward(loss)
        engine.step()
        stamps.append(time.perf_counter())
    engine.destroy()
    return _intervals(stamps[warmup - 1:])


def _intervals(stamps: list[float]) -> list[float]:
    return [b - a for a, b in zip(stamps, stamps[1:])]


def trainer_loop(config, rank: int, world_size: int, warmup: int) -> list[float]:
    """Wall-clock intervals between consecutive step ends after `warmup` of the real trainer (taken by a callback,
    so everything the loop does between two steps — metrics, guard, heartbeat, callbacks — is inside)."""
    from pretrain.callbacks import Callback
    from pretrain.training import build_trainer

    stamps: dict[int, float] = {}
    inside_engine: dict[int, float] = {}

    class StepClock(Callback):
        def on_step_end(self, trainer):
            stamps[trainer.state.step] = time.perf_counter()

    trainer = build_trainer(config, rank, world_size)
    trainer.callbacks.append(StepClock())
    engine = trainer.engine.engine  # the DeepSpeed engine inside the step engine

    def timed(method):  # seconds spent inside DeepSpeed and the model, per step
        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                step = trainer.state.step + 1
                inside_engine[step] = inside_engine.get(step, 0.0) + time.perf_counter() - started
        return wrapper

    engine.forward, engine.backward, engine.step = (timed(m) for m in (engine.forward, engine.backward, engine.step))
    trainer.fit()
    trainer.engine.close()
    steps = range(warmup + 1, config.train.max_steps + 1)
    FRAMEWORK_SECONDS.extend(
        b - a - inside_engine[step] for step, a, b in zip(steps, [stamps[s - 1] for s in steps], [stamps[s] for s in steps]))
    return _intervals([stamps[step] for step in range(warmup, config.train.max_steps + 1)])


FRAMEWORK_SECONDS: list[float] = []  # per trainer step: interval minus the time inside DeepSpeed and the model


def worker(args) -> None:
    from pretrain.config import compose_config, resolve_batch_layout
    from pretrain.distributed.session import distributed_session
    from pretrain.engine.deepspeed_config import render_deepspeed_config

    with distributed_session() as (rank, world_size):
        results = {"bare": [], "trainer": []}
        for round_index in range(args.rounds):
            run_dir = Path(args.out) / f"trainer{round_index}"
            config = compose_config(overrides(args, Path(args.shards), run_dir))
            ds_config = render_deepspeed_config(config, resolve_batch_layout(config.train, world_size), world_size)
            results["bare"].append(bare_loop(config, world_size, ds_config, args.warmup, args.steps))
            results["trainer"].append(trainer_loop(config, rank, world_size, args.warmup))
    if rank == 0:
        tokens = config.train.micro_batch_size * world_size * config.train.seq_len
        summary = {side: {"step_seconds": rounds, "tokens_per_s": [tokens / statistics.median(r) for r in rounds]}
                   for side, rounds in results.items()}
        summary["tokens_per_step"] = tokens
        summary["framework_seconds"] = FRAMEWORK_SECONDS
        Path(args.out, "result.json").write_text(json.dumps(summary))


# ---- the driver ------------------------------------------------------------------------------------------
def main() -> None:
    from pretrain.distributed.session import free_port

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--micro-batch", type=int, default=4)
    parser.add_argument("--precision", choices=("bf16", "fp32"), default="bf16")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--shards", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    with tempfile.TemporaryDirectory(prefix="bench_trainer_overhead_") as tmp:
        shards = write_shards(Path(tmp))
        forwarded = [f"--{k.replace('_', '-')}={v}" for k, v in vars(args).items()
                     if k not in ("worker", "out", "shards")]
        command = [str(BIN / "deepspeed"), "--no_local_rank", "--num_gpus", "2", "--master_port", str(free_port()),
                   str(Path(__file__).resolve()), "--worker", f"--out={tmp}", f"--shards={shards}", *forwarded]
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"error: the 2-rank benchmark failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        result = json.loads(Path(tmp, "result.json").read_text())
    pooled = {side: statistics.median(t for r in result[side]["step_seconds"] for t in r) for side in ("bare", "trainer")}
    bare, trainer = (result["tokens_per_step"] / pooled[side] for side in ("bare", "trainer"))
    print(f"model: hidden {args.hidden}, {args.layers} layers, seq {args.seq_len}, micro batch {args.micro_batch}, "
          f"2 ranks, ZeRO-2 {args.precision}, {result['tokens_per_step']} tokens/step, {args.steps} timed steps after "
          f"{args.warmup} warm-up, {args.rounds} rounds")
    for side in ("bare", "trainer"):
        rates = ", ".join(f"{r:,.0f}" for r in result[side]["tokens_per_s"])
        print(f"{side:8s} tokens/s per round: {rates}")
    framework = statistics.median(result["framework_seconds"])
    print(f"trainer time outside DeepSpeed and the model (loader, loss all-reduce, guard, metrics, heartbeat, "
          f"callbacks): median {framework * 1e3:.1f} ms of a {pooled['trainer'] * 1e3:.0f} ms step "
          f"= {framework / pooled['trainer']:.1%}")
    print(f"trainer / bare DeepSpeed (median step over all rounds): {trainer:,.0f} / {bare:,.0f} tokens/s = "
          f"{trainer / bare:.3f}  (goal >= 0.97)")


if __name__ == "__main__":
    main()

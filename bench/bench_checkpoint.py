"""Checkpoint save stall and resume time: the reference (synchronous save, rank 0 SHA-256s every file by reading it
back; rank 0 alone re-hashes everything on resume) against the new save (each rank digests what it writes,
XXH3-128; one gather; parallel verification), synchronous and `train.async_save`, in one 2-rank run.

    python -m bench.bench_checkpoint [--hidden 1024] [--layers 14] [--rounds 2] [--dir /tmp]

A BaichuanForCausalLM (vocab 2,000) under ZeRO-2 bf16 on DeepSpeed's CPU accelerator with 2 gloo ranks (on a
GPU machine: 2 GPUs with NCCL, each rank on its LOCAL_RANK's device); its checkpoint (bf16 module + fp32 master
+ two Adam moments = 14 bytes per parameter) is a few GiB. Variants run alternately on the same engine, `rounds`
times each; each round saves after a training step and then resumes:

  reference  DeepSpeed's own TorchCheckpointEngine (no fsync), barrier, rank 0 writes the trainer files and a
             SHA-256 manifest by reading every file back (the code before issue 18, kept here verbatim);
             resume: rank 0 re-hashes every file, broadcast, load.
  sync       CheckpointStore.save: DeepSpeed's files through the ShardWriter (digest on the way, fsync), one
             gather, rank 0 writes the manifest from the reports; resume: each rank verifies its files, agree, load.
  async      the same with train.async_save: the step waits for the host snapshot only; training steps run while
             the bytes are written, and the save commits at the first step end at which every rank's are durable.

Stall = wall time the training loop is blocked by the save (for async: save() + the per-step polls + the commit),
plus for async the extra time of the steps that ran while the bytes were written (the writer thread shares these
2 cores with training). Resume = verification + engine load, with the checkpoint's pages dropped from the page
cache first (posix_fadvise DONTNEED on our own files), so both read from disk. The disk is checked first
(`df -h`) and everything written is deleted.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[1]
BYTES_PER_PARAM = 14  # bf16 weights + fp32 master + fp32 exp_avg + fp32 exp_avg_sq (ZeRO, bf16)


# ---- the reference: the save and resume before issue 18 ---------------------------------------------------
def legacy_sha256_manifest(directory: Path, step: int) -> None:
    files = {}
    for path in sorted(p for p in directory.rglob("*") if p.is_file() and p.name != "manifest.json"):
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            while block := fh.read(1 << 22):
                digest.update(block)
        files[path.relative_to(directory).as_posix()] = {"size": path.stat().st_size, "sha256": digest.hexdigest()}
    from plumbing.atomic_write import atomic_write_json

    atomic_write_json(directory / "manifest.json", {"format_version": 1, "step": step, "files": files}, indent=1)


def reference_save(engine, root: Path, step: int, rank: int, collectives) -> dict:
    from plumbing.atomic_write import atomic_write_json, atomic_write_text
    from pretrain.checkpoint.rng import capture_rng_state

    times = {}
    started = time.perf_counter()
    final, tmp = root / f"step_{step:08d}", root / f".tmp_step_{step:08d}"
    if rank == 0:
        root.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)
    collectives.barrier()
    mark = time.perf_counter()
    engine.save(tmp)
    atomic_write_json(tmp / "rng" / f"rank{rank}.json", capture_rng_state(), indent=1, sort_keys=True)
    times["engine_save"] = time.perf_counter() - mark
    mark = time.perf_counter()
    collectives.barrier()
    times["barrier"] = time.perf_counter() - mark
    if rank == 0:
        mark = time.perf_counter()
        atomic_write_json(tmp / "trainer_state.json", {"step": step}, indent=1, sort_keys=True)
        legacy_sha256_manifest(tmp, step)
        times["integrity"] = time.perf_counter() - mark
        tmp.rename(final)
        atomic_write_text(root / "latest", final.name + "\n")
    collectives.barrier()
    times["stall"] = time.perf_counter() - started
    return times


def reference_verify(path: Path, rank: int, collectives) -> str | None:
    problem = None
    if rank == 0:
        manifest = json.loads((path / "manifest.json").read_text())
        for rel, entry in manifest["files"].items():
            with open(path / rel, "rb") as fh:
                if hashlib.file_digest(fh, "sha256").hexdigest() != entry["sha256"]:
                    problem = f"checksum mismatch for {rel}"
    return collectives.broadcast_object(problem)


def drop_page_cache(root: Path) -> None:
    for path in root.rglob("*"):
        if path.is_file():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


# ---- inside the 2-rank process group ---------------------------------------------------------------------
def join_group():
    """Join the launcher's group on this rank's LOCAL_RANK device; Collectives on that device (NCCL reduces
    only tensors on the rank's own GPU; on DeepSpeed's CPU accelerator both are the CPU)."""
    from pretrain.distributed.collectives import Collectives
    from pretrain.distributed.session import init_distributed, local_device

    init_distributed()
    return Collectives(local_device())


def worker(args) -> None:
    import torch
    from deepspeed.runtime.checkpoint_engine import TorchCheckpointEngine

    from pretrain.checkpoint import CheckpointStore
    from pretrain.config import compose_config
    from pretrain.engine.deepspeed_checkpoint_io import install_shard_writer
    from pretrain.engine.deepspeed_engine import DeepSpeedStepEngine

    collectives = join_group()
    rank, world = collectives.rank(), collectives.world_size()
    config = compose_config([
        "model=tiny", f"model.hidden_size={args.hidden}", f"model.num_layers={args.layers}",
        f"model.num_heads={args.hidden // 64}", f"model.intermediate_size={args.hidden * 11 // 4}",
        "data.sources=[{name: zh, path: /unused}]", "data.tokenizer=", "deepspeed=zero2", "train.precision=bf16",
        f"train.seq_len={args.seq_len}", "train.micro_batch_size=1", f"train.global_batch_size={world}",
        "logging.wandb=false", "logging.tensorboard=false"])
    root = Path(args.dir)
    sync_store = CheckpointStore(root / "sync", keep_last=1)
    async_store = CheckpointStore(root / "async", keep_last=1, background=True)
    engine = DeepSpeedStepEngine.build(config, world)
    generator = torch.Generator().manual_seed(rank)

    def step() -> float:
        started = time.perf_counter()
        ids = torch.randint(3, 2000, (1, args.seq_len), generator=generator)
        engine.backward(engine.forward({"input_ids": ids, "labels": ids, "doc_ids": torch.zeros_like(ids)}))
        engine.local_grad_square_sum()
        engine.optimizer_step(skip=False)
        return time.perf_counter() - started

    def resume(path: Path, verify) -> tuple[float, float]:
        collectives.barrier()
        if rank == 0:
            drop_page_cache(path)
        collectives.barrier()
        started = time.perf_counter()
        problem = verify()
        verified = time.perf_counter() - started
        assert problem is None, problem
        started = time.perf_counter()
        engine.load(path, universal=False)
        collectives.barrier()
        return verified, time.perf_counter() - started

    baseline = [step() for _ in range(3)][1:]
    results: dict[str, list] = {"reference": [], "sync": [], "async": []}
    for round_ in range(args.rounds):
        step_no = 10 * (round_ + 1)
        # reference
        engine.engine.checkpoint_engine = TorchCheckpointEngine()
        step()
        times = reference_save(engine, root / "reference", step_no, rank, collectives)
        path = root / "reference" / f"step_{step_no:08d}"
        times["verify"], times["load"] = resume(path, lambda path=path: reference_verify(path, rank, collectives))
        times["bytes"] = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
        results["reference"].append(times)
        if rank == 0:
            shutil.rmtree(root / "reference")
        # sync and async: the store's writer behind DeepSpeed's checkpoint-engine seam
        for name, store in (("sync", sync_store), ("async", async_store)):
            install_shard_writer(engine.engine, store.writer)
            step()
            store.save(engine, step_no, {"step": step_no}, "train: {}\n", collectives)
            overlapped = []
            while store.in_flight is not None:  # async: train on while the bytes go out; commit when durable
                overlapped.append(step())
                store.poll(collectives)
            report = vars(store.last_report).copy()
            report["overlap_steps"] = len(overlapped)
            report["overlap_extra"] = sum(overlapped) - len(overlapped) * statistics.median(baseline)
            path = store.root / f"step_{step_no:08d}"
            report["verify"], report["load"] = resume(path, lambda path=path, store=store: store.verify(path, collectives))
            results[name].append(report)
    if rank == 0:
        (root / "results.json").write_text(json.dumps({"results": results, "baseline_step": baseline}))
    collectives.barrier()
    os._exit(0)  # skip C++ teardown at interpreter exit (see tests/deepspeed_engine/zero_stages_worker.py)


# ---- the launcher: disk check, 2 ranks, report, projection, clean-up -------------------------------------
def hash_rates() -> dict[str, float]:
    """In-memory GiB/s of one core for the two digests (the integrity cost per byte)."""
    import xxhash

    data = os.urandom(256 << 20)
    rates = {}
    for name, digest in (("xxh3_128", xxhash.xxh3_128), ("sha256", hashlib.sha256)):
        started = time.perf_counter()
        digest(data).hexdigest()
        rates[name] = len(data) / (time.perf_counter() - started) / 2**30
    return rates


def median(rows: list[dict], key: str) -> float:
    return statistics.median(row[key] for row in rows)


def report(data: dict, rates: dict, params: int) -> None:
    results = data["results"]
    ref, sync, async_ = results["reference"], results["sync"], results["async"]
    gib = median(sync, "bytes") / 2**30
    print(f"\ncheckpoint {gib:.2f} GiB ({params / 1e6:.0f} M parameters, ZeRO-2 bf16, 2 ranks); "
          f"{len(ref)} rounds; step without a save: {statistics.median(data['baseline_step']):.2f} s")
    print("\n| | stall (s) | split | resume: verify + load (s) | save bytes/s |")
    print("|---|---:|---|---:|---:|")
    print(f"| reference | {median(ref, 'stall'):.2f} | engine save {median(ref, 'engine_save'):.2f}, barrier "
          f"{median(ref, 'barrier'):.2f}, rank-0 SHA-256 read-back {median(ref, 'integrity'):.2f} | "
          f"{median(ref, 'verify'):.2f} + {median(ref, 'load'):.2f} | {median(ref, 'bytes') / median(ref, 'stall') / 2**30:.2f} GiB/s |")
    for name, rows in (("sync", sync), ("async", async_)):
        stall = median(rows, "stall") + (median(rows, "overlap_extra") if name == "async" else 0.0)
        split = (f"engine save {median(rows, 'engine_save'):.2f} (serialize {median(rows, 'serialize'):.2f}, write "
                 f"{median(rows, 'write'):.2f}, digest {median(rows, 'digest'):.2f}, fsync {median(rows, 'fsync'):.2f}), "
                 f"barrier+gather {median(rows, 'barrier'):.2f}, manifest {median(rows, 'manifest'):.2f}")
        if name == "async":
            split += (f"; snapshot {median(rows, 'snapshot'):.2f}; blocked {median(rows, 'stall'):.2f} + slower overlapped steps "
                      f"{median(rows, 'overlap_extra'):.2f} ({median(rows, 'overlap_steps'):.0f} steps); "
                      f"durable after {median(rows, 'durable_after'):.2f}")
        print(f"| {name} | {stall:.2f} | {split} | {median(rows, 'verify'):.2f} + {median(rows, 'load'):.2f} | "
              f"{median(rows, 'bytes') / median(rows, 'durable_after') / 2**30:.2f} GiB/s |")
    print(f"\nratios (reference / new): stall sync {median(ref, 'stall') / median(sync, 'stall'):.2f}x, async "
          f"{median(ref, 'stall') / (median(async_, 'stall') + max(0.0, median(async_, 'overlap_extra'))):.2f}x; "
          f"resume verify {median(ref, 'verify') / median(sync, 'verify'):.2f}x, verify+load "
          f"{(median(ref, 'verify') + median(ref, 'load')) / (median(sync, 'verify') + median(sync, 'load')):.2f}x")
    print(f"digest rates here (one core, in memory): xxh3_128 {rates['xxh3_128']:.1f} GiB/s, "
          f"sha256 {rates['sha256']:.2f} GiB/s")

    # 13B on 1,000 GPUs, pure data parallel under DeepSpeed ZeRO-1/2: rank 0 writes the bf16 module (2 B/param),
    # every rank 1/1000 of fp32 master + moments (12 B/param). Per-byte costs are this machine's (local disk).
    total, world, n = 13e9 * BYTES_PER_PARAM, 1000, 13e9
    rank_bytes, rank0_bytes = n * 12 / world, n * 2 + n * 12 / world
    sync_rows = sync
    per_byte = {key: median(sync_rows, key) / (median(sync_rows, "bytes") / 2) for key in
                ("serialize", "write", "fsync")}  # the slowest rank's seconds per byte of a 2-rank share
    snapshot_per_byte = median(async_, "snapshot") / (median(async_, "bytes") / 2)
    ref_write_per_byte = median(ref, "engine_save") / (median(ref, "bytes") / 2)
    xxh, sha = rates["xxh3_128"] * 2**30, rates["sha256"] * 2**30
    print("\n13B × 1,000 GPUs (ZeRO-1/2, bf16; checkpoint %.0f GiB):" % (total / 2**30))
    print(f"  per-rank bytes: {rank_bytes / 2**20:.0f} MiB (optimizer partition); rank 0 also the bf16 module: "
          f"{rank0_bytes / 2**30:.1f} GiB")
    print(f"  integrity per rank, new: {rank_bytes / xxh * 1e3:.0f} ms (rank 0: {rank0_bytes / xxh:.1f} s), while "
          f"writing; reference: rank 0 alone {total / sha:.0f} s of SHA-256 + reading {total / 2**30:.0f} GiB back "
          f"over its node's link, on every save and again on every resume")
    cost = sum(per_byte.values())
    print(f"  stall at this machine's per-byte costs: sync = rank 0's {rank0_bytes / 2**30:.1f} GiB × "
          f"{cost * 2**30:.2f} s/GiB = {rank0_bytes * cost:.0f} s (other ranks {rank_bytes * cost:.1f} s); "
          f"async = the host snapshot, {rank0_bytes * snapshot_per_byte:.1f} s on rank 0 "
          f"({rank_bytes * snapshot_per_byte * 1e3:.0f} ms elsewhere); reference = rank 0's write "
          f"{rank0_bytes * ref_write_per_byte:.0f} s (no fsync) + {total / sha:.0f} s SHA-256 = "
          f"{rank0_bytes * ref_write_per_byte + total / sha:.0f} s before reading {total / 2**30:.0f} GiB back")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hidden", type=int, default=1024)
    parser.add_argument("--layers", type=int, default=14)
    parser.add_argument("--seq-len", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--dir", default=tempfile.gettempdir(), help="where checkpoints are written (deleted)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    params = args.layers * (4 * args.hidden**2 + 3 * args.hidden * (args.hidden * 11 // 4)) + 2 * 2000 * args.hidden
    need = params * BYTES_PER_PARAM * 2.5  # two checkpoints on disk at the peak, and slack
    subprocess.run(["df", "-h", args.dir], check=False)
    free = shutil.disk_usage(args.dir).free
    if free < need:
        sys.exit(f"error: {free / 2**30:.1f} GiB free under {args.dir}, need {need / 2**30:.1f} GiB — use --dir")
    rates = hash_rates()
    work = Path(tempfile.mkdtemp(prefix="bench_checkpoint_", dir=args.dir))
    try:
        command = [str(BIN / "deepspeed"), "--no_local_rank", "--num_gpus", "2", "--master_port",
                   str(29500 + os.getpid() % 1000), "--module", "bench.bench_checkpoint", "--worker",
                   f"--hidden={args.hidden}", f"--layers={args.layers}", f"--seq-len={args.seq_len}",
                   f"--rounds={args.rounds}", f"--dir={work}"]
        result = subprocess.run(command, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
                                capture_output=True, text=True)
        if not (work / "results.json").is_file():
            sys.exit(f"error: the 2-rank run failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
        report(json.loads((work / "results.json").read_text()), rates, params)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

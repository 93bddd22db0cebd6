"""The process group's lifetime: join it (or create it for a single process), and leave it cleanly."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta

import torch
import torch.distributed as dist

from pretrain.distributed.shm_buffers import remove_own_shm_buffer
from pretrain.distributed.slurm_env import is_srun_task, torch_env_from_slurm


def launcher_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The torch.distributed variables to add when no launcher set RANK: an srun task's, from Slurm's own
    (slurm_env.py), else those of a single process. DeepSpeed's own discovery (mpi4py, AzureML, SageMaker) never
    runs once RANK is set, so a missing mapping would silently make every srun task a world of one."""
    if "RANK" in environ:
        return {}
    if is_srun_task(environ):
        return torch_env_from_slurm(environ)
    return {"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "1", "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": environ.get("MASTER_PORT") or str(free_port())}


def init_distributed(timeout_minutes: float | None = None) -> tuple[int, int]:
    """Select this rank's device, then join (or, for a plain `python -m pretrain.train`, create) the process
    group; returns (rank, world). `timeout_minutes` (train.dist_timeout_minutes) bounds how long any collective
    may wait; None keeps DeepSpeed's default (10 minutes, or $DEEPSPEED_TIMEOUT).

    The device comes first because collectives run long before the engine would select it (the resume
    broadcast, the comm probe): under NCCL a rank that has not called set_device puts its tensors on cuda:0,
    and DeepSpeed >= 0.17.3 binds the group to cuda:LOCAL_RANK, so ranks 1..N-1 fail.
    """
    # lazy: imports DeepSpeed (seconds), through the engine, its one door; free_port's users need none of it
    from pretrain.engine.deepspeed_engine import select_device_and_join_group

    os.environ.update(launcher_environment(os.environ))
    timeout = timedelta(minutes=timeout_minutes) if timeout_minutes else None
    select_device_and_join_group(int(os.environ.get("LOCAL_RANK", "0")), timeout)
    return int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])


def local_device() -> torch.device:
    """This rank's device: cuda:LOCAL_RANK under NCCL (which reduces only tensors there), cpu on DeepSpeed's
    CPU accelerator — what a `Collectives` built before the engine must be given."""
    from pretrain.engine.deepspeed_engine import rank_device  # lazy: DeepSpeed, as in init_distributed

    return rank_device(int(os.environ.get("LOCAL_RANK", "0")))


@contextmanager
def distributed_session(timeout_minutes: float | None = None) -> Iterator[tuple[int, int]]:
    """`init_distributed()`, and destroy the process group on the way out (also after an error).

    Left to interpreter shutdown, the group's C++ threads (gloo's transport loop, c10d's work threads) are torn
    down in whatever order module teardown reaches them; torch asks callers to destroy the group explicitly. A
    2-rank CPU run in CI once died at that point with SIGABRT ("terminate called without an active exception").
    """
    remove_own_shm_buffer()  # left by a dead run on this port, if any
    rank, world_size = init_distributed(timeout_minutes)
    try:
        yield rank, world_size
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
        remove_own_shm_buffer()  # DeepSpeed's CPU all-reduce buffer: 66 MiB of RAM nobody else frees


def free_port() -> int:
    """A local port nobody listens on right now (for a rendezvous that is not given one)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]

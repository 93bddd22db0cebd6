"""The process group's lifetime: join it (or create it for a single process), and leave it cleanly."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager

from pretrain.distributed.shm_buffers import remove_own_shm_buffer


def init_distributed() -> tuple[int, int]:
    """Select this rank's device, then join (or, for a plain `python -m pretrain.train`, create) the process
    group; returns (rank, world).

    The device comes first because collectives run long before the engine would select it (the resume
    broadcast, the comm probe): under NCCL a rank that has not called set_device puts its tensors on cuda:0,
    and DeepSpeed >= 0.17.3 binds the group to cuda:LOCAL_RANK, so ranks 1..N-1 fail.
    """
    from pretrain.engine.deepspeed_engine import select_device_and_join_group

    if "RANK" not in os.environ:  # single process without a launcher
        os.environ.update(RANK="0", LOCAL_RANK="0", WORLD_SIZE="1", MASTER_ADDR="127.0.0.1")
        os.environ.setdefault("MASTER_PORT", str(free_port()))
    select_device_and_join_group(int(os.environ.get("LOCAL_RANK", "0")))
    return int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])


@contextmanager
def distributed_session() -> Iterator[tuple[int, int]]:
    """`init_distributed()`, and destroy the process group on the way out (also after an error).

    Left to interpreter shutdown, the group's C++ threads (gloo's transport loop, c10d's work threads) are torn
    down in whatever order module teardown reaches them; torch asks callers to destroy the group explicitly. A
    2-rank CPU run in CI once died at that point with SIGABRT ("terminate called without an active exception").
    """
    import torch.distributed as dist

    remove_own_shm_buffer()  # left by a dead run on this port, if any
    rank, world_size = init_distributed()
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

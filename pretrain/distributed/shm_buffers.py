"""DeepSpeed's CPU shared-memory all-reduce buffers: remove them when a rank is done with them.

On the CPU accelerator every `deepspeed.init_distributed` on a single node creates a ~66 MiB POSIX
shared-memory file per rank, `/dev/shm/deepspeed_allreduce_buffer_<uid>_<MASTER_ADDR>_<MASTER_PORT>_<rank>`
(ops/csrc/cpu/comm/shm.cpp), and nothing ever unlinks it. /dev/shm is RAM: before this module, a day of
2-rank test runs had left 21 GiB of it behind on a 24 GiB machine.

Two moments are safe to remove a rank's own file:
- before the process group forms, a file with this address, port and rank can only be left from a dead run
  (no live job can hold the same master port), and no rank creates its buffer before the rendezvous;
- after the process group is destroyed, nobody reads the buffer any more (peers that still map it keep their
  mapping; only the name goes).
"""

from __future__ import annotations

import os
from pathlib import Path

SHM_DIR = Path("/dev/shm")
PREFIX = "deepspeed_allreduce_buffer"


def shm_buffer_path(rank: int, addr: str, port: str, uid: int | None = None) -> Path:
    uid = os.getuid() if uid is None else uid
    return SHM_DIR / f"{PREFIX}_{uid}_{addr}_{port}_{rank}"


def remove_own_shm_buffer(environ: os._Environ | dict | None = None) -> bool:
    """Unlink this rank's buffer named from RANK/MASTER_ADDR/MASTER_PORT; True when a file was removed."""
    env = os.environ if environ is None else environ
    if not all(key in env for key in ("RANK", "MASTER_ADDR", "MASTER_PORT")):
        return False
    path = shm_buffer_path(int(env["RANK"]), env["MASTER_ADDR"], env["MASTER_PORT"])
    try:
        path.unlink()
    except (FileNotFoundError, PermissionError):
        return False
    return True

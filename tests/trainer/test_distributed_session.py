"""A training process's distributed session: the process group is destroyed when it leaves, also after an
error, and DeepSpeed's CPU shared-memory all-reduce buffer (66 MiB of /dev/shm) goes with it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pretrain.distributed import shm_buffers
from pretrain.distributed.session import free_port

REPO = Path(__file__).resolve().parents[2]

# In a subprocess: the test process itself must not keep a process group (or DeepSpeed's globals) around.
# LOCAL_SIZE == WORLD_SIZE is what DeepSpeed's launcher sets and what makes DeepSpeed create the buffer.
SCRIPT = textwrap.dedent("""
    import torch.distributed as dist
    from pretrain.distributed.shm_buffers import shm_buffer_path
    from pretrain.distributed.session import distributed_session

    buffer = shm_buffer_path(0, "127.0.0.1", "{port}")
    with distributed_session() as (rank, world):
        assert dist.is_initialized() and (rank, world) == (0, 1)
        assert buffer.exists() and buffer.stat().st_size > 1 << 20, "DeepSpeed made no buffer; test is moot"
    assert not dist.is_initialized() and not buffer.exists()
    try:
        with distributed_session():
            raise KeyError("boom")
    except KeyError:
        pass
    assert not dist.is_initialized() and not buffer.exists()
    print("ok")
""")


@pytest.mark.skipif(not shm_buffers.SHM_DIR.is_dir(), reason="no /dev/shm on this system")
def test_process_group_and_shm_buffer_are_released_on_exit_and_on_error():
    port = str(free_port())
    stale = shm_buffers.shm_buffer_path(0, "127.0.0.1", port)
    stale.write_bytes(b"left by a dead run")  # must be replaced, not reused
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env.update(PYTHONPATH=str(REPO), RANK="0", LOCAL_RANK="0", WORLD_SIZE="1", LOCAL_SIZE="1",
               MASTER_ADDR="127.0.0.1", MASTER_PORT=port)
    try:
        result = subprocess.run([sys.executable, "-c", SCRIPT.format(port=port)], capture_output=True, text=True,
                                timeout=120, cwd=REPO, env=env)
    finally:
        stale.unlink(missing_ok=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")


def test_only_this_ranks_buffer_is_removed(tmp_path, monkeypatch):
    monkeypatch.setattr(shm_buffers, "SHM_DIR", tmp_path)
    mine = shm_buffers.shm_buffer_path(1, "10.0.0.1", "29500")
    peer = shm_buffers.shm_buffer_path(0, "10.0.0.1", "29500")
    other_job = shm_buffers.shm_buffer_path(1, "10.0.0.1", "29501")
    for path in (mine, peer, other_job):
        path.write_bytes(b"x")
    env = {"RANK": "1", "MASTER_ADDR": "10.0.0.1", "MASTER_PORT": "29500"}
    assert shm_buffers.remove_own_shm_buffer(env) is True
    assert not mine.exists() and peer.exists() and other_job.exists()
    assert shm_buffers.remove_own_shm_buffer(env) is False  # already gone
    assert shm_buffers.remove_own_shm_buffer({"RANK": "1"}) is False  # no launcher environment

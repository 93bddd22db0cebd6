"""The process group a training process opens is destroyed when it leaves, also after an error."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# In a subprocess: the test process itself must not keep a process group (or DeepSpeed's globals) around.
SCRIPT = textwrap.dedent("""
    import torch.distributed as dist
    from pretrain.engine import distributed_session

    with distributed_session() as (rank, world):
        assert dist.is_initialized() and (rank, world) == (0, 1)
    assert not dist.is_initialized()
    try:
        with distributed_session():
            raise KeyError("boom")
    except KeyError:
        pass
    assert not dist.is_initialized()
    print("ok")
""")


def test_process_group_is_destroyed_on_exit_and_on_error():
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_PORT")}
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120,
                            cwd=REPO, env={**env, "PYTHONPATH": str(REPO)})
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")

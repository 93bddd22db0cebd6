"""Suite-wide fixtures."""

from __future__ import annotations

import pytest

from pretrain.distributed.shm_buffers import PREFIX, SHM_DIR


@pytest.fixture(scope="session", autouse=True)
def release_leaked_shm_buffers():
    """Ranks that the recovery drills kill on purpose cannot remove their DeepSpeed shared-memory buffers
    (66 MiB of RAM each, see pretrain/distributed/shm_buffers.py); remove what this session's runs left."""
    before = set(SHM_DIR.glob(f"{PREFIX}_*"))
    yield
    for path in set(SHM_DIR.glob(f"{PREFIX}_*")) - before:
        path.unlink(missing_ok=True)


def pytest_configure(config):
    # `-m pin_memory` selects the tests of pinned host memory (pinning itself needs CUDA; on CPU they track it).
    config.addinivalue_line("markers", "pin_memory: batches reach the device from pinned host memory")

import json
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_builds_and_trains_under_zero3_init_with_the_same_weights(position="alibi", port="29631"):
    """Under deepspeed.zero.Init every parameter is partitioned as its module is built; seeded init must give
    the same weights as a plain build, and the chunked loss (lm_head called per chunk) must run under ZeRO-3."""
    pytest.importorskip("deepspeed")
    worker = Path(__file__).with_name("zero3_worker.py")
    done = subprocess.run([sys.executable, str(worker), port, position], capture_output=True, text=True, timeout=600,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["partitioned"] and result["same_init"]
    assert result["loss"] == pytest.approx(result["reference_loss"], abs=1e-5)
    if position == "alibi":
        assert result["slopes_dtype_at_init"] == "torch.bfloat16" and result["slopes_exact_after_forward"]

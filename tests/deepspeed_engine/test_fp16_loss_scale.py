"""fp16 under ZeRO-0 is refused (issue 22 item 1), and the fp16 paths that remain report the loss scale and the
unscaled gradient norm — checked on DeepSpeed's real wrappers (fp16_scale_worker.py), not on a stand-in."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pretrain.config import ConfigError, compose_config
from pretrain.distributed.session import free_port
from tests.deepspeed_engine.conftest import REPO

SOURCES = "data.sources=[{name: zh, path: /tmp/none}]"


def test_fp16_with_zero0_is_refused_in_one_line_and_zero1_is_not():
    with pytest.raises(ConfigError, match="train.precision=bf16") as raised:
        compose_config(["deepspeed=zero0", "train.precision=fp16", SOURCES])
    assert "ZeRO >= 1" in str(raised.value) and "\n" not in str(raised.value)
    for stage in (1, 2, 3):
        compose_config([f"deepspeed=zero{stage}", "train.precision=fp16", SOURCES])
    compose_config(["deepspeed=zero0", "train.precision=bf16", SOURCES])


@pytest.mark.slow
def test_deepspeed_fp16_wrappers_scale_as_the_refusal_and_the_readers_assume():
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "LOCAL_RANK", "WORLD_SIZE")}
    env.update(PYTHONPATH=str(REPO), MASTER_PORT=str(free_port()))
    result = subprocess.run([sys.executable, str(Path(__file__).with_name("fp16_scale_worker.py"))], cwd=REPO,
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    # ZeRO-0: DeepSpeed's FP16_UnfusedOptimizer has no `cur_scale`; engine.backward left the gradient unscaled
    # (the true 1.0), yet step() divided it by the scale: SGD(lr=1) moved each weight by -1/256, not by -1.
    zero0 = seen["0"]
    assert zero0["wrapper"] == "FP16_UnfusedOptimizer" and not zero0["has_cur_scale"]
    assert zero0["grad_after_backward"] == [1.0] * 4
    assert zero0["weight_after_step"] == [-1 / zero0["wrapper_loss_scale"]] * 4
    # ZeRO-1/2/3, still allowed: the loss is scaled and unscaled, the update is the true one, and the trainer's
    # readers (DeepSpeedStepEngine.loss_scale, local_grad_square_sum) see the scale and divide it out.
    for stage in ("1", "2", "3"):
        case = seen[stage]
        assert case["weight_after_step"] == [-1.0] * 4, stage
        assert case["reported_loss_scale"] == case["wrapper_loss_scale"] == 256.0, stage
        assert case["reported_square_sum"] == 4.0, stage  # four gradients of exactly 1, unscaled

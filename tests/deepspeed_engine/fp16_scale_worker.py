"""One plain process (a 1-rank gloo group): what DeepSpeed 0.19.8's fp16 wrappers do with the loss scale, per ZeRO
stage, on a real engine. Prints one JSON object mapping the stage to what it saw.

    python fp16_scale_worker.py

The model is `Linear(4, 1)` with zero weights, the input all ones and the loss the output's sum, so the true
gradient is exactly 1 per weight and SGD(lr=1) must move each weight to exactly -1; the loss scale is 2**8 (a
scaled gradient of 256 fits fp16). DeepSpeed refuses fp16 on a CPU without mkldnn fp16 kernels; the half-precision
arithmetic here is tiny and exact, so the accelerator's capability flag is set for this process only.
"""

from __future__ import annotations

import json
import logging
import os
import sys

import deepspeed
import torch
from deepspeed.accelerator import get_accelerator

from pretrain.config import BatchLayout
from pretrain.engine.deepspeed_engine import DeepSpeedStepEngine

SCALE_POWER = 8


def probe(stage: int) -> dict:
    model = torch.nn.Linear(4, 1, bias=False)
    torch.nn.init.zeros_(model.weight)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    config = {"train_micro_batch_size_per_gpu": 1, "gradient_accumulation_steps": 1,
              "fp16": {"enabled": True, "loss_scale": 0, "initial_scale_power": SCALE_POWER},
              "zero_optimization": {"stage": stage}, "zero_allow_untested_optimizer": True, "gradient_clipping": 0.0}
    engine, _, _, _ = deepspeed.initialize(model=model, optimizer=optimizer, config=config)
    step_engine = DeepSpeedStepEngine(engine, optimizer, BatchLayout(1, 1, 1), config, document_masking=False)
    wrapper = engine.optimizer
    loss = engine(torch.ones(1, 4, dtype=torch.half, device=engine.device)).float().sum()
    engine.backward(loss)
    seen = {"wrapper": type(wrapper).__name__, "has_cur_scale": hasattr(wrapper, "cur_scale"),
            "wrapper_loss_scale": float(wrapper.loss_scale)}
    if stage == 0:  # the gradient backward left, before step() touches it
        seen["grad_after_backward"] = engine.module.weight.grad.float().tolist()[0]
    else:
        seen["reported_loss_scale"] = step_engine.loss_scale
        seen["reported_square_sum"] = float(step_engine.local_grad_square_sum())
    engine.step()
    with deepspeed.zero.GatheredParameters([engine.module.weight]):
        seen["weight_after_step"] = engine.module.weight.float().tolist()[0]
    engine.destroy()
    return seen


def main() -> None:
    type(get_accelerator()).is_fp16_supported = lambda self: True
    os.environ.update(RANK="0", LOCAL_RANK="0", WORLD_SIZE="1", MASTER_ADDR="127.0.0.1")
    deepspeed.init_distributed(verbose=False)
    print(json.dumps({stage: probe(stage) for stage in range(4)}))


if __name__ == "__main__":
    main()
    logging.shutdown()  # as in zero_stages_worker.py: no interpreter finalization after several engines
    sys.stdout.flush()
    os._exit(0)

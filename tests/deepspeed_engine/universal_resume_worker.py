"""Runs the real Trainer for ZeRO 1, 2 and 3 in one process group (`deepspeed --num_gpus 2` or plain python for
1 rank): one phase of test_universal_resume.py.

    universal_resume_worker.py OUT PHASE OVERRIDE [OVERRIDE ...]

Phases, in the order the test runs them (each needs the checkpoints of the one before):

    reference2  2 ranks: OUT/zero<S>/ws2, uninterrupted, saving at the middle step
    single      1 rank:  OUT/zero<S>/ws1 likewise, then OUT/zero<S>/2to1 resumed from ws2's middle checkpoint
    resume2     2 ranks: OUT/zero<S>/1to2 resumed from ws1's middle checkpoint

One launch per phase, not per run: each launch costs ~20 s of start-up on the CPU machines. After each run every
rank writes OUT/zero<S>/<run>/optimizer_rank<R>.json: its base optimizer's per-group hyperparameters and the
`step` of every state entry, which is what a resume on another world size must carry over unchanged.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

import torch

from pretrain.config import compose_config
from pretrain.distributed.session import distributed_session
from pretrain.training import build_trainer

STAGE_OVERRIDES = {
    1: ["deepspeed=zero1"],
    2: ["deepspeed=zero2"],
    # Threshold 0: every parameter partitioned, none kept whole on each rank (tiny's are all below the default).
    3: ["deepspeed=zero3", "deepspeed.param_persistence_threshold=0"],
}
MIDDLE = "step_00000004"  # the test saves every 4 steps of 8
PHASES = {  # run name -> the run whose middle checkpoint it resumes from (None: from scratch)
    "reference2": {"ws2": None},
    "single": {"ws1": None, "2to1": "ws2"},
    "resume2": {"1to2": "ws1"},
}
HYPERPARAMETERS = ("lr", "weight_decay", "betas", "eps")


def optimizer_view(optimizer: torch.optim.Optimizer) -> dict:
    return {
        "groups": [{key: group[key] for key in HYPERPARAMETERS} for group in optimizer.param_groups],
        "steps": [float(state["step"]) for state in optimizer.state.values() if "step" in state],
    }


def main() -> None:
    out, phase, overrides = Path(sys.argv[1]), sys.argv[2], sys.argv[3:]
    with distributed_session() as (rank, world_size):
        for stage, stage_overrides in STAGE_OVERRIDES.items():
            for name, source in PHASES[phase].items():
                run_dir = out / f"zero{stage}" / name
                resume = out / f"zero{stage}" / source / "checkpoints" / MIDDLE if source else "none"
                config = compose_config([*overrides, *stage_overrides, f"logging.run_dir={run_dir}",
                                         f"train.resume={resume}", f"train.checkpoint_dir={run_dir}/checkpoints"])
                trainer = build_trainer(config, rank, world_size)
                trainer.fit()
                view = optimizer_view(trainer.engine.optimizer)
                (run_dir / f"optimizer_rank{rank}.json").write_text(json.dumps(view))
                trainer.engine.close()


if __name__ == "__main__":
    main()
    # As in zero_stages_worker.py: results are on disk and the process group is gone; skip interpreter
    # finalization, where C++ teardown after several engines in one process has aborted before.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)

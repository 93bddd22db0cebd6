"""Step engines: what runs the model across ranks for the training loop (interface: step_engine.py).

DeepSpeed is imported only by `deepspeed_engine.py` and its siblings, and only when an engine is built.
"""

from __future__ import annotations

from pretrain.engine.step_engine import StepEngine

__all__ = ["StepEngine", "build_step_engine"]


def build_step_engine(config, world_size: int, load_universal: bool = False, checkpoint_writer=None) -> StepEngine:
    """`checkpoint_writer`: the checkpoint store's ShardWriter, through which the engine writes its files."""
    # lazy: the DeepSpeed engine imports DeepSpeed (seconds); StepEngine's readers (the loop, its tests) need none
    from pretrain.engine.deepspeed_engine import DeepSpeedStepEngine

    return DeepSpeedStepEngine.build(config, world_size, load_universal, checkpoint_writer)

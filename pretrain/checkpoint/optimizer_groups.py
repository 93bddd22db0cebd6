"""Put back the per-group optimizer state that DeepSpeed 0.19.8's ZeRO-3 universal load flattens.

`DeepSpeedZeroOptimizer_Stage3.load_hp_checkpoint_state_from_checkpoint_dir_stage3` (runtime/zero/stage3.py)
  - copies the saved `param_groups[0]`'s hyperparameters onto every group, so the no-decay group (norm weights,
    biases) is decayed with group 0's weight_decay from then on;
  - stores one and the same `step` tensor in the state of every sub-group. torch's foreach/fused AdamW increments
    each entry of its list of steps, so that shared tensor advances once per group per optimizer step, and bias
    correction is wrong for every parameter (two groups, resumed at step 14: 66 counted at step 40).
ZeRO-1/2 load a universal checkpoint through `load_hp_checkpoint_state_from_checkpoint_dir` (runtime/
base_optimizer.py), which pairs saved and live groups one to one; the repair below leaves what they load as it is.
"""

from __future__ import annotations

from pathlib import Path

import torch

# Written by `ds_to_universal` for every stage: the global optimizer state, with `param_groups` as saved.
OPTIMIZER_STATE = Path("zero") / "optimizer_state.pt"


def saved_param_groups(universal_checkpoint: Path) -> list[dict]:
    """The saved optimizer's parameter groups (hyperparameters; `params` are indices) of a universal checkpoint."""
    # mmap: under ZeRO-3 the file also holds rank 0's fp32 partition of the weights, which is not read here.
    state = torch.load(universal_checkpoint / OPTIMIZER_STATE, map_location="cpu", weights_only=False, mmap=True)
    return state["param_groups"]


def restore_group_hyperparameters(optimizer: torch.optim.Optimizer, saved_groups: list[dict]) -> None:
    """Give each live group the hyperparameters its saved counterpart had (groups pair up by position, as
    ZeRO-1/2's universal load pairs them); the live `params` are kept."""
    if len(saved_groups) != len(optimizer.param_groups):
        raise RuntimeError(f"the checkpoint's optimizer has {len(saved_groups)} parameter groups, this one "
                           f"{len(optimizer.param_groups)}: they cannot be paired")
    for group, saved in zip(optimizer.param_groups, saved_groups):
        group.update({key: value for key, value in saved.items() if key != "params"})


def untie_step_counts(optimizer: torch.optim.Optimizer) -> int:
    """Give every state entry a `step` tensor of its own; returns how many were shared and are now copies."""
    seen, untied = set(), 0
    for state in optimizer.state.values():
        step = state.get("step")
        if not torch.is_tensor(step):
            continue  # a plain number cannot be advanced through another entry
        if id(step) in seen:
            state["step"] = step.clone()
            untied += 1
        seen.add(id(step))
    return untied


def repair_universal_load(optimizer: torch.optim.Optimizer, universal_checkpoint: Path) -> int:
    """After `engine.load_checkpoint` of a universal checkpoint: per-group hyperparameters and step counts as
    saved. `optimizer` is ours (the one inside DeepSpeed's ZeRO wrapper). Returns the number of untied steps."""
    restore_group_hyperparameters(optimizer, saved_param_groups(universal_checkpoint))
    return untie_step_counts(optimizer)

"""Runs under `deepspeed --num_gpus 2`: device selection on every entry point (`entry_points`), or the
non-finite-gradient skip and the gradient norm on every ZeRO stage and precision (`stages`), each in one launch
(a launch costs ~20 s of start-up on the CPU machines). Two launches because DeepSpeed caches its process
groups in module globals when it builds an engine: a later process group in the same process is refused.

    deepspeed --no_local_rank --num_gpus 2 step_guard_worker.py entry_points|stages OUT OVERRIDE [OVERRIDE ...]

`entry_points` records, through DeepSpeed's accelerator object and torch.distributed, the order in which each entry
point selects this rank's device and issues its first collective (under NCCL a collective issued before
`set_device` lands on cuda:0 of every rank). On CPU `set_device` does nothing, so the order is what is tested.

`stages` trains each case for 3 steps with a gradient hook owned by this file: at step 2 it turns the gradient of
the final norm's weight into NaN on rank 1 only, with the loss still finite. Under ZeRO-2/3 that element lands
in one rank's gradient partition, so the other rank skips only if the decision is global. Each rank writes
OUT/<case>/rank<R>.json with what the skip left untouched.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from deepspeed.accelerator import get_accelerator

CASES = {f"zero{stage}_{precision}": [f"deepspeed=zero{stage}", f"train.precision={precision}"]
         for precision in ("bf16", "fp32") for stage in range(4)}
POISON_STEP = 2
COLLECTIVES = ("all_reduce", "broadcast", "broadcast_object_list", "all_gather", "all_gather_object",
               "all_gather_into_tensor", "reduce_scatter", "reduce_scatter_tensor", "all_to_all_single",
               "barrier", "gather", "scatter", "reduce")
EVENTS: list[list] = []


def record_device_order() -> None:
    """Append ("set_device", index) and ("collective", name) to EVENTS as they happen; the real calls still run."""
    accelerator = get_accelerator()
    real_set_device = accelerator.set_device

    def set_device(index):
        EVENTS.append(["set_device", int(index)])
        return real_set_device(index)

    accelerator.set_device = set_device
    for module in (dist, dist.distributed_c10d):
        for name in COLLECTIVES:
            real = getattr(module, name, None)
            if real is None:
                continue

            def recorded(*args, _real=real, _name=name, **kwargs):
                EVENTS.append(["collective", _name])
                return _real(*args, **kwargs)

            setattr(module, name, functools.wraps(real)(recorded))


def entry_points(out: Path, overrides: list[str]) -> dict[str, list]:
    """Every command that creates a process group: the trainer and the comm probe."""
    from pretrain.distributed.__main__ import main as probe_main
    from pretrain.train import main as train_main

    run_dir = out / "entry_train"
    runs = {
        "pretrain.train": lambda: train_main([*overrides, "train.max_steps=1", f"logging.run_dir={run_dir}",
                                              f"train.checkpoint_dir={run_dir}/checkpoints"]),
        "pretrain.distributed": lambda: probe_main(["model=tiny", "comm.probe_sizes_kib=[4,16]",
                                                    "comm.probe_repeats=1"]),
    }
    seen, port = {}, int(os.environ["MASTER_PORT"])
    for offset, (name, run) in enumerate(runs.items()):
        # A fresh rendezvous port per session: a peer still leaving the previous one keeps its TCP store (and
        # DeepSpeed's shared-memory buffer, named after the port) alive; re-using it hung the second session.
        os.environ["MASTER_PORT"] = str(port + offset)
        EVENTS.clear()
        assert run() == 0, name
        seen[name] = list(EVENTS)
    return seen


def snapshot(trainer) -> list[torch.Tensor]:
    """Master weights, Adam moments and step counts (keys and values of the optimizer state, whichever stage
    owns them), plus this rank's model parameters (their ZeRO-3 partition)."""
    tensors = []
    for master, state in trainer.engine.optimizer.state.items():
        tensors.append(master.detach().clone())
        tensors += [value.detach().clone() for _, value in sorted(state.items()) if torch.is_tensor(value)]
    tensors += [getattr(p, "ds_tensor", p).detach().clone() for p in trainer.engine.module.parameters()]
    return tensors


class Snapshots:
    """A callback: the state after every step."""

    def __init__(self):
        self.after = {}

    def on_train_start(self, trainer):
        pass

    def on_step_end(self, trainer):
        self.after[trainer.state.step] = snapshot(trainer)

    def on_train_end(self, trainer):
        pass


def poison_final_norm(trainer, rank: int) -> None:
    """NaN gradient for the final norm's weight during step POISON_STEP's backward, on rank 1 only."""
    weight = dict(trainer.engine.module.named_parameters())["model.norm.weight"]

    def hook(grad):
        if rank == 1 and trainer.state.step == POISON_STEP - 1:  # the step counter advances after the step
            return grad * float("nan")
        return grad

    weight.register_hook(hook)


def same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b))


def stage_cases(out: Path, overrides: list[str], rank: int, world_size: int) -> None:
    from pretrain.config import compose_config
    from pretrain.training import build_trainer

    for case, case_overrides in CASES.items():
        run_dir = out / case
        config = compose_config([*overrides, *case_overrides, "train.max_steps=3", f"logging.run_dir={run_dir}",
                                 "train.resume=none", f"train.checkpoint_dir={run_dir}/checkpoints"])
        trainer = build_trainer(config, rank, world_size)
        snapshots = Snapshots()
        trainer.callbacks.append(snapshots)
        poison_final_norm(trainer, rank)
        trainer.fit()
        after = snapshots.after
        view = {
            "skip_left_state_untouched": same(after[POISON_STEP - 1], after[POISON_STEP]),
            "next_step_applied": not same(after[POISON_STEP], after[POISON_STEP + 1]),
            "finite": all(bool(t.float().isfinite().all()) for t in after[POISON_STEP + 1]),
            "scheduler_steps": trainer.engine.scheduler.last_epoch,
        }
        (run_dir / f"rank{rank}.json").write_text(json.dumps(view))
        trainer.engine.close()


def main() -> None:
    mode, out, overrides = sys.argv[1], Path(sys.argv[2]), sys.argv[3:]
    if mode == "entry_points":
        record_device_order()
        order = entry_points(out, overrides)
        (out / f"device_order_rank{os.environ['RANK']}.json").write_text(
            json.dumps({"local_rank": int(os.environ["LOCAL_RANK"]), "events": order}))
        return
    from pretrain.distributed.session import distributed_session

    with distributed_session() as (rank, world_size):
        stage_cases(out, overrides, rank, world_size)


if __name__ == "__main__":
    main()
    # Results are on disk and the process group is gone: skip interpreter finalization, where C++ teardown
    # after several engines in one process has aborted (see zero_stages_worker.py).
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)

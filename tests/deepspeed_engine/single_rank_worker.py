"""One plain process (a 1-rank group): the trainer's reported gradient norm against torch's on the same batch, and
the step veto under ZeRO-3 offload (DeepSpeedCPUAdam).

    python single_rank_worker.py norms|offload_norms|offload OUT OVERRIDE [OVERRIDE ...]

`norms` trains one step per ZeRO stage and precision with `train.grad_clip` far below the norm, so a clipped or
post-step norm cannot pass for the pre-clipping one; OUT/norms.json maps each case to the logged `grad_norm`
and `torch.nn.utils.get_total_norm` of an fp32 copy of the model (same seed) on the same micro batches.

`offload_norms` does the same under CPU offload (ZeRO-2 and ZeRO-3) with the host's fp32 gradient partition
filled with NaN while the trainer takes the norm (restored afterwards): the norm must come from DeepSpeed's
per-parameter norms on the device, so it stays the reference; it also counts calls of the host-summing path.

`offload` runs deepspeed=zero3_offload in fp32 for 4 steps: step 2's loss is made a spike by a forward hook of
this file (finite loss and gradients: only the loss guard objects), step 3's gradient is made NaN by a gradient
hook; OUT/offload.json says whether each skip left the weights and Adam state untouched.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

import torch

from pretrain.config import compose_config, resolve_batch_layout
from pretrain.data import PretrainDataLoader
from pretrain.distributed.session import distributed_session
from pretrain.model import BaichuanForCausalLM
from pretrain.training import build_trainer
from tests.deepspeed_engine.step_guard_worker import Snapshots, same

NORM_CASES = {f"zero{stage}_{precision}": [f"deepspeed=zero{stage}", f"train.precision={precision}"]
              for precision in ("fp32", "bf16") for stage in range(4)}
OFFLOAD_NORM_CASES = {"zero2_offload_fp32": ["deepspeed=zero2", "deepspeed.offload_optimizer=true"],
                      "zero3_offload_fp32": ["deepspeed=zero3_offload"]}
SPIKE_STEP, NAN_STEP = 2, 3


def reference_norm(config) -> float:
    """The first step's gradient norm by plain torch: fp32 model from the trainer's seed, the loader's first
    global batch, loss averaged over the accumulation steps as DeepSpeed does."""
    torch.manual_seed(config.train.seed)
    model = BaichuanForCausalLM(config.model)
    gas = resolve_batch_layout(config.train, 1).gradient_accumulation_steps
    loader = PretrainDataLoader(config.data, seq_len=config.train.seq_len,
                                micro_batch_size=config.train.micro_batch_size, dp_rank=0, dp_size=1)
    batches = iter(loader)
    for _ in range(gas):
        batch = next(batches)
        doc_ids = batch["doc_ids"] if config.data.document_masking else None
        (model(batch["input_ids"], labels=batch["labels"], doc_ids=doc_ids) / gas).backward()
    # In fp64: torch's fp32 norm on CPU accumulates sequentially and is itself ~2e-6 off for this model.
    return float(torch.nn.utils.get_total_norm([p.grad.double() for p in model.parameters() if p.grad is not None]))


def first_grad_norm(run_dir: Path) -> float:
    return json.loads((run_dir / "metrics.jsonl").read_text().splitlines()[0])["grad_norm"]


def norms(out: Path, overrides: list[str], cases: dict = NORM_CASES, name: str = "norms.json",
          prepare=lambda trainer, seen: None) -> None:
    results = {}
    for case, case_overrides in cases.items():
        run_dir = out / case
        config = compose_config([*overrides, *case_overrides, "train.max_steps=1", "train.grad_clip=0.01",
                                 f"logging.run_dir={run_dir}", f"train.checkpoint_dir={run_dir}/checkpoints"])
        trainer = build_trainer(config, 0, 1)
        results[case] = {}
        prepare(trainer, results[case])
        trainer.fit()
        trainer.engine.close()
        results[case].update(reported=first_grad_norm(run_dir), reference=reference_norm(config))
    (out / name).write_text(json.dumps(results))


def host_gradient_partitions(optimizer) -> list[torch.Tensor]:
    """Where the offloading ZeRO optimizers keep this rank's fp32 gradients on the host."""
    flats = getattr(optimizer, "fp32_partitioned_groups_flat", None) or optimizer.single_partition_of_fp32_groups
    return [flat.grad for flat in flats if flat.grad is not None]


def poison_host_gradients_while_the_norm_is_taken(trainer, seen: dict) -> None:
    from pretrain.engine import deepspeed_grad_norm

    step_engine = trainer.engine
    host_pass = getattr(deepspeed_grad_norm._owned_gradients, "original", deepspeed_grad_norm._owned_gradients)
    take_norm = step_engine.local_grad_square_sum
    seen.update(host_pass_calls=0, poisoned_elements=0)

    def counted(engine):
        seen["host_pass_calls"] += 1
        return host_pass(engine)

    def poisoned() -> torch.Tensor:
        grads = host_gradient_partitions(step_engine.engine.optimizer)
        saved = [grad.clone() for grad in grads]
        for grad in grads:
            grad.fill_(float("nan"))
        seen["poisoned_elements"] += sum(grad.numel() for grad in grads)
        try:
            return take_norm()
        finally:
            for grad, kept in zip(grads, saved):
                grad.copy_(kept)

    counted.original = host_pass
    deepspeed_grad_norm._owned_gradients = counted
    step_engine.local_grad_square_sum = poisoned


def offload_norms(out: Path, overrides: list[str]) -> None:
    norms(out, [*overrides, "train.precision=fp32"], OFFLOAD_NORM_CASES, "offload_norms.json",
          poison_host_gradients_while_the_norm_is_taken)


def offload(out: Path, overrides: list[str]) -> None:
    run_dir = out / "zero3_offload"
    config = compose_config([*overrides, "deepspeed=zero3_offload", "train.precision=fp32", "train.max_steps=4",
                             "train.lr=1e-5", "train.spike_sigma=100", "train.spike_min_history=1",
                             f"logging.run_dir={run_dir}", f"train.checkpoint_dir={run_dir}/checkpoints"])
    trainer = build_trainer(config, 0, 1)
    snapshots = Snapshots()
    trainer.callbacks.append(snapshots)
    # A spike: 1000x the loss, far above mean + 100 x (0.1 % of the mean) of the one loss before it.
    trainer.engine.module.register_forward_hook(
        lambda module, args, loss: loss * 1000 if trainer.state.step == SPIKE_STEP - 1 else loss)
    weight = dict(trainer.engine.module.named_parameters())["model.norm.weight"]
    weight.register_hook(lambda grad: grad * float("nan") if trainer.state.step == NAN_STEP - 1 else grad)
    trainer.fit()
    after = snapshots.after
    view = {
        "optimizer": type(trainer.engine.optimizer).__name__,
        "spike_left_state_untouched": same(after[SPIKE_STEP - 1], after[SPIKE_STEP]),
        "nan_left_state_untouched": same(after[NAN_STEP - 1], after[NAN_STEP]),
        "next_step_applied": not same(after[NAN_STEP], after[NAN_STEP + 1]),
        "reference_norm": reference_norm(config),
    }
    (out / "offload.json").write_text(json.dumps(view))
    trainer.engine.close()


def main() -> None:
    mode, out, overrides = sys.argv[1], Path(sys.argv[2]), sys.argv[3:]
    with distributed_session():
        {"norms": norms, "offload_norms": offload_norms, "offload": offload}[mode](out, overrides)


if __name__ == "__main__":
    main()
    logging.shutdown()  # as in zero_stages_worker.py: no interpreter finalization after several engines
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)

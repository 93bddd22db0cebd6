"""Resume on another world size (2 → 1 and 1 → 2 ranks) for ZeRO-1, 2 and 3, through the universal checkpoint,
against the uninterrupted run the checkpoint came from: same optimizer hyperparameters per group, same Adam step
counts, losses within 1e-5.

The global batch is kept, so gradient accumulation doubles (or halves) with the world size. Each uninterrupted
run saves at step 4 on its way to step 8 and so is both the source of a resumed run and its reference. Runs
(universal_resume_worker.py): one 2-rank launch for the references, one 1-rank process for the 1-rank reference
and the 2 → 1 resumes, one 2-rank launch for the 1 → 2 resumes. The repair itself is also tested on a plain
torch AdamW in one process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from pretrain.checkpoint.optimizer_groups import OPTIMIZER_STATE, repair_universal_load
from tests.deepspeed_engine.conftest import REPO, data_overrides, launch_two_ranks

STEPS, MIDDLE = 8, 4
# fp32: changing the world size alone (micro batches accumulated on one rank instead of reduced across two) gave
# bit-identical losses here for every stage. Under bf16 the rounding of the weights amplifies the reordered
# gradient sums to ~3e-5 relative for ZeRO-2/3, too close to the tolerance to tell a wrong resume apart. A wrong
# weight decay or Adam step count after the resume (ZeRO-3 in DeepSpeed 0.19.8) moved losses by 3e-5 one step
# after the resume and 1e-3 three steps later; grad norms by up to 6e-3.
LOSS_RTOL = 1e-5
GRAD_NORM_RTOL = 1e-4
STAGES = (1, 2, 3)
DIRECTIONS = {"2to1": "ws2", "1to2": "ws1"}  # resumed run -> the uninterrupted run it resumed from


@pytest.fixture(scope="module")
def runs(corpus_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("universal_resume")
    overrides = [
        "model=tiny", *data_overrides(corpus_dir), f"train.max_steps={STEPS}", f"train.save_interval={MIDDLE}",
        "train.warmup_steps=2", "train.seq_len=64", "train.micro_batch_size=4", "train.global_batch_size=8",
        "train.lr=3e-3", "train.precision=fp32", "train.keep_last=2",
    ]
    worker = str(Path(__file__).with_name("universal_resume_worker.py"))

    def two_ranks(phase: str) -> None:
        # A relaunch after a rank died at exit (see launch_two_ranks) starts the references from an empty OUT;
        # the resumed runs need no cleaning, as a resume drops records past its checkpoint's step.
        result = launch_two_ranks([worker, str(out), phase, *overrides], cwd=REPO, timeout=400,
                                  scratch=out if phase == "reference2" else None)
        assert result.returncode == 0, f"{phase}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"

    two_ranks("reference2")
    single = subprocess.run([sys.executable, worker, str(out), "single", *overrides], cwd=REPO, timeout=400,
                            capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO), "PYTHONFAULTHANDLER": "1"})
    assert single.returncode == 0, f"single:\n{single.stdout[-3000:]}\n{single.stderr[-3000:]}"
    two_ranks("resume2")
    return out


def _records(run_dir: Path) -> dict[int, dict]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return {record["step"]: record for record in map(json.loads, lines) if "loss" in record}


def _optimizer(run_dir: Path, rank: int) -> dict:
    return json.loads((run_dir / f"optimizer_rank{rank}.json").read_text())


def _relative(a: float, b: float) -> float:
    return abs(a - b) / abs(b)


@pytest.mark.slow
@pytest.mark.parametrize("stage", STAGES)
def test_one_and_two_ranks_train_to_the_same_losses(runs, stage):
    """What LOSS_RTOL rests on: the world size alone barely moves the losses."""
    one, two = _records(runs / f"zero{stage}" / "ws1"), _records(runs / f"zero{stage}" / "ws2")
    assert sorted(one) == sorted(two) == list(range(1, STEPS + 1))
    assert max(_relative(one[s]["loss"], two[s]["loss"]) for s in one) < LOSS_RTOL / 10
    assert one[STEPS]["loss"] < one[1]["loss"]  # it learns


@pytest.mark.slow
@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("stage", STAGES)
def test_resume_on_another_world_size_continues_the_uninterrupted_run(runs, stage, direction):
    source = runs / f"zero{stage}" / DIRECTIONS[direction]
    resumed, reference = _records(runs / f"zero{stage}" / direction), _records(source)
    assert (source / "checkpoints" / f"step_{MIDDLE:08d}" / "deepspeed_universal").is_dir()  # converted
    assert sorted(resumed) == list(range(MIDDLE + 1, STEPS + 1))
    for step in resumed:
        assert resumed[step]["data_fingerprint"] == reference[step]["data_fingerprint"], step
        got, want = resumed[step], reference[step]
        assert _relative(got["loss"], want["loss"]) < LOSS_RTOL, (step, got["loss"], want["loss"])
        assert _relative(got["grad_norm"], want["grad_norm"]) < GRAD_NORM_RTOL, (step, got["grad_norm"],
                                                                                want["grad_norm"])
    # Every rank of the resumed run against the uninterrupted one: per-group hyperparameters (the no-decay group
    # keeps weight_decay 0) and one Adam step per optimizer step in every state entry (bias correction uses it).
    expected = _optimizer(source, 0)
    assert [group["weight_decay"] for group in expected["groups"]] == [0.1, 0.0]
    assert expected["steps"] and set(expected["steps"]) == {float(STEPS)}
    resumed_ranks = 2 if direction == "1to2" else 1
    for rank in range(resumed_ranks):
        seen = _optimizer(runs / f"zero{stage}" / direction, rank)
        for got, want in zip(seen["groups"], expected["groups"], strict=True):
            assert {**got, "lr": pytest.approx(want["lr"], rel=1e-12)} == want, f"rank {rank}: {got} != {want}"
        assert seen["steps"] == expected["steps"], f"rank {rank}: Adam steps {seen['steps']}"


def _two_group_adamw(step: torch.Tensor | None = None) -> tuple[torch.optim.AdamW, list[torch.nn.Parameter]]:
    """AdamW over a decayed matrix and an undecayed vector, 4 steps into training (each entry's own step tensor,
    unless `step` is given to share)."""
    params = [torch.nn.Parameter(torch.ones(3, 3)), torch.nn.Parameter(torch.ones(3))]
    groups = [{"params": [params[0]], "weight_decay": 0.1}, {"params": [params[1]], "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW(groups, lr=1e-3, foreach=True)
    for param in params:
        optimizer.state[param].update(step=torch.tensor(4.0) if step is None else step,
                                      exp_avg=torch.full_like(param, 0.5), exp_avg_sq=torch.full_like(param, 0.25))
        param.grad = torch.ones_like(param)
    return optimizer, params


def test_repair_restores_each_groups_hyperparameters_and_its_own_step(tmp_path):
    expected, expected_params = _two_group_adamw()
    (tmp_path / OPTIMIZER_STATE).parent.mkdir()
    torch.save({"param_groups": expected.state_dict()["param_groups"]}, tmp_path / OPTIMIZER_STATE)
    expected.step()
    # What DeepSpeed 0.19.8's ZeRO-3 universal load leaves: group 0's hyperparameters everywhere, one step tensor.
    optimizer, params = _two_group_adamw(step=torch.tensor(4.0))
    optimizer.param_groups[1]["weight_decay"] = 0.1
    assert repair_universal_load(optimizer, tmp_path) == 1
    optimizer.step()
    assert [float(optimizer.state[param]["step"]) for param in params] == [5.0, 5.0]  # shared, it would be 6
    assert [group["weight_decay"] for group in optimizer.param_groups] == [0.1, 0.0]
    for param, want in zip(params, expected_params, strict=True):
        assert torch.equal(param, want)


def test_repair_refuses_groups_that_do_not_pair(tmp_path):
    optimizer, _ = _two_group_adamw()
    (tmp_path / OPTIMIZER_STATE).parent.mkdir()
    torch.save({"param_groups": optimizer.param_groups[:1]}, tmp_path / OPTIMIZER_STATE)
    with pytest.raises(RuntimeError, match="1 parameter groups, this one 2"):
        repair_universal_load(optimizer, tmp_path)


@pytest.mark.slow
def test_an_interrupted_conversion_resumes_with_the_same_result(runs, tmp_path, monkeypatch):
    """DeepSpeed's ds_to_universal through universal_convert, killed in its merge pass and run again into the
    same directory: no ZeRO partition is extracted again, only the unmerged parameters are merged, and every
    parameter's fp32 weights equal those of the conversion the resumed training run made in one go."""
    import functools

    from deepspeed.checkpoint import ds_to_universal

    from pretrain.checkpoint.universal_convert import convert

    checkpoint = runs / "zero2" / "ws2" / "checkpoints" / f"step_{MIDDLE:08d}"
    output = tmp_path / "universal"
    extract, merge = ds_to_universal.extract_zero_shards, ds_to_universal.merge_tp_slices
    calls = {"extract": 0, "merge": 0}

    @functools.wraps(extract)  # the markers name the pass by DeepSpeed's function
    def counted_extract(*args):
        calls["extract"] += 1
        return extract(*args)

    @functools.wraps(merge)
    def merge_then_die(*args):
        if calls["merge"] == 3:
            raise KeyboardInterrupt  # the job is killed in the middle of the merge pass
        calls["merge"] += 1
        return merge(*args)

    monkeypatch.setattr(ds_to_universal, "extract_zero_shards", counted_extract)
    monkeypatch.setattr(ds_to_universal, "merge_tp_slices", merge_then_die)
    with pytest.raises(KeyboardInterrupt):
        convert(checkpoint / "deepspeed", output, workers=1)
    assert calls == {"extract": 2, "merge": 3}  # both ranks' partitions extracted, 3 parameters merged

    @functools.wraps(merge)
    def counted_merge(*args):
        calls["merge"] += 1
        return merge(*args)

    monkeypatch.setattr(ds_to_universal, "merge_tp_slices", counted_merge)
    calls.update(extract=0, merge=0)
    convert(checkpoint / "deepspeed", output, workers=1)
    reference = checkpoint / "deepspeed_universal" / "zero"
    names = sorted(p.name for p in reference.iterdir() if p.is_dir())  # a folder per parameter
    assert calls == {"extract": 0, "merge": len(names) - 3}
    for name in names:
        for state in ("fp32", "exp_avg", "exp_avg_sq"):
            got = torch.load(output / "zero" / name / f"{state}.pt", weights_only=False)["param"]
            want = torch.load(reference / name / f"{state}.pt", weights_only=False)["param"]
            assert torch.equal(got, want), (name, state)


@pytest.mark.slow
@pytest.mark.parametrize("stage", (2, 3))
def test_a_fine_tunes_init_maps_the_optimizer_files_and_reads_each_once(runs, stage, monkeypatch):
    """finetune.init_from on a ZeRO checkpoint: the fp32 weights live only in the optimizer files; each is
    loaded once and memory-mapped (zero_to_fp32 drops the Adam moments unread), and the weights equal the
    offline reader's."""
    from pretrain.finetune.init_weights import open_init_weights
    from pretrain.weights import load_inference_model

    checkpoint = runs / f"zero{stage}" / "ws2" / "checkpoints" / f"step_{MIDDLE:08d}"
    _, expected, _ = load_inference_model(checkpoint)
    loads, load = [], torch.load
    monkeypatch.setattr(torch, "load", lambda f, *a, **kw: loads.append((Path(f).name, kw.get("mmap", False)))
                        or load(f, *a, **kw))
    weights = {name: value.contiguous() for name, value in open_init_weights(str(checkpoint)).items()}
    optimizer_files = sorted(p.name for p in (checkpoint / "deepspeed").glob("*optim_states.pt"))
    assert len(optimizer_files) == 2
    assert sorted(name for name, mmap in loads if "optim" in name and mmap) == optimizer_files
    assert len(loads) == len(set(loads))  # no file loaded twice
    assert set(weights) == set(expected)
    assert all(torch.equal(weights[name].float(), expected[name]) for name in expected)

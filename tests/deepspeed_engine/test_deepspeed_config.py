"""Every `deepspeed=` group and precision renders into the DeepSpeed dict through the one function."""

from __future__ import annotations

import pytest
import torch

from pretrain.config import ConfigError, compose_config, resolve_batch_layout
from pretrain.engine.deepspeed_config import render_deepspeed_config
from pretrain.model import BaichuanForCausalLM
from pretrain.optimizer import parameter_groups

SOURCES = "data.sources=[{name: zh, path: /tmp/none}]"


def render(*overrides: str, world_size: int = 2) -> dict:
    config = compose_config([*overrides, SOURCES])
    return render_deepspeed_config(config, resolve_batch_layout(config.train, world_size), world_size)


@pytest.mark.parametrize(("group", "stage", "overlap", "offload"), [
    ("zero0", 0, False, False), ("zero1", 1, True, False), ("zero2", 2, True, False),
    ("zero3", 3, True, False), ("zero3_offload", 3, True, True),
])
def test_each_stage_group_renders_its_stage_overlap_and_buckets(group, stage, overlap, offload):
    zero = render(f"deepspeed={group}")["zero_optimization"]
    assert zero["stage"] == stage and zero["overlap_comm"] is overlap
    assert zero["contiguous_gradients"] is (stage >= 2)
    assert zero["reduce_bucket_size"] > 0
    if stage == 3:  # parameters are gathered per layer: prefetch and persistence, not an all-gather bucket
        assert "allgather_bucket_size" not in zero and zero["stage3_prefetch_bucket_size"] > 0
        assert zero["stage3_param_persistence_threshold"] == 100_000
        assert zero["stage3_max_live_parameters"] == (300_000_000 if offload else 1_000_000_000)
    else:
        assert zero["allgather_bucket_size"] > 0
    assert ("offload_optimizer" in zero) is offload and ("offload_param" in zero) is offload
    if offload:
        assert zero["offload_optimizer"]["device"] == "cpu" and zero["offload_param"]["device"] == "cpu"


def test_bf16_accumulates_gradients_in_fp32_under_zero():
    rendered = render("train.precision=bf16", "deepspeed=zero2")
    assert rendered["bf16"]["enabled"] and not rendered["fp16"]["enabled"]
    assert rendered["data_types"] == {"grad_accum_dtype": "fp32"}


def test_fp16_uses_dynamic_loss_scaling_with_configured_schedule():
    rendered = render("train.precision=fp16", "deepspeed.initial_scale_power=12", "deepspeed.hysteresis=3")
    fp16 = rendered["fp16"]
    assert fp16["enabled"] and not rendered["bf16"]["enabled"]
    assert fp16["loss_scale"] == 0  # 0 = dynamic in DeepSpeed
    assert (fp16["initial_scale_power"], fp16["hysteresis"], fp16["loss_scale_window"]) == (12, 3, 1000)
    assert fp16["min_loss_scale"] == 1.0


def test_fp32_enables_neither_low_precision_mode():
    rendered = render("train.precision=fp32")
    assert not rendered["bf16"]["enabled"] and not rendered["fp16"]["enabled"] and "data_types" not in rendered


def test_clipping_and_batch_arithmetic_come_from_train_config():
    rendered = render("train.grad_clip=0.5", "train.micro_batch_size=2", "train.global_batch_size=24",
                      world_size=3)
    assert rendered["gradient_clipping"] == 0.5
    assert (rendered["train_batch_size"], rendered["train_micro_batch_size_per_gpu"],
            rendered["gradient_accumulation_steps"]) == (24, 2, 4)
    with pytest.raises(ConfigError) as err:
        render("train.micro_batch_size=4", "train.global_batch_size=20", world_size=3)
    message = str(err.value)
    assert "global_batch_size=20" in message and "micro_batch_size=4" in message and "size=3" in message


def test_no_decay_groups_hold_under_zero3_partitioning():
    """Under zero.Init a parameter's data is an empty 1-D partition; its real shape is ds_shape."""
    config = compose_config(["model=tiny", SOURCES])
    model = BaichuanForCausalLM(config.model)
    expected = [len(g["params"]) for g in parameter_groups(model, config)]
    for param in model.parameters():  # what deepspeed.zero.Init leaves behind
        param.ds_shape = param.shape
        param.data = torch.empty(0)
    assert [len(g["params"]) for g in parameter_groups(model, config)] == expected
    assert expected[0] > 0 and expected[1] > 0


def test_fp16_on_a_device_without_fp16_is_one_config_error(monkeypatch):
    from deepspeed.accelerator import get_accelerator

    from pretrain.engine.deepspeed_engine import check_precision_supported

    monkeypatch.setattr(type(get_accelerator()), "is_fp16_supported", lambda self: False)
    with pytest.raises(ConfigError, match="train.precision=fp16 is not supported"):
        check_precision_supported("fp16")
    check_precision_supported("bf16")  # no error

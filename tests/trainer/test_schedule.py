"""Learning-rate schedule, optimizer groups and DeepSpeed config rendering."""

import pytest

from pretrain.config import compose_config, resolve_batch_layout
from pretrain.engine.deepspeed_config import bucket_sizes, render_deepspeed_config
from pretrain.model import BaichuanForCausalLM
from pretrain.optimizer import lr_lambda, parameter_groups

SOURCES = "data.sources=[{name: zh, path: /tmp/none}]"


@pytest.mark.parametrize("schedule", ["cosine", "linear"])
def test_warmup_then_decay_to_floor(schedule):
    config = compose_config([f"train.schedule={schedule}", "train.warmup_steps=10", "train.max_steps=110",
                             "train.min_lr_ratio=0.1", SOURCES])
    factor = lr_lambda(config)
    assert factor(0) == pytest.approx(0.1) and factor(9) == pytest.approx(1.0)
    assert factor(60) == pytest.approx(0.55)  # halfway through the decay both reach the midpoint
    assert factor(110) == pytest.approx(0.1) and factor(500) == pytest.approx(0.1)
    values = [factor(s) for s in range(10, 111)]
    assert all(a >= b for a, b in zip(values, values[1:]))


def test_norms_are_never_decayed():
    config = compose_config(["model=tiny", SOURCES])
    model = BaichuanForCausalLM(config.model)
    decay, no_decay = parameter_groups(model, config)
    assert all(p.ndim >= 2 for p in decay["params"]) and all(p.ndim == 1 for p in no_decay["params"])
    assert no_decay["weight_decay"] == 0.0 and len(no_decay["params"]) == 2 * config.model.num_layers + 1


def test_rendered_deepspeed_config_matches_batch_layout_and_stage():
    config = compose_config(["deepspeed=zero3", "train.micro_batch_size=2", "train.global_batch_size=16", SOURCES])
    layout = resolve_batch_layout(config.train, 4)
    rendered = render_deepspeed_config(config, layout, world_size=4)
    assert rendered["train_batch_size"] == 16 and rendered["gradient_accumulation_steps"] == 2
    assert rendered["zero_optimization"]["stage"] == 3
    assert rendered["bf16"]["enabled"] and not rendered["fp16"]["enabled"]


def test_auto_buckets_grow_with_cluster_and_model():
    small = compose_config(["model=tiny", SOURCES])
    big = compose_config(["model=baichuan_7b", SOURCES])
    assert bucket_sizes(big, 1024)["reduce"] > bucket_sizes(big, 8)["reduce"] > bucket_sizes(small, 8)["reduce"]

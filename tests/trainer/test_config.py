"""The pretraining config: composition, overrides, and one-line errors for what users get wrong."""

import subprocess
import sys

import pytest
import torch

from pretrain.config import ConfigError, compose_config, resolve_batch_layout
from pretrain.config.compose import strip_launcher_args

SOURCES = "data.sources=[{name: zh, path: /tmp/none}]"


def test_defaults_and_group_overrides_compose_into_typed_config():
    config = compose_config(["model=baichuan_7b", "deepspeed=zero3", "train.lr=1e-4", "train.seq_len=4096", SOURCES])
    assert config.model.hidden_size == 4096 and config.model.num_layers == 32
    assert config.deepspeed.zero_stage == 3
    assert config.train.lr == pytest.approx(1e-4)
    assert config.data.sources[0].name == "zh"


@pytest.mark.parametrize(
    "override, fragment",
    [
        ("train.lrr=1", "lrr"),                # a typo'd key names the key
        ("train.max_steps=many", "max_steps"),  # a wrong type names the key
        ("model=baichuan_99b", "baichuan_99b"),  # an unknown group option names it
        ("train.precision=bf17", "train.precision"),
        ("deepspeed.zero_stage=4", "zero_stage"),
        ("train.seq_len=999999", "max_seq_len"),
        ("cluster.gpu=H100", "H100-PCIe"),  # ambiguous (756/835/989 TFLOPS): the error lists the exact names
    ],
)
def test_bad_config_raises_config_error_naming_the_key(override, fragment):
    with pytest.raises(ConfigError) as info:
        compose_config([override, SOURCES])
    message = str(info.value)
    assert fragment in message
    assert "\n" not in message


def test_cli_prints_one_line_and_exits_2_before_starting_any_rank():
    result = subprocess.run(
        [sys.executable, "-m", "pretrain.train", "train.lrr=1"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "lrr" in lines[0]


def test_launcher_local_rank_argument_is_stripped():
    assert strip_launcher_args(["--local_rank=1", "a=1", "--local_rank", "0", "b=2"]) == ["a=1", "b=2"]


def test_batch_layout_derives_accumulation_and_names_values_when_inconsistent():
    config = compose_config(["train.micro_batch_size=4", "train.global_batch_size=32", SOURCES])
    layout = resolve_batch_layout(config.train, data_parallel_size=2)
    assert (layout.gradient_accumulation_steps, layout.global_batch_size) == (4, 32)
    with pytest.raises(ConfigError, match="global_batch_size=30.*micro_batch_size=4.*2"):
        config.train.global_batch_size = 30
        resolve_batch_layout(config.train, data_parallel_size=2)


def _train_cli(*overrides: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pretrain.train", *overrides], capture_output=True, text=True,
                          timeout=300)


def test_unknown_cluster_gpu_exits_2_with_the_table_names_before_any_rank_starts():
    result = _train_cli("cluster.gpu=H300")
    assert result.returncode == 2
    [line] = [line for line in result.stderr.splitlines() if line.strip()]
    assert line.startswith("error: cluster.gpu='H300'") and "H100-SXM" in line and "H20" in line


@pytest.mark.skipif(torch.cuda.is_available(), reason="FlexAttention trains on CUDA")
def test_flex_on_cpu_is_refused_before_any_rank_starts():
    # Before: two ranks started and died at the first backward ("FlexAttention does not support backward on CPU").
    result = _train_cli("model.attention=flex", "train.max_steps=1")
    assert result.returncode == 2
    [line] = [line for line in result.stderr.splitlines() if line.strip()]
    assert line.startswith("error: model.attention=flex") and "auto|sdpa|eager" in line
    assert "deepspeed" not in result.stdout.lower()  # refused before DeepSpeed (and any rank) started

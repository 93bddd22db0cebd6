"""Planner: exact parameter counts through the CLI, FLOPs formula, ZeRO memory accounting, user errors."""

import json
from dataclasses import replace

import pytest

from pretrain.model.flops import GPU_PEAK_TFLOPS, count_parameters, flops_per_token, hardware_flops_per_token
from pretrain.plan import main

from .conftest import load_model_config


def run_plan(capsys, *argv):
    main(list(argv))
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize(("name", "expected"), [("baichuan_7b", 7_000_559_616), ("baichuan_13b", 13_264_901_120)])
def test_plan_prints_the_published_parameter_count(capsys, name, expected):
    out = run_plan(capsys, f"model={name}", "deepspeed=zero3", "cluster.num_gpus=1000", "train.seq_len=4096")
    assert out["parameters"] == expected


def test_flops_per_token_is_6n_plus_attention():
    cfg = load_model_config("baichuan_7b")
    h, layers = cfg.hidden_size, cfg.num_layers
    matmul_weights = count_parameters(cfg) - cfg.vocab_size * h - (2 * layers + 1) * h  # no lookup, no norms
    assert flops_per_token(cfg, 4096) == 6 * matmul_weights + 12 * layers * h * 4096
    # Every layer recomputed (the lm_head never is): one more forward of the layers' weights and attention.
    head = h * cfg.vocab_size
    assert hardware_flops_per_token(replace(cfg, activation_checkpointing=1), 4096) == (
        8 * matmul_weights - 2 * head + 16 * layers * h * 4096)


def test_zero_stages_partition_states_and_speed_follows_mfu(capsys):
    out = run_plan(capsys, "model=baichuan_7b", "cluster.num_gpus=64", "gpu=H100-SXM", "mfu=0.5")
    by_stage = out["memory_gib_per_gpu_by_stage"]
    totals = [by_stage[f"zero{s}"]["total"] for s in range(4)]
    assert totals == sorted(totals, reverse=True) and totals[0] > 100 > totals[3]
    assert by_stage["zero0"]["optimizer_states"] == pytest.approx(12 * 7_000_559_616 / 1024**3, abs=0.01)
    assert by_stage["zero3"]["params"] == pytest.approx(by_stage["zero0"]["params"] / 64, abs=0.01)
    tokens_per_s = out["throughput"]["tokens_per_s_per_gpu"]
    assert tokens_per_s * out["flops_per_token"] == pytest.approx(0.5 * GPU_PEAK_TFLOPS["H100-SXM"] * 1e12, rel=1e-4)


def test_activation_checkpointing_and_chunked_loss_lower_activation_memory(capsys):
    base = ["model=baichuan_7b", "deepspeed=zero3", "cluster.num_gpus=8"]
    full = run_plan(capsys, *base, "model.activation_checkpointing=0", "model.loss_chunk_size=0")
    saved = run_plan(capsys, *base)
    assert saved["memory_gib_per_gpu"]["activations"] < full["memory_gib_per_gpu"]["activations"] / 5


@pytest.mark.parametrize("bad", ["deepspeed=zero4", "gpu=V100", "model=nope", "model.hiden_size=1", "clutser.num_gpus=2"])
def test_bad_arguments_are_one_line_and_exit_2(capsys, bad):
    with pytest.raises(SystemExit) as exit_info:
        main([bad])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err

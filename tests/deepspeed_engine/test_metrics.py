"""Throughput arithmetic (MFU/HFU), the CPU peak, model-state bytes, secret scrubbing and the sinks."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from pretrain.config import LoggingConfig, compose_config
from pretrain.metrics import MetricsLogger
from pretrain.metrics import sinks as sinks_module
from pretrain.metrics import throughput as throughput_module
from pretrain.metrics.model_state import model_state_bytes
from pretrain.metrics.sinks import _scrub
from pretrain.metrics.throughput import ThroughputMeter
from pretrain.model.flops import flops_per_token, hardware_flops_per_token

SOURCES = "data.sources=[{name: zh, path: /tmp/none}]"


def test_mfu_is_model_flops_rate_over_peak_and_hfu_counts_recompute():
    model = replace(compose_config(["model=baichuan_7b", SOURCES]).model, activation_checkpointing=0)
    meter = ThroughputMeter(model, 4096, world_size=8, peak_tflops=312.0)
    out = meter.measure(tokens=8 * 3000, seconds=2.0)
    assert out["tokens_per_s"] == 12_000 and out["tokens_per_s_per_device"] == 1_500
    expected_tflops = 1_500 * flops_per_token(model, 4096) / 1e12
    assert out["tflops_per_device"] == pytest.approx(expected_tflops)
    assert out["mfu"] == pytest.approx(expected_tflops / 312.0) and out["hfu"] == pytest.approx(out["mfu"])
    recompute = ThroughputMeter(replace(model, activation_checkpointing=1), 4096, 8, peak_tflops=312.0)
    checkpointed = recompute.measure(tokens=8 * 3000, seconds=2.0)
    assert checkpointed["mfu"] == pytest.approx(out["mfu"])  # same useful work ...
    # ... plus a second forward of every layer (not of the lm_head); tests/trainer/test_throughput.py has the rest.
    expected_ratio = hardware_flops_per_token(replace(model, activation_checkpointing=1), 4096) / flops_per_token(model, 4096)
    assert checkpointed["hfu"] == pytest.approx(out["mfu"] * expected_ratio) and 1.3 < expected_ratio < 4 / 3


def test_cpu_peak_is_measured_in_the_training_dtype(monkeypatch):
    seen = []
    monkeypatch.setattr(throughput_module, "measure_cpu_matmul_tflops",
                        lambda dtype=torch.float32, **kw: seen.append(dtype) or 0.5)
    assert throughput_module.detect_peak_tflops(precision="bf16") == ("cpu", 0.5)
    throughput_module.detect_peak_tflops(precision="fp32")
    assert seen == [torch.bfloat16, torch.float32]
    assert throughput_module.measure_cpu_matmul_tflops(size=128, repeats=1, trials=1) > 0


def test_model_state_bytes_counts_each_storage_once():
    model = torch.nn.Linear(64, 32)  # 64·32 + 32 = 2,080 fp32 parameters
    optimizer = torch.optim.AdamW(model.parameters())
    model(torch.randn(4, 64)).sum().backward()
    optimizer.step()
    state = model_state_bytes(model, optimizer)
    assert state["param_bytes"] == 2_080 * 4
    assert state["master_bytes"] == 0  # fp32 training: the optimizer updates the parameters themselves
    assert 2 * 2_080 * 4 <= state["optimizer_state_bytes"] <= 2 * 2_080 * 4 + 64  # two moments (+ step counters)
    flat = torch.zeros(100)
    views = [flat[:50], flat[50:]]
    shared = torch.optim.SGD([torch.nn.Parameter(v) for v in views])
    assert model_state_bytes(torch.nn.Module(), shared)["master_bytes"] == 400


def test_scrub_hides_credential_keys_and_environment_secrets_everywhere():
    config = {"logging": {"wandb_api_key": "abc123", "wandb_project": "p"}, "data": {"tokenizer": "/t.model",
              "sources": [{"path": "https://u:hf_SuperSecret99@host/x"}]}, "keep_last": 3}
    scrubbed = _scrub(config, secrets=["hf_SuperSecret99"])
    assert scrubbed["logging"] == {"wandb_api_key": "***", "wandb_project": "p"}
    assert scrubbed["data"]["tokenizer"] == "/t.model" and scrubbed["keep_last"] == 3  # not credentials
    assert scrubbed["data"]["sources"][0]["path"] == "https://u:***@host/x"


def test_tensorboard_is_optional(tmp_path, monkeypatch):
    monkeypatch.setattr(sinks_module, "tensorboard_available", lambda: False)
    logger = MetricsLogger(LoggingConfig(run_dir=str(tmp_path), tensorboard=True, console=False), rank=0)
    logger.log(1, {"loss": 1.0})
    logger.close()
    assert (tmp_path / "metrics.jsonl").is_file() and not (tmp_path / "tensorboard").exists()
    if _real_tensorboard():  # the real writer, where the package is installed
        monkeypatch.undo()
        logger = MetricsLogger(LoggingConfig(run_dir=str(tmp_path), tensorboard=True, console=False), rank=0)
        logger.log(1, {"loss": 1.0})
        logger.close()
        assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))


def _real_tensorboard() -> bool:
    import importlib.util

    return importlib.util.find_spec("tensorboard") is not None


def test_model_state_report_once_per_launch_and_loss_scale_every_fp16_step():
    from types import SimpleNamespace

    from pretrain.callbacks.model_state import ModelStateReport
    from pretrain.config import BatchLayout
    from pretrain.distributed import fit_latency_bandwidth
    from pretrain.distributed.comm_probe import CommProfile
    from pretrain.engine.deepspeed_engine import DeepSpeedStepEngine

    model = torch.nn.Linear(8, 8)
    optimizer = torch.optim.AdamW(model.parameters())
    fit = fit_latency_bandwidth("all_gather", [1 << 20, 4 << 20], [1e-4 + s / 1e9 for s in (1 << 20, 4 << 20)])
    # `loss_scale`: the name DeepSpeed's fp16 wrappers promote (read on the real ones in test_fp16_loss_scale.py).
    deepspeed_engine = SimpleNamespace(module=model, optimizer=SimpleNamespace(loss_scale=1024.0),
                                       device=torch.device("cpu"), fp16_enabled=lambda: True)
    engine = DeepSpeedStepEngine(deepspeed_engine, optimizer, BatchLayout(1, 1, 2),
                                 {"zero_optimization": {"reduce_bucket_size": 7, "stage": 2}}, True,
                                 comm_profile=CommProfile(2, "gloo", {"all_gather": fit}))
    trainer = SimpleNamespace(engine=engine)
    report = ModelStateReport()
    report.on_train_start(trainer)
    first, second = report.on_step_end(trainer), report.on_step_end(trainer)
    assert first["state/param_bytes_per_rank"] == 72 * 4 and first["buckets/reduce_bucket_size"] == 7
    assert first["comm/all_gather/latency_us"] == pytest.approx(100.0)
    assert first["comm/all_gather/bandwidth_gbps"] == pytest.approx(1.0)
    assert second == {"loss_scale": 1024.0} and first["loss_scale"] == 1024.0
    report.on_train_start(trainer)  # a new launch (resume) reports again
    assert "state/total_bytes_per_rank" in report.on_step_end(trainer)

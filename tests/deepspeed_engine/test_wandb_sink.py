"""The wandb sink: what it hands to the wandb API (a fake module records the calls), and one real offline run
read back through wandb's own reader after `finish()`."""

from __future__ import annotations

import json
import sys
import types

import pytest

from pretrain.config import LoggingConfig
from pretrain.metrics import MetricsLogger
from tests.deepspeed_engine.wandb_records import read_run

SECRET = "hf_TopSecretToken123"
RUN_CONFIG = {"data": {"path": f"/mnt/{SECRET}/shards"}, "api_key": "k"}


class _FakeRun:
    def __init__(self, calls):
        self.calls = calls

    def log(self, metrics, step):
        self.calls.append(("log", step, dict(metrics)))

    def finish(self):
        self.calls.append(("finish",))


@pytest.fixture
def fake_wandb(monkeypatch):
    calls = []
    module = types.ModuleType("wandb")
    module.init = lambda **kwargs: calls.append(("init", kwargs)) or _FakeRun(calls)
    monkeypatch.setitem(sys.modules, "wandb", module)
    monkeypatch.setenv("HF_TOKEN", SECRET)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    return calls


def _log_three_steps(tmp_path, mode="online") -> MetricsLogger:
    cfg = LoggingConfig(run_dir=str(tmp_path), wandb=True, wandb_mode=mode, wandb_project="proj", console=False)
    logger = MetricsLogger(cfg, rank=0, run_config=RUN_CONFIG)
    for step in (1, 2, 3):
        logger.log(step, {"loss": 10.0 / step, "val/zh/loss": 5.0 + step})
    logger.close()
    return logger


def test_sink_goes_offline_without_a_key_scrubs_the_config_and_logs_each_step(tmp_path, fake_wandb, monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    _log_three_steps(tmp_path)
    (kind, init), *rest = fake_wandb
    assert kind == "init" and init["mode"] == "offline" and init["project"] == "proj"
    assert init["dir"] == str(tmp_path)
    assert init["config"] == {"data": {"path": "/mnt/***/shards"}, "api_key": "***"}
    assert rest == [("log", 1, {"loss": 10.0, "val/zh/loss": 6.0}), ("log", 2, {"loss": 5.0, "val/zh/loss": 7.0}),
                    ("log", 3, {"loss": 10.0 / 3, "val/zh/loss": 8.0}), ("finish",)]


def test_sink_stays_online_with_a_key_and_wandb_mode_overrides(tmp_path, fake_wandb, monkeypatch):
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    _log_three_steps(tmp_path / "a")
    monkeypatch.setenv("WANDB_MODE", "disabled")
    _log_three_steps(tmp_path / "b")
    assert [call[1]["mode"] for call in fake_wandb if call[0] == "init"] == ["online", "disabled"]


def test_only_rank_zero_talks_to_wandb(tmp_path, fake_wandb):
    logger = MetricsLogger(LoggingConfig(run_dir=str(tmp_path), wandb=True, console=False), rank=1)
    logger.log(1, {"loss": 1.0})
    logger.close()
    assert fake_wandb == [] and not (tmp_path / "metrics.jsonl").exists()


def test_real_offline_run_holds_the_metrics_and_no_secret(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("HF_TOKEN", SECRET)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    _log_three_steps(tmp_path)
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    history, config = read_run(runs[0])
    assert [(row["_step"], row["loss"], row["val/zh/loss"]) for row in history] == [
        (1, 10.0, 6.0), (2, 5.0, 7.0), (3, 10.0 / 3, 8.0)]
    assert config["api_key"] == "***" and config["data"] == {"path": "/mnt/***/shards"}
    assert not [path for path in runs[0].rglob("*") if path.is_file() and SECRET.encode() in path.read_bytes()]
    jsonl = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [record["step"] for record in jsonl] == [1, 2, 3]

"""`deepspeed --module pretrain.train` end to end: fp32 ZeRO-1 with validation, wandb offline and the metrics
the issue asks for, read back from the run directory; and a bad comm setting answered with one line."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from pretrain.config import compose_config
from pretrain.optimizer import lr_lambda
from tests.deepspeed_engine.conftest import REPO, data_overrides, launch_two_ranks
from tests.deepspeed_engine.wandb_records import read_run

pytestmark = pytest.mark.slow

STEPS = 6


@pytest.fixture(scope="module")
def cli_run(corpus_dir, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("cli_run")
    overrides = [
        "model=tiny", *data_overrides(corpus_dir), "deepspeed=zero1", "train.precision=fp32",
        f"train.max_steps={STEPS}", "train.warmup_steps=2", "train.schedule=linear", "train.min_lr_ratio=0.2",
        "train.seq_len=64", "train.eval_interval=3", "train.eval_batches=2", "logging.wandb=true",
        f"logging.run_dir={run_dir}", "train.resume=none",
    ]
    result = launch_two_ranks(["--module", "pretrain.train", *overrides], cwd=REPO, timeout=300, scratch=run_dir,
                              env={"WANDB_MODE": "offline", "WANDB_API_KEY": ""})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return run_dir, records, compose_config(overrides)


def test_every_step_logs_loss_lr_grad_norm_throughput_and_memory(cli_run):
    _, records, config = cli_run
    steps = [r for r in records if "loss" in r]
    assert [r["step"] for r in steps] == list(range(1, STEPS + 1))
    factor = lr_lambda(config)
    # Each record carries the lr its update used (step s applies the schedule's value at s - 1):
    # warmup over 2 steps, then linear decay that would reach 20 % of the peak after max_steps.
    assert [r["lr"] for r in steps] == pytest.approx([config.train.lr * factor(s) for s in range(STEPS)])
    assert config.train.lr * factor(STEPS) == pytest.approx(0.2 * config.train.lr)
    for record in steps:
        assert math.isfinite(record["loss"]) and record["grad_norm"] > 0 and not record["skipped"]
        assert record["tokens_per_s"] == pytest.approx(2 * record["tokens_per_s_per_device"])
        assert record["tokens_per_s"] == pytest.approx(record["consumed_tokens"] / record["step"]
                                                       / record["step_seconds"], rel=1e-6)
        assert 0 < record["mfu"] == pytest.approx(record["hfu"]) and record["memory_gb"] > 0
    assert steps[-1]["loss"] < steps[0]["loss"]


def test_wandb_offline_run_holds_the_trainers_metrics(cli_run):
    run_dir, records, _ = cli_run
    runs = list((run_dir / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    history, config = read_run(runs[0])
    by_step = {row["_step"]: row for row in history}
    for record in records:
        row = by_step[record["step"]]
        for key in ("loss", "lr", "mfu", "val/zh/loss", "val/en/ppl"):
            if key in record:
                assert row[key] == pytest.approx(record[key]), key
    assert "val/en/ppl" in by_step[3] and by_step[3]["val/en/ppl"] == pytest.approx(math.exp(by_step[3]["val/en/loss"]))
    assert config["train"]["precision"] == "fp32"


def test_bad_comm_setting_is_one_line_and_exit_2(corpus_dir, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "pretrain.train", "model=tiny", *data_overrides(corpus_dir),
         "comm.probe=true", "comm.latency_share=2", f"logging.run_dir={tmp_path}"],
        cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == "error: comm.latency_share=2.0 must be in (0, 1), e.g. 0.1"

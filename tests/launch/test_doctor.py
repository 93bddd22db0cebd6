"""launch.doctor: every row present, honest values, absent pieces reported rather than crashing."""

import json
import shutil
import sys

import torch

from launch import doctor

ROWS = ["python", "torch", "deepspeed", "flash-attn", "wandb", "apex", "cuda", "nccl", "attention backend",
        "norm backend", "gcc", "ninja", "free disk", "wandb mode"]


def _run_json(capsys, argv, environ):
    assert doctor.main(["--json", *argv], environ=environ) == 0
    return {row["name"]: row for row in json.loads(capsys.readouterr().out)}


def test_json_report_has_every_row_with_real_values(tmp_path, capsys):
    rows = _run_json(capsys, ["--checkpoint-dir", str(tmp_path / "not-yet")], environ={})
    assert list(rows) == ROWS
    assert rows["torch"]["value"] == torch.__version__
    assert rows["python"]["value"] == ".".join(map(str, sys.version_info[:3]))
    expected_gcc = "absent" if shutil.which("gcc") is None else None
    assert expected_gcc is None or rows["gcc"]["value"] == expected_gcc
    free_gib = float(rows["free disk"]["value"].split()[0])
    assert abs(free_gib - shutil.disk_usage(tmp_path).free / 2**30) < 1.0
    assert "not created yet" in rows["free disk"]["detail"]
    if not torch.cuda.is_available():
        assert rows["cuda"]["value"] == "not available"
        assert rows["attention backend"]["value"] == "sdpa" and rows["norm backend"]["value"] == "torch"


def test_wandb_mode_never_prints_the_key(tmp_path, capsys):
    secret = "0123456789abcdef-very-secret"
    rows = _run_json(capsys, ["--checkpoint-dir", str(tmp_path)], environ={"WANDB_API_KEY": secret})
    assert rows["wandb mode"]["value"] == "online"
    assert secret not in json.dumps(rows)
    assert doctor.main(["--checkpoint-dir", str(tmp_path)], environ={"WANDB_API_KEY": secret}) == 0
    assert secret not in capsys.readouterr().out
    rows = _run_json(capsys, ["--checkpoint-dir", str(tmp_path)], environ={"WANDB_MODE": "disabled"})
    assert rows["wandb mode"]["value"] == "disabled"
    assert _run_json(capsys, [], environ={"BAICHUAN_RUN_DIR": str(tmp_path)})["wandb mode"]["value"] == "offline"


def test_missing_packages_and_model_backends_are_reported_not_raised(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(doctor, "distribution_version", lambda name: None)
    monkeypatch.setitem(sys.modules, "pretrain.model.attention", None)  # import now raises ImportError
    rows = _run_json(capsys, ["--checkpoint-dir", str(tmp_path)], environ={})
    assert rows["deepspeed"]["value"] == rows["flash-attn"]["value"] == "absent"
    assert rows["attention backend"]["value"] == "unknown" and "NotFoundError" in rows["attention backend"]["detail"]
    assert rows["norm backend"]["value"] in ("torch", "apex")


def test_table_lists_every_row(tmp_path, capsys):
    assert doctor.main(["--checkpoint-dir", str(tmp_path)], environ={}) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("  ")[0].strip() for line in lines] == ROWS

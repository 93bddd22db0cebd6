"""The commands as a user types them (a few subprocesses; the rest of tests/cli runs in-process), and the
argparse tools' --help."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def python_m(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


def test_train_help_and_cfg_job_as_a_launcher_runs_them():
    help_run = python_m("pretrain.train", "--help")
    assert help_run.returncode == 0 and "Config groups" in help_run.stdout and not help_run.stderr
    # deepspeed without --no_local_rank appends --local_rank; rank 0 prints, and no process group starts
    job = python_m("pretrain.train", "--local_rank=0", "--cfg", "job", "deepspeed=zero3", env={"RANK": "0"})
    assert job.returncode == 0, job.stderr
    assert yaml.safe_load(job.stdout)["deepspeed"]["zero_stage"] == 3


def test_a_wrong_key_is_one_line_naming_it():
    result = python_m("data_pipeline.tokenize", "input=kept", "tokeniser=TOK", "output=OUT")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "tokeniser" in result.stderr and "--help" in result.stderr


@pytest.mark.parametrize("module", ["launch.run", "launch.doctor", "launch.hostfile", "data_pipeline.quality"])
def test_argparse_tools_answer_help_with_exit_0(module, capsys):
    import importlib

    with pytest.raises(SystemExit) as exit_info:
        importlib.import_module(module if module != "data_pipeline.quality" else "data_pipeline.quality.__main__"
                                ).main(["--help"])
    assert exit_info.value.code == 0 and "usage:" in capsys.readouterr().out

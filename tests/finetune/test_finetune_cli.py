"""`python -m pretrain.finetune` as a user meets it: --help, --cfg job showing the adopted model, one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pretrain.finetune", *args], capture_output=True, text=True,
                          timeout=120, cwd=REPO)


def test_help_names_the_finetune_keys_and_exits_0():
    result = run("--help")
    assert result.returncode == 0
    for key in ("finetune.init_from", "finetune.data", "finetune.lora.rank", "finetune.lora.targets"):
        assert key in result.stdout


def test_cfg_job_shows_the_shape_and_tokenizer_of_init_from(hf_base, instruction_file):
    result = run(f"finetune.init_from={hf_base}", f"finetune.data=[{instruction_file}]", "model.hidden_size=4096",
                 "--cfg", "job")
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    assert config["model"]["hidden_size"] == 64 and config["model"]["vocab_size"] == 3200  # the weights decide
    assert config["data"]["tokenizer"] == str(hf_base / "tokenizer.model")
    assert config["train"]["lr"] == 2e-5  # conf/train/finetune.yaml


def test_user_mistakes_are_one_line_and_exit_2(hf_base, tmp_path):
    cases = {
        (f"finetune.init_from={tmp_path / 'nowhere'}", "finetune.data=[x.jsonl]"): "does not exist",
        (f"finetune.init_from={hf_base}",): "finetune.data is empty",
        (f"finetune.init_from={hf_base}", "finetune.data=[x.jsonl]", "finetune.lora.rank=4",
         "finetune.lora.targets=[q_proj]"): "not linear layers of the model",
    }
    for args, message in cases.items():
        result = run(*args)
        assert result.returncode == 2 and message in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_perplexity_of_a_hugging_face_directory_asks_for_held_out_data(hf_base, tmp_path):
    """A training checkpoint names its data; an exported or downloaded directory does not."""
    result = subprocess.run([sys.executable, "-m", "pretrain.evaluation", f"checkpoint={hf_base}", "task=ppl",
                             f"output={tmp_path}"], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert result.returncode == 2 and "holds no data config" in result.stderr and "data=demo" in result.stderr
    assert "Traceback" not in result.stderr

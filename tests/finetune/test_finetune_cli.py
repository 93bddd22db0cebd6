"""`python -m pretrain.finetune` as a user meets it: --help, --cfg job showing the adopted model, one-line errors."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from omegaconf import OmegaConf

from plumbing.user_error import UserError
from pretrain.finetune.cli import COMMAND
from pretrain.finetune.init_weights import open_init_weights
from pretrain.model import BaichuanForCausalLM
from pretrain.weights import load_any_checkpoint

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


@pytest.mark.parametrize(("args", "message"), [
    (["finetune.lora.dropout=1.5"], "finetune.lora.dropout=1.5 must be in [0, 1)"),
    (["finetune.lora.dropout=-0.1"], "finetune.lora.dropout=-0.1 must be in [0, 1)"),
    (["evaluation.shots=-1"], "evaluation.shots=-1 must be >= 0"),
    (["evaluation.ppl_batches=0"], "evaluation.ppl_batches=0 must be >= 1"),
    (["evaluation.split=train"], "evaluation.split='train' is not one of"),
])
def test_out_of_range_values_are_refused_at_composition(hf_base, instruction_file, args, message):
    with pytest.raises(UserError) as error:
        COMMAND.build_config([f"finetune.init_from={hf_base}", f"finetune.data=[{instruction_file}]", *args])
    assert message in str(error.value) and "\n" not in str(error.value)


def test_fine_tuning_without_init_from_says_so(instruction_file):
    with pytest.raises(UserError, match="finetune.init_from is empty: fine-tuning needs the weights"):
        COMMAND.build_config([f"finetune.data=[{instruction_file}]"])


def test_a_truncated_safetensors_in_init_from_is_one_user_error_naming_it(hf_base, tmp_path):
    moved = tmp_path / "base"
    shutil.copytree(hf_base, moved)
    weights = moved / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:4096])
    with pytest.raises(UserError) as error:
        open_init_weights(str(moved))
    assert str(weights) in str(error.value) and "incomplete or damaged" in str(error.value)
    assert "\n" not in str(error.value)


def test_a_lora_checkpoint_whose_base_moved_names_it_and_takes_lora_base(hf_base, tmp_path, monkeypatch):
    """The run's saved finetune.init_from is gone: one line naming it and the override; lora_base= merges the
    adapters into the base where it is now."""
    import pretrain.weights.loading as checkpoint
    from pretrain.finetune.config import LoraSettings
    from pretrain.finetune.lora import is_adapter_key, with_lora
    from pretrain.weights import merge_lora_checkpoint

    cfg, base_weights, _ = load_any_checkpoint(str(hf_base))
    settings = LoraSettings(rank=2, targets=["o_proj"])
    saved = OmegaConf.create({"finetune": {"init_from": str(tmp_path / "moved_away"), "lora": vars(settings)}})
    monkeypatch.setattr(checkpoint, "read_run", lambda path, verify=True: (None, saved))
    adapters = {key: value for key, value in with_lora(BaichuanForCausalLM(cfg), settings).state_dict().items()
                if is_adapter_key(key)}
    with pytest.raises(UserError) as error:
        merge_lora_checkpoint("RUN/checkpoints", cfg, adapters)
    assert str(tmp_path / "moved_away") in str(error.value) and "lora_base=" in str(error.value)
    merged = merge_lora_checkpoint("RUN/checkpoints", cfg, adapters, lora_base=str(hf_base))
    assert all(torch.equal(merged[key], base_weights[key]) for key in base_weights)  # lora_B starts at zero

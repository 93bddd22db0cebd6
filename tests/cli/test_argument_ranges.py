"""Every numeric argument of generate and evaluation is range-checked when the command line is composed: one
`error:` line naming the key, before any checkpoint is read (table-driven through the real CommandLine; a few
as processes, as a user meets them). Stdout of `pretrain.generate` carries the generated text only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from plumbing.user_error import UserError
from pretrain.evaluation.cli import EvaluateArgs
from pretrain.generate import COMMAND as GENERATE

ROOT = Path(__file__).resolve().parents[2]
GENERATE_BASE = ["checkpoint=CKPT", "prompt=hello"]
EVALUATE_BASE = ["checkpoint=CKPT"]


def evaluate_command():
    from plumbing.command_line import CommandLine
    from pretrain.evaluation.cli import check_evaluate_args

    return CommandLine(prog="python -m pretrain.evaluation", summary="", example="", schema=EvaluateArgs,
                       config_name="evaluate", validate=check_evaluate_args)


@pytest.mark.parametrize(("args", "message"), [
    (["max_new_tokens=-5", "chat=true"], "max_new_tokens=-5 must be >= 1"),
    (["max_new_tokens=-1"], "max_new_tokens=-1 must be >= 1"),
    (["max_new_tokens=0"], "max_new_tokens=0 must be >= 1"),
    (["top_p=0"], "top_p=0.0 must be in (0, 1]"),
    (["top_p=1.5"], "top_p=1.5 must be in (0, 1]"),
    (["temperature=-0.1"], "temperature=-0.1 must be >= 0"),
    (["dtype=fp8"], "dtype='fp8' is not one of"),
    (["quantize=int3"], "quantize='int3' is not one of"),
])
def test_generate_refuses_out_of_range_values_at_composition(args, message):
    with pytest.raises(UserError) as error:
        GENERATE.build_config([*GENERATE_BASE, *args])
    assert message in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize(("args", "message"), [
    (["shots=-1"], "shots=-1 must be >= 0"),
    (["batches=0"], "batches=0 must be >= 1"),
    (["micro_batch_size=0"], "micro_batch_size=0 must be >= 1"),
    (["seq_len=-8"], "seq_len=-8 must be >= 0"),
    (["max_items=-1"], "max_items=-1 must be >= 0"),
    (["split=train"], "split='train' is not one of"),
    (["task=mcq"], "task='mcq' is not one of"),
    (["task=mc"], "task=mc needs data_dir="),
])
def test_evaluation_refuses_out_of_range_values_at_composition(args, message):
    with pytest.raises(UserError) as error:
        evaluate_command().build_config([*EVALUATE_BASE, *args])
    assert message in str(error.value) and "\n" not in str(error.value)


def test_in_range_values_compose():
    assert GENERATE.build_config([*GENERATE_BASE, "top_p=1", "temperature=0", "max_new_tokens=1"]).top_p == 1
    assert evaluate_command().build_config([*EVALUATE_BASE, "shots=0", "seq_len=0"]).shots == 0


def python_m(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


@pytest.mark.slow
def test_a_bad_value_is_one_line_and_exit_2_as_a_process(tmp_path):
    """Before any checkpoint is read: the (existing) directory is not even looked at."""
    result = python_m("pretrain.generate", f"checkpoint={tmp_path}", "prompt=hi", "max_new_tokens=-5", "chat=true")
    assert result.returncode == 2 and not result.stdout
    assert result.stderr == "error: max_new_tokens=-5 must be >= 1\n"


def test_sampling_at_top_p_zero_keeps_the_most_likely_token():
    from pretrain.generate import sample_next

    logits = torch.tensor([[0.0, 3.0, 1.0], [2.0, 0.0, 0.0]])
    assert sample_next(logits, temperature=1.0, top_p=0.0).tolist() == [1, 0]


@pytest.mark.slow
def test_generate_stdout_is_the_text_only_while_loading_writes_to_stdout(tmp_path):
    """What a checkpoint reader writes to stdout (DeepSpeed's zero_to_fp32 prints, its logger's handler bound to
    sys.stdout, a child process's descriptor 1) goes to stderr; stdout is exactly the generated text."""
    script = tmp_path / "noisy_generate.py"
    script.write_text(textwrap.dedent("""
        import logging, os, sys
        import pretrain.generate as generate
        # A logger whose handler was bound to sys.stdout before generate started, as DeepSpeed's is once imported.
        early = logging.getLogger("bound_early")
        early.addHandler(logging.StreamHandler(sys.stdout))
        real_load = generate.load_any_checkpoint

        def noisy_load(*args):
            from deepspeed.utils import logger  # first imported here, as when a training checkpoint is read

            print("Processing zero checkpoint 'x'")
            logger.warning("Reconstructed fp32 state dict")
            early.warning("an early-bound handler")
            os.system("echo from a child process")
            return real_load(*args)

        generate.load_any_checkpoint = noisy_load
        sys.exit(generate.main(sys.argv[1:]))
    """))
    model_dir = tiny_hf_model(tmp_path)
    result = subprocess.run([sys.executable, str(script), f"checkpoint={model_dir}", "prompt=今天", "temperature=0",
                             "max_new_tokens=3"], cwd=ROOT, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("\n") == 1 and result.stdout.startswith("今天"), result.stdout
    for line in ("Processing zero checkpoint", "Reconstructed fp32 state dict", "an early-bound handler",
                 "from a child process", "Setting accelerator"):
        assert line in result.stderr and line not in result.stdout


def tiny_hf_model(tmp_path: Path) -> Path:
    from data_pipeline.train_tokenizer import COMMAND as TRAIN_TOKENIZER_COMMAND
    from data_pipeline.train_tokenizer import train_tokenizer
    from pretrain.model import BaichuanForCausalLM, ModelConfig
    from pretrain.weights import export_state_dict
    from tests.real_text import FIXTURE_CORPUS

    train_tokenizer(TRAIN_TOKENIZER_COMMAND.build_config([f"input={FIXTURE_CORPUS}", f"output={tmp_path / 'tok'}",
                                                          "vocab_size=3200"]))
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=3200, hidden_size=32, num_layers=1, num_heads=4, intermediate_size=64,
                      max_seq_len=64).validate()
    return export_state_dict(cfg, BaichuanForCausalLM(cfg).state_dict(), "llama", tmp_path / "hf",
                             str(tmp_path / "tok" / "tokenizer.model"), torch.float32)


@pytest.mark.slow
def test_a_truncated_safetensors_file_is_one_line_naming_it(tmp_path):
    model_dir = tiny_hf_model(tmp_path)
    weights = model_dir / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    result = python_m("pretrain.generate", f"checkpoint={model_dir}", "prompt=今天")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert str(weights) in result.stderr and "incomplete or damaged" in result.stderr
    assert json.loads((model_dir / "config.json").read_text())  # the directory itself is fine

"""Real fine-tuning runs through `python -m pretrain.finetune`: full SFT from a Hugging Face directory lowers
the reply loss and starts from those weights; LoRA on 2 ZeRO-3 ranks trains and saves only adapters, resumes
exactly, and exports merged weights whose logits equal the adapted model's in `transformers`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from pretrain.distributed.session import free_port
from pretrain.finetune.cli import COMMAND
from pretrain.finetune.instruction_data import InstructionLoader
from pretrain.finetune.lora import is_adapter_key, with_lora
from pretrain.model import BaichuanForCausalLM
from pretrain.weights import load_any_checkpoint

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
DEEPSPEED = str(Path(sys.executable).with_name("deepspeed"))
COMMON = ["train.seq_len=64", "train.micro_batch_size=2", "train.precision=fp32", "train.lr=3e-3",
          "train.warmup_steps=1"]


def finetune(args: list[str], ranks: int = 1) -> subprocess.CompletedProcess:
    command = ([DEEPSPEED, "--no_local_rank", "--num_gpus", str(ranks), "--master_port", str(free_port()),
                "--module", "pretrain.finetune"] if ranks > 1 else [sys.executable, "-m", "pretrain.finetune"])
    result = subprocess.run([*command, *COMMON, *args], capture_output=True, text=True, timeout=600, cwd=REPO)
    assert result.returncode == 0, f"fine-tuning failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def full_run(hf_base, instruction_file, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("full") / "run"
    finetune([f"finetune.init_from={hf_base}", f"finetune.data=[{instruction_file}]", f"logging.run_dir={run}",
              "train.max_steps=16", "train.save_interval=8"])
    return run


def test_full_sft_starts_from_the_given_weights_and_lowers_the_reply_loss(full_run, hf_base, instruction_file):
    records = metrics(full_run)
    # Step 1's loss is the base model's loss on the first batch, replies only: the weights came from init_from
    # and the prompt tokens carried no loss.
    config = COMMAND.build_config([f"finetune.init_from={hf_base}", f"finetune.data=[{instruction_file}]", *COMMON])
    data = InstructionLoader([str(instruction_file)], config.data.tokenizer, 64, 2, 0, 1, seed=config.data.seed)
    model = BaichuanForCausalLM(config.model)
    model.load_state_dict(load_any_checkpoint(str(hf_base))[1])
    batch = next(iter(data))
    with torch.no_grad():
        expected = float(model(batch["input_ids"], labels=batch["labels"], doc_ids=batch["doc_ids"]))
    assert records[0]["loss"] == pytest.approx(expected, rel=1e-5)
    assert sum(r["loss"] for r in records[-4:]) / 4 < records[0]["loss"] - 1.0
    assert (full_run / "checkpoints" / "step_00000016" / "tokenizer.model").is_file()  # self-contained


def test_a_fine_tuned_checkpoint_answers_in_chat_mode(full_run):
    result = subprocess.run([sys.executable, "-m", "pretrain.generate", f"checkpoint={full_run / 'checkpoints'}",
                             "prompt=中国的首都是哪里？", "chat=true", "temperature=0", "max_new_tokens=8"],
                            capture_output=True, text=True, timeout=120, cwd=REPO)
    assert result.returncode == 0, result.stderr
    # Stdout is the reply and nothing else (DeepSpeed's checkpoint reader printed 9 lines there before), so
    # reply=$(python -m pretrain.generate ...) works; its lines went to stderr.
    reply = result.stdout.removesuffix("\n")
    assert reply and "\n" not in reply and not reply.startswith("中国的首都是哪里")  # the reply alone
    assert "Reconstructed" in result.stderr  # zero_to_fp32's report, moved, not lost


@pytest.fixture(scope="module")
def lora_runs(full_run, instruction_file, tmp_path_factory) -> dict[str, Path]:
    """From the full run's training checkpoint: uninterrupted, and stopped at 3 then resumed, on 2 ZeRO-3 ranks."""
    root = tmp_path_factory.mktemp("lora")
    common = [f"finetune.init_from={full_run / 'checkpoints'}", f"finetune.data=[{instruction_file}]",
              "finetune.lora.rank=4", "finetune.lora.targets=[W_pack,o_proj,down_proj]", "deepspeed=zero3",
              "train.max_steps=6", "train.save_interval=3"]
    finetune([*common, f"logging.run_dir={root / 'straight'}"], ranks=2)
    finetune([*common, f"logging.run_dir={root / 'resumed'}", "train.stop_at_step=3"], ranks=2)
    finetune([*common, f"logging.run_dir={root / 'resumed'}"], ranks=2)
    return {"straight": root / "straight", "resumed": root / "resumed"}


def test_lora_trains_and_saves_only_adapters_and_resumes_exactly(lora_runs, full_run):
    straight, resumed = metrics(lora_runs["straight"]), metrics(lora_runs["resumed"])
    assert [r["loss"] for r in resumed] == [r["loss"] for r in straight]  # adapters + optimizer restored exactly
    # The fp32 master copies the optimizer keeps are the trainable parameters: adapters are a sliver of the model.
    full_masters = metrics(full_run)[0]["state/master_bytes_per_rank"]
    assert straight[0]["state/master_bytes_per_rank"] * 20 < full_masters
    saved = torch.load(next((lora_runs["straight"] / "checkpoints" / "step_00000006" / "deepspeed").glob(
        "*model_states.pt")), map_location="cpu", weights_only=False)
    # 2 layers × 3 targets × (A, B), and no frozen base tensor beside them.
    assert len(saved["module"]) == 12 and all(is_adapter_key(key) for key in saved["module"])
    assert not saved["frozen_param_fragments"]


def test_merged_export_loads_in_transformers_with_the_adapted_models_logits(lora_runs, full_run, tmp_path):
    from transformers import AutoModelForCausalLM

    checkpoints = lora_runs["straight"] / "checkpoints"
    subprocess.run([sys.executable, "-m", "pretrain.export", f"checkpoint={checkpoints}", "format=llama",
                    f"output={tmp_path / 'hf'}", "dtype=fp32"], check=True, capture_output=True, cwd=REPO)
    # The adapted model, built as training built it: base weights, LoRA, trained adapters.
    from pretrain.weights import load_inference_model

    cfg, adapters, _ = load_inference_model(str(checkpoints))
    base = BaichuanForCausalLM(cfg)
    base_weights = load_any_checkpoint(str(full_run / "checkpoints"))[1]
    base.load_state_dict(base_weights)
    settings = COMMAND.build_config([f"finetune.init_from={full_run / 'checkpoints'}", "finetune.data=[x]",
                                     "finetune.lora.rank=4", "finetune.lora.targets=[W_pack,o_proj,down_proj]"])
    adapted = with_lora(base, settings.finetune.lora)
    adapted.load_state_dict(adapters, strict=False)
    ids = torch.randint(4, cfg.vocab_size, (2, 24), generator=torch.Generator().manual_seed(0))
    hf = AutoModelForCausalLM.from_pretrained(tmp_path / "hf", torch_dtype=torch.float32).eval()
    with torch.no_grad():
        ours, theirs = adapted(ids), hf(ids).logits
    assert torch.allclose(ours, theirs, atol=1e-4), (ours - theirs).abs().max()
    merged = load_any_checkpoint(str(checkpoints))[1]
    changed = {key for key in merged if not torch.equal(merged[key], base_weights[key])}
    assert changed and all(key.split(".")[-2] in {"W_pack", "o_proj", "down_proj"} for key in changed)

"""`load(path)`: the one reader of model weights in any format the project writes or continues from.

The format is decided here, once, from what is on disk:
* a Hugging Face directory (has config.json): our exports in either layout, or the released Baichuan weights;
* a training checkpoint (a step_N directory or a checkpoint root): model weights only, through zero_to_fp32;
* a LoRA fine-tune's training checkpoint (adapter keys only): merged into the base its run names
  (`finetune.init_from`, or `lora_base` after a move), or returned as the adapters with `merge_lora=False`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch

from pretrain.cli import UsageError
from pretrain.finetune.config import FinetuneConfig
from pretrain.finetune.lora import is_adapter_key, merged_state_dict
from pretrain.model import BaichuanForCausalLM, ModelConfig
from pretrain.weights.hf import is_hf_directory, load_hf_checkpoint
from pretrain.weights.training_checkpoint import (
    checkpoint_weights,
    load_inference_model,
    read_run,
    saved_node,
)

HF_DIRECTORY = "hf"
TRAINING_CHECKPOINT = "training"


def weights_format(path: str | Path) -> str:
    """HF_DIRECTORY (has config.json) or TRAINING_CHECKPOINT (anything else: the training reader names what a
    path that is no checkpoint lacks, as CheckpointNotFound)."""
    return HF_DIRECTORY if is_hf_directory(path) else TRAINING_CHECKPOINT


def load(path: str | Path, lora_base: str = "", merge_lora: bool = True,
         verify: bool = True) -> tuple[ModelConfig, dict[str, torch.Tensor], str | None]:
    """(ModelConfig, state dict in our key names, tokenizer.model path or None) from the weights at `path`.
    `lora_base` replaces the base a LoRA run's checkpoint names (its `finetune.init_from`), e.g. after a move."""
    path = str(path)
    if weights_format(path) == HF_DIRECTORY:
        return load_hf_checkpoint(path)
    if not Path(path).exists():
        raise FileNotFoundError(f"checkpoint {path} does not exist — pass checkpoint=<training checkpoint or HF dir>")
    cfg, state_dict, tokenizer = load_inference_model(path, verify=verify)
    if merge_lora and any(is_adapter_key(key) for key in state_dict):  # adapters only: the base is elsewhere
        state_dict = merge_lora_checkpoint(path, cfg, state_dict, lora_base)
    return cfg, state_dict, tokenizer


def load_any_checkpoint(path: str, lora_base: str = "") -> tuple[ModelConfig, dict[str, torch.Tensor], str | None]:
    """`load` as export, generate and evaluation call it (verified, LoRA merged)."""
    return load(path, lora_base)


def open_weights(path: str) -> Mapping:
    """The weights at `path` in our key names, name → tensor, read lazily where the format allows (a training
    checkpoint's are memory-mapped, never its optimizer moments; a LoRA run's are merged). Not verified: for a
    caller that verified the checkpoint already (a fine-tune's init, shared among the ranks)."""
    if weights_format(path) == HF_DIRECTORY:
        return load_hf_checkpoint(path)[1]
    ref, saved = read_run(path, verify=False)
    weights = checkpoint_weights(ref.path, saved.deepspeed.zero_stage)
    if any(is_adapter_key(key) for key in weights):  # a LoRA fine-tune: its base with the adapters merged
        adapters = {key: value.contiguous().float() for key, value in weights.items()}
        return merge_lora_checkpoint(path, saved_node(saved, "model", ModelConfig), adapters)
    return weights


def merge_lora_checkpoint(path: str, cfg: ModelConfig, adapters: dict[str, torch.Tensor],
                          lora_base: str = "") -> dict[str, torch.Tensor]:
    """The weights a LoRA run's checkpoint stands for: its `finetune.init_from` base (or `lora_base`) with the
    adapters merged."""
    finetune = saved_node(read_run(path)[1], "finetune", FinetuneConfig)
    base_path = lora_base or finetune.init_from
    if not Path(base_path).exists():
        source = "lora_base" if lora_base else f"its finetune.init_from (the LoRA run's base, saved in {path})"
        raise UsageError(f"{path} holds LoRA adapters; their base {base_path}, named by {source}, does not exist",
                         "pass lora_base=<where the base weights are now>")
    base = BaichuanForCausalLM(cfg)
    base.load_state_dict(load(base_path)[1])
    return merged_state_dict(base, adapters, finetune.lora)

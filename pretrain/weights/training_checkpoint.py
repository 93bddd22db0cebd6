"""A training checkpoint read for its model weights (never the optimizer's moments), its config and tokenizer.

The checkpoint's format and store are pretrain/checkpoint's; this module only reads what a run saved: the
config it was trained with (`read_run`, `saved_node`), the tokenizer it shipped, and the weights — DeepSpeed's
own `zero_to_fp32` merges ZeRO-1/2/3 partitions offline on one process; a ZeRO-0 checkpoint holds the module.
"""

from __future__ import annotations

from pathlib import Path

import torch
from omegaconf import OmegaConf

from pretrain.checkpoint.manifest import read_manifest
from pretrain.checkpoint.store import (
    ENGINE_TAG,
    CheckpointNotFound,
    CheckpointStore,
    locate,
    read_saved_config,
)
from pretrain.model import ModelConfig


def read_run(path: str | Path, verify: bool = True):
    """(the checkpoint `path` names — a step_N directory or a checkpoint root —, the config it was trained with).

    `verify` digests every file of the checkpoint first (one process reading it all: right for export, generate
    or evaluation, which then read it all anyway). verify=False reads only the manifest and the config: what
    config composition needs on every rank, before anyone reads weights (a fine-tune's init verifies the
    checkpoint once, shared among the ranks: finetune/init_weights.py).
    """
    if verify:
        ref = CheckpointStore(Path(path).parent).resolve(str(path))
    else:
        ref = locate(path)
        if read_manifest(ref.path)[1]:
            raise CheckpointNotFound(f"checkpoint {path} cannot be loaded: {read_manifest(ref.path)[1]}")
    return ref, OmegaConf.create(read_saved_config(ref.path))


def saved_node(saved, key: str, schema: type):
    """One node of a saved config as its dataclass (keys added since that run get their defaults)."""
    return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(schema), saved[key]))


def shipped_tokenizer(directory: Path) -> str | None:
    """The tokenizer.model a checkpoint or a Hugging Face directory carries, if any."""
    tokenizer = Path(directory) / "tokenizer.model"
    return str(tokenizer) if tokenizer.is_file() else None


def load_inference_model(path: str | Path, verify: bool = True):
    """(ModelConfig, fp32 state dict, tokenizer path or None) from a checkpoint dir or a checkpoint root.

    Works offline on one process: ZeRO-1/2/3 partitions are merged with DeepSpeed's `zero_to_fp32` reader;
    a ZeRO-0 checkpoint holds the whole module already.
    """
    ref, saved = read_run(path, verify=verify)
    weights = checkpoint_weights(ref.path, saved.deepspeed.zero_stage)
    state_dict = {key: value.contiguous().float() for key, value in weights.items()}
    return saved_node(saved, "model", ModelConfig), state_dict, shipped_tokenizer(ref.path)


def checkpoint_weights(path: Path, zero_stage: int) -> dict:
    """The model weights of the training checkpoint at `path`, name → memory-mapped tensor (or zero_to_fp32's
    lazy tensor): nothing but the files' headers is read until `.contiguous()` (or a copy) reads one parameter.

    Never the optimizer's moments: under ZeRO the fp32 weights live only in the optimizer files (the module's
    copy is bf16, or absent under ZeRO-3), and zero_to_fp32 maps those files (`torch.load(..., mmap=True)`) and
    drops `exp_avg`/`exp_avg_sq` unread (deepspeed/utils/zero_to_fp32.py, parse_optim_states).
    """
    engine_dir = path / ENGINE_TAG
    if zero_stage > 0 and any(engine_dir.glob("*optim_states.pt")):
        # lazy: DeepSpeed takes seconds to import; a ZeRO-0 checkpoint or an HF directory never needs it
        from deepspeed.utils.zero_to_fp32 import get_fp32_state_dict_from_zero_checkpoint

        return get_fp32_state_dict_from_zero_checkpoint(str(path), tag=ENGINE_TAG, lazy_mode=True)
    module = torch.load(engine_dir / "mp_rank_00_model_states.pt", map_location="cpu", mmap=True,
                        weights_only=False)
    return module["module"]

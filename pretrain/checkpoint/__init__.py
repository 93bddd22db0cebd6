"""Checkpoint format and the one way to read weights back for inference, export and evaluation."""

from __future__ import annotations

from pathlib import Path

from pretrain.checkpoint.store import (
    ENGINE_TAG,
    CheckpointNotFound,
    CheckpointRef,
    CheckpointStore,
    read_rng_state,
    read_saved_config,
    read_trainer_state,
)

__all__ = [
    "CheckpointNotFound",
    "CheckpointRef",
    "CheckpointStore",
    "load_inference_model",
    "read_rng_state",
    "read_saved_config",
    "read_trainer_state",
]


def load_inference_model(path: str | Path):
    """(ModelConfig, fp32 state dict, tokenizer path or None) from a checkpoint dir or a checkpoint root.

    Works offline on one process: ZeRO-1/2/3 partitions are merged with DeepSpeed's `zero_to_fp32` reader;
    a ZeRO-0 checkpoint holds the whole module already.
    """
    import torch
    from omegaconf import OmegaConf

    from pretrain.model import ModelConfig

    ref = CheckpointStore(Path(path).parent).resolve(str(path))
    if ref is None:
        raise CheckpointNotFound(f"no checkpoint at {path}")
    saved = OmegaConf.create(read_saved_config(ref.path))
    model_cfg = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(ModelConfig), saved.model))
    engine_dir = ref.path / ENGINE_TAG
    if any(engine_dir.glob("*optim_states.pt")) and saved.deepspeed.zero_stage > 0:
        from deepspeed.utils.zero_to_fp32 import get_fp32_state_dict_from_zero_checkpoint

        state_dict = get_fp32_state_dict_from_zero_checkpoint(str(ref.path), tag=ENGINE_TAG)
    else:
        module = torch.load(engine_dir / "mp_rank_00_model_states.pt", map_location="cpu", weights_only=False)
        state_dict = module["module"]
    state_dict = {key: value.float() for key, value in state_dict.items()}
    tokenizer = ref.path / "tokenizer.model"
    return model_cfg, state_dict, (str(tokenizer) if tokenizer.is_file() else None)

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
    "read_run",
    "read_saved_config",
    "read_trainer_state",
    "saved_node",
    "shipped_tokenizer",
]


def read_run(path: str | Path):
    """(the checkpoint `path` names — a step_N directory or a checkpoint root —, the config it was trained with)."""
    from omegaconf import OmegaConf

    ref = CheckpointStore(Path(path).parent).resolve(str(path))
    if ref is None:
        raise CheckpointNotFound(f"no checkpoint at {path}")
    return ref, OmegaConf.create(read_saved_config(ref.path))


def saved_node(saved, key: str, schema: type):
    """One node of a saved config as its dataclass (keys added since that run get their defaults)."""
    from omegaconf import OmegaConf

    return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(schema), saved[key]))


def shipped_tokenizer(directory: Path) -> str | None:
    """The tokenizer.model a checkpoint or a Hugging Face directory carries, if any."""
    tokenizer = Path(directory) / "tokenizer.model"
    return str(tokenizer) if tokenizer.is_file() else None


def load_inference_model(path: str | Path):
    """(ModelConfig, fp32 state dict, tokenizer path or None) from a checkpoint dir or a checkpoint root.

    Works offline on one process: ZeRO-1/2/3 partitions are merged with DeepSpeed's `zero_to_fp32` reader;
    a ZeRO-0 checkpoint holds the whole module already.
    """
    import torch

    from pretrain.model import ModelConfig

    ref, saved = read_run(path)
    model_cfg = saved_node(saved, "model", ModelConfig)
    engine_dir = ref.path / ENGINE_TAG
    if any(engine_dir.glob("*optim_states.pt")) and saved.deepspeed.zero_stage > 0:
        from deepspeed.utils.zero_to_fp32 import get_fp32_state_dict_from_zero_checkpoint

        state_dict = get_fp32_state_dict_from_zero_checkpoint(str(ref.path), tag=ENGINE_TAG)
    else:
        module = torch.load(engine_dir / "mp_rank_00_model_states.pt", map_location="cpu", weights_only=False)
        state_dict = module["module"]
    state_dict = {key: value.float() for key, value in state_dict.items()}
    return model_cfg, state_dict, shipped_tokenizer(ref.path)

"""What a fine-tune takes from `finetune.init_from`: the model's shape and tokenizer (at composition, cheaply)
and the weights (when the engine builds the model)."""

from __future__ import annotations

import json
from dataclasses import fields, replace
from pathlib import Path

from plumbing.user_error import ConfigError
from pretrain.model import ModelConfig
from pretrain.model.hf_layout import config_from_hf

# How the model is run, not what it is: these stay as composed (e.g. a fine-tune may recompute more layers).
RUNTIME_FIELDS = {"name", "attention", "norm", "loss_chunk_size", "activation_checkpointing", "compile"}


def init_model_and_tokenizer(init_from: str) -> tuple[ModelConfig, str | None]:
    """(the shape of the weights at `init_from`, its tokenizer.model or None)."""
    from pretrain.checkpoint import CheckpointNotFound, read_run, saved_node, shipped_tokenizer
    from pretrain.export import is_hf_directory

    path = Path(init_from)
    if is_hf_directory(path):
        try:
            model = config_from_hf(json.loads((path / "config.json").read_text()), name=path.name)
        except (KeyError, ValueError) as exc:
            raise ConfigError(f"finetune.init_from: {path / 'config.json'} is not a Baichuan/Llama config ({exc})") from None
        return model, shipped_tokenizer(path)
    if not path.exists():
        raise ConfigError(f"finetune.init_from={init_from} does not exist — a training checkpoint (step_N or the "
                          "checkpoint root) or a Hugging Face directory")
    try:
        ref, saved = read_run(path)
    except CheckpointNotFound as exc:
        raise ConfigError(f"finetune.init_from: {exc}") from None
    return saved_node(saved, "model", ModelConfig), shipped_tokenizer(ref.path)


def adopt_init_model(model: ModelConfig, tokenizer: str, init_from: str) -> tuple[ModelConfig, str]:
    """The composed model config with the shape of `init_from`, and the tokenizer to use (the composed one if
    set, else the one shipped with the weights)."""
    shape, shipped_tokenizer = init_model_and_tokenizer(init_from)
    adopted = replace(model, **{f.name: getattr(shape, f.name) for f in fields(ModelConfig)
                                if f.name not in RUNTIME_FIELDS})
    tokenizer = tokenizer or shipped_tokenizer or ""
    if not tokenizer:
        raise ConfigError(f"finetune.init_from={init_from} ships no tokenizer.model — set data.tokenizer")
    return adopted, tokenizer


def load_init_state_dict(init_from: str):
    """The fp32 weights at `init_from`, in this model's key names (any supported checkpoint layout)."""
    from pretrain.export import load_any_checkpoint

    return load_any_checkpoint(init_from)[1]

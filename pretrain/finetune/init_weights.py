"""What a fine-tune takes from `finetune.init_from`: the model's shape and tokenizer (at composition, cheaply:
the run's config, no weights read or verified) and the weights (when the engine builds the model: the checkpoint
verified once with every rank digesting its share, then only model weights read, memory-mapped)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields, replace
from pathlib import Path

from plumbing.user_error import ConfigError
from pretrain.checkpoint import CheckpointNotFound, CheckpointStore
from pretrain.model import ModelConfig
from pretrain.weights import (
    is_hf_directory,
    open_weights,
    read_hf_config,
    read_run,
    saved_node,
    shipped_tokenizer,
)

# How the model is run, not what it is: these stay as composed (e.g. a fine-tune may recompute more layers).
RUNTIME_FIELDS = {"name", "attention", "norm", "loss_chunk_size", "activation_checkpointing", "compile"}


def init_model_and_tokenizer(init_from: str) -> tuple[ModelConfig, str | None]:
    """(the shape of the weights at `init_from`, its tokenizer.model or None)."""
    path = Path(init_from)
    if is_hf_directory(path):
        try:
            model = read_hf_config(path)
        except (KeyError, ValueError) as exc:
            raise ConfigError(f"finetune.init_from: {path / 'config.json'} is not a Baichuan/Llama config ({exc})") from None
        return model, shipped_tokenizer(path)
    if not path.exists():
        raise ConfigError(f"finetune.init_from={init_from} does not exist — a training checkpoint (step_N or the "
                          "checkpoint root) or a Hugging Face directory")
    try:
        ref, saved = read_run(path, verify=False)  # on every rank, before the ranks can share the verification
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


def verify_init_weights(init_from: str, collectives, checksums: bool = True) -> None:
    """A training checkpoint at `init_from` verified once: each rank digests its share of the files (those it
    would have written, the rest spread evenly) and the ranks agree (collective; CheckpointStore.verify). A
    Hugging Face directory carries no manifest to verify against."""
    if is_hf_directory(init_from):
        return
    ref, _ = read_run(init_from, verify=False)
    problem = CheckpointStore(ref.path.parent, checksums=checksums).verify(ref.path, collectives)
    if problem:
        raise ConfigError(f"finetune.init_from={init_from}: checkpoint {ref.path.name} cannot be loaded: {problem}",
                          "point finetune.init_from at an intact checkpoint (an earlier step_N)")


def open_init_weights(init_from: str) -> Mapping:
    """The weights at `init_from` in this model's key names, name → tensor (read on `.contiguous()` where the
    format allows: a training checkpoint's are memory-mapped; never its optimizer moments). Not verified here:
    verify_init_weights did that, once."""
    return open_weights(init_from)

"""Hugging Face model directories, read and written: safetensors shards + config.json + tokenizer files.

`export_state_dict` writes one of two layouts (`LAYOUTS`): `baichuan` keeps `W_pack` and the released key names
(both 7B and 13B); `llama` (RoPE models) loads in `transformers.LlamaForCausalLM`. `load_hf_checkpoint(DIR)`
reads either back, including the published Baichuan weights (safetensors or the original `.bin` files), so they
can be continued.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from data_pipeline.tokenizer.document_start import document_prefix
from data_pipeline.tokenizer.hf_export import write_hf_tokenizer_files
from pretrain.cli import UsageError
from pretrain.model import ModelConfig
from pretrain.model.hf_layout import (
    FORMATS,
    baichuan_config_json,
    check_layout,
    config_from_hf,
    from_llama,
    llama_config_json,
    to_llama,
)
from pretrain.weights.training_checkpoint import shipped_tokenizer

MAX_SHARD_BYTES = 5 * 1024**3
MAX_SHARD_BYTES = 5 * 1024**3


def _write_tokenizer(output: Path, tokenizer_path: str | None, cfg: ModelConfig) -> None:
    """tokenizer.model plus the Hugging Face tokenizer files, written by the tokenizer's own exporter so every
    directory encodes exactly as SentencePiece did in training. Both layouts name `LlamaTokenizer`: it ships with
    transformers, while the released `BaiChuanTokenizer` needs remote code this directory does not carry."""
    if tokenizer_path is None:
        return
    shutil.copyfile(tokenizer_path, output / "tokenizer.model")
    write_hf_tokenizer_files(output, model_max_length=cfg.max_seq_len)


def _write_shards(tensors: dict[str, torch.Tensor], output: Path, max_shard_bytes: int) -> None:
    shards: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    for name, tensor in tensors.items():
        nbytes = tensor.numel() * tensor.element_size()
        if shards[-1] and size + nbytes > max_shard_bytes:
            shards.append({})
            size = 0
        shards[-1][name] = tensor.contiguous()
        size += nbytes
    if len(shards) == 1:
        save_file(shards[0], output / "model.safetensors", metadata={"format": "pt"})
        return
    weight_map = {}
    for i, shard in enumerate(shards, start=1):
        filename = f"model-{i:05d}-of-{len(shards):05d}.safetensors"
        save_file(shard, output / filename, metadata={"format": "pt"})
        weight_map |= dict.fromkeys(shard, filename)
    total = sum(t.numel() * t.element_size() for t in tensors.values())
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (output / "model.safetensors.index.json").write_text(json.dumps(index, indent=2))


@dataclass(frozen=True)
class Layout:
    """One output layout: how our (= released Baichuan) key names become its names, and its config.json."""

    rename: Callable[[dict[str, torch.Tensor], ModelConfig], dict[str, torch.Tensor]]
    config_json: Callable[[ModelConfig, torch.dtype], dict]


LAYOUTS = {
    "llama": Layout(to_llama, llama_config_json),
    "baichuan": Layout(lambda tensors, cfg: tensors, baichuan_config_json),
}


def export_state_dict(cfg: ModelConfig, state_dict: dict[str, torch.Tensor], fmt: str, output_dir,
                      tokenizer_path: str | None = None, dtype: torch.dtype | None = None,
                      max_shard_bytes: int = MAX_SHARD_BYTES) -> Path:
    """Write `state_dict` (our = released Baichuan names) as a Hugging Face directory in layout `fmt`."""
    if fmt not in LAYOUTS:
        raise UsageError(f"format={fmt!r} is not one of {FORMATS} — use format=baichuan or format=llama")
    layout = LAYOUTS[fmt]
    check_layout(state_dict, cfg)
    dtype = dtype or next(iter(state_dict.values())).dtype
    tensors = layout.rename({name: t.detach().to("cpu", dtype) for name, t in state_dict.items()}, cfg)
    config = layout.config_json(cfg, dtype)
    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    _write_shards(tensors, output, max_shard_bytes)
    (output / "config.json").write_text(json.dumps(config, indent=2))
    # transformers' generate() starts from bos_token_id when given no input: the shards' document start, as the
    # exported tokenizer's bos_token (data_pipeline/tokenizer/document_start.py), not <s>, never trained.
    (output / "generation_config.json").write_text(json.dumps(
        {"bos_token_id": document_prefix(cfg.eos_token_id)[0], "eos_token_id": cfg.eos_token_id,
         "pad_token_id": cfg.pad_token_id}))
    _write_tokenizer(output, tokenizer_path, cfg)
    return output


class WeightsFileError(UsageError):
    """A weights file that cannot be read (truncated by an interrupted copy or download, or not weights)."""


def _read_weights_file(path: Path) -> dict[str, torch.Tensor]:
    try:
        if path.suffix == ".safetensors":
            return load_file(path)
        return torch.load(path, map_location="cpu", weights_only=True)
    except (SafetensorError, RuntimeError, EOFError, OSError) as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WeightsFileError(f"{path} cannot be read ({detail}; {path.stat().st_size:,} bytes)",
                               "the file is incomplete or damaged: copy, download or export it again") from None


def _read_weights(directory: Path) -> dict[str, torch.Tensor]:
    files = sorted(directory.glob("*.safetensors"))
    if not files:
        files = sorted(directory.glob("pytorch_model*.bin"))  # the original Baichuan releases ship .bin files
    if files:
        return {k: v for f in files for k, v in _read_weights_file(f).items()}
    raise FileNotFoundError(f"no *.safetensors or pytorch_model*.bin in {directory} — point at a Hugging Face model directory")


def load_hf_checkpoint(directory) -> tuple[ModelConfig, dict[str, torch.Tensor], str | None]:
    """(config, state dict in our names, tokenizer.model path or None) from a released Baichuan, an exported
    baichuan-layout or a llama-layout directory."""
    directory = Path(directory)
    if not (directory / "config.json").is_file():
        raise FileNotFoundError(f"{directory / 'config.json'} does not exist — point at a Hugging Face model directory")
    cfg = read_hf_config(directory)
    state_dict = from_llama(_read_weights(directory))  # a no-op on the baichuan layout
    check_layout(state_dict, cfg)
    return cfg, state_dict, shipped_tokenizer(directory)


def read_hf_config(directory: Path) -> ModelConfig:
    """The ModelConfig a Hugging Face directory's config.json describes (KeyError/ValueError if it is not a
    Baichuan or Llama config); reads no weights."""
    return config_from_hf(json.loads((Path(directory) / "config.json").read_text()), name=Path(directory).name)


def is_hf_directory(path: str | Path) -> bool:
    """A Hugging Face model directory (what load_hf_checkpoint reads) rather than a training checkpoint."""
    return (Path(path) / "config.json").is_file()

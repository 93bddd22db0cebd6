"""Export to (and import from) Hugging Face directories: safetensors shards + config.json + tokenizer files.

    python -m pretrain.export checkpoint=CKPT format=baichuan|llama output=DIR [dtype=bf16|fp16|fp32]

`format=baichuan` keeps `W_pack` and the released key names (both 7B and 13B); `format=llama` (RoPE models)
loads in `transformers.LlamaForCausalLM`. `load_hf_checkpoint(DIR)` reads either layout back, including the
published Baichuan weights, so they can be continued.
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from data_pipeline.tokenizer.document_start import document_prefix
from data_pipeline.tokenizer.hf_export import write_hf_tokenizer_files
from plumbing.command_line import CommandLine
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

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
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


def export_state_dict(cfg: ModelConfig, state_dict: dict[str, torch.Tensor], fmt: str, output_dir,
                      tokenizer_path: str | None = None, dtype: torch.dtype | None = None,
                      max_shard_bytes: int = MAX_SHARD_BYTES) -> Path:
    """Write `state_dict` (our = released Baichuan names) as a Hugging Face directory in layout `fmt`."""
    if fmt not in FORMATS:
        raise UsageError(f"format={fmt!r} is not one of {FORMATS} — use format=baichuan or format=llama")
    check_layout(state_dict, cfg)
    dtype = dtype or next(iter(state_dict.values())).dtype
    tensors = {name: t.detach().to("cpu", dtype) for name, t in state_dict.items()}
    tensors = to_llama(tensors, cfg) if fmt == "llama" else tensors
    config = llama_config_json(cfg, dtype) if fmt == "llama" else baichuan_config_json(cfg, dtype)
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
    config_file = directory / "config.json"
    if not config_file.is_file():
        raise FileNotFoundError(f"{config_file} does not exist — point at a Hugging Face model directory")
    cfg = config_from_hf(json.loads(config_file.read_text()), name=directory.name)
    state_dict = from_llama(_read_weights(directory))  # a no-op on the baichuan layout
    check_layout(state_dict, cfg)
    from pretrain.checkpoint import shipped_tokenizer

    return cfg, state_dict, shipped_tokenizer(directory)


def is_hf_directory(path: str | Path) -> bool:
    """A Hugging Face model directory (what load_hf_checkpoint reads) rather than a training checkpoint."""
    return (Path(path) / "config.json").is_file()


def load_any_checkpoint(path: str, lora_base: str = "") -> tuple[ModelConfig, dict[str, torch.Tensor], str | None]:
    """A Hugging Face directory (has config.json) or a training checkpoint (through pretrain.checkpoint).
    `lora_base` replaces the base a LoRA run's checkpoint names (its `finetune.init_from`), e.g. after a move."""
    if is_hf_directory(path):
        return load_hf_checkpoint(path)
    if not Path(path).exists():
        raise FileNotFoundError(f"checkpoint {path} does not exist — pass checkpoint=<training checkpoint or HF dir>")
    from pretrain.checkpoint import load_inference_model  # owned by the trainer; imported only when needed

    cfg, state_dict, tokenizer = load_inference_model(path)
    from pretrain.finetune.lora import is_adapter_key

    if any(is_adapter_key(key) for key in state_dict):  # a LoRA fine-tune: adapters only, the base elsewhere
        state_dict = merge_lora_checkpoint(path, cfg, state_dict, lora_base)
    return cfg, state_dict, tokenizer


def merge_lora_checkpoint(path: str, cfg: ModelConfig, adapters: dict[str, torch.Tensor],
                          lora_base: str = "") -> dict[str, torch.Tensor]:
    """The weights a LoRA run's checkpoint stands for: its `finetune.init_from` base (or `lora_base`) with the
    adapters merged."""
    from pretrain.checkpoint import read_run, saved_node
    from pretrain.finetune.config import FinetuneConfig
    from pretrain.finetune.lora import merged_state_dict
    from pretrain.model import BaichuanForCausalLM

    finetune = saved_node(read_run(path)[1], "finetune", FinetuneConfig)
    base_path = lora_base or finetune.init_from
    if not Path(base_path).exists():
        source = "lora_base" if lora_base else f"its finetune.init_from (the LoRA run's base, saved in {path})"
        raise UsageError(f"{path} holds LoRA adapters; their base {base_path}, named by {source}, does not exist",
                         "pass lora_base=<where the base weights are now>")
    base = BaichuanForCausalLM(cfg)
    base.load_state_dict(load_any_checkpoint(base_path)[1])
    return merged_state_dict(base, adapters, finetune.lora)


@dataclass
class ExportArgs:
    checkpoint: str = "???"  # a training checkpoint (step_N or the checkpoint root) or a Hugging Face directory
    format: str = "llama"  # llama (RoPE models; loads in LlamaForCausalLM) | baichuan (released key names)
    output: str = "???"  # directory to write
    dtype: str = "bf16"  # bf16 | fp16 | fp32
    lora_base: str = ""  # a LoRA run's checkpoint: its base weights, when not at the finetune.init_from it saved


COMMAND = CommandLine(
    prog="python -m pretrain.export",
    summary="export a checkpoint as a Hugging Face directory (safetensors, config.json, tokenizer files)",
    example="checkpoint=RUN/checkpoints format=llama output=/ckpt/hf dtype=bf16",
    schema=ExportArgs, config_name="export",
    also_user_errors=(FileNotFoundError, ValueError),  # a wrong checkpoint= path or shape, as before
)


def main(argv: list[str] | None = None) -> int:
    return COMMAND.run(export_checkpoint, argv)


def export_checkpoint(args: ExportArgs) -> None:
    if args.dtype not in DTYPES:
        raise UsageError(f"dtype={args.dtype!r} is not one of {list(DTYPES)}")
    cfg, state_dict, tokenizer_path = load_any_checkpoint(args.checkpoint, args.lora_base)
    output = export_state_dict(cfg, state_dict, args.format, args.output, tokenizer_path, DTYPES[args.dtype])
    print(f"exported {cfg.name} ({args.format} layout, {args.dtype}) to {output}")


if __name__ == "__main__":
    sys.exit(main())
